package plugin

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/plugin/internal/native"
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
	handle    uintptr // the ctx the plugin sees
	inst      uintptr // the plugin's instance pointer
	destroyed bool
	poisoned  error

	ctl      *native.Arena // [tremor_error][instance slot][msg][ids][outcomes]
	errBuf   *abi.ErrorBuf
	errAddr  uintptr
	msgAddr  uintptr
	msg      []byte
	ids      []uint64
	idsAddr  uintptr
	outcomes []uint8
	outAddr  uintptr
	outArena *native.Arena
	args     [4]uintptr // hook arguments, kept on the heap (see native.Call)
}

// Option configures Create.
type Option func(*Instance)

// WithLogger sets the logger the plugin's log lines go to (tagged with
// plugin, connector and alias).
func WithLogger(l zerolog.Logger) Option { return func(i *Instance) { i.log = l } }

// Create checks cfg against the connector's declared fields (CheckConfig),
// encodes it and calls on_create.
func (c *Connector) Create(alias string, cfg map[string]any, opts ...Option) (*Instance, error) {
	i := &Instance{conn: c, alias: alias, log: baseLogger()}
	for _, o := range opts {
		o(i)
	}
	i.log = i.log.With().Str("plugin", c.Plugin.Name).Str("connector", c.Name).Str("alias", alias).Logger()
	checked, err := c.CheckConfig(cfg)
	if err != nil {
		return nil, i.fail("create", abi.ResultErrConfig, err.Error(), false)
	}
	nodes, bytes, err := abi.EncodeDoc(checked)
	if err != nil {
		return nil, i.fail("create", abi.ResultErrConfig, "cannot encode the config: "+err.Error(), false)
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
	argsSize := unsafe.Sizeof(abi.CreateArgs{})
	nodesOff := (argsSize + 63) &^ 63
	bytesOff := nodesOff + uintptr(len(nodes))*valueSize
	aliasOff := bytesOff + uintptr(len(bytes))
	tmp, err := native.Map(int(aliasOff) + len(alias) + 1)
	if err != nil {
		i.ctl.Free()
		return nil, err
	}
	defer tmp.Free()
	copy(native.Slice[abi.Value](tmp, nodesOff, len(nodes)), nodes)
	copy(tmp.Mem()[bytesOff:], bytes)
	copy(tmp.Mem()[aliasOff:], alias)
	args := native.At[abi.CreateArgs](tmp, 0)
	i.handle = register(i)
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
	slot := native.At[uintptr](i.ctl, unsafe.Sizeof(abi.ErrorBuf{}))
	*slot = 0
	i.resetErr()
	rc := i.call(c.vt.OnCreate, tmp.Addr(), i.ctl.Addr()+unsafe.Sizeof(abi.ErrorBuf{}), i.errAddr)
	if rc != abi.ResultOK {
		unregister(i.handle)
		err := i.result("create", rc)
		if err == nil || rc > 0 {
			err = i.fail("create", rc, fmt.Sprintf("on_create returned %s instead of TREMOR_OK or an error", rc.Name()), true)
		}
		i.ctl.Free()
		return nil, err
	}
	i.inst = *slot
	return i, nil
}

func (i *Instance) mapControl() error {
	errOff := uintptr(0)
	msgOff := uintptr(ctlAlign)
	idsOff := msgOff + errorCap
	outOff := idsOff + idsCap*8
	a, err := native.Map(int(outOff) + DefaultCaps.Events)
	if err != nil {
		return err
	}
	i.ctl = a
	i.errBuf = native.At[abi.ErrorBuf](a, errOff)
	i.errAddr = a.Addr() + errOff
	i.msg = native.Slice[byte](a, msgOff, errorCap)
	i.msgAddr = a.Addr() + msgOff
	i.ids = native.Slice[uint64](a, idsOff, idsCap)
	i.idsAddr = a.Addr() + idsOff
	i.outcomes = native.Slice[uint8](a, outOff, DefaultCaps.Events)
	i.outAddr = a.Addr() + outOff
	return nil
}

// call calls a hook with up to four arguments (held in i.args, so that the
// call does not allocate) and returns its int32 result. The caller holds i.mu
// (or, in Create, owns i alone).
func (i *Instance) call(fn uintptr, args ...uintptr) abi.Result {
	n := copy(i.args[:], args)
	return abi.Result(int32(native.Call(fn, i.args[:n])))
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

// result maps a hook's result code to nil, ErrEnd, ErrRetry or an *Error
// carrying the plugin's message.
func (i *Instance) result(op string, rc abi.Result) error {
	switch rc {
	case abi.ResultOK:
		return nil
	case abi.ResultEnd:
		return ErrEnd
	case abi.ResultRetry:
		return ErrRetry
	}
	if rc > 0 {
		return i.violation(op, fmt.Sprintf("returned %d, which is not a result code of ABI %s", int32(rc), abi.ABIVersionString))
	}
	var msg string
	n := i.errBuf.Len
	if i.errBuf.Msg != i.msgAddr || i.errBuf.Cap != errorCap {
		msg = "(the plugin changed the error buffer's msg or cap; message dropped)"
	} else if n > errorCap {
		msg = strings.ToValidUTF8(string(i.msg), "\uFFFD") + fmt.Sprintf(" (message truncated: the plugin set len %d, past cap %d)", n, errorCap)
	} else {
		msg = strings.ToValidUTF8(string(i.msg[:n]), "\uFFFD")
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
	if i.conn.vt.OnConnect == 0 {
		return nil
	}
	i.resetErr()
	return i.result("connect", i.call(i.conn.vt.OnConnect, i.inst, uintptr(attempt), i.errAddr))
}

func (i *Instance) step(op string, fn uintptr) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter(op); err != nil {
		return err
	}
	if fn == 0 {
		return nil
	}
	i.resetErr()
	return i.result(op, i.call(fn, i.inst, i.errAddr))
}

// Start calls on_start.
func (i *Instance) Start() error { return i.step("start", i.conn.vt.OnStart) }

// Pause calls on_pause.
func (i *Instance) Pause() error { return i.step("pause", i.conn.vt.OnPause) }

// Resume calls on_resume.
func (i *Instance) Resume() error { return i.step("resume", i.conn.vt.OnResume) }

// Drain calls on_drain.
func (i *Instance) Drain() error { return i.step("drain", i.conn.vt.OnDrain) }

// Stop calls on_stop.
func (i *Instance) Stop() error { return i.step("stop", i.conn.vt.OnStop) }

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
	if i.conn.vt.OnPull == 0 {
		return i.fail("pull", abi.ResultErrUnsupported, "connector is not a source", false)
	}
	ms := wait.Milliseconds()
	if ms < 0 {
		ms = 0
	} else if ms > maxWaitMs {
		ms = maxWaitMs
	}
	for try := 0; ; try++ {
		b.prepareRoom()
		i.resetErr()
		rc := i.call(i.conn.vt.OnPull, i.inst, b.arena.Addr(), uintptr(ms), i.errAddr)
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
		return i.result("pull", rc)
	}
}

// Ack calls on_ack with ids (split into calls of at most 4096 ids).
func (i *Instance) Ack(ids []uint64) error { return i.idsCall("ack", i.conn.vt.OnAck, ids) }

// Fail calls on_fail with ids (split into calls of at most 4096 ids).
func (i *Instance) Fail(ids []uint64) error { return i.idsCall("fail", i.conn.vt.OnFail, ids) }

func (i *Instance) idsCall(op string, fn uintptr, ids []uint64) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter(op); err != nil {
		return err
	}
	if fn == 0 || len(ids) == 0 {
		return nil
	}
	for len(ids) > 0 {
		n := copy(i.ids, ids)
		ids = ids[n:]
		i.resetErr()
		if err := i.result(op, i.call(fn, i.inst, i.idsAddr, uintptr(n), i.errAddr)); err != nil {
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
	if i.conn.vt.OnSend == 0 {
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
	b.prepareSend()
	sent := *b.hdr
	i.resetErr()
	rc := i.call(i.conn.vt.OnSend, i.inst, b.arena.Addr(), i.outAddr, i.errAddr)
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
	return i.result("send", rc)
}

func (i *Instance) growOutcomes(n int) error {
	a, err := native.Map(n)
	if err != nil {
		return err
	}
	i.outArena.Free()
	i.outArena = a
	i.outcomes = native.Slice[uint8](a, 0, n)
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
	i.call(i.conn.vt.OnDestroy, i.inst)
	unregister(i.handle)
	i.ctl.Free()
	i.outArena.Free()
}
