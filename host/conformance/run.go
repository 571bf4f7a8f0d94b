package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
)

// Options configure a check.
type Options struct {
	File string `json:"file"`
	// Configs maps a connector name to the configs (JSON objects) to check
	// it with, each one a separate run. A connector without an entry is
	// checked once with its declared defaults.
	Configs map[string][]string `json:"configs,omitempty"`
	// BadConfigs maps a connector name to config fields (a JSON object,
	// merged over each run's config) that the plugin must refuse with
	// TREMOR_ERR_CONFIG and a message: a value of the declared kind that
	// the host cannot judge (a range, one of a set of strings). It is the
	// error path on which the error buffer's truncation is checked.
	BadConfigs map[string]string `json:"bad_configs,omitempty"`
	// Connectors limits the check to these connector types (all when empty).
	Connectors []string `json:"connectors,omitempty"`
	// HookTimeout bounds one hook call (on_pull: wait_ms plus this); a hook
	// that takes longer is reported as hung. Default 10s.
	HookTimeout time.Duration `json:"hook_timeout,omitempty"`
	// PullWait is the wait_ms given to on_pull (default 100ms); PhaseTime
	// bounds how long one pull phase waits for events (default 3s).
	PullWait  time.Duration `json:"pull_wait,omitempty"`
	PhaseTime time.Duration `json:"phase_time,omitempty"`
	// ConnectAttempts bounds on_connect attempts (default 8).
	ConnectAttempts int `json:"connect_attempts,omitempty"`
	// LeakCycles create/destroy cycles are measured (default 200; negative
	// disables the leak check). RSS growth above LeakWarn (default 4 MiB)
	// is a warning, above LeakFail (default 32 MiB) an error.
	LeakCycles int   `json:"leak_cycles,omitempty"`
	LeakWarn   int64 `json:"leak_warn,omitempty"`
	LeakFail   int64 `json:"leak_fail,omitempty"`
	// Timeout bounds the whole check (default 5 minutes).
	Timeout time.Duration `json:"timeout,omitempty"`

	// set by the parent when it restarts a child after a crash or hang
	Skip   []string `json:"skip,omitempty"` // run keys ("connector#run") already reported
	Resume bool     `json:"resume,omitempty"`

	// guards: memory lent to hooks is protected (guard.go); set in the
	// child process only, where a guard's fault is survivable.
	guards bool
}

// defaultHookTimeout bounds a hook when Options.HookTimeout is not set. It
// costs nothing on a healthy plugin (hooks return long before it) and only
// delays the report of a hang, so it is generous: a loaded machine must not
// make a slow hook look hung.
const defaultHookTimeout = 10 * time.Second

func (o *Options) hookTimeout() time.Duration {
	if o.HookTimeout > 0 {
		return o.HookTimeout
	}
	return defaultHookTimeout
}

// loadTimeout bounds loading the library (the dynamic loader, a Go plugin's
// runtime starting) and reading its descriptor: never less than the
// default, as a short --hook-timeout is meant for the plugin's hooks.
func (o *Options) loadTimeout() time.Duration { return max(o.hookTimeout(), defaultHookTimeout) }

func (o *Options) pullWait() time.Duration {
	if o.PullWait > 0 {
		return o.PullWait
	}
	return 100 * time.Millisecond
}

func (o *Options) phaseTime() time.Duration {
	if o.PhaseTime > 0 {
		return o.PhaseTime
	}
	return 3 * time.Second
}

func (o *Options) connectAttempts() int {
	if o.ConnectAttempts > 0 {
		return o.ConnectAttempts
	}
	return 8
}

func (o *Options) leakCycles() int {
	switch {
	case o.LeakCycles < 0:
		return 0
	case o.LeakCycles == 0:
		return 200
	}
	return o.LeakCycles
}

func (o *Options) leakWarn() int64 {
	if o.LeakWarn > 0 {
		return o.LeakWarn
	}
	return 4 << 20
}

func (o *Options) leakFail() int64 {
	if o.LeakFail > 0 {
		return o.LeakFail
	}
	return 32 << 20
}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 5 * time.Minute
}

