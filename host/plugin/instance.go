package plugin

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
	"tremorhost/host/plugin/internal/crumb"
)

// Per-instance room off the Go heap, allocated once in Create.
const (
	errorCap  = 4096 // bytes of the tremor_error buffer
	idsCap    = 4096 // ids per on_ack / on_fail call (longer lists are split)
	maxNoRoom = 4    // pulls retried after TREMOR_ERR_NO_ROOM
	ctlAlign  = 64
	maxWaitMs = 1<<32 - 1
)

// Instance is one live connector instance. Its methods call the plugin's
// hooks; the host calls at most one hook of an instance at a time (the
// methods lock), so an Instance may be shared by goroutines.
//
// Errors are *Error (wrapping the result code) except for the two non-error
// answers ErrEnd and ErrRetry. After TREMOR_ERR_PANIC, or after the host
// found the plugin broke the contract, the instance is poisoned: every
// later call but Destroy fails without calling the plugin.
type Instance struct {
	conn  *Connector
	alias string
	log   zerolog.Logger

	mu        sync.Mutex
	remote    Remote  // nil: the plugin runs in this process
	handle    uintptr // the ctx the plugin sees
	inst      uintptr // the plugin's instance pointer
	destroyed bool
	poisoned  error

	ctl      *cmem.Arena // [tremor_error][instance slot][msg][ids][outcomes]
	errBuf   *abi.ErrorBuf
	errAddr  uintptr
	msgAddr  uintptr
	msg      []byte
	ids      []uint64
	idsAddr  uintptr
	outcomes []uint8
	outAddr  uintptr
	outArena *cmem.Arena
	args     [4]uintptr  // hook arguments, kept on the heap (see cmem.Call)
	crumb    *crumb.Slot // which hook runs, for the last words of a crash (nil: none)
}

// Option configures Create.
type Option func(*Instance)

// WithLogger sets the logger the plugin's log lines go to (tagged with
// plugin, connector and alias).
func WithLogger(l zerolog.Logger) Option { return func(i *Instance) { i.log = l } }

// Create checks cfg against the connector's declared fields (CheckConfig),
// encodes it and calls on_create. The plugin must be loaded (Load).
func (c *Connector) Create(alias string, cfg map[string]any, opts ...Option) (*Instance, error) {
	return c.create(nil, alias, cfg, opts)
}

