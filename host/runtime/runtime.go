// Package runtime runs flows: it connects plugin connectors, moves events
// in batches from sources through codecs and pipelines to sinks, and keeps
// Tremor's promise that every event a source hands over is eventually acked
// (delivered, or dropped on purpose by a route) or failed back to it.
//
// Each connector runs in its own goroutine and owns its plugin instance, so
// the host calls at most one hook of an instance at a time. A source
// goroutine pulls a batch, decodes it, routes every event through the
// pipelines it is linked to (routing is cheap and runs inline) and hands one
// slice of events per sink to that sink's bounded queue. A sink goroutine
// encodes what it receives into a batch, sends it, and reports each event's
// outcome back to the source that produced it.
//
// Delivery through pre-processors and codecs: a source event is acked only
// once every frame made from its bytes was delivered (or discarded by a
// route). Bytes a pre-processor holds in a partial frame keep their event
// unsettled until the event that completes the frame (or the end of the
// stream) is settled, and it then settles with that event's outcome. A
// frame that is dropped (over max_length, or spanning more than half the
// window's events) or cannot be decoded goes to the connector's err port
// when that is linked, and otherwise fails back every event holding its
// bytes, counted as errors and fails. Acks and fails count what the plugin
// took; an on_ack or on_fail that fails counts as an error.
//
// Back-pressure: each source tracks its unsettled events in a fixed-size
// window (see window.go). When a sink is slow or disconnected its queue
// fills, the sources feeding it stop pulling, their windows fill, and they
// call the plugin's pause hook until events settle again. Memory stays
// bounded by window size x number of sources.
//
// Start: every instance is created before anything runs (a plugin that
// refuses its config stops the flow before an event moves), and every
// connector starts connecting at once, sinks included.
//
// Shutdown: when every source has ended, or when Run's context is
// cancelled, sources stop pulling and call drain; the flow waits until
// every pulled event has settled. If that takes longer than the drain
// timeout (a sink that stays down), whatever is still in flight is failed
// back to its source. Then sinks drain and everything stops. A hook that
// still has not returned a little after the drain timeout is named in
// Run's error and its goroutine abandoned: the instance is left alone.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/codec"
	"tremorhost/host/edge"
	"tremorhost/host/flow"
	"tremorhost/host/pipeline"
	"tremorhost/host/processor"
)

// Options tunes a Runtime; zero values take the defaults.
type Options struct {
	Log           zerolog.Logger
	DrainTimeout  time.Duration // how long shutdown waits for in-flight events (default 10s; WaitForever: no limit)
	StatsInterval time.Duration // period of the stats log line; 0 = never
	PullWait      time.Duration // how long a pull may wait for data (default 50ms)
	Window        int           // unsettled events per source (default 16 x batch size)
}

// WaitForever (any negative value) as Options.DrainTimeout makes shutdown
// wait for in-flight events without a limit.
const WaitForever time.Duration = -1

// hookGrace is how long Run waits, once the drain timeout has failed back
// what was in flight, for the connectors' goroutines to finish before it
// names the hooks that have not returned and gives up on them.
var hookGrace = 2 * time.Second

// stopTimeout bounds one stop or destroy call at the end of Run (above the
// 10 s after which an isolated call gets its child killed).
var stopTimeout = 15 * time.Second

// Runtime is a checked flow, ready to run once.
type Runtime struct {
	flow    *flow.Flow
	opts    Options
	log     zerolog.Logger
	nodes   []*node // connectors, in flow order
	byID    map[string]*node
	sources []*source
	sinks   []*sink
	// plan is where the flow runs when it sets cpus (cpus.go); its
	// children (the CPUs of plugin processes) nil: anywhere.
	plan cpuPlan

	allEnded chan struct{} // closed when every source stopped pulling by itself
	toEnd    atomic.Int32  // sources that have not
	// sinkDied is closed when a sink gives up for good (reconnect
	// max_attempts, a fatal connect error): the flow cannot deliver what
	// goes there, so it stops rather than pull events only to fail them
	// back.
	sinkDied     chan struct{}
	sinkDiedOnce sync.Once
}

