package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// relayStderr copies until the line that is the crash report's first, as
// the crash pipe has it (head); a line that only looks like one is copied.
func TestRelayStderr(t *testing.T) {
	const report = "SIGSEGV: segmentation violation\nPC=0x1 m=3\n\ngoroutine 1 [syscall]:\n"
	for _, tc := range []struct {
		name     string
		stderr   string
		head     string // "" : no crash report comes
		headLate bool   // head comes after the relay has waited for it
		hide     bool
		want     string
		before   string // what it returns: the line copied just before the report
	}{
		{"no crash", "a log line\nruntime: a plugin's words\nlast\n", "", false, true,
			"a log line\nruntime: a plugin's words\nlast\n", ""},
		{"crash", "a log line\n" + report, "SIGSEGV: segmentation violation\n", false, true,
			"a log line\n", ""},
		{"a look-alike before the crash", "panic: not the runtime's\n" + report, "SIGSEGV: segmentation violation\n", false, true,
			"panic: not the runtime's\n", ""},
		{"a first line the pattern misses", "a log line\nsomething new\nmore of the report\n", "something new\n", true, true,
			"a log line\nsomething new\n", ""},
		{"GOTRACEBACK set", "a log line\n" + report, "SIGSEGV: segmentation violation\n", false, false,
			"a log line\n" + report, ""},
		{"a last line without newline", "a log line\nno newline", "", false, true,
			"a log line\nno newline", ""},
		{"a fatal error, printed before the crash pipe gets the rest", "a log line\nfatal error: concurrent map writes\n\ngoroutine 1 [running]:\n", "\n", false, true,
			"a log line\nfatal error: concurrent map writes\n", "fatal error: concurrent map writes\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := make(chan []byte, 1)
			if tc.head != "" && !tc.headLate {
				head <- []byte(tc.head)
			}
			r, w := io.Pipe()
			var out bytes.Buffer
			var before []byte
			done := make(chan struct{})
			go func() {
				defer close(done)
				before = relayStderr(r, &out, head, tc.hide)
			}()
			lines := strings.SplitAfter(tc.stderr, "\n")
			for i, l := range lines {
				_, _ = io.WriteString(w, l)
				if tc.headLate && i == 1 {
					time.Sleep(20 * time.Millisecond) // the relay copies the line it cannot tell
					head <- []byte(tc.head)
				}
			}
			w.Close()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the relay did not end at EOF")
			}
			assert.Equal(t, tc.want, out.String())
			assert.Equal(t, tc.before, string(before))
		})
	}
}

// Lines that look like a report's start, with no report, wait once per
// quiet period, not each: a flow forwarding such lines to stderr is not
// held up by each.
func TestRelayStderrLookAlikeFlood(t *testing.T) {
	waits := 0
	relayAfter = func(time.Duration) <-chan time.Time {
		waits++
		c := make(chan time.Time, 1)
		c <- time.Now()
		return c
	}
	t.Cleanup(func() { relayAfter = time.After })
	in := strings.Repeat("panic: a forwarded log line\n", 50)
	var out bytes.Buffer
	relayStderr(strings.NewReader(in), &out, make(chan []byte), true)
	assert.Equal(t, in, out.String())
	assert.Equal(t, 1, waits)
}