// CreateRemote is Create for a plugin that runs in another process: every
// hook call goes through r (host/isolate), and what comes back is checked
// exactly as for a plugin in this process. The plugin may be loaded or
// only described (Inspect).
func (c *Connector) CreateRemote(r Remote, alias string, cfg map[string]any, opts ...Option) (*Instance, error) {
	return c.create(r, alias, cfg, opts)
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

func (c *Connector) create(r Remote, alias string, cfg map[string]any, opts []Option) (*Instance, error) {
	i := &Instance{conn: c, alias: alias, log: baseLogger(), remote: r}
	for _, o := range opts {
		o(i)
	}
	i.log = c.InstanceLogger(&i.log, alias)
	if r == nil && !c.Plugin.Loaded() {
		return nil, i.fail("create", abi.ResultErrInvalid, "the plugin was only inspected in a child process, not loaded into this one: load it with plugin.Load, or run it isolated", false)
	}
	checked, err := c.CheckConfig(cfg)
	if err != nil {
		return nil, i.fail("create", abi.ResultErrConfig, err.Error(), false)
	}
	nodes, bytes, err := abi.EncodeDoc(checked)
	if err != nil {
		return nil, i.fail("create", abi.ResultErrConfig, "cannot encode the config: "+err.Error(), false)
	}
	if r != nil {
		rep, err := r.Create(alias, nodes, bytes)
		if err != nil {
			return nil, err
		}
		return i, i.created(rep)
	}
	host, err := hostAPIAddr()
	if err != nil {
		return nil, err
	}
	if err := i.mapControl(); err != nil {
		return nil, err
	}
	// The create args, alias and config live in a mapping of their own,
	// unmapped after on_create returns.
	argsSize := abi.SizeofCreateArgs
	nodesOff := (argsSize + 63) &^ 63
	bytesOff := nodesOff + uintptr(len(nodes))*valueSize
	aliasOff := bytesOff + uintptr(len(bytes))
	tmp, err := cmem.Map(int(aliasOff) + len(alias) + 1)
	if err != nil {
		i.ctl.Free()
		return nil, err
	}
	defer tmp.Free()
	copy(cmem.Slice[abi.Value](tmp, nodesOff, len(nodes)), nodes)
	copy(tmp.Mem()[bytesOff:], bytes)
	copy(tmp.Mem()[aliasOff:], alias)
	args := cmem.At[abi.CreateArgs](tmp, 0)
	i.handle = register(i)
	guardExit()
	lo, hi := mappedRange(c.Plugin)
	i.crumb = crumbTable().Claim(c.Plugin.Path, c.Name, alias, cmem.AddrOf(i), lo, hi)
	*args = abi.CreateArgs{
		StructSize: uint32(argsSize),
		Host:       host,
		Ctx:        i.handle,
		Alias:      tmp.Addr() + aliasOff,
		AliasLen:   uint64(len(alias)),
		Config: abi.ValueDoc{
			Nodes: tmp.Addr() + nodesOff, NodesLen: uint64(len(nodes)),
			Bytes: tmp.Addr() + bytesOff, BytesLen: uint64(len(bytes)),
		},
	}
	slot := cmem.At[uintptr](i.ctl, abi.SizeofErrorBuf)
	*slot = 0
	i.resetErr()
	rc := i.call(HookCreate, c.vt.OnCreate, tmp.Addr(), i.ctl.Addr()+abi.SizeofErrorBuf, i.errAddr)
	if err := i.created(i.reply(rc)); err != nil {
		i.crumb.Release()
		unregister(i.handle)
		i.ctl.Free()
		return nil, err
	}
	i.inst = *slot
	return i, nil
}

// created maps on_create's answer to nil or the error that refuses the
// instance.
func (i *Instance) created(rep Reply) error {
	if rep.Code == abi.ResultOK {
		return nil
	}
	err := i.result("create", rep)
	if err == nil || rep.Code > 0 {
		err = i.fail("create", rep.Code, fmt.Sprintf("on_create returned %s instead of TREMOR_OK or an error", rep.Code.Name()), true)
	}
	return err
}

func (i *Instance) mapControl() error {
	errOff := uintptr(0)
	msgOff := uintptr(ctlAlign)
	idsOff := msgOff + errorCap
	outOff := idsOff + idsCap*8
	a, err := cmem.Map(int(outOff) + DefaultCaps.Events)
	if err != nil {
		return err
	}
	i.ctl = a
	i.errBuf = cmem.At[abi.ErrorBuf](a, errOff)
	i.errAddr = a.Addr() + errOff
	i.msg = cmem.Slice[byte](a, msgOff, errorCap)
	i.msgAddr = a.Addr() + msgOff
	i.ids = cmem.Slice[uint64](a, idsOff, idsCap)
	i.idsAddr = a.Addr() + idsOff
	i.outcomes = cmem.Slice[uint8](a, outOff, DefaultCaps.Events)
	i.outAddr = a.Addr() + outOff
	return nil
}

// call calls hook h at fn with up to four arguments (held in i.args, so
// that the call does not allocate) and returns its int32 result; the
// breadcrumb says h runs meanwhile. The caller holds i.mu (or, in Create,
// owns i alone).
func (i *Instance) call(h Hook, fn uintptr, args ...uintptr) abi.Result {
	n := copy(i.args[:], args)
	i.crumb.Enter(uint32(h))
	rc := abi.Result(int32(cmem.Call(fn, i.args[:n])))
	i.crumb.Leave()
	return rc
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

func (i *Instance) resetErr() {
	*i.errBuf = abi.ErrorBuf{Msg: i.msgAddr, Cap: errorCap}
}

// Connector is the instance's connector type.
func (i *Instance) Connector() *Connector { return i.conn }

// Alias is the instance's name in the flow.
func (i *Instance) Alias() string { return i.alias }

// fail builds an *Error for this instance.
func (i *Instance) fail(op string, code abi.Result, msg string, violation bool) *Error {
	return &Error{Op: op, Code: code, Message: msg, Violation: violation,
		Plugin: i.conn.Plugin.Name, File: i.conn.Plugin.Path, Connector: i.conn.Name, Alias: i.alias}
}

// violation poisons the instance: the plugin broke the contract.
func (i *Instance) violation(op, msg string) error {
	err := i.fail(op, abi.ResultErrInvalid, msg, true)
	i.poisoned = err
	i.log.Error().Str("op", op).Msg("plugin broke the contract; the instance is unusable: " + msg)
	return err
}

// Reply is a hook's answer: its result code and what it wrote into the
// error buffer. Remotes build it from what the other process reports.
type Reply struct {
	Code abi.Result
	// Msg is the message the plugin wrote: the first min(MsgLen, the
	// buffer's cap) bytes of the buffer.
	Msg []byte
	// MsgLen is the len the plugin set, which may exceed the buffer's cap
	// (the host then shows the whole buffer and says so).
	MsgLen uint64
	// MsgCap is the cap of the buffer the plugin was given.
	MsgCap uint64
	// BufChanged: the plugin changed the buffer's msg or cap fields.
	BufChanged bool
}

// ErrorCap is the size of the error message buffer a hook is given.
const ErrorCap = errorCap

// reply reads a native hook's answer (no copy: Msg views the buffer).
func (i *Instance) reply(rc abi.Result) Reply {
	if rc == abi.ResultOK || rc > 0 {
		return Reply{Code: rc}
	}
	r := Reply{Code: rc, MsgLen: i.errBuf.Len, MsgCap: errorCap}
	if i.errBuf.Msg != i.msgAddr || i.errBuf.Cap != errorCap {
		r.BufChanged = true
	} else {
		r.Msg = i.msg[:min(r.MsgLen, errorCap)]
	}
	return r
}

// result maps a hook's answer to nil, ErrEnd, ErrRetry or an *Error
// carrying the plugin's message.
func (i *Instance) result(op string, rep Reply) error {
	rc := rep.Code
	switch rc {
	case abi.ResultOK:
		return nil
	case abi.ResultEnd:
		if op == "pull" {
			return ErrEnd
		}
		return i.violation(op, "returned TREMOR_END, which only on_pull may answer")
	case abi.ResultRetry:
		if op == "connect" {
			return ErrRetry
		}
		return i.violation(op, "returned TREMOR_RETRY, which only on_connect may answer")
	}
	if rc > 0 {
		return i.violation(op, fmt.Sprintf("returned %d, which is not a result code of ABI %s", int32(rc), abi.ABIVersionString))
	}
	var msg string
	switch {
	case rep.BufChanged:
		msg = "(the plugin changed the error buffer's msg or cap; message dropped)"
	case rep.MsgLen > rep.MsgCap:
		msg = strings.ToValidUTF8(string(rep.Msg), "\uFFFD") + fmt.Sprintf(" (message truncated: the plugin set len %d, past cap %d)", rep.MsgLen, rep.MsgCap)
	default:
		msg = strings.ToValidUTF8(string(rep.Msg[:min(uint64(len(rep.Msg)), rep.MsgLen)]), "\uFFFD")
	}
	err := i.fail(op, rc, msg, false)
	if rc == abi.ResultErrPanic {
		i.poisoned = err
	}
	return err
}

func (i *Instance) enter(op string) error {
	if i.destroyed {
		return i.fail(op, abi.ResultErrInvalid, "the instance was destroyed", false)
	}
	if i.poisoned != nil {
		return fmt.Errorf("%s: the instance is unusable after an earlier error: %w", op, i.poisoned)
	}
	return nil
}

// Connect calls on_connect (attempt counts from 1). ErrRetry means not yet.
// A connector without on_connect is always connected.
func (i *Instance) Connect(attempt uint32) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter("connect"); err != nil {
		return err
	}
	if !i.conn.Has(HookConnect) {
		return nil
	}
	if i.remote != nil {
		rep, err := i.remote.Connect(attempt)
		if err != nil {
			return err
		}
		return i.result("connect", rep)
	}
	i.resetErr()
	return i.result("connect", i.reply(i.call(HookConnect, i.conn.vt.OnConnect, i.inst, uintptr(attempt), i.errAddr)))
}

func (i *Instance) step(op string, h Hook, fn uintptr) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter(op); err != nil {
		return err
	}
	if !i.conn.Has(h) {
		return nil
	}
	if i.remote != nil {
		rep, err := i.remote.Step(h)
		if err != nil {
			return err
		}
		return i.result(op, rep)
	}
	i.resetErr()
	return i.result(op, i.reply(i.call(h, fn, i.inst, i.errAddr)))
}