// node is one connector of the flow, in its source role, its sink role or
// both (the same instance serves both).
type node struct {
	base   zerolog.Logger // untagged, for the instance, which tags its own lines alike
	conn   flow.Connector
	typ    Type
	place  Placement // where its instances run, from the flow's policy
	batch  int       // events per batch with its plugin (the flow's batch_size)
	config map[string]any
	codec  codec.Codec // nil for structured connectors
	pre    []processor.Preprocessor
	post   []processor.Postprocessor
	// defPre, defPost: pre and post are the type's natural framing, not
	// the flow's (see framing.go).
	defPre, defPost bool
	// newlineOnly: post is one post-processor that only appends '\n', so
	// the codec can encode straight into the batch.
	newlineOnly bool
	counters    Counters
	log         zerolog.Logger
	link        link

	inst     Instance        // nil until created
	calls    [roles]inFlight // the hook each caller is in
	roleInst [roles]tracked  // inst as each caller calls it
	running  atomic.Int32    // goroutines of this node still running
	source   *source
	sink     *sink
	outLinks map[string][]*pipe // connector port -> pipelines it feeds
	up       *upgradeState      // live upgrades (upgrade.go)

	rolesDone atomic.Int32 // roles that made their last pull or send (roleDone)
}

// pipe is a pipeline with where each of its ports leads.
type pipe struct {
	p     *pipeline.Pipeline
	ports map[string][]*sink
}

// New checks a flow against the connector types, codecs and processors
// available, without creating anything. Every error names the flow file, the
// line and the key.
func New(f *flow.Flow, cat Catalog, opts Options) (*Runtime, error) {
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if opts.PullWait == 0 {
		opts.PullWait = 50 * time.Millisecond
	}
	if opts.Window == 0 {
		opts.Window = 16 * f.BatchSize
	}
	opts.Window = max(opts.Window, f.BatchSize)
	// Every line of the flow names it: serve runs several.
	r := &Runtime{flow: f, opts: opts, log: opts.Log.With().Str("flow", f.Name).Logger(), byID: map[string]*node{}}

	for _, c := range f.Connectors {
		n, err := r.checkConnector(c, cat)
		if err != nil {
			return nil, err
		}
		r.nodes = append(r.nodes, n)
		r.byID[c.ID] = n
	}

	pipes := map[string]*pipe{}
	for _, p := range f.Pipelines {
		pipes[p.ID] = &pipe{p: pipeline.Compile(p), ports: map[string][]*sink{}}
	}
	for _, l := range f.Links {
		if from, ok := r.byID[l.From.Node]; ok { // connector -> pipeline
			if !from.typ.IsSource() {
				return nil, f.ErrAt(fmt.Sprintf("connector %q (type %s) is not a source, so nothing comes out of it", from.conn.ID, from.typ.Name()), "link", l.Index, "from")
			}
			if from.source == nil {
				from.source = &source{node: from, cpu: -1}
				from.outLinks = map[string][]*pipe{}
				r.sources = append(r.sources, from.source)
			}
			from.outLinks[l.From.Port] = append(from.outLinks[l.From.Port], pipes[l.To.Node])
			continue
		}
		to := r.byID[l.To.Node] // pipeline -> connector
		if !to.typ.IsSink() {
			return nil, f.ErrAt(fmt.Sprintf("connector %q (type %s) is not a sink, so it cannot take events", to.conn.ID, to.typ.Name()), "link", l.Index, "to")
		}
		if to.sink == nil {
			to.sink = newSink(to)
			to.sink.idx = len(r.sinks)
			r.sinks = append(r.sinks, to.sink)
		}
		p := pipes[l.From.Node]
		p.ports[l.From.Port] = append(p.ports[l.From.Port], to.sink)
	}
	for _, n := range r.nodes {
		r.settleFraming(n)
		if n.source == nil && n.sink == nil {
			return nil, f.ErrAt(fmt.Sprintf("connector %q is not linked to any pipeline; add a [[link]] or remove it", n.conn.ID), "connector", n.conn.Index, "id")
		}
		if n.source != nil && len(n.outLinks["out"]) == 0 {
			return nil, f.ErrAt(fmt.Sprintf("connector %q: only its err port is linked; link %q to a pipeline too", n.conn.ID, n.conn.ID+"/out"), "connector", n.conn.Index, "id")
		}
		if n.source == nil && len(n.pre) > 0 {
			return nil, f.ErrAt("pre-processors only apply to a connector used as a source", "connector", n.conn.Index, "preprocessors")
		}
		if n.sink == nil && len(n.post) > 0 {
			return nil, f.ErrAt("post-processors only apply to a connector used as a sink", "connector", n.conn.Index, "postprocessors")
		}
	}
	if len(r.sources) == 0 {
		return nil, &flow.Error{File: f.File, Msg: "the flow has no source: link a source connector to a pipeline"}
	}
	if len(f.CPUs) > 0 {
		if err := checkCPUs(f); err != nil {
			return nil, err
		}
		r.plan = planCPUs(f.CPUs, len(r.sources), len(r.sinks))
		r.applyPlan()
	}
	return r, nil
}

