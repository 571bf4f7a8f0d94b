package runtime

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/host/edge"
)

// Instance is one connector instance as the runtime drives it. A plugin
// instance (*edge.Instance) is one; an in-process Go connector (the
// benchmark baseline) is another. Errors follow host/plugin: edge.ErrEnd,
// edge.ErrRetry, and errors wrapping an abi.Result.
type Instance interface {
	Connect(attempt uint32) error
	Start() error
	Pause() error
	Resume() error
	Drain() error
	Stop() error
	Pull(b *edge.Batch, wait time.Duration) error
	Ack(ids []uint64) error
	Fail(ids []uint64) error
	Send(b *edge.Batch, outcomes []uint8) error
	Destroy()
}

// Type is a connector type the runtime can instantiate.
type Type interface {
	Name() string
	IsSource() bool
	IsSink() bool
	// Structured connectors exchange values; the others exchange bytes and
	// need a codec.
	Structured() bool
	// Origin says where the type comes from, for messages (a plugin file).
	Origin() string
	// CheckConfig validates cfg and returns it with defaults filled in.
	CheckConfig(cfg map[string]any) (map[string]any, error)
	// Place applies a connector's policy when the flow is checked: where
	// its instances run, the file it pins. A setting the type cannot honour
	// is a *PolicyError. Types built into the host use InHost.
	Place(p Policy) (Placement, error)
	// Create makes an instance where pl (from Place) says. log is
	// untagged: the instance tags its lines itself.
	Create(alias string, cfg map[string]any, pl Placement, log zerolog.Logger) (Instance, error)
}

// Catalog finds connector types by name.
type Catalog interface {
	Type(name string) (Type, bool)
	// Names lists the known types, for "unknown type" messages.
	Names() []string
}

// Catalogs looks types up in each catalog in turn.
type Catalogs []Catalog

// Type implements Catalog.
func (cs Catalogs) Type(name string) (Type, bool) {
	for _, c := range cs {
		if t, ok := c.Type(name); ok {
			return t, true
		}
	}
	return nil, false
}

// Names implements Catalog.
func (cs Catalogs) Names() []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Names()...)
	}
	return names
}

// hook is a plugin hook, for naming one that has not returned.
type hook int32

const (
	hookNone hook = iota
	hookConnect
	hookStart
	hookPause
	hookResume
	hookDrain
	hookStop
	hookPull
	hookAck
	hookFail
	hookSend
	hookDestroy
)

var hookNames = [...]string{"", "on_connect", "on_start", "on_pause", "on_resume", "on_drain", "on_stop", "on_pull", "on_ack", "on_fail", "on_send", "on_destroy"}

func (h hook) String() string { return hookNames[h] }

// Who calls an instance's hooks: a node's source role, its sink role, or
// Run itself (stop and destroy). Each has its own record of the hook in
// flight, since two callers may wait on one instance.
const (
	roleSource = iota
	roleSink
	roleHost
	roles
)

// inFlight is the hook a caller is in and since when (UnixNano); two
// atomic stores per call, per batch on the hot path.
type inFlight struct {
	hook  atomic.Int32
	since atomic.Int64
}

// tracked is an Instance as one caller sees it: every hook call records
// itself in f, so that Run can name a hook that never returns.
type tracked struct {
	Instance
	f *inFlight
	// ended, for the source role, is called when the source stops pulling
	// by itself (pull answered END or a fatal error, or drain is called).
	ended func()
}

func (t *tracked) enter(h hook) {
	t.f.since.Store(time.Now().UnixNano())
	t.f.hook.Store(int32(h))
}

func (t *tracked) leave() { t.f.hook.Store(int32(hookNone)) }

func (t *tracked) Connect(attempt uint32) error {
	t.enter(hookConnect)
	defer t.leave()
	return t.Instance.Connect(attempt)
}

func (t *tracked) Start() error {
	t.enter(hookStart)
	defer t.leave()
	return t.Instance.Start()
}

func (t *tracked) Pause() error {
	t.enter(hookPause)
	defer t.leave()
	return t.Instance.Pause()
}

func (t *tracked) Resume() error {
	t.enter(hookResume)
	defer t.leave()
	return t.Instance.Resume()
}

func (t *tracked) Drain() error {
	if t.ended != nil {
		t.ended()
	}
	t.enter(hookDrain)
	defer t.leave()
	return t.Instance.Drain()
}

func (t *tracked) Stop() error {
	t.enter(hookStop)
	defer t.leave()
	return t.Instance.Stop()
}

func (t *tracked) Pull(b *edge.Batch, wait time.Duration) error {
	t.enter(hookPull)
	err := t.Instance.Pull(b, wait)
	t.leave()
	if err != nil && t.ended != nil && (errors.Is(err, edge.ErrEnd) || fatal(err)) {
		t.ended()
	}
	return err
}

func (t *tracked) Ack(ids []uint64) error {
	t.enter(hookAck)
	defer t.leave()
	return t.Instance.Ack(ids)
}

func (t *tracked) Fail(ids []uint64) error {
	t.enter(hookFail)
	defer t.leave()
	return t.Instance.Fail(ids)
}

func (t *tracked) Send(b *edge.Batch, outcomes []uint8) error {
	t.enter(hookSend)
	defer t.leave()
	return t.Instance.Send(b, outcomes)
}

// sendPipeliner is an Instance that can leave a send under way while the
// sink fills the next batch (edge.Instance.BeginSend, EndSend), when
// Pipelines says its plugin works on it meanwhile (in another process).
type sendPipeliner interface {
	Pipelines() bool
	BeginSend(b *edge.Batch) error
	EndSend(b *edge.Batch, outcomes []uint8) error
}

// Pipelines reports whether the instance behind t pipelines sends; then
// t's BeginSend and EndSend reach it (and count as the send hook running).
func (t *tracked) Pipelines() bool {
	p, ok := t.Instance.(sendPipeliner)
	return ok && p.Pipelines()
}

// BeginSend starts a send on a pipelining instance: the hook counts as
// running until EndSend.
func (t *tracked) BeginSend(b *edge.Batch) error {
	t.enter(hookSend)
	err := t.Instance.(sendPipeliner).BeginSend(b)
	if err != nil {
		t.leave()
	}
	return err
}

// EndSend waits for the send BeginSend started.
func (t *tracked) EndSend(b *edge.Batch, outcomes []uint8) error {
	defer t.leave()
	return t.Instance.(sendPipeliner).EndSend(b, outcomes)
}

func (t *tracked) Destroy() {
	t.enter(hookDestroy)
	defer t.leave()
	t.Instance.Destroy()
}