// Start calls on_start.
func (i *Instance) Start() error { return i.step("start", HookStart, i.conn.vt.OnStart) }

// Pause calls on_pause.
func (i *Instance) Pause() error { return i.step("pause", HookPause, i.conn.vt.OnPause) }

// Resume calls on_resume.
func (i *Instance) Resume() error { return i.step("resume", HookResume, i.conn.vt.OnResume) }

// Drain calls on_drain.
func (i *Instance) Drain() error { return i.step("drain", HookDrain, i.conn.vt.OnDrain) }

// Stop calls on_stop.
func (i *Instance) Stop() error { return i.step("stop", HookStop, i.conn.vt.OnStop) }

// Pull calls on_pull to fill b, waiting up to wait for data, and checks
// what the plugin wrote. It returns nil (b.Len() may be 0: nothing yet),
// ErrEnd (b may still hold the last events), or an *Error such as
// abi.ResultErrDisconnected; b holds the events written before it with
// every answer but a panic. When the plugin answers TREMOR_ERR_NO_ROOM, b grows to what it
// asks for and the pull is repeated. Pull does not allocate on success.
func (i *Instance) Pull(b *Batch, wait time.Duration) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	b.Reset()
	if err := i.enter("pull"); err != nil {
		return err
	}
	if !i.conn.Has(HookPull) {
		return i.fail("pull", abi.ResultErrUnsupported, "connector is not a source", false)
	}
	if i.remote != nil {
		// Into shared memory before the header is prepared (once per batch).
		if _, err := b.Share(); err != nil {
			return err
		}
	}
	ms := wait.Milliseconds()
	if ms < 0 {
		ms = 0
	} else if ms > maxWaitMs {
		ms = maxWaitMs
	}
	for try := 0; ; try++ {
		b.prepareRoom()
		var rep Reply
		if i.remote != nil {
			var err error
			if rep, err = i.remote.Pull(b, uint32(ms)); err != nil {
				b.Reset()
				return err
			}
		} else {
			i.resetErr()
			rep = i.reply(i.call(HookPull, i.conn.vt.OnPull, i.inst, b.arena.Addr(), uintptr(ms), i.errAddr))
		}
		rc := rep.Code
		if rc == abi.ResultErrNoRoom {
			if try >= maxNoRoom {
				return i.violation("pull", fmt.Sprintf("answered TREMOR_ERR_NO_ROOM %d times in a row after the room grew as asked", try+1))
			}
			if err := b.grow(b.hdr.BytesNeeded, b.hdr.ValuesNeeded); err != nil {
				return i.violation("pull", err.Error())
			}
			continue
		}
		// The events written are the host's with any answer but a panic
		// (the header's on_pull rule): a plugin that fails half-way has
		// handed them over and will not offer them again.
		if rc != abi.ResultErrPanic {
			if err := b.adoptPulled(); err != nil {
				b.Reset()
				return i.violation("pull", err.Error())
			}
		}
		return i.result("pull", rep)
	}
}