func runKey(connector string, run int) string { return connector + "#" + strconv.Itoa(run) }

// emitter receives what a check observes, in order: in-process straight
// into a report, in a child process as protocol lines to the parent.
type emitter interface {
	plugin(PluginInfo)
	runStart(connector string, run int, config string)
	begin(connector string, run int, step string, timeout time.Duration)
	end(connector string, run int, step string)
	finding(Finding)
	runDone(info RunInfo)
	guard(region)
}

// runChecks is the whole check, in this process.
func runChecks(opts *Options, out emitter) {
	emitGlobal := func(f Finding) {
		if !opts.Resume {
			out.finding(f)
		}
	}
	const loadStep = "load (dlopen, tremor_plugin_get_descriptor)"
	out.begin("", 0, loadStep, opts.loadTimeout())
	p, err := plugin.Load(opts.File)
	out.end("", 0, loadStep)
	if err != nil {
		emitGlobal(Finding{Severity: SevError, Step: "load", Rule: classifyLoadError(err), Message: err.Error()})
		return
	}
	info := PluginInfo{Name: p.Name, Version: p.Version, ABI: p.ABI(), SDK: p.SDK}
	for _, c := range p.Connectors {
		info.Connectors = append(info.Connectors, ConnectorInfo{Name: c.Name, Kinds: c.KindNames(), Payload: c.PayloadName(), SecretFields: secretFields(c)})
	}
	out.plugin(info)
	out.begin("", 0, "tremor_plugin_get_descriptor (again)", opts.loadTimeout())
	img, err := p.Image()
	var snap [32]byte
	if err == nil {
		snap = img.Digest()
		if d2 := img.Again(); d2 != img.Addr() {
			emitGlobal(Finding{Severity: SevError, Step: "tremor_plugin_get_descriptor", Rule: RuleDescStable,
				Message: fmt.Sprintf("a second call returned another descriptor (%#x, first %#x)", d2, img.Addr())})
		} else if img.Digest() != snap {
			emitGlobal(Finding{Severity: SevError, Step: "tremor_plugin_get_descriptor", Rule: RuleDescStable,
				Message: "calling it again changed the descriptor"})
		}
	}
	out.end("", 0, "tremor_plugin_get_descriptor (again)")
	if err != nil {
		emitGlobal(Finding{Severity: SevError, Step: "descriptor", Rule: RuleLoadOther, Message: err.Error()})
		return
	}
	raw := rawConnectors(p, img)
	descriptorChecks(p, raw, emitGlobal)

	for name := range opts.Configs {
		if p.Connector(name) == nil {
			emitGlobal(Finding{Severity: SevError, Step: "--config", Rule: RuleConfigNeeded,
				Message: fmt.Sprintf("--config names connector %q, which the plugin does not provide (it has %s)", name, connectorNames(p))})
		}
	}
	skip := map[string]bool{}
	for _, s := range opts.Skip {
		skip[s] = true
	}
	for _, c := range p.Connectors {
		if len(opts.Connectors) > 0 && !contains(opts.Connectors, c.Name) {
			continue
		}
		cfgs := opts.Configs[c.Name]
		if len(cfgs) == 0 {
			cfgs = []string{""}
		}
		for run, cfg := range cfgs {
			if skip[runKey(c.Name, run)] {
				continue
			}
			shown := shownConfig(c, cfg)
			out.runStart(c.Name, run, shown)
			k := newChecker(opts, out, p, c, raw[c.Name], run)
			k.unacked = map[uint64]string{}
			k.info.Config = shown
			k.checkConnector(cfg)
			k.close()
			out.runDone(k.info)
		}
	}
	out.begin("", 0, "descriptor (after the run)", opts.loadTimeout())
	if img.Digest() != snap {
		emitGlobal(Finding{Severity: SevError, Step: "descriptor (after the run)", Rule: RuleDescStable,
			Message: "the descriptor (a struct, string, array or vtable it reaches) changed while the plugin ran"})
	}
	out.end("", 0, "descriptor (after the run)")
}

