package isolate

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
)

// Instance is a connector instance whose plugin runs in a tremor-runner
// child process. It implements the runtime's Instance interface (the same
// methods as *edge.Instance) and survives its child: see the package
// documentation for what happens when the child crashes or hangs.
type Instance struct {
	conn   *plugin.Connector
	alias  string
	cfg    map[string]any
	log    zerolog.Logger // the runtime's, untagged (edge.Instance tags it)
	opts   Options
	runner string

	mu        sync.Mutex
	inst      *edge.Instance // the current child's instance; nil while none runs
	sendingOn *edge.Instance // the child a send is under way on (BeginSend)
	rem       *remote
	gen       uint64 // which child: bumped at every start
	restarts  int
	started   bool // the runtime called Start: replay it in a new child
	childUp   bool // the current child's instance was started
	paused    bool // the runtime paused the source: replay it too
	destroyed bool
	ids       idRing
	scratch   []uint64
	dropped   uint64 // acks and fails for events of a child that is gone

	pace      backoff   // restarts in a row (restart.go)
	nextStart time.Time // no new child before this
	deaths    *crashLog
	done      chan struct{} // closed by Destroy: ends a wait for the next start
	// metrics: what the plugin reported (ABI 1.1), across its children: a
	// counter_add of a new child adds to what the earlier ones added.
	metrics *edge.Metrics
}

// New starts a child for connector c of its plugin file and creates the
// instance in it (on_create with cfg, checked as plugin.Connector.Create
// checks it). log is the logger the plugin's lines go to (tagged with
// plugin, connector and alias).
func New(c *plugin.Connector, alias string, cfg map[string]any, log zerolog.Logger, opts Options) (*Instance, error) {
	opts = opts.withDefaults()
	runner, err := opts.runner()
	if err != nil {
		return nil, err
	}
	x := &Instance{conn: c, alias: alias, cfg: cfg, log: log, opts: opts, runner: runner, done: make(chan struct{})}
	x.deaths = newCrashLog(c.InstanceLogger(&x.log, alias), alias)
	x.metrics = edge.NewMetrics(c.InstanceLogger(&x.log, alias))
	x.ids.init()
	if err := x.spawn(); err != nil {
		return nil, err
	}
	return x, nil
}

// Connector is the instance's connector type.
func (x *Instance) Connector() *plugin.Connector { return x.conn }

// Restarts is how many times a new child replaced a crashed or hung one.
func (x *Instance) Restarts() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.restarts
}

// PluginMetrics returns the metrics the plugin reported through the
// runner (METRIC frames), as edge.Instance does for an in-process one.
func (x *Instance) PluginMetrics() []edge.MetricSeries { return x.metrics.Snapshot() }

// Pid is the current child's process id (0 when none runs).
func (x *Instance) Pid() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.inst == nil {
		return 0
	}
	return x.rem.p.pid
}

func (x *Instance) what() string {
	return fmt.Sprintf("plugin %q (%s) connector %q instance %q", x.conn.Plugin.Name, x.conn.Plugin.Path, x.conn.Name, x.alias)
}