// Ack calls on_ack with ids (split into calls of at most 4096 ids).
func (i *Instance) Ack(ids []uint64) error { return i.idsCall("ack", HookAck, i.conn.vt.OnAck, ids) }

// Fail calls on_fail with ids (split into calls of at most 4096 ids).
func (i *Instance) Fail(ids []uint64) error {
	return i.idsCall("fail", HookFail, i.conn.vt.OnFail, ids)
}

// MaxIDs is the most ids one on_ack or on_fail call gets.
const MaxIDs = idsCap

func (i *Instance) idsCall(op string, h Hook, fn uintptr, ids []uint64) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter(op); err != nil {
		return err
	}
	if !i.conn.Has(h) || len(ids) == 0 {
		return nil
	}
	for len(ids) > 0 {
		var rep Reply
		n := min(len(ids), idsCap)
		if i.remote != nil {
			var err error
			if rep, err = i.remote.IDs(h, ids[:n]); err != nil {
				return err
			}
		} else {
			copy(i.ids, ids[:n])
			i.resetErr()
			rep = i.reply(i.call(h, fn, i.inst, i.idsAddr, uintptr(n), i.errAddr))
		}
		ids = ids[n:]
		if err := i.result(op, rep); err != nil {
			return err
		}
	}
	return nil
}

