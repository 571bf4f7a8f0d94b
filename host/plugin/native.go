package plugin

import (
	"sync"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
	"tremorhost/host/plugin/internal/crumb"
)

// Per-instance room off the Go heap, allocated once in Create.
const (
	errorCap = edge.ErrorCap // bytes of the tremor_error buffer
	idsCap   = edge.MaxIDs   // ids per on_ack / on_fail call
	ctlAlign = 64
)

// Option configures Create.
type Option func(*createOpts)

type createOpts struct{ log zerolog.Logger }

// WithLogger sets the logger the plugin's log lines go to (tagged with
// plugin, connector and alias).
func WithLogger(l zerolog.Logger) Option { return func(o *createOpts) { o.log = l } }

// Who names an instance of c with this alias, for errors.
func (c *Connector) Who(alias string) edge.Who {
	return edge.Who{Plugin: c.Plugin.Name, File: c.Plugin.Path, Connector: c.Name, Alias: alias}
}

// InstanceLogger is the logger an instance created with these options logs
// to: base (or the default logger when nil) tagged with plugin, connector
// and alias.
func (c *Connector) InstanceLogger(base *zerolog.Logger, alias string) zerolog.Logger {
	l := baseLogger()
	if base != nil {
		l = *base
	}
	return l.With().Str("plugin", c.Plugin.Name).Str("type", c.Name).Str("connector", alias).Logger()
}

// Encode checks cfg against the connector's declared fields (CheckConfig)
// and encodes it for on_create.
func (c *Connector) Encode(alias string, cfg map[string]any) ([]abi.Value, []byte, error) {
	checked, err := c.CheckConfig(cfg)
	if err != nil {
		return nil, nil, c.Who(alias).Err("create", abi.ResultErrConfig, err.Error())
	}
	nodes, bytes, err := abi.EncodeDoc(checked)
	if err != nil {
		return nil, nil, c.Who(alias).Err("create", abi.ResultErrConfig, "cannot encode the config: "+err.Error())
	}
	return nodes, bytes, nil
}

// Create checks cfg (Encode) and creates an instance of the connector in
// this process: its hooks are called through the plugin's vtable. The
// plugin must be loaded (Load).
func (c *Connector) Create(alias string, cfg map[string]any, opts ...Option) (*edge.Instance, error) {
	o := createOpts{log: baseLogger()}
	for _, f := range opts {
		f(&o)
	}
	log := c.InstanceLogger(&o.log, alias)
	if !c.Plugin.Loaded() {
		return nil, c.Who(alias).Err("create", abi.ResultErrInvalid, "the plugin was only inspected in a child process, not loaded into this one: load it with plugin.Load, or run it isolated")
	}
	nodes, bytes, err := c.Encode(alias, cfg)
	if err != nil {
		return nil, err
	}
	t := &native{conn: c, log: log}
	inst, err := edge.Create(t, c.Who(alias), c.hooks, log, nodes, bytes)
	if err != nil {
		t.release()
		return nil, err
	}
	return inst, nil
}

// native is the transport of an instance whose plugin runs in this
// process: it calls the vtable through cmem, with an error buffer, an ids
// array and an outcomes array off the Go heap.
type native struct {
	conn *Connector
	log  zerolog.Logger

	handle  uintptr       // the ctx the plugin sees
	metrics *edge.Metrics // what the plugin reported through the ctx
	inst    uintptr       // the plugin's instance pointer

	ctl      *cmem.Arena // [tremor_error][instance slot][msg][canary][ids][outcomes]
	errBuf   *abi.ErrorBuf
	errAddr  uintptr
	msgAddr  uintptr
	msg      []byte
	canary   []byte // after msg (edge.SetErrCanary)
	ids      []uint64
	idsAddr  uintptr
	outcomes []uint8
	outAddr  uintptr
	outArena *cmem.Arena
	args     [4]uintptr  // hook arguments, kept on the heap (see cmem.Call)
	crumb    *crumb.Slot // which hook runs, for the last words of a crash (nil: none)
}

var _ edge.Transport = (*native)(nil)

// Metrics returns what the plugin reported (edge.Instance.PluginMetrics).
func (n *native) Metrics() *edge.Metrics { return n.metrics }

// Create implements edge.Transport. The create args, alias and config
// live in a mapping of their own, unmapped after on_create returns.
func (n *native) Create(alias string, nodes []abi.Value, bytes []byte) (edge.Reply, error) {
	c := n.conn
	host, err := hostAPIAddr()
	if err != nil {
		return edge.Reply{}, err
	}
	if err := n.mapControl(); err != nil {
		return edge.Reply{}, err
	}
	args := cmem.LayCreateArgs(alias, nodes, bytes)
	tmp, err := cmem.Map(args.Size())
	if err != nil {
		return edge.Reply{}, err
	}
	defer tmp.Free()
	n.metrics = edge.NewMetrics(n.log)
	n.handle = register(n.log, n.metrics)
	guardExit()
	lo, hi := mappedRange(c.Plugin)
	n.crumb = crumbTable().Claim(c.Plugin.Path, c.Name, alias, cmem.AddrOf(n), lo, hi)
	args.Write(tmp, host, n.handle)
	slot := cmem.At[uintptr](n.ctl, abi.SizeofErrorBuf)
	*slot = 0
	rep := n.reply(n.call(edge.HookCreate, c.vt.OnCreate, tmp.Addr(), n.ctl.Addr()+abi.SizeofErrorBuf, n.errAddr))
	n.inst = *slot
	return rep, nil
}