// spawn starts a child and creates the instance in it.
func (x *Instance) spawn() error {
	c := x.conn
	f, digest, err := plugin.OpenVerified(c.Plugin.Path)
	if err != nil {
		return x.fail("create", abi.ResultErrFailed, fmt.Sprintf("cannot open the plugin file: %v", err))
	}
	defer f.Close()
	if c.Plugin.SHA256 != "" && digest != c.Plugin.SHA256 {
		err := x.conn.Who(x.alias).Err("create", abi.ResultErrConfig, fmt.Sprintf("the plugin file changed since it was loaded (SHA-256 %s, was %s): restart the host to use the new file", digest, c.Plugin.SHA256))
		err.ByHost = true
		return err
	}
	libs, err := plugin.OpenOriginLibs(c.Plugin.Path)
	if err != nil {
		return x.fail("create", abi.ResultErrFailed, err.Error())
	}
	defer plugin.CloseAll(libs)
	tagged := c.InstanceLogger(&x.log, x.alias)
	p, err := startProc(x.runner, f, libs, c.Name, x.opts.CPUs, tagged, x.what(), x.opts.CallTimeout, x.deaths, x.metrics)
	if err != nil {
		if errors.Is(err, errDied) {
			return x.disconnected("start", err)
		}
		return err
	}
	if p.ready.ABIMajor != abi.ABIMajor || p.ready.ABIMinor != abi.ABIMinor {
		p.close(0)
		return fmt.Errorf("%s: %s speaks ABI %d.%d, this host %s: rebuild it with this host", x.what(), x.runner, p.ready.ABIMajor, p.ready.ABIMinor, abi.ABIVersionString)
	}
	if edge.Hooks(p.ready.Hooks) != c.Hooks() {
		p.closing.Store(true)
		p.close(0)
		return x.fail("create", abi.ResultErrConfig, "the plugin file's connector implements other hooks than when it was loaded: restart the host to use the new file")
	}
	rem := &remote{p: p, opts: x.opts}
	nodes, bytes, err := c.Encode(x.alias, x.cfg)
	var inst *edge.Instance
	if err == nil {
		inst, err = edge.Create(rem, c.Who(x.alias), c.Hooks(), tagged, nodes, bytes)
	}
	if err != nil {
		rem.Destroy()
		if errors.Is(err, errDied) {
			return x.disconnected("create", err)
		}
		return err
	}
	x.inst, x.rem = inst, rem
	x.gen++
	x.childUp = false
	return nil
}

func (x *Instance) fail(op string, code abi.Result, msg string) error {
	return x.conn.Who(x.alias).Err(op, code, msg)
}

// disconnected is the error for a call that the child's end interrupted
// or that came after it: the runtime reconnects, which restarts it, as its
// reconnect policy allows (so the message does not promise it). It names
// the plugin's file: a crash is the file's doing, whatever the connector.
func (x *Instance) disconnected(op string, cause error) error {
	return x.fail(op, abi.ResultErrDisconnected, fmt.Sprintf("%v; plugin file %s (tremorctl check-plugin on it, with this connector's config, runs each hook to find the fault)", cause, x.conn.Plugin.Path))
}

var errNoProcess = errors.New("the plugin's process is gone (it crashed or hung earlier)")

// check turns an error of the current child into what the runtime sees:
// a dead child is forgotten and reported as a lost connection.
func (x *Instance) check(op string, err error) error {
	if err == nil || !errors.Is(err, errDied) {
		if err != nil && x.inst != nil && x.rem.p.gone() {
			x.lose()
		}
		return err
	}
	x.lose()
	return x.disconnected(op, err)
}

// lose forgets a dead child; the next one starts after the backoff.
func (x *Instance) lose() {
	if x.inst == nil {
		return
	}
	acks, fails := x.rem.p.takeUnsent()
	x.drop("ack", acks)
	x.drop("fail", fails)
	x.inst.Destroy() // no call reaches the dead child; this releases it
	x.inst, x.rem = nil, nil
	now := time.Now()
	x.nextStart = now.Add(x.pace.crashed(now))
}