// Send calls on_send with the events in b and copies the per-event outcomes
// (abi.Outcome*) into outcomes, which must have room for b.Len() entries.
// On TREMOR_ERR_DISCONNECTED and other errors outcomes still says which
// events were delivered (OutcomeOK). Send does not allocate on success.
func (i *Instance) Send(b *Batch, outcomes []uint8) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter("send"); err != nil {
		return err
	}
	if !i.conn.Has(HookSend) {
		return i.fail("send", abi.ResultErrUnsupported, "connector is not a sink", false)
	}
	n := b.Len()
	if len(outcomes) < n {
		return fmt.Errorf("send: outcomes has room for %d events, the batch holds %d", len(outcomes), n)
	}
	if n > len(i.outcomes) {
		if err := i.growOutcomes(n); err != nil {
			return err
		}
	}
	out := i.outcomes[:n]
	for k := range out {
		out[k] = abi.OutcomeFailed
	}
	if i.remote != nil {
		if _, err := b.Share(); err != nil {
			return err
		}
	}
	b.prepareSend()
	sent := *b.hdr
	var rep Reply
	if i.remote != nil {
		var err error
		if rep, err = i.remote.Send(b, out); err != nil {
			for k := range outcomes[:n] {
				outcomes[k] = abi.OutcomeFailed
			}
			return err
		}
	} else {
		i.resetErr()
		rep = i.reply(i.call(HookSend, i.conn.vt.OnSend, i.inst, b.arena.Addr(), i.outAddr, i.errAddr))
	}
	if *b.hdr != sent {
		return i.violation("send", "it modified the batch header it was given to read (a sink must not modify the batch)")
	}
	bad := -1
	for k, o := range out {
		if o > abi.OutcomeRetry {
			if bad < 0 {
				bad = k
			}
			o = abi.OutcomeFailed
		}
		outcomes[k] = o
	}
	if bad >= 0 {
		return i.violation("send", fmt.Sprintf("outcomes[%d] is %d, not a TREMOR_OUTCOME_* value", bad, out[bad]))
	}
	return i.result("send", rep)
}

func (i *Instance) growOutcomes(n int) error {
	if i.remote != nil {
		i.outcomes = make([]uint8, n)
		return nil
	}
	a, err := cmem.Map(n)
	if err != nil {
		return err
	}
	i.outArena.Free()
	i.outArena = a
	i.outcomes = cmem.Slice[uint8](a, 0, n)
	i.outAddr = a.Addr()
	return nil
}

// Destroy calls on_destroy (once; later calls do nothing) and releases the
// instance's memory. After it the plugin's log calls with this ctx are
// refused.
func (i *Instance) Destroy() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.destroyed {
		return
	}
	i.destroyed = true
	if i.remote != nil {
		i.remote.Destroy()
		return
	}
	i.call(HookDestroy, i.conn.vt.OnDestroy, i.inst)
	i.crumb.Release()
	unregister(i.handle)
	i.ctl.Free()
	i.outArena.Free()
}

// Remote carries an instance's hook calls to a plugin that runs in another
// process (host/isolate implements it over tremor-runner). Each method
// makes one hook call and returns the plugin's answer, which the Instance
// then checks exactly as it checks a plugin in this process. A non-nil
// error means the call did not complete (the process died or hung, or
// broke the protocol): the Instance returns it to its caller unchanged and
// is not poisoned by it. Methods are called one at a time, and only for
// hooks the connector implements.
type Remote interface {
	// Create calls on_create with the instance's alias and its checked,
	// encoded config.
	Create(alias string, config []abi.Value, bytes []byte) (Reply, error)
	Connect(attempt uint32) (Reply, error)
	// Step calls on_start, on_pause, on_resume, on_drain or on_stop.
	Step(h Hook) (Reply, error)
	// Pull calls on_pull with b's room (b.RemoteHeader) and sets b's header
	// from what the plugin left in it (b.SetRemoteHeader).
	Pull(b *Batch, waitMs uint32) (Reply, error)
	// IDs calls on_ack or on_fail with at most MaxIDs ids.
	IDs(h Hook, ids []uint64) (Reply, error)
	// Send calls on_send with the events of b (b.RemoteHeader), writes the
	// outcomes the plugin wrote into outcomes (len = b.Len(), pre-set to
	// OutcomeFailed) and sets b's header from what the plugin left in it.
	Send(b *Batch, outcomes []uint8) (Reply, error)
	// Destroy calls on_destroy and releases the other process.
	Destroy()
}
