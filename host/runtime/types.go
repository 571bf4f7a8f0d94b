package runtime

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/isolate"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
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
	Create(alias string, cfg map[string]any, log zerolog.Logger) (Instance, error)
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

// PluginCatalog serves the connector types of plugins, loaded into the
// host (plugin.LoadAll) or only inspected by the scanner (host/isolate):
// an instance runs in the host or in a child process as its connector's
// isolation setting says (see isolation.go).
type PluginCatalog struct {
	Registry *plugin.Registry
	// Isolate configures instances run in a child process; the zero value
	// finds tremor-runner next to the executable or in $TREMOR_RUNNER.
	Isolate isolate.Options
}

// Type implements Catalog.
func (c PluginCatalog) Type(name string) (Type, bool) {
	conn := c.Registry.Connector(name)
	if conn == nil {
		return nil, false
	}
	return pluginType{conn, c.Isolate}, true
}

// Contested returns why connector type name is unavailable when several
// plugins claim it (naming their files), nil otherwise.
func (c PluginCatalog) Contested(name string) error { return c.Registry.Contested(name) }

// Names implements Catalog.
func (c PluginCatalog) Names() []string {
	var names []string
	for _, p := range c.Registry.Plugins() {
		for _, conn := range p.Connectors {
			names = append(names, conn.Name)
		}
	}
	return names
}

type pluginType struct {
	c   *plugin.Connector
	iso isolate.Options
}

func (t pluginType) Name() string     { return t.c.Name }
func (t pluginType) IsSource() bool   { return t.c.IsSource() }
func (t pluginType) IsSink() bool     { return t.c.IsSink() }
func (t pluginType) Structured() bool { return t.c.Payload == abi.PayloadStructured }
func (t pluginType) Origin() string   { return t.c.Plugin.Path }
func (t pluginType) CheckConfig(cfg map[string]any) (map[string]any, error) {
	return t.c.CheckConfig(cfg)
}

// Create makes an instance as isolation = "auto" says.
func (t pluginType) Create(alias string, cfg map[string]any, log zerolog.Logger) (Instance, error) {
	return t.CreateIsolated(alias, cfg, log, "auto")
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

func (t *tracked) Destroy() {
	t.enter(hookDestroy)
	defer t.leave()
	t.Instance.Destroy()
}