// applyPlan gives each role and each plugin process its CPUs from r.plan.
func (r *Runtime) applyPlan() {
	for i, s := range r.sources {
		s.cpu = r.plan.sources[i]
	}
	for i, k := range r.sinks {
		k.cpu = r.plan.sinks[i]
	}
	for _, n := range r.nodes {
		n.place.CPUs = r.plan.children
	}
}

// placeCPUs plans a flow with cpus = "auto" (cpus.go) and, for any pinned
// flow, holds its CPUs while it runs, so that the next "auto" flow starts
// elsewhere. The returned func lets them go.
func (r *Runtime) placeCPUs() (release func()) {
	if !r.flow.AutoCPUs && len(r.flow.CPUs) == 0 {
		return func() {}
	}
	heldCPUs.Lock()
	defer heldCPUs.Unlock()
	if r.flow.AutoCPUs {
		allowed, err := allowedCPUs()
		plan, ok := planAuto(allowed, heldCPUs.flows, len(r.sources), len(r.sinks))
		if err != nil || !ok {
			r.log.Info().Ints("allowed", allowed).Int("held_by_other_flows", len(heldCPUs.flows)).Int("sources", len(r.sources)).AnErr("error", err).
				Msg(`cpus = "auto": fewer CPUs free than this flow's sources and one more for its sinks and plugins; running unpinned`)
			return func() {}
		}
		r.plan = plan
		r.applyPlan()
		r.log.Info().Ints("sources", plan.sources).Ints("sinks", plan.sinks).Ints("plugin_cpus", plan.children).Msg(`cpus = "auto": pinned`)
	}
	return holdLocked(r.plan.cpus())
}

func (r *Runtime) checkConnector(c flow.Connector, cat Catalog) (*node, error) {
	f := r.flow
	typ, ok := cat.Type(c.Type)
	if !ok {
		if cc, isCC := cat.(interface{ Contested(string) error }); isCC {
			if err := cc.Contested(c.Type); err != nil {
				return nil, f.ErrAt(err.Error(), "connector", c.Index, "type")
			}
		}
		known := cat.Names()
		slices.Sort(known)
		return nil, f.ErrAt(fmt.Sprintf("no loaded plugin provides connector type %q (known: %s); check the plugin search path (--plugin-path, TREMOR_PLUGIN_PATH) or run tremorctl list-plugins", c.Type, strings.Join(known, ", ")), "connector", c.Index, "type")
	}
	n := &node{conn: c, typ: typ, base: r.log, log: r.log.With().Str("connector", c.ID).Str("type", c.Type).Logger()}
	n.up = newUpgradeState(typ)
	iso, err := ParseIsolation(c.Isolation)
	if err != nil {
		return nil, f.ErrAt(err.Error(), "connector", c.Index, "isolation")
	}
	if n.place, err = typ.Place(Policy{Isolation: iso, SHA256: c.PluginSHA256}); err != nil {
		field := "type"
		if pe, ok := errors.AsType[*PolicyError](err); ok {
			field = pe.Field
		}
		return nil, f.ErrAt(err.Error(), "connector", c.Index, field)
	}
	n.batch = f.BatchSize
	cfg, err := typ.CheckConfig(c.Config)
	if err != nil {
		return nil, f.ErrAt(fmt.Sprintf("%v (connector type %s from %s)", err, typ.Name(), typ.Origin()), "connector", c.Index, "config")
	}
	n.config = cfg
	if typ.Structured() {
		if c.Codec != "" || len(c.Preprocessors) > 0 || len(c.Postprocessors) > 0 {
			return nil, f.ErrAt(fmt.Sprintf("connector type %s exchanges structured values: it takes no codec or processors; remove them", typ.Name()), "connector", c.Index, "codec")
		}
		return n, nil
	}
	name := c.Codec
	if name == "" {
		name = "json"
	}
	if n.codec, err = codec.New(name, nil); err != nil {
		return nil, f.ErrAt(err.Error(), "connector", c.Index, "codec")
	}
	pres, posts, defPre, defPost := framing(typ, c)
	n.defPre, n.defPost = defPre, defPost
	natural := func(err error, name string, defaulted bool) string {
		if defaulted {
			return fmt.Sprintf("connector type %s (%s) declares the framing %q: %v; set this connector's processors in the flow", typ.Name(), typ.Origin(), name, err)
		}
		return err.Error()
	}
	for j, p := range pres {
		pre, err := processor.NewPre(p.Name, p.Config)
		if err != nil {
			return nil, f.ErrAt(natural(err, p.Name, defPre), "connector", c.Index, "preprocessors", j)
		}
		n.pre = append(n.pre, pre)
	}
	for j, p := range posts {
		post, err := processor.NewPost(p.Name, p.Config)
		if err != nil {
			return nil, f.ErrAt(natural(err, p.Name, defPost), "connector", c.Index, "postprocessors", j)
		}
		n.post = append(n.post, post)
	}
	n.newlineOnly = len(n.post) == 1 && processor.FramesWithNewline(n.post[0])
	return n, nil
}