// Connect connects the instance; when its child is gone it first starts a
// new one and creates the instance again (after a crash or a hang), and
// once connected replays start and pause.
func (x *Instance) Connect(attempt uint32) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.destroyed {
		return x.fail("connect", abi.ResultErrInvalid, "the instance was destroyed")
	}
	var wait time.Duration
	if x.inst == nil {
		// After crashes in a row, wait (without the lock, so that
		// Destroy can end the wait).
		wait = time.Until(x.nextStart)
		if wait > 0 {
			x.mu.Unlock()
			select {
			case <-time.After(wait):
			case <-x.done:
			}
			x.mu.Lock()
			if x.destroyed {
				return x.fail("connect", abi.ResultErrInvalid, "the instance was destroyed")
			}
		}
	}
	if x.inst == nil {
		x.restarts++
		l := x.conn.InstanceLogger(&x.log, x.alias)
		ev := l.Warn()
		if x.deaths.quiet() {
			ev = l.Debug() // its crash was held back: so is its restart
		}
		ev.Str("file", x.conn.Plugin.Path).Int("restart", x.restarts).Uint32("attempt", attempt).Dur("after", max(wait, 0)).
			Msg("starting a new process for the plugin")
		if err := x.spawn(); err != nil {
			return err
		}
	}
	if err := x.check("connect", x.inst.Connect(attempt)); err != nil {
		return err
	}
	if x.started && !x.childUp {
		if err := x.check("start", x.inst.Start()); err != nil {
			return err
		}
		x.childUp = true
		if x.paused {
			if err := x.check("pause", x.inst.Pause()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Start calls on_start. When the child is gone (before or during the
// call) it reports success: the next call fails as a lost connection, and
// the reconnect starts the new child, start included.
func (x *Instance) Start() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.started = true
	if x.inst == nil {
		return nil
	}
	err := x.inst.Start()
	if errors.Is(err, errDied) {
		x.lose()
		return nil
	}
	x.childUp = err == nil
	return x.check("start", err)
}

func (x *Instance) step(op string, fn func(*edge.Instance) error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch op {
	case "pause":
		x.paused = true
	case "resume":
		x.paused = false
	}
	if x.inst == nil {
		// Nothing to pause, drain or stop in a process that is gone; a new
		// one starts with the current state.
		return nil
	}
	return x.check(op, fn(x.inst))
}

// Pause calls on_pause.
func (x *Instance) Pause() error { return x.step("pause", (*edge.Instance).Pause) }

// Resume calls on_resume.
func (x *Instance) Resume() error { return x.step("resume", (*edge.Instance).Resume) }

// Drain calls on_drain.
func (x *Instance) Drain() error { return x.step("drain", (*edge.Instance).Drain) }

// Stop calls on_stop.
func (x *Instance) Stop() error { return x.step("stop", (*edge.Instance).Stop) }

// Pull calls on_pull in the child (see edge.Instance.Pull) and renumbers
// the events it took, so that their acks and fails reach this child only.
func (x *Instance) Pull(b *edge.Batch, wait time.Duration) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.inst == nil {
		b.Reset()
		return x.disconnected("pull", errNoProcess)
	}
	err := x.inst.Pull(b, wait)
	for i := range b.Len() {
		ev := b.Event(i)
		ev.ID = x.ids.add(x.gen, ev.ID)
	}
	return x.check("pull", err)
}

// Ack calls on_ack with the ids of events of the current child; those of
// a child that is gone are dropped (they were counted by the runtime).
func (x *Instance) Ack(ids []uint64) error { return x.ids2("ack", ids, (*edge.Instance).Ack) }

// Fail calls on_fail likewise.
func (x *Instance) Fail(ids []uint64) error { return x.ids2("fail", ids, (*edge.Instance).Fail) }

func (x *Instance) ids2(op string, ids []uint64, fn func(*edge.Instance, []uint64) error) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := x.scratch[:0]
	dropped := 0
	for _, h := range ids {
		gen, id, ok := x.ids.take(h)
		if ok && gen == x.gen && x.inst != nil {
			out = append(out, id)
		} else {
			dropped++
		}
	}
	x.scratch = out[:0]
	x.drop(op, dropped)
	if len(out) == 0 || x.inst == nil {
		return nil
	}
	err := fn(x.inst, out)
	if errors.Is(err, errDied) {
		// The child died since its last call (while it pulled ahead, say):
		// these never reached it either. The next pull finds the death,
		// once it has taken the batches the child answered before it.
		x.drop(op, len(out))
		return nil
	}
	return x.check(op, err)
}

// drop counts and logs n acks or fails for events of a process that is
// gone.
func (x *Instance) drop(op string, n int) {
	if n == 0 {
		return
	}
	x.dropped += uint64(n)
	l := x.conn.InstanceLogger(&x.log, x.alias)
	l.Debug().Int("count", n).Str("op", op).Msg("dropping acks/fails of events from a plugin process that is gone")
}

// Send calls on_send in the child (see edge.Instance.Send). When the
// child dies during the call every outcome is FAILED and the error is a
// lost connection: the runtime sends the events again after reconnecting.
func (x *Instance) Send(b *edge.Batch, outcomes []uint8) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.inst == nil {
		for k := range outcomes[:min(len(outcomes), b.Len())] {
			outcomes[k] = abi.OutcomeFailed
		}
		return x.disconnected("send", errNoProcess)
	}
	return x.check("send", x.inst.Send(b, outcomes))
}

