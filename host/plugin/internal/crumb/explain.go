package crumb

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Crash is what a Go runtime crash report says that matters here.
type Crash struct {
	What   string // "SIGSEGV", "SIGABRT", "fatal error: ...", "panic: ..."
	PC     uint64 // where the signal arrived; 0 when not said
	Native bool   // the signal arrived while non-Go code ran
	Inst   uint64 // the receiver of host/plugin's native transport on the crashing goroutine's stack; 0 when none
	Method string // its method on that stack (Send, Pull, Step, ...)
}

var (
	sigLine  = regexp.MustCompile(`^(SIG[A-Z0-9]+): `)
	sigInner = regexp.MustCompile(`\[signal (SIG[A-Z0-9]+)[^\]]*?pc=0x([0-9a-f]+)`)
	pcField  = regexp.MustCompile(`(?m)^PC=0x([0-9a-f]+) `)
	// host/plugin.(*native).Send(0xc000123456, ...: the receiver comes
	// first; a "?" after it means it may be stale, which matching against
	// the table's addresses tolerates.
	instFrame = regexp.MustCompile(`host/plugin\.\(\*native\)\.([A-Za-z]+)\(0x([0-9a-f]+)`)
)

// ParseCrash reads the text the Go runtime writes when the process dies
// (runtime/debug.SetCrashOutput), or one goroutine's stack
// (runtime.Stack), in which case only Inst and Method are set.
func ParseCrash(dump []byte) Crash {
	text := string(dump)
	var c Crash
	first, _, _ := strings.Cut(strings.TrimLeft(text, "\n"), "\n")
	switch m := sigLine.FindStringSubmatch(first); {
	case m != nil:
		c.What = m[1]
	case strings.HasPrefix(first, "fatal error: "), strings.HasPrefix(first, "panic: "):
		c.What = first
	}
	if m := pcField.FindStringSubmatch(text); m != nil {
		c.PC, _ = strconv.ParseUint(m[1], 16, 64)
	}
	if m := sigInner.FindStringSubmatch(text); m != nil {
		c.What = m[1] // "fatal error: unexpected signal ..." names the signal here
		c.PC, _ = strconv.ParseUint(m[2], 16, 64)
	}
	c.Native = strings.Contains(text, "signal arrived during cgo execution") ||
		strings.Contains(text, "signal arrived during external code execution")
	// The crashing goroutine's stack comes first: the first block that
	// starts with "goroutine ".
	if i := strings.Index(text, "goroutine "); i >= 0 {
		block := text[i:]
		if j := strings.Index(block, "\n\n"); j >= 0 {
			block = block[:j]
		}
		// The outermost native frame names the hook's method (Send,
		// Pull, Step, ...); call, inside it, has the same receiver.
		ms := instFrame.FindAllStringSubmatch(block, -1)
		if len(ms) > 0 {
			m := ms[len(ms)-1]
			c.Method = m[1]
			c.Inst, _ = strconv.ParseUint(m[2], 16, 64)
		}
	}
	return c
}

// Culprits returns the entries the crash c most likely happened in, and
// whether the choice is certain; nil when nothing points at a plugin (a
// crash in the host's own Go code while no plugin code ran).
func Culprits(c Crash, entries []Entry) (found []Entry, certain bool) {
	var running, inPC, runningInPC []Entry
	for _, e := range entries {
		if e.Running && c.Inst != 0 && e.Inst == c.Inst {
			return []Entry{e}, true
		}
		pcHit := c.PC != 0 && e.Lo <= c.PC && c.PC < e.Hi
		if e.Running {
			running = append(running, e)
			if pcHit {
				runningInPC = append(runningInPC, e)
			}
		}
		if pcHit {
			inPC = append(inPC, e)
		}
	}
	switch {
	case len(runningInPC) == 1:
		return runningInPC, true
	case len(runningInPC) > 1:
		return runningInPC, false
	case len(inPC) > 0:
		// in a plugin's code, yet no hook of its runs: one of its own threads
		return inPC[:1], false
	case c.Native && len(running) == 1:
		return running, true
	case c.Native && len(running) > 1:
		return running, false
	}
	return nil, false
}

// Describe names one entry: plugin FILE, connector "ID" (type T).
func Describe(e Entry) string {
	return fmt.Sprintf("plugin %s, connector %q (type %s)", e.File, e.Alias, e.Type)
}