// instance is the node's instance as role calls it.
func (n *node) instance(role int) Instance { return &n.roleInst[role] }

// connErr prefixes err with the flow and the connector.
func (r *Runtime) connErr(n *node, err error) error {
	return fmt.Errorf("flow %q (%s): connector %q (type %s): %w", r.flow.Name, r.flow.File, n.conn.ID, n.typ.Name(), err)
}

// configHint says what to do when err is a config the plugin refused.
func (n *node) configHint(err error) string {
	if !errors.Is(err, abi.ResultErrConfig) {
		return ""
	}
	return fmt.Sprintf("; fix its config in the flow (tremorctl inspect %s lists the fields)", n.typ.Name())
}

// create creates every connector's instance where its isolation setting
// says. When one fails, the others are destroyed (none has connected yet)
// and the error is the first failing connector's in flow order.
func (r *Runtime) create() error {
	r.allEnded = make(chan struct{})
	r.sinkDied = make(chan struct{})
	r.toEnd.Store(int32(len(r.sources)))
	// Instances are created concurrently: one in a child process waits for
	// that process to start and load its plugin (milliseconds), and the
	// contract lets different instances be called at the same time.
	insts := make([]Instance, len(r.nodes))
	errs := make([]error, len(r.nodes))
	var wg sync.WaitGroup
	for i, n := range r.nodes {
		wg.Go(func() {
			insts[i], errs[i] = n.create()
			if errs[i] == nil && insts[i] == nil {
				errs[i] = errors.New("the connector type returned no instance")
			}
		})
	}
	wg.Wait()
	for i, n := range r.nodes {
		if errs[i] == nil {
			continue
		}
		for j, inst := range slices.Backward(insts) {
			if errs[j] == nil {
				inst.Destroy()
			}
		}
		return r.connErr(n, fmt.Errorf("could not be created: %w%s", errs[i], n.configHint(errs[i])))
	}
	for i, n := range r.nodes {
		inst := insts[i]
		n.inst = inst
		for role := range n.roleInst {
			n.roleInst[role] = tracked{Instance: inst, f: &n.calls[role]}
		}
		if n.source != nil {
			var once sync.Once
			n.roleInst[roleSource].ended = func() {
				once.Do(func() {
					if r.toEnd.Add(-1) == 0 {
						close(r.allEnded)
					}
				})
			}
		}
	}
	return nil
}

// Check creates every connector's instance the way Run does (in a child
// process where the connector runs isolated) and destroys it again without
// connecting, so that a config the plugin itself refuses shows before the
// flow runs. Run creates its own instances.
func (r *Runtime) Check() error {
	if err := r.create(); err != nil {
		return err
	}
	for _, n := range slices.Backward(r.nodes) {
		n.instance(roleHost).Destroy()
		n.inst = nil
	}
	return nil
}