func (n *native) mapControl() error {
	errOff := uintptr(0)
	msgOff := uintptr(ctlAlign)
	idsOff := msgOff + errorCap + edge.ErrCanaryLen
	outOff := idsOff + idsCap*8
	a, err := cmem.Map(int(outOff) + edge.DefaultCaps.Events)
	if err != nil {
		return err
	}
	n.ctl = a
	n.errBuf = cmem.At[abi.ErrorBuf](a, errOff)
	n.errAddr = a.Addr() + errOff
	n.msg = cmem.Slice[byte](a, msgOff, errorCap)
	n.msgAddr = a.Addr() + msgOff
	n.canary = cmem.Slice[byte](a, msgOff+errorCap, edge.ErrCanaryLen)
	n.ids = cmem.Slice[uint64](a, idsOff, idsCap)
	n.idsAddr = a.Addr() + idsOff
	n.outcomes = cmem.Slice[uint8](a, outOff, edge.DefaultCaps.Events)
	n.outAddr = a.Addr() + outOff
	return nil
}

// call calls hook h at fn with up to four arguments (held in n.args, so
// that the call does not allocate) and returns its int32 result, with a
// fresh error buffer; the breadcrumb says h runs meanwhile.
func (n *native) call(h edge.Hook, fn uintptr, args ...uintptr) abi.Result {
	if n.errBuf != nil {
		*n.errBuf = abi.ErrorBuf{Msg: n.msgAddr, Cap: errorCap}
		edge.SetErrCanary(n.canary)
	}
	k := copy(n.args[:], args)
	n.crumb.Enter(uint32(h))
	rc := abi.Result(int32(cmem.Call(fn, n.args[:k])))
	n.crumb.Leave()
	return rc
}

// reply reads a hook's answer (no copy: Msg views the buffer).
func (n *native) reply(rc abi.Result) edge.Reply {
	overran := !edge.ErrCanaryIntact(n.canary)
	if (rc == abi.ResultOK || rc > 0 && rc != abi.ResultRetry) && !overran {
		return edge.Reply{Code: rc} // no message (a RETRY may say why not yet)
	}
	r := edge.Reply{Code: rc, MsgLen: n.errBuf.Len, MsgCap: errorCap, Overran: overran}
	if n.errBuf.Msg != n.msgAddr || n.errBuf.Cap != errorCap {
		r.BufChanged = true
	} else {
		r.Msg = n.msg[:min(r.MsgLen, errorCap)]
	}
	return r
}

// mapped caches where each loaded plugin file is mapped (for the
// breadcrumbs: a crash address inside it names the plugin).
var mapped sync.Map // *Plugin -> [2]uint64

func mappedRange(p *Plugin) (lo, hi uint64) {
	if r, ok := mapped.Load(p); ok {
		r := r.([2]uint64)
		return r[0], r[1]
	}
	lo, hi = crumb.Mapped(p.Path)
	mapped.Store(p, [2]uint64{lo, hi})
	return lo, hi
}

// Connect implements edge.Transport.
func (n *native) Connect(attempt uint32) (edge.Reply, error) {
	return n.reply(n.call(edge.HookConnect, n.conn.vt.OnConnect, n.inst, uintptr(attempt), n.errAddr)), nil
}

// Step implements edge.Transport.
func (n *native) Step(h edge.Hook) (edge.Reply, error) {
	vt := n.conn.vt
	fn := [...]uintptr{edge.HookStart: vt.OnStart, edge.HookPause: vt.OnPause, edge.HookResume: vt.OnResume, edge.HookDrain: vt.OnDrain, edge.HookStop: vt.OnStop}[h]
	return n.reply(n.call(h, fn, n.inst, n.errAddr)), nil
}

// Pull implements edge.Transport: on_pull writes into b's mapping.
func (n *native) Pull(b *edge.Batch, waitMs uint32) (edge.Reply, error) {
	return n.reply(n.call(edge.HookPull, n.conn.vt.OnPull, n.inst, b.Addr(), uintptr(waitMs), n.errAddr)), nil
}

// IDs implements edge.Transport.
func (n *native) IDs(h edge.Hook, ids []uint64) (edge.Reply, error) {
	fn := n.conn.vt.OnAck
	if h == edge.HookFail {
		fn = n.conn.vt.OnFail
	}
	copy(n.ids, ids)
	return n.reply(n.call(h, fn, n.inst, n.idsAddr, uintptr(len(ids)), n.errAddr)), nil
}

// Outcomes implements edge.Transport: the array lives off the Go heap,
// where the plugin can write it.
func (n *native) Outcomes(k int) ([]uint8, error) {
	if k <= len(n.outcomes) {
		return n.outcomes, nil
	}
	a, err := cmem.Map(k)
	if err != nil {
		return nil, err
	}
	n.outArena.Free()
	n.outArena = a
	n.outcomes = cmem.Slice[uint8](a, 0, k)
	n.outAddr = a.Addr()
	return n.outcomes, nil
}

// Send implements edge.Transport.
func (n *native) Send(b *edge.Batch, _ []uint8) (edge.Reply, error) {
	return n.reply(n.call(edge.HookSend, n.conn.vt.OnSend, n.inst, b.Addr(), n.outAddr, n.errAddr)), nil
}

// Destroy implements edge.Transport: on_destroy, then the instance's
// memory is released and the plugin's log calls with its ctx are refused.
func (n *native) Destroy() {
	n.call(edge.HookDestroy, n.conn.vt.OnDestroy, n.inst)
	n.release()
}

// release frees what Create set up, without calling the plugin.
func (n *native) release() {
	n.crumb.Release()
	n.crumb = nil
	if n.handle != 0 {
		unregister(n.handle)
		n.handle = 0
	}
	n.ctl.Free()
	n.ctl, n.errBuf = nil, nil
	n.outArena.Free()
	n.outArena = nil
}