// Pipelines reports that a send can be under way while the host prepares
// the next batch (edge.SendPipeliner): the plugin runs in its own process.
func (x *Instance) Pipelines() bool { return true }

// BeginSend starts on_send in the child (see edge.Instance.BeginSend); an
// error (the child is gone: a lost connection) means nothing started.
func (x *Instance) BeginSend(b *edge.Batch) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.inst == nil {
		return x.disconnected("send", errNoProcess)
	}
	if err := x.inst.BeginSend(b); err != nil {
		return x.check("send", err)
	}
	x.sendingOn = x.inst
	return nil
}

// EndSend waits for the send BeginSend started, as Send does: when the
// child died meanwhile every outcome is FAILED and the error is a lost
// connection.
func (x *Instance) EndSend(b *edge.Batch, outcomes []uint8) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	inst := x.sendingOn
	x.sendingOn = nil
	if inst == nil || inst != x.inst {
		for k := range outcomes[:min(len(outcomes), b.Len())] {
			outcomes[k] = abi.OutcomeFailed // nothing is known to be delivered
		}
	}
	if inst == nil {
		return errors.New("send: EndSend without a BeginSend of this batch")
	}
	if inst != x.inst {
		return x.disconnected("send", errNoProcess)
	}
	return x.check("send", inst.EndSend(b, outcomes))
}

// Destroy calls on_destroy in the child and lets it exit (once).
func (x *Instance) Destroy() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.destroyed {
		return
	}
	x.destroyed = true
	close(x.done)
	defer x.deaths.close()
	if x.inst != nil {
		x.inst.Destroy()
		x.inst, x.rem = nil, nil
	}
}

// idRing maps the ids the runtime sees (a sequence, never reused) to the
// child and the id its plugin gave. Acks settle mostly in order, and the
// runtime's window bounds how far apart the oldest unsettled and the newest
// event are, so a ring indexed by sequence number stays small.
type idRing struct {
	ents       []idEnt // len is a power of two
	head, tail uint64  // live sequence numbers are [head, tail)
}

type idEnt struct {
	gen, id uint64
	done    bool
}

func (r *idRing) init() {
	r.ents = make([]idEnt, 1024)
	r.head, r.tail = 1, 1
}

func (r *idRing) add(gen, id uint64) uint64 {
	if r.tail-r.head == uint64(len(r.ents)) {
		bigger := make([]idEnt, 2*len(r.ents))
		for s := r.head; s < r.tail; s++ {
			bigger[s&uint64(len(bigger)-1)] = r.ents[s&uint64(len(r.ents)-1)]
		}
		r.ents = bigger
	}
	s := r.tail
	r.ents[s&uint64(len(r.ents)-1)] = idEnt{gen: gen, id: id}
	r.tail++
	return s
}

func (r *idRing) take(s uint64) (gen, id uint64, ok bool) {
	if s < r.head || s >= r.tail {
		return 0, 0, false
	}
	mask := uint64(len(r.ents) - 1)
	e := &r.ents[s&mask]
	if e.done {
		return 0, 0, false
	}
	e.done = true
	for r.head < r.tail && r.ents[r.head&mask].done {
		r.head++
	}
	return e.gen, e.id, true
}