// Run runs the flow until every source has ended or ctx is cancelled, then
// drains and stops it. It returns the final counters, and an error when a
// connector could not be created, gave up, never connected, or has a hook
// that did not return after the drain timeout. Events failed back to their
// sources are not an error here: FailedBack says how many.
func (r *Runtime) Run(ctx context.Context) ([]Stats, error) {
	defer r.placeCPUs()()
	if err := r.create(); err != nil {
		return r.Stats(), err
	}
	stopPulling := make(chan struct{}) // closed: sources stop pulling
	giveUp := make(chan struct{})      // closed: fail back whatever is in flight
	noMore := make(chan struct{})      // closed: every source is done, every event settled
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { close(stopPulling) }) }

	sinkWG, sourcesDone := r.start(stopPulling, giveUp, noMore)
	sinksDone := make(chan struct{})

	var ticker <-chan time.Time
	if r.opts.StatsInterval > 0 {
		t := time.NewTicker(r.opts.StatsInterval)
		defer t.Stop()
		ticker = t.C
	}
	var drainDeadline, grace <-chan time.Time
	draining := false
	drain := func() {
		if draining {
			return
		}
		draining = true
		if r.opts.DrainTimeout < 0 { // WaitForever
			r.log.Info().Msg("waiting for in-flight events to settle (no drain timeout)")
			return
		}
		r.log.Info().Dur("timeout", r.opts.DrainTimeout).Msg("waiting for in-flight events to settle")
		drainDeadline = time.After(r.opts.DrainTimeout)
	}
	allEnded, sinkDied := r.allEnded, r.sinkDied
	for finished := false; !finished; {
		select {
		case <-ticker:
			r.logStats()
		case <-ctx.Done():
			ctx = context.Background() // stop selecting on it
			r.log.Info().Msg("shutting down: sources stop pulling")
			stop()
			drain()
		case <-allEnded:
			allEnded = nil
			r.log.Info().Msg("every source has ended")
			drain()
		case <-sinkDied:
			sinkDied = nil
			r.log.Error().Msg("a sink gave up: stopping the flow (sources stop pulling, events in flight are failed back)")
			stop()
			drain()
		case <-drainDeadline:
			drainDeadline = nil
			r.log.Warn().Dur("timeout", r.opts.DrainTimeout).Msg("drain timeout: failing back the events still in flight")
			close(giveUp)
			grace = time.After(hookGrace)
		case <-grace:
			return r.Stats(), r.abandon()
		case <-sourcesDone:
			sourcesDone = nil
			close(noMore)
			stop()
			drain()
			for _, s := range r.sinks {
				close(s.in)
			}
			go func() { sinkWG.Wait(); close(sinksDone) }()
		case <-sinksDone:
			finished = true
		}
	}
	errs := []error{r.stopAll(func(*node) bool { return true })}
	stats := r.Stats()
	return stats, errors.Join(append(errs, r.connectorErrors()...)...)
}

// start runs every sink and source in its own goroutine. sourcesDone is
// closed once every source has returned; the sinks are waited for on
// sinkWG, after their inputs are closed.
func (r *Runtime) start(stopPulling, giveUp, noMore chan struct{}) (sinkWG *sync.WaitGroup, sourcesDone chan struct{}) {
	sinkWG = new(sync.WaitGroup)
	var sourceWG sync.WaitGroup
	for _, s := range r.sinks {
		sinkWG.Add(1)
		s.node.running.Add(1)
		go func() {
			defer sinkWG.Done()
			defer s.node.running.Add(-1)
			r.pin(s.node, s.cpu)
			s.run(r, giveUp, noMore)
		}()
	}
	for _, s := range r.sources {
		sourceWG.Add(1)
		s.node.running.Add(1)
		go func() {
			defer sourceWG.Done()
			defer s.node.running.Add(-1)
			defer s.node.roleInst[roleSource].ended()
			r.pin(s.node, s.cpu)
			s.run(r, stopPulling, giveUp)
		}()
	}
	sourcesDone = make(chan struct{})
	go func() { sourceWG.Wait(); close(sourcesDone) }()
	return sinkWG, sourcesDone
}

// pin pins the calling role goroutine to cpu (cpus.go). Should the
// kernel refuse, the role runs unpinned: slower, nothing lost.
func (r *Runtime) pin(n *node, cpu int) {
	if err := pinTo(cpu); err != nil {
		n.log.Warn().Err(err).Msg("running unpinned")
	} else if cpu >= 0 {
		n.log.Debug().Int("cpu", cpu).Ints("plugin_cpus", r.plan.children).Msg("pinned (flow setting cpus)")
	}
}

// logStats logs each connector's counters (--stats-interval).
func (r *Runtime) logStats() {
	for _, s := range r.Stats() {
		r.log.Info().Str("connector", s.Connector).Uint64("in", s.In).Uint64("out", s.Out).
			Uint64("errors", s.Errors).Uint64("acks", s.Acks).Uint64("fails", s.Fails).Msg("stats")
	}
}

