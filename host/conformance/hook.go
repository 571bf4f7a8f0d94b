package conformance

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
	"tremorhost/host/plugin"
)

// checker checks one connector with one config (one "run").
type checker struct {
	opts *Options
	out  emitter
	p    *plugin.Plugin
	c    *plugin.Connector
	rc   *rawConnector
	run  int

	// the control mapping: [tremor_error][instance slot][msg ... cap][end],
	// end a canary, or with guards an inaccessible page (a write past cap
	// faults at once)
	ctl     *cmem.Arena
	ctlEnd  uintptr
	lastCap int // the cap last announced with the guard page (-1: none yet)

	retired []*cmem.Arena // memory lent to hooks, now inaccessible (guard.go)

	info RunInfo // counters sent to the report

	unacked map[uint64]string // ids pulled and not yet acked or failed -> the step that produced them
	pending []uint64          // the same ids, in order
	seq     uint64            // next sequence number of an event sent
}

const (
	ctlSlotOff  = 64
	ctlMsgBase  = 128
	maxErrorCap = abi.ErrorCap // the whole buffer a hook gets, as in the host
)

func newChecker(opts *Options, out emitter, p *plugin.Plugin, c *plugin.Connector, rc *rawConnector, run int) *checker {
	k := &checker{opts: opts, out: out, p: p, c: c, rc: rc, run: run, lastCap: -1,
		info: RunInfo{Connector: c.Name, Run: run}}
	if opts.guards {
		m, end, err := cmem.MapBeforeGuard(ctlMsgBase + maxErrorCap)
		if err == nil {
			k.ctl, k.ctlEnd = m, end
			return k
		}
		k.opts.guards = false // no guard page: the canary instead
	}
	k.ctl, k.ctlEnd = mustMap(ctlMsgBase+maxErrorCap+canarySize), ctlMsgBase+maxErrorCap
	return k
}

func (k *checker) close() {
	k.releaseAll()
	k.ctl.Free()
}

// errorBuffer prepares the tremor_error for a hook with this cap, its
// message ending where the canary or the guard page begins.
func (k *checker) errorBuffer(hookName string, errCap int) (*abi.ErrorBuf, uintptr) {
	eb := cmem.At[abi.ErrorBuf](k.ctl, 0)
	msgAddr := k.ctl.Addr() + k.ctlEnd - uintptr(errCap)
	*eb = abi.ErrorBuf{Msg: msgAddr, Cap: uint64(errCap)}
	if !k.opts.guards {
		setCanary(k.ctl, k.ctlEnd)
	} else if errCap != k.lastCap {
		k.lastCap = errCap
		lo := uint64(k.ctl.Addr() + k.ctlEnd)
		k.out.guard(region{Lo: lo, Hi: lo + uint64(k.ctl.Size()) - uint64(k.ctlEnd), Kind: regionGuardPage, Hook: hookName, Cap: errCap})
	}
	return eb, msgAddr
}

