package runtime

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tremorhost/host/edge"
)

// Build is the file a connector type comes from: what an upgrade replaces
// and what the API shows for each connector.
type Build struct {
	Plugin  string `json:"plugin"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
	File    string `json:"file"`
	ABI     string `json:"abi"`
	SDK     string `json:"sdk,omitempty"`
}

func (b Build) String() string {
	sum := b.SHA256
	if len(sum) > 12 {
		sum = sum[:12]
	}
	return fmt.Sprintf("%s %s (sha256 %s)", b.Plugin, b.Version, sum)
}

// Built is a Type that comes from a plugin file and can be upgraded.
type Built interface {
	Build() Build
}

// Replaceable is a Built type that may refuse to have a running instance
// replaced by one of its build where pl places it (a library that cannot
// be loaded twice into one process).
type Replaceable interface {
	Replaceable(pl Placement) error
}

// upgradeState is a node's side of live upgrades: the build it runs now
// and the channel its role's goroutine takes swap requests from.
type upgradeState struct {
	build atomic.Pointer[Build] // nil for types built into the host
	swap  chan *swapReq
	gone  chan struct{} // closed when the role's loop has ended: no swap any more
	once  sync.Once
}

func newUpgradeState(t Type) *upgradeState {
	u := &upgradeState{swap: make(chan *swapReq), gone: make(chan struct{})}
	if b, ok := t.(Built); ok {
		bb := b.Build()
		u.build.Store(&bb)
	}
	return u
}

// leave says the role's goroutine takes no swap request any more.
func (u *upgradeState) leave() { u.once.Do(func() { close(u.gone) }) }

// swapReq asks a role's goroutine to switch to a new, connected and
// started instance.
type swapReq struct {
	inst  Instance
	build Build
	done  chan swapResult
}

// swapResult is what the role's goroutine did; old is the instance it
// left (stopped, to destroy), nil when it did not switch.
type swapResult struct {
	old        Instance
	pause      time.Duration
	settled    uint64 // events of the old instance acked or failed during the swap
	failedBack uint64 // of those, failed back (drain timeout)
	err        error
}

// Upgrade is the outcome of replacing one connector's instance.
type Upgrade struct {
	Flow       string        `json:"flow"`
	Connector  string        `json:"connector"`
	From       Build         `json:"from"`
	To         Build         `json:"to"`
	Pause      time.Duration `json:"pause_ns"` // traffic paused: last pull or send on the old, to the switch
	Settled    uint64        `json:"settled"`  // old instance's events settled while draining
	FailedBack uint64        `json:"failed_back"`
	// Switched: the new instance took over (the old one is gone), even if
	// Error then says it failed.
	Switched bool `json:"switched"`
	// Pending: the switch waits for the old instance's hook (Error says
	// which); it completes, and is logged, when the hook returns.
	Pending bool   `json:"pending,omitempty"`
	Error   string `json:"error,omitempty"`
}

// UpgradePlan is an upgrade of one running flow, checked against the new
// connector types; Prepare creates the new instances, Commit switches.
type UpgradePlan struct {
	r       *Runtime
	steps   []*upgradeStep
	timeout time.Duration // from Prepare: also how long Commit waits for a role to take its switch
}

type upgradeStep struct {
	n      *node
	typ    Type
	place  Placement
	config map[string]any
	from   Build
	to     Build
	inst   Instance // the new instance, once prepared
}

// Empty says whether the plan replaces nothing.
func (p *UpgradePlan) Empty() bool { return p == nil || len(p.steps) == 0 }

// UpgradeMatch picks what an upgrade replaces: the nodes running a build
// of plugin (its name or its file; "" for every plugin) whose file now
// holds another build.
type UpgradeMatch struct {
	Plugin string
	// Refused holds the plugin files the new scan refused, by path: a node
	// running one of them is refused with that error.
	Refused map[string]error
}

func (m UpgradeMatch) picks(b *Build) bool {
	return b != nil && (m.Plugin == "" || b.Plugin == m.Plugin || b.File == m.Plugin)
}

// Uses says whether a connector of the flow runs a build of plugin (its
// name or file).
func (r *Runtime) Uses(plugin string) bool {
	m := UpgradeMatch{Plugin: plugin}
	for _, n := range r.nodes {
		if m.picks(n.up.build.Load()) {
			return true
		}
	}
	return false
}

// PlanUpgrade checks every connector that m picks against its type in cat
// exactly as New checks a flow: the type still exists, the connector's
// config validates against its declared fields, and the flow's isolation
// and plugin_sha256 pin still place it. Nothing is created. Connectors
// whose type in cat is the build they run are left out.
func (r *Runtime) PlanUpgrade(m UpgradeMatch, cat Catalog) (*UpgradePlan, error) {
	p := &UpgradePlan{r: r}
	var errs []error
	for _, n := range r.nodes {
		from := n.up.build.Load()
		if !m.picks(from) {
			continue
		}
		fail := func(format string, args ...any) {
			errs = append(errs, r.connErr(n, fmt.Errorf("upgrade from %s refused: %s", from, fmt.Sprintf(format, args...))))
		}
		if err, ok := m.Refused[from.File]; ok {
			fail("the plugin file no longer loads: %v; the running version keeps going: put a good build in place", err)
			continue
		}
		typ, ok := cat.Type(n.conn.Type)
		if !ok {
			fail("the plugin files found no longer provide connector type %q (known: %s); the running version keeps going", n.conn.Type, strings.Join(sorted(cat.Names()), ", "))
			continue
		}
		b, ok := typ.(Built)
		if !ok {
			fail("connector type %q is now built into the host, not a plugin", n.conn.Type)
			continue
		}
		to := b.Build()
		if to.SHA256 == from.SHA256 {
			continue
		}
		if m.Plugin != "" && to.Plugin != from.Plugin {
			fail("connector type %q now comes from plugin %q (%s), not %q", n.conn.Type, to.Plugin, to.File, from.Plugin)
			continue
		}
		if n.source != nil && n.sink != nil {
			fail("connector %q is both a source and a sink; live upgrade handles one role per connector: redeploy the flow instead", n.conn.ID)
			continue
		}
		iso, err := ParseIsolation(n.conn.Isolation)
		if err != nil {
			fail("%v", err)
			continue
		}
		place, err := typ.Place(Policy{Isolation: iso, SHA256: n.conn.PluginSHA256})
		if err != nil {
			fail("%v", err)
			continue
		}
		place.CPUs = r.plan.children
		if rp, ok := typ.(Replaceable); ok {
			if err := rp.Replaceable(place); err != nil {
				fail("%v", err)
				continue
			}
		}
		cfg, err := typ.CheckConfig(n.conn.Config)
		if err != nil {
			fail("its config does not validate against version %s: %v (tremorctl inspect %s lists the fields)", to.Version, err, n.conn.Type)
			continue
		}
		p.steps = append(p.steps, &upgradeStep{n: n, typ: typ, place: place, config: cfg, from: *from, to: to})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func sorted(s []string) []string { slices.Sort(s); return s }

// Prepare creates and connects every new instance, and starts the sinks,
// while the old ones keep running. A connect is retried as the
// connector's reconnect policy says, within timeout; when one cannot be
// created, connected or started, every new instance is destroyed again:
// the old ones were not touched (rolled back).
func (p *UpgradePlan) Prepare(timeout time.Duration) error {
	p.timeout = timeout
	for i, st := range p.steps {
		if err := st.prepare(timeout); err != nil {
			for _, done := range p.steps[:i+1] {
				if done.inst != nil {
					done.inst.Destroy()
					done.inst = nil
				}
			}
			return p.r.connErr(st.n, fmt.Errorf("upgrade to %s rolled back, %s keeps running: %w", st.to, st.from, err))
		}
	}
	return nil
}

func (st *upgradeStep) prepare(timeout time.Duration) error {
	n := st.n
	inst, err := st.typ.Create(n.conn.ID, st.config, st.place, n.base)
	if err == nil && inst == nil {
		err = errors.New("the connector type returned no instance")
	}
	if err != nil {
		return fmt.Errorf("the new version could not be created: %w", err)
	}
	st.inst = inst
	stop := make(chan struct{})
	t := time.AfterFunc(timeout, func() { close(stop) })
	defer t.Stop()
	policy := n.conn.Reconnect
	for attempt := uint32(1); ; attempt++ {
		err := inst.Connect(attempt)
		if err == nil {
			break
		}
		if fatal(err) {
			return fmt.Errorf("the new version could not connect: %w", err)
		}
		if policy.MaxAttempts > 0 && int(attempt) >= policy.MaxAttempts {
			return fmt.Errorf("the new version could not connect after %d attempts (reconnect.max_attempts): %w", attempt, err)
		}
		if !backoff(policy, attempt+1, stop) {
			return fmt.Errorf("the new version could not connect within %s (%d attempts): %w", roundDur(timeout), attempt, err)
		}
	}
	// A source starts once the old one has stopped (swapSource): one that
	// resumes from acknowledged positions reads them then.
	if n.source == nil {
		if err := inst.Start(); err != nil {
			return fmt.Errorf("the new version could not start: %w", err)
		}
	}
	return nil
}

// Abort destroys the prepared instances; the old ones keep running.
func (p *UpgradePlan) Abort() {
	for _, st := range p.steps {
		if st.inst != nil {
			st.inst.Destroy()
			st.inst = nil
		}
	}
}

// Commit switches every connector of the plan to its new instance, one
// after the other, each on the goroutine that drives it (see swapSource
// and swapSink), and destroys the old instances. A connector whose role
// has already ended (its flow is stopping) keeps its old instance and
// says so in its Upgrade.
func (p *UpgradePlan) Commit() []Upgrade {
	out := make([]Upgrade, 0, len(p.steps))
	for _, st := range p.steps {
		n := st.n
		u := Upgrade{Flow: p.r.flow.Name, Connector: n.conn.ID, From: st.from, To: st.to}
		req := &swapReq{inst: st.inst, build: st.to, done: make(chan swapResult, 1)}
		var res swapResult
		// The role takes the request between two batches; one that is
		// reconnecting does not, and keeps its old instance.
		wait := time.NewTimer(p.timeout)
		taken := false
		select {
		case n.up.swap <- req:
			taken = true
		case <-n.up.gone:
			res.err = errors.New("the connector has stopped (its source ended, or its flow is ending): nothing to switch")
		case <-wait.C:
			res.err = fmt.Errorf("the connector did not come to a point where it could switch within %s (is it reconnecting?); it keeps %s", roundDur(p.timeout), st.from)
		}
		wait.Stop()
		if taken {
			// The swap calls the old instance's on_drain and on_stop,
			// which may not return; the answer does not wait for ever.
			bound := p.swapBound()
			select {
			case res = <-req.done:
			case <-time.After(bound):
				res.err = fmt.Errorf("the old instance has not finished within %s (its on_drain or on_stop has not returned, or its events are still settling with no drain timeout): the switch waits for it (the connector moves no events meanwhile; a hook that never returns is named when the flow stops)", roundDur(bound))
				inst, log := st.inst, n.log
				st.inst = nil
				go func() {
					res := <-req.done
					if finishSwap(res, inst) {
						log.Info().Str("new_version", req.build.Version).Msg("upgrade: the old instance's hook returned; the switch is complete")
					} else {
						log.Warn().AnErr("error", res.err).Msg("upgrade: the old instance's hook returned; not switched")
					}
				}()
				u.Pending = true
				u.Error = p.r.connErr(n, res.err).Error()
				out = append(out, u)
				continue
			}
		}
		u.Switched = finishSwap(res, st.inst)
		st.inst = nil
		u.Pause, u.Settled, u.FailedBack = res.pause, res.settled, res.failedBack
		if res.err != nil {
			u.Error = p.r.connErr(n, res.err).Error()
		}
		out = append(out, u)
	}
	return out
}

// finishSwap destroys whichever instance the swap left unused (the old one
// when it switched, else the new) and reports whether it switched.
func finishSwap(res swapResult, newInst Instance) (switched bool) {
	if res.old == nil {
		newInst.Destroy()
		return false
	}
	res.old.Destroy()
	return true
}

// swapBound is how long Commit waits for a role that took its switch, as
// shutdown waits for a flow: the drain timeout for the old instance's
// events (the plan's timeout when the drain waits for ever), then the
// grace a hook gets.
func (p *UpgradePlan) swapBound() time.Duration {
	if p.r.opts.DrainTimeout > 0 {
		return p.r.opts.DrainTimeout + hookGrace
	}
	return p.timeout + hookGrace
}

// switchTo makes inst the instance role calls; called on role's goroutine.
func (n *node) switchTo(role int, req *swapReq) Instance {
	old := n.roleInst[role].Instance
	n.roleInst[role].Instance = req.inst
	// Run stops and destroys n.inst as roleHost once every role has ended,
	// which happens after this switch.
	n.roleInst[roleHost].Instance = req.inst
	n.inst = req.inst
	n.link.mu.Lock()
	n.link.connected, n.link.started, n.link.ever = true, true, true
	n.link.mu.Unlock()
	n.counters.Connected.Store(true)
	n.noteInstance(req.inst)
	if rc, ok := req.inst.(restartCounter); ok {
		n.counters.restarter.Store(&restartBox{rc})
	} else {
		n.counters.restarter.Store(nil)
	}
	b := req.build
	n.up.build.Store(&b)
	return old
}

// swapSource switches a source on its own goroutine: the old instance is
// no longer pulled, its pre-processors are flushed, it is drained, and its
// events keep settling to it until its window is empty (or the drain
// timeout fails the rest back to it); then it is stopped and the new one
// is pulled.
func (s *source) swapSource(req *swapReq, giveUp <-chan struct{}) {
	n := s.node
	start := time.Now()
	acks, fails := n.counters.Acks.Load(), n.counters.Fails.Load()+n.counters.FailsRefused.Load()
	s.finishStreams(giveUp)
	s.flush(giveUp)
	// The old instance is called untracked by "ended": its source does not
	// end, it moves on to the new instance.
	old := &tracked{Instance: n.roleInst[roleSource].Instance, f: &n.calls[roleSource]}
	if err := old.Drain(); err != nil {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("upgrade: drain of the old instance failed")
	}
	var timeout <-chan time.Time
	if d := s.r.opts.DrainTimeout; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for s.window.unsettled() > 0 {
		select {
		case <-s.inbox.signal:
			s.settle()
		case <-timeout:
			timeout = nil
			n.log.Warn().Int("events", s.window.unsettled()).Dur("timeout", s.r.opts.DrainTimeout).
				Msg("upgrade: drain timeout; failing back the old instance's events still in flight")
			s.settle()
			s.window.failAll()
			s.settle()
		case <-giveUp:
			s.settle()
			s.window.failAll()
			s.settle()
		}
	}
	if err := old.Stop(); err != nil {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("upgrade: stop of the old instance failed")
	}
	n.switchTo(roleSource, req)
	s.paused = false
	var err error
	if err = s.inst.Start(); err != nil {
		// The old instance is stopped: the source gives up, as when its
		// first start fails.
		err = fmt.Errorf("the new version could not start: %w", err)
		n.counters.Errors.Add(1)
		n.link.mu.Lock()
		n.link.err, n.link.connected = err, false
		n.link.mu.Unlock()
		n.counters.Connected.Store(false)
	}
	failed := n.counters.Fails.Load() + n.counters.FailsRefused.Load() - fails
	req.done <- swapResult{old: old.Instance, pause: time.Since(start), settled: n.counters.Acks.Load() - acks + failed, failedBack: failed, err: err}
}

// swapSink switches a sink on its own goroutine between two sends: the
// batch in flight has finished on the old instance; events it answered
// RETRY were not delivered and go to the new one.
func (k *sink) swapSink(req *swapReq) {
	n := k.node
	start := time.Now()
	if k.dead {
		req.done <- swapResult{err: fmt.Errorf("the sink has given up (%v); redeploy the flow", k.err)}
		return
	}
	old := &tracked{Instance: n.roleInst[roleSink].Instance, f: &n.calls[roleSink]}
	if err := old.Drain(); err != nil {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("upgrade: drain of the old instance failed")
	}
	if err := old.Stop(); err != nil {
		n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("upgrade: stop of the old instance failed")
	}
	n.switchTo(roleSink, req)
	req.done <- swapResult{old: old.Instance, pause: time.Since(start)}
}