// connectorErrors says, connector by connector, why each source or sink
// stopped early, or that it never connected at all.
func (r *Runtime) connectorErrors() []error {
	var errs []error
	for _, n := range r.nodes {
		var roleErrs []error
		if n.source != nil && n.source.err != nil {
			roleErrs = append(roleErrs, r.connErr(n, n.source.err))
		}
		if n.sink != nil && n.sink.err != nil {
			roleErrs = append(roleErrs, r.connErr(n, n.sink.err))
		}
		if len(roleErrs) == 0 && !n.link.ever && n.link.tried {
			why := errors.New("never connected (see the log for why)")
			if n.link.lastErr != nil {
				why = fmt.Errorf("never connected; the last attempt: %w", n.link.lastErr)
			}
			roleErrs = append(roleErrs, r.connErr(n, why))
		}
		if len(roleErrs) == 0 && n.link.ever && !n.link.connected && n.link.lastErr != nil {
			// Lost, and failing to reconnect when the flow stopped: it did
			// not end well, however it began.
			roleErrs = append(roleErrs, r.connErr(n, fmt.Errorf("was reconnecting when the flow stopped; the last attempt: %w", n.link.lastErr)))
		}
		errs = append(errs, roleErrs...)
	}
	return errs
}

// abandon names the hooks that have not returned after the drain timeout,
// stops the connectors that are done, and leaves the others as they are:
// an instance whose hook is still running must not be called again.
func (r *Runtime) abandon() error {
	now := time.Now().UnixNano()
	var errs []error
	for _, n := range r.nodes {
		if n.running.Load() == 0 {
			continue
		}
		if h, since := n.hookInFlight(); h != hookNone {
			d := roundDur(time.Duration(now - since))
			errs = append(errs, r.connErr(n, fmt.Errorf("%s has not returned for %s; giving up on it (the plugin ignores the drain timeout)", h, d)))
		} else {
			errs = append(errs, r.connErr(n, fmt.Errorf("did not finish within %s after the drain timeout", hookGrace)))
		}
	}
	for _, e := range errs {
		r.log.Error().Func(edge.LogErr(r.log, e)).Msg("abandoning a connector")
	}
	errs = append(errs, r.stopAll(func(n *node) bool {
		h, _ := n.hookInFlight()
		return n.running.Load() == 0 && h == hookNone
	}))
	return errors.Join(errs...)
}

// hookInFlight returns the hook of n that has been running longest, and
// since when (UnixNano); hookNone when none runs.
func (n *node) hookInFlight() (hook, int64) {
	h, since := hookNone, int64(0)
	for i := range n.calls {
		c := &n.calls[i]
		if ch := hook(c.hook.Load()); ch != hookNone {
			if s := c.since.Load(); h == hookNone || s < since {
				h, since = ch, s
			}
		}
	}
	return h, since
}

// stopAll stops and destroys the instances of the nodes ok picks, each
// node on its own goroutine (an isolated one waits for its child to exit;
// a hung one does not hold up the others). A stop or destroy that does not
// return within stopTimeout is named in the error and left running.
func (r *Runtime) stopAll(ok func(*node) bool) error {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range r.nodes {
		if n.inst == nil || !ok(n) {
			continue
		}
		wg.Go(func() {
			inst := n.instance(roleHost)
			if err := inst.Stop(); err != nil {
				n.log.Warn().Func(edge.LogErr(n.log, err)).Msg("stop failed")
			}
			inst.Destroy()
		})
	}
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-tick.C:
			for _, n := range r.nodes {
				c := &n.calls[roleHost]
				h := hook(c.hook.Load())
				if d := time.Duration(time.Now().UnixNano() - c.since.Load()); h != hookNone && d > stopTimeout {
					return r.connErr(n, fmt.Errorf("%s has not returned for %s; giving up on it", h, roundDur(d)))
				}
			}
		}
	}
}

// Stats snapshots every connector's counters; safe to call while running.
func (r *Runtime) Stats() []Stats {
	out := make([]Stats, 0, len(r.nodes))
	for _, n := range r.nodes {
		out = append(out, n.counters.snapshot(n.conn.ID))
	}
	return out
}

// backoff waits before connect attempt n (n >= 2): initial x 2^(n-2),
// capped at max. It returns false when stop closed first.
func backoff(p flow.Reconnect, attempt uint32, stop <-chan struct{}) bool {
	d := time.Duration(p.InitialMs) * time.Millisecond
	for i := uint32(2); i < attempt && d < time.Duration(p.MaxMs)*time.Millisecond; i++ {
		d *= 2
	}
	d = min(d, time.Duration(p.MaxMs)*time.Millisecond)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}