func (k *checker) report(sev Severity, step string, rule Rule, format string, args ...any) {
	k.out.finding(Finding{Severity: sev, Connector: k.c.Name, Run: k.run, Step: step, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// hookResult is what a hook answered.
type hookResult struct {
	rc      abi.Result
	msg     string // the message, invalid UTF-8 replaced
	hasMsg  bool
	elapsed time.Duration
}

func (r hookResult) String() string {
	s := r.rc.Name()
	if r.hasMsg {
		m := r.msg
		if len(m) > 200 {
			m = strings.ToValidUTF8(m[:200], "") + "..."
		}
		s += fmt.Sprintf(" with message %q", m)
	} else if r.rc != abi.ResultOK {
		s += " without a message"
	}
	return s
}

// instance is one live plugin instance.
type instance struct {
	ptr      uintptr
	ctx      uintptr
	poisoned bool // answered TREMOR_ERR_PANIC: only on_destroy may follow
}

// hook calls one hook through fn (which gets the tremor_error address) and
// checks what every hook must keep: its result code, the error buffer. The
// caller checks what is specific to the hook.
func (k *checker) hook(step, hookName string, errCap int, timeout time.Duration, in *instance, fn func(errAddr uintptr) abi.Result) hookResult {
	eb, msgAddr := k.errorBuffer(hookName, errCap)
	k.out.begin(k.c.Name, k.run, step, timeout)
	t0 := time.Now()
	rc := fn(k.ctl.Addr())
	elapsed := time.Since(t0)
	k.out.end(k.c.Name, k.run, step)
	res := hookResult{rc: rc, elapsed: elapsed}

	if ok, at := k.errCanaryOK(); !ok {
		k.report(SevError, step, RuleErrCap, "%s wrote past the end of the %d-byte error buffer (byte %d after msg[cap-1] changed)", hookName, errCap, at)
	}
	moved := eb.Msg != msgAddr || eb.Cap != uint64(errCap)
	if moved {
		k.report(SevError, step, RuleErrBuffer, "%s changed the error buffer's msg or cap (msg %#x -> %#x, cap %d -> %d)", hookName, msgAddr, eb.Msg, errCap, eb.Cap)
	}
	n := eb.Len
	if n > uint64(errCap) {
		k.report(SevError, step, RuleErrLen, "%s set the error len to %d, past cap %d", hookName, n, errCap)
		n = uint64(errCap)
	}
	if rc == abi.ResultOK && eb.Len != 0 {
		k.report(SevWarning, step, RuleErrOnSuccess, "%s returned TREMOR_OK but set the error len to %d", hookName, eb.Len)
	}
	if rc != abi.ResultOK && n > 0 && !moved {
		raw := bytes.Clone(cmem.Slice[byte](k.ctl, k.ctlEnd-uintptr(errCap), int(n)))
		if !utf8.Valid(raw) {
			k.report(SevError, step, RuleErrUTF8, "%s wrote an error message that is not valid UTF-8: %s", hookName, quoteBytes(raw, 80))
		}
		res.msg = strings.ToValidUTF8(string(raw), "\uFFFD")
		res.hasMsg = true
	}
	switch {
	case rc == abi.ResultEnd && hookName == "on_pull":
	case rc == abi.ResultRetry && hookName == "on_connect":
	case rc > 0:
		allowed := "TREMOR_OK or an error"
		switch hookName {
		case "on_pull":
			allowed = "TREMOR_OK, TREMOR_END or an error"
		case "on_connect":
			allowed = "TREMOR_OK, TREMOR_RETRY or an error"
		}
		k.report(SevError, step, RuleResultPositive, "%s returned %s; %s may only return %s", hookName, rc.Name(), hookName, allowed)
	case rc < 0 && !knownCode(rc):
		k.report(SevWarning, step, RuleResultUnknown, "%s returned %d, which is not an error code of ABI %s", hookName, int32(rc), abi.ABIVersionString)
	case rc == abi.ResultErrPanic:
		k.report(SevError, step, RuleResultPanic, "%s panicked: %s", hookName, res)
		if in != nil {
			in.poisoned = true
		}
	}
	if limit := k.slowLimit(hookName, timeout); elapsed > limit {
		what := fmt.Sprintf("expected under %s", limit)
		if hookName == "on_pull" {
			what = fmt.Sprintf("it was given wait_ms %d", (timeout - k.opts.hookTimeout()).Milliseconds())
		}
		k.report(SevWarning, step, RuleSlow, "%s took %s (%s)", hookName, elapsed.Round(time.Millisecond), what)
	}
	return res
}

// errCanaryOK checks the canary after the error buffer (with guards there
// is none: the guard page faults instead).
func (k *checker) errCanaryOK() (bool, int) {
	if k.opts.guards {
		return true, 0
	}
	return canaryOK(k.ctl, k.ctlEnd)
}

// slowLimit is how long a hook may take before it is reported as slow.
func (k *checker) slowLimit(hook string, timeout time.Duration) time.Duration {
	switch hook {
	case "on_pull":
		return timeout - k.opts.hookTimeout() + time.Second // its wait_ms, and a second
	case "on_connect", "on_drain", "on_stop", "on_create":
		return 5 * time.Second
	}
	return 2 * time.Second
}

// needMessage reports an error answer without a message.
func (k *checker) needMessage(step, hookName string, res hookResult, sev Severity, rule Rule) {
	if res.rc < 0 && !res.hasMsg {
		k.report(sev, step, rule, "%s answered %s without a message in the error buffer", hookName, res.rc.Name())
	}
}

// ---- create / destroy ------------------------------------------------------

// create encodes cfg as it is (the caller decides whether it went through
// the host's config check) and calls on_create.
func (k *checker) create(step string, cfg map[string]any, errCap int) (*instance, hookResult, error) {
	nodes, byts, err := abi.EncodeDoc(cfg)
	if err != nil {
		return nil, hookResult{}, fmt.Errorf("cannot encode the config: %w", err)
	}
	alias := "check-" + k.c.Name
	args := cmem.LayCreateArgs(alias, nodes, byts)
	m := mustMap(args.Size())
	lent := &lend{m: m}
	lent.part(0, abi.SizeofCreateArgs, "the create args (tremor_create_args)")
	cfgOff, cfgLen := args.Config()
	lent.part(cfgOff, cfgLen, "the config (its value nodes, bytes or the alias)")
	defer k.retire("on_create", lent)
	in := &instance{ctx: newCtx()}
	args.Write(m, hostAPIAddr(), in.ctx)
	before := bytes.Clone(m.Mem())
	slot := cmem.At[uintptr](k.ctl, ctlSlotOff)
	*slot = 0
	res := k.hook(step, "on_create", errCap, k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(k.rc.vt.OnCreate, m.Addr(), k.ctl.Addr()+ctlSlotOff, e)
	})
	if !bytes.Equal(before, m.Mem()) {
		k.report(SevError, step, RuleCreateArgs, "on_create modified its arguments or the config document (they are the host's, read-only)")
	}
	if res.rc != abi.ResultOK {
		killCtx(in.ctx)
		forgetCtx(in.ctx)
		return nil, res, nil
	}
	in.ptr = *slot
	return in, res, nil
}

func (k *checker) destroy(step string, in *instance) {
	k.out.begin(k.c.Name, k.run, step, k.opts.hookTimeout())
	t0 := time.Now()
	call(k.rc.vt.OnDestroy, in.ptr)
	elapsed := time.Since(t0)
	k.out.end(k.c.Name, k.run, step)
	killCtx(in.ctx)
	if elapsed > 5*time.Second {
		k.report(SevWarning, step, RuleSlow, "on_destroy took %s", elapsed.Round(time.Millisecond))
	}
}

// logChecks reports what the plugin did with ctx's log (call after a short
// wait once the instance was destroyed).
func (k *checker) logChecks(step string, in *instance) {
	s := ctxSnapshot(in.ctx)
	if s.deadLogs > 0 {
		k.report(SevError, step, RuleCtxAfterDestroy, "the plugin called tremor_host_api.log %d time(s) with the ctx of an instance after on_destroy returned (first message %q)", s.deadLogs, s.sample)
	}
	if s.badLevels > 0 {
		k.report(SevWarning, step, RuleLog, "%d log call(s) with a level that is not TREMOR_LOG_ERROR .. TREMOR_LOG_TRACE", s.badLevels)
	}
	if s.badUTF8 > 0 {
		k.report(SevWarning, step, RuleLog, "%d log call(s) with a message that is not valid UTF-8", s.badUTF8)
	}
	forgetCtx(in.ctx)
}

// ---- steps -------------------------------------------------------------

func (k *checker) connect(step string, in *instance, attempt uint32) hookResult {
	if k.rc.vt.OnConnect == 0 {
		return hookResult{rc: abi.ResultOK}
	}
	return k.hook(step, "on_connect", maxErrorCap, k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(k.rc.vt.OnConnect, in.ptr, uintptr(attempt), e)
	})
}

// connectLoop calls on_connect with attempt 1, 2, ... until TREMOR_OK, an
// ERR_CONFIG, a panic or the attempt bound.
func (k *checker) connectLoop(step string, in *instance) (hookResult, int) {
	var res hookResult
	backoff := 20 * time.Millisecond
	for attempt := 1; attempt <= k.opts.connectAttempts(); attempt++ {
		res = k.connect(step, in, uint32(attempt))
		if res.rc == abi.ResultOK || res.rc == abi.ResultErrConfig || res.rc == abi.ResultErrPanic || in.poisoned {
			return res, attempt
		}
		if res.rc < 0 {
			k.needMessage(step, "on_connect", res, SevWarning, RuleErrMessage)
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 500*time.Millisecond)
	}
	return res, k.opts.connectAttempts()
}

func (k *checker) step(step, hookName string, fn uintptr, in *instance) hookResult {
	if fn == 0 {
		return hookResult{rc: abi.ResultOK}
	}
	return k.hook(step, hookName, maxErrorCap, k.opts.hookTimeout(), in, func(e uintptr) abi.Result {
		return call(fn, in.ptr, e)
	})
}

func quoteBytes(b []byte, max int) string {
	if len(b) > max {
		return fmt.Sprintf("%+q...", b[:max])
	}
	return fmt.Sprintf("%+q", b)
}

// knownCode reports whether the header's result code table has rc.
func knownCode(rc abi.Result) bool {
	for _, c := range abi.ResultCodes {
		if c.Value == rc {
			return true
		}
	}
	return false
}
