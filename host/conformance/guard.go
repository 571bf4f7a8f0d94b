package conformance

import (
	"fmt"
	"regexp"
	"strconv"

	"tremorhost/host/internal/cmem"
)

// Memory guards (in the check's child process only: a guard turns a misuse
// into a crash, which only a child survives). Each hook gets fresh mappings
// (a room, the ids, the config, a sent batch and its outcomes); when it
// returns they are poisoned and made inaccessible, so a pointer kept past
// the hook faults where it is used. A sent batch is read-only during
// on_send, and the error buffer ends at an inaccessible page. The child
// tells the parent where each guarded mapping is (a "guard" line); when the
// child dies of a fault, the parent finds the fault address (printed by the
// Go runtime as addr=0x...) in those regions and names the broken rule.

// Region kinds.
const (
	regionKept      = "kept"       // retired after Hook returned
	regionReadOnly  = "read_only"  // read-only while Hook runs
	regionGuardPage = "guard_page" // the page after the error buffer
	regionReleased  = "released"   // unmapped: forget [Lo, Hi)
)

// region is one guarded range of the child's memory.
type region struct {
	Lo   uint64 `json:"lo"`
	Hi   uint64 `json:"hi"`
	Kind string `json:"k"`
	Hook string `json:"h,omitempty"`
	What string `json:"w,omitempty"`
	Cap  int    `json:"cap,omitempty"` // the error buffer's cap (guard_page)
}

// maxRetired bounds the retired mappings a run keeps reserved; older ones
// are unmapped (their addresses may then be reused, so a pointer kept that
// long reads garbage instead of faulting).
const maxRetired = 512

// lend is one mapping lent to a hook, in parts (the batch header, events,
// value nodes, bytes) for the report.
type lend struct {
	m     *cmem.Arena
	parts []region
}

// part names [off, off+n) of the mapping.
func (l *lend) part(off, n uintptr, what string) {
	if n == 0 {
		return
	}
	lo := uint64(l.m.Addr() + off)
	l.parts = append(l.parts, region{Lo: lo, Hi: lo + uint64(n), What: what})
}

// all names the whole mapping.
func (l *lend) all(what string) *lend {
	l.part(0, uintptr(l.m.Size()), what)
	return l
}

// readOnly makes the mapping read-only for hook (when guards are on).
func (k *checker) readOnly(hook string, l *lend) {
	if !k.opts.guards {
		return
	}
	if err := l.m.ReadOnly(); err != nil {
		k.report(SevInfo, hook, RuleCheckInternal, "cannot make the batch read-only: %v", err)
		return
	}
	k.announce(l, regionReadOnly, hook)
}

// retire ends a loan: with guards on the mapping is poisoned, made
// inaccessible and kept reserved for the rest of the run; without, it is
// poisoned and unmapped.
func (k *checker) retire(hook string, l *lend) {
	if !k.opts.guards {
		if l.m.Writable() == nil {
			for i := range l.m.Mem() {
				l.m.Mem()[i] = cmem.PoisonByte
			}
		}
		l.m.Free()
		return
	}
	if err := l.m.Retire(); err != nil {
		k.report(SevInfo, hook, RuleCheckInternal, "cannot guard memory lent to %s: %v", hook, err)
		l.m.Free()
		return
	}
	k.announce(l, regionKept, hook)
	k.retired = append(k.retired, l.m)
	if len(k.retired) > maxRetired {
		old := k.retired[0]
		k.retired = k.retired[1:]
		k.release(old)
	}
}

func (k *checker) announce(l *lend, kind, hook string) {
	for _, p := range l.parts {
		p.Kind, p.Hook = kind, hook
		k.out.guard(p)
	}
}

func (k *checker) release(m *cmem.Arena) {
	lo := uint64(m.Addr())
	k.out.guard(region{Lo: lo, Hi: lo + uint64(m.Size()), Kind: regionReleased})
	m.Free()
}

// releaseAll unmaps every retired mapping (the run is over).
func (k *checker) releaseAll() {
	for _, m := range k.retired {
		k.release(m)
	}
	k.retired = nil
}

// regions is the parent's map of the child's guarded memory.
type regions []region

// add records r; it replaces what it overlaps (a read-only batch later
// retired, a mapping released and its addresses reused).
func (rs *regions) add(r region) {
	keep := (*rs)[:0]
	for _, o := range *rs {
		if o.Hi <= r.Lo || o.Lo >= r.Hi {
			keep = append(keep, o)
		}
	}
	*rs = keep
	if r.Kind != regionReleased {
		*rs = append(*rs, r)
	}
}

func (rs regions) find(addr uint64) *region {
	for i := len(rs) - 1; i >= 0; i-- {
		if addr >= rs[i].Lo && addr < rs[i].Hi {
			return &rs[i]
		}
	}
	return nil
}

// faultAddr is the address of the fault in the Go runtime's crash dump
// ("PC=0x... m=0 sigcode=2 addr=0x7f..."), for SIGSEGV and SIGBUS.
var faultAddrRE = regexp.MustCompile(`(?m)^(?:SIGSEGV|SIGBUS): .*\n.*\baddr=0x([0-9a-f]+)`)

func faultAddr(out string) (uint64, bool) {
	m := faultAddrRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	a, err := strconv.ParseUint(m[1], 16, 64)
	return a, err == nil
}

// guardFault explains a crash whose fault address is in a guarded region:
// the rule and what the plugin did. ok is false for any other crash.
func (rs regions) guardFault(out, step string) (rule Rule, what string, ok bool) {
	addr, found := faultAddr(out)
	if !found {
		return Rule{}, "", false
	}
	r := rs.find(addr)
	if r == nil {
		return Rule{}, "", false
	}
	switch r.Kind {
	case regionKept:
		return RuleKeptPointer, fmt.Sprintf("used memory from %s after it returned (kept pointer to %s); check-plugin made that memory inaccessible when %s returned, so the use faulted at %#x", r.Hook, r.What, r.Hook, addr), true
	case regionReadOnly:
		return RuleSendReadOnly, fmt.Sprintf("%s wrote into the batch it was given to read (%s); check-plugin maps it read-only during the call, so the write faulted at %#x", r.Hook, r.What, addr), true
	case regionGuardPage:
		return RuleErrCap, fmt.Sprintf("wrote past the error buffer (cap %d) during %s: the write reached the inaccessible page check-plugin puts right after msg[cap-1] (fault at %#x)", r.Cap, orDash(step), addr), true
	}
	return Rule{}, "", false
}
