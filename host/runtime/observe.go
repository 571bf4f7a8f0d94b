package runtime

import (
	"time"

	"tremorhost/host/edge"
)

// Observation is one connector's counters and gauges at one moment, for
// an admin API or a metrics exporter. Safe to take while the flow runs.
type Observation struct {
	Stats
	Type   string `json:"type"`
	Origin string `json:"origin"` // where the type comes from (a plugin file)
	Source bool   `json:"source"`
	Sink   bool   `json:"sink"`

	// Events is, for a source, the events decoded from what it pulled
	// (In counts what the plugin handed over: reads, requests; acks and
	// fails count those too); for a sink, In.
	Events     uint64 `json:"events"`
	Inflight   int64  `json:"inflight"` // a source's unsettled events
	Paused     bool   `json:"paused"`
	Connected  bool   `json:"connected"`
	Reconnects uint64 `json:"reconnects"`
	Restarts   uint64 `json:"restarts"` // isolated child processes replaced after a crash or hang
	// Build is the plugin file the connector runs now (a live upgrade
	// changes it); empty for types built into the host.
	Build Build `json:"build"`

	// Plugin is what the connector's plugin reported of its own (ABI 1.1
	// counter_add, gauge_set).
	Plugin []edge.MetricSeries `json:"plugin_metrics,omitempty"`
}

// pluginMetrics is an instance whose plugin reports metrics of its own.
type pluginMetrics interface{ PluginMetrics() []edge.MetricSeries }

type metricsBox struct{ pm pluginMetrics }

// restartCounter is an instance whose plugin runs in a child process that
// may be replaced (an isolated instance).
type restartCounter interface{ Restarts() int }

// restartWait bounds how long an observer waits for an instance's restart
// count: the instance answers it between hooks, and a hook may be slow.
const restartWait = 100 * time.Millisecond

// Observe snapshots every connector's counters and gauges, in flow order.
func (r *Runtime) Observe() []Observation {
	out := make([]Observation, 0, len(r.nodes))
	for _, n := range r.nodes {
		c := &n.counters
		out = append(out, Observation{
			Stats:      c.snapshot(n.conn.ID),
			Type:       n.typ.Name(),
			Origin:     n.typ.Origin(),
			Source:     n.source != nil,
			Sink:       n.sink != nil,
			Events:     events(n),
			Inflight:   c.Inflight.Load(),
			Paused:     c.Paused.Load(),
			Connected:  c.Connected.Load(),
			Reconnects: c.Reconnects.Load(),
			Restarts:   n.restarts(),
			Build:      n.build(),
			Plugin:     n.pluginMetrics(),
		})
	}
	return out
}

func (n *node) build() Build {
	if b := n.up.build.Load(); b != nil {
		return *b
	}
	return Build{}
}

func events(n *node) uint64 {
	if n.source != nil {
		return n.counters.Events.Load()
	}
	return n.counters.In.Load()
}

// Name is the flow's name; File the file it came from.
func (r *Runtime) Name() string { return r.flow.Name }

// File is the flow file the runtime was checked from.
func (r *Runtime) File() string { return r.flow.File }

// restarts asks the instance for its restart count without waiting on a
// slow hook: the last answer is kept and returned meanwhile.
func (n *node) restarts() uint64 {
	c := &n.counters
	box := c.restarter.Load()
	if box == nil {
		return c.restartsSeen.Load()
	}
	if c.restartAsking.CompareAndSwap(false, true) {
		done := make(chan struct{})
		go func() {
			defer c.restartAsking.Store(false)
			c.restartsSeen.Store(uint64(box.rc.Restarts()))
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(restartWait):
		}
	}
	return c.restartsSeen.Load()
}

type restartBox struct{ rc restartCounter }

func (n *node) pluginMetrics() []edge.MetricSeries {
	if b := n.counters.metrics.Load(); b != nil {
		return b.pm.PluginMetrics()
	}
	return nil
}

// noteInstance remembers inst for restart counts when it keeps them.
func (n *node) noteInstance(inst Instance) {
	if t, ok := inst.(*tracked); ok {
		inst = t.Instance
	}
	if pm, ok := inst.(pluginMetrics); ok {
		n.counters.metrics.Store(&metricsBox{pm}) // the latest instance's
	}
	if rc, ok := inst.(restartCounter); ok && n.counters.restarter.Load() == nil {
		n.counters.restarter.Store(&restartBox{rc})
	}
}