func connectorNames(p *plugin.Plugin) string {
	var n []string
	for _, c := range p.Connectors {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseConfig decodes a --config JSON object (numbers kept exact).
func parseConfig(text string) (map[string]any, error) {
	if strings.TrimSpace(text) == "" {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("not one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

// checkConnector runs everything for one connector and config.
func (k *checker) checkConnector(cfgText string) {
	user, err := parseConfig(cfgText)
	if err != nil {
		k.report(SevError, "config", RuleConfigNeeded, "--config %s=...: %v (the text is not shown: it may hold secrets)", k.c.Name, err)
		k.info.Status = "skipped"
		return
	}
	cfg, err := k.c.CheckConfig(user)
	if err != nil {
		var missing []string
		for _, f := range k.c.Fields {
			if f.Required {
				if _, ok := user[f.Name]; !ok {
					missing = append(missing, fmt.Sprintf("%q (%s)", f.Name, f.TypeName()))
				}
			}
		}
		msg := err.Error()
		if len(missing) > 0 && cfgText == "" {
			msg = fmt.Sprintf("required config field(s) %s have no default: pass --config %s='{...}' with a value that works (the lifecycle needs it)", strings.Join(missing, ", "), k.c.Name)
		}
		k.report(SevError, "config", RuleConfigNeeded, "%s", msg)
		k.info.Status = "skipped"
		return
	}
	in := k.lifecycle(cfg)
	k.refusedConfig(cfg)
	if in != nil {
		k.leaks(cfg)
		// last, so that plugin threads had time to log late if they do
		time.Sleep(50 * time.Millisecond)
		k.logChecks("after on_destroy", in)
	}
}

func (k *checker) done(step string) {
	if !contains(k.info.Steps, step) {
		k.info.Steps = append(k.info.Steps, step)
	}
}

// lifecycle: create -> connect -> start -> (pull, ack/fail) / send ->
// pause -> resume -> (pull, ack) / send -> drain -> stop -> destroy.
// It returns the instance (destroyed by then), nil when on_create failed.
func (k *checker) lifecycle(cfg map[string]any) *instance {
	in, res, err := k.create("on_create", cfg, maxErrorCap)
	if err != nil {
		k.report(SevError, "on_create", RuleCheckInternal, "%v", err)
		return nil
	}
	if in == nil {
		k.needMessage("on_create", "on_create", res, SevWarning, RuleErrMessage)
		if res.rc < 0 && res.rc != abi.ResultErrPanic {
			k.report(SevError, "on_create", RuleLifecycle, "on_create failed with the config given (declared defaults plus --config): %s", res)
		}
		return nil
	}
	k.lifecycleSteps(in)
	return in
}

func (k *checker) lifecycleSteps(in *instance) {
	k.done("create")
	defer func() {
		k.destroy("on_destroy", in)
		k.done("destroy")
	}()

	res, attempts := k.connectLoop("on_connect", in)
	if in.poisoned {
		return
	}
	if res.rc != abi.ResultOK {
		k.report(SevError, "on_connect", RuleConnect, "on_connect did not connect in %d attempt(s); last answer %s (pass a --config that can connect)", attempts, res)
		return
	}
	k.done(fmt.Sprintf("connect (%d attempt(s))", attempts))

	if !k.lifeStep("on_start", k.rc.vt.OnStart, in) {
		return
	}
	k.done("start")

	source, sink := k.c.IsSource(), k.c.IsSink()
	var st sourceState
	if source {
		source = k.sourceFirst(in, &st)
	}
	if in.poisoned {
		return
	}
	if sink {
		sink = k.sinkFirst(in)
	}
	if in.poisoned {
		return
	}

	if !k.lifeStep("on_pause", k.rc.vt.OnPause, in) {
		return
	}
	k.done("pause")
	if !k.lifeStep("on_resume", k.rc.vt.OnResume, in) {
		return
	}
	k.done("resume")

	if source {
		k.pullAfterResume(in, &st)
	}
	if in.poisoned {
		return
	}
	if sink {
		res, _ := k.sendBatch("on_send (full batch after resume)", in, fullBatch)
		if in.poisoned {
			return
		}
		k.sendResult("on_send (full batch after resume)", in, res)
		k.done("send after resume")
	}
	if !k.lifeStep("on_drain", k.rc.vt.OnDrain, in) {
		return
	}
	k.done("drain")
	if !k.lifeStep("on_stop", k.rc.vt.OnStop, in) {
		return
	}
	k.done("stop")
}

// pullAfterResume pulls (unless the source has ended) and settles what it
// pulled, and says when the source's checks were not exercised.
func (k *checker) pullAfterResume(in *instance, st *sourceState) {
	if !st.ended {
		pr := k.pullPhase("normal room, after resume", in, normalRoom, 1)
		if in.poisoned {
			return
		}
		st.ended = st.ended || pr.last.res.rc == abi.ResultEnd
	}
	k.ackFail("(all)", in, true)
	k.done("pull and ack after resume")
	switch {
	case k.info.Pulled > 0:
	case st.ended:
		k.report(SevInfo, "on_pull", RuleCoverage, "the source ended (no more events) without producing any: the checks of what a source writes were not exercised (give it a config that produces some)")
	default:
		k.report(SevInfo, "on_pull", RuleCoverage, "the source produced no events within the phase time (%s per room): the checks of what a source writes were not exercised (give it data or a config that produces some)", k.opts.phaseTime())
	}
}

var (
	oneEventRoom = roomCaps{events: 1, values: 4096, bytes: 64 << 10}
	tinyRoom     = roomCaps{events: 4, values: 1, bytes: 1}
	normalRoom   = roomCaps{events: edge.DefaultCaps.Events, values: edge.DefaultCaps.Values, bytes: edge.DefaultCaps.Bytes}
	fullBatch    = edge.DefaultCaps.Events
)

// lifeStep runs an optional step hook; false means stop the lifecycle.
func (k *checker) lifeStep(step string, fn uintptr, in *instance) bool {
	hookName := step
	res := k.step(step, hookName, fn, in)
	if in.poisoned {
		return false
	}
	if res.rc < 0 {
		k.needMessage(step, hookName, res, SevWarning, RuleErrMessage)
		if res.rc == abi.ResultErrUnsupported && (hookName == "on_pause" || hookName == "on_resume") {
			k.report(SevWarning, step, RuleLifecycle, "%s answered %s: an optional hook that has nothing to do should be NULL or return TREMOR_OK", hookName, res)
			return true
		}
		k.report(SevError, step, RuleLifecycle, "%s failed: %s", hookName, res)
		return hookName != "on_start"
	}
	return true
}

type sourceState struct{ ended bool }

// sourceFirst runs the pull phases before pause; false when the instance
// is not a source with this config (TREMOR_ERR_UNSUPPORTED).
func (k *checker) sourceFirst(in *instance, st *sourceState) bool {
	p1 := k.pullPhase("room of 1 event", in, oneEventRoom, 1)
	if in.poisoned {
		return false
	}
	if p1.last.res.rc == abi.ResultErrUnsupported {
		return k.unsupported("on_pull (room of 1 event)", "on_pull", p1.last.res, abi.KindSink)
	}
	k.done(fmt.Sprintf("pull into a room of 1 event (%d events)", p1.events))
	if p1.stopSource {
		st.ended = true
		k.ackFail("(after the room of 1 event)", in, false)
		return true
	}
	pt := k.pullPhase("tiny room", in, tinyRoom, 1)
	if in.poisoned {
		return false
	}
	k.done(fmt.Sprintf("pull into a tiny room (%d events, NO_ROOM seen: %v)", pt.events, pt.noRoom))
	if pt.stopSource {
		st.ended = true
		k.ackFail("(after the tiny room)", in, false)
		return true
	}
	pn := k.pullPhase("normal room", in, normalRoom, 1)
	if in.poisoned {
		return false
	}
	if !pn.stopSource {
		// two more pulls, so that ids are checked across pulls too
		for i := 0; i < 2 && !pn.stopSource; i++ {
			more := k.pullPhase("normal room, again", in, normalRoom, 0)
			pn.stopSource = more.stopSource
			if in.poisoned {
				return false
			}
		}
	}
	if !pt.noRoom && pt.events == 0 && p1.firstFull && pn.firstFull {
		k.report(SevWarning, "on_pull (tiny room)", RuleNoRoomSilently,
			"the source filled rooms of 1 event and of %s at once, but into a tiny room (%s) it answered TREMOR_OK with no events for %s instead of TREMOR_ERR_NO_ROOM with bytes_needed / values_needed",
			normalRoom, tinyRoom, k.opts.phaseTime())
	}
	k.done("pull into a normal room")
	k.ackFail("(half acked, half failed)", in, false)
	k.done("ack/fail")
	st.ended = pn.stopSource
	return true
}

// unsupported handles TREMOR_ERR_UNSUPPORTED from on_pull / on_send.
func (k *checker) unsupported(step, hookName string, res hookResult, otherKind uint32) bool {
	if k.c.Kinds&otherKind == 0 {
		k.report(SevError, step, RuleUnsupported, "%s answered TREMOR_ERR_UNSUPPORTED, but connector %q is not of both kinds", hookName, k.c.Name)
	} else if !res.hasMsg {
		k.report(SevError, step, RuleUnsupported, "%s answered TREMOR_ERR_UNSUPPORTED without a message saying why", hookName)
	} else {
		kind := "source"
		if hookName == "on_send" {
			kind = "sink"
		}
		k.report(SevInfo, step, RuleUnsupported, "with this config the instance is not a %s: %q (check another config with a second --config %s=...)", kind, res.msg, k.c.Name)
	}
	return false
}

// sinkFirst sends an empty and a full batch.
func (k *checker) sinkFirst(in *instance) bool {
	res, _ := k.sendBatch("on_send (empty batch)", in, 0)
	if in.poisoned {
		return false
	}
	if res.rc == abi.ResultErrUnsupported {
		return k.unsupported("on_send (empty batch)", "on_send", res, abi.KindSource)
	}
	k.sendResult("on_send (empty batch)", in, res)
	k.done("send an empty batch")
	res, _ = k.sendBatch("on_send (full batch)", in, fullBatch)
	if in.poisoned {
		return false
	}
	k.sendResult("on_send (full batch)", in, res)
	k.done(fmt.Sprintf("send a full batch (%d events)", fullBatch))
	return true
}

func (k *checker) sendResult(step string, in *instance, res hookResult) {
	switch {
	case res.rc == abi.ResultOK || res.rc == abi.ResultErrPanic:
	case res.rc == abi.ResultErrDisconnected:
		k.needMessage(step, "on_send", res, SevWarning, RuleErrMessage)
		if r, _ := k.connectLoop("on_connect (after TREMOR_ERR_DISCONNECTED)", in); r.rc != abi.ResultOK {
			k.report(SevError, step, RuleConnect, "on_send answered TREMOR_ERR_DISCONNECTED and reconnecting failed: %s", r)
		}
	case res.rc < 0:
		k.needMessage(step, "on_send", res, SevWarning, RuleErrMessage)
		k.report(SevError, step, RuleLifecycle, "on_send failed: %s", res)
	}
}

// refusedConfig creates instances with the run's config and the
// connector's --bad-config over it, with error buffers of several caps:
// the plugin must refuse it with TREMOR_ERR_CONFIG and a message that fits
// (cut at a character boundary, nothing written into no room). Kinds are
// the host's job (it refuses a wrong kind before on_create), so this is
// the plugin's own judgement of a value.
func (k *checker) refusedConfig(cfg map[string]any) {
	text, ok := k.opts.BadConfigs[k.c.Name]
	if !ok {
		k.report(SevInfo, "on_create (refused config)", RuleCreateBadConfig,
			"not checked: pass --bad-config %s='{...}' with a value the plugin refuses (a range, one of a set) to check its TREMOR_ERR_CONFIG answer and the error buffer's truncation", k.c.Name)
		return
	}
	over, err := parseConfig(text)
	if err != nil {
		k.report(SevError, "config", RuleConfigNeeded, "--bad-config %s=...: %v (the text is not shown: it may hold secrets)", k.c.Name, err)
		return
	}
	bad := maps.Clone(cfg)
	for name, v := range over {
		bad[name] = v
	}
	if bad, err = k.c.CheckConfig(bad); err != nil {
		k.report(SevError, "config", RuleConfigNeeded, "--bad-config %s: the host refuses it before on_create (%v): give values of the declared kinds that the plugin itself must refuse", k.c.Name, err)
		return
	}
	for _, errCap := range []int{maxErrorCap, 7, 0} { // whole, cut at a character boundary, no room at all
		step := fmt.Sprintf("on_create (--bad-config, error cap %d)", errCap)
		in, res, err := k.create(step, bad, errCap)
		if err != nil {
			k.report(SevError, step, RuleCheckInternal, "%v", err)
			return
		}
		if in != nil {
			k.report(SevError, step, RuleCreateBadConfig, "on_create accepted the --bad-config fields and returned TREMOR_OK")
			k.destroy("on_destroy (after --bad-config)", in)
			forgetCtx(in.ctx)
			break
		}
		switch {
		case res.rc == abi.ResultErrConfig:
			if errCap > 0 && !res.hasMsg {
				k.report(SevError, step, RuleCreateBadConfig, "on_create refused the --bad-config with TREMOR_ERR_CONFIG but without a message saying which field is wrong")
			}
		case res.rc < 0:
			k.report(SevError, step, RuleCreateBadConfig, "on_create refused the --bad-config with %s; a config the connector cannot use is TREMOR_ERR_CONFIG", res)
		}
	}
	k.done("create with a refused config")
}

// leaks measures RSS and open files around repeated create/destroy.
func (k *checker) leaks(cfg map[string]any) {
	cycles := k.opts.leakCycles()
	if cycles == 0 {
		return
	}
	step := fmt.Sprintf("create/destroy x%d", cycles)
	cycle := func() bool {
		in, res, err := k.create("on_create ("+step+")", cfg, maxErrorCap)
		if err != nil || in == nil {
			k.report(SevError, "on_create ("+step+")", RuleLifecycle, "on_create failed during the leak check: %s", res)
			return false
		}
		k.destroy("on_destroy ("+step+")", in)
		forgetCtx(in.ctx)
		return true
	}
	for i := 0; i < cycles/10+1; i++ { // warm up: caches, pools, lazy init
		if !cycle() {
			return
		}
	}
	settle()
	rss0, fd0 := rss(), fdCount()
	for i := 0; i < cycles; i++ {
		if !cycle() {
			return
		}
	}
	settle()
	rss1, fd1 := rss(), fdCount()
	growth := rss1 - rss0
	k.info.LeakRSS, k.info.LeakCycles = &growth, cycles
	if rss0 > 0 && growth > k.opts.leakWarn() {
		sev := SevWarning
		if growth > k.opts.leakFail() {
			sev = SevError
		}
		k.report(sev, step, RuleLeakMemory, "suspected leak: RSS grew from %s to %s (%s, about %s per create/destroy) over %d cycles",
			human(rss0), human(rss1), human(growth), human(growth/int64(cycles)), cycles)
	}
	if fd0 >= 0 && fd1-fd0 > 2 {
		sev := SevWarning
		if fd1-fd0 >= cycles/2 {
			sev = SevError
		}
		k.report(sev, step, RuleLeakFDs, "open file descriptors grew from %d to %d over %d create/destroy cycles", fd0, fd1, cycles)
	}
	k.done(step)
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(20 * time.Millisecond)
}

// rss is the resident set size of this process (/proc/self/statm), or -1.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

func fdCount() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// absPath makes File absolute (the child may run elsewhere).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
