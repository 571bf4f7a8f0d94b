package edge

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
)

const (
	// MaxIDs is the most ids one on_ack or on_fail call gets (longer
	// lists are split).
	MaxIDs = abi.MaxIDsPerCall
	// ErrorCap is the size of the error message buffer a hook is given.
	ErrorCap  = abi.ErrorCap
	maxNoRoom = 4 // pulls retried after TREMOR_ERR_NO_ROOM
	maxWaitMs = 1<<32 - 1
)

// Transport carries an instance's hook calls to the plugin: in this
// process (host/plugin) or in a child process (host/isolate). Each method
// makes one hook call and returns the plugin's answer, which the Instance
// then checks, the same way for both. A non-nil error means the call did
// not complete (the process died or hung, or broke the protocol): the
// Instance returns it to its caller unchanged and is not poisoned by it.
// Methods are called one at a time, and only for hooks the connector
// implements.
type Transport interface {
	// Create calls on_create with the instance's alias and its checked,
	// encoded config.
	Create(alias string, config []abi.Value, bytes []byte) (Reply, error)
	Connect(attempt uint32) (Reply, error)
	// Step calls on_start, on_pause, on_resume, on_drain or on_stop.
	Step(h Hook) (Reply, error)
	// Pull calls on_pull with b's room; the header the plugin left is in
	// b afterwards (in place, or through SetRemoteHeader).
	Pull(b *Batch, waitMs uint32) (Reply, error)
	// IDs calls on_ack or on_fail with at most MaxIDs ids.
	IDs(h Hook, ids []uint64) (Reply, error)
	// Outcomes returns room for n outcomes, where Send has the plugin
	// write them.
	Outcomes(n int) ([]uint8, error)
	// Send calls on_send with the events of b; outcomes (from Outcomes,
	// pre-set to OutcomeFailed) holds what the plugin wrote afterwards.
	Send(b *Batch, outcomes []uint8) (Reply, error)
	// Destroy calls on_destroy and releases what the transport holds.
	Destroy()
}

// Reply is a hook's answer: its result code and what it wrote into the
// error buffer.
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
	// Overran: the canary after the buffer changed (ErrCanary), whatever
	// the result code: the plugin wrote past msg[cap-1].
	Overran bool
}

// ErrCanaryLen bytes follow a transport's error buffer: SetErrCanary fills
// them before each call, ErrCanaryIntact checks them after it (a write past
// the buffer is a contract break the host names, not host memory silently
// overwritten).
const ErrCanaryLen = abi.ErrorCanary

const errCanaryByte = 0xCB

// SetErrCanary fills c, the ErrCanaryLen bytes after an error buffer.
func SetErrCanary(c []byte) {
	for k := range c {
		c[k] = errCanaryByte
	}
}

// ErrCanaryIntact reports whether c is as SetErrCanary left it.
func ErrCanaryIntact(c []byte) bool {
	for _, v := range c {
		if v != errCanaryByte {
			return false
		}
	}
	return true
}

// Who names an instance in errors: its plugin, file, connector type and
// alias in the flow.
type Who struct {
	Plugin, File, Connector, Alias string
}

// Err builds an *Error for this instance.
func (w Who) Err(op string, code abi.Result, msg string) *Error {
	return &Error{Op: op, Code: code, Message: msg, Plugin: w.Plugin, File: w.File, Connector: w.Connector, Alias: w.Alias}
}

// Instance is one live connector instance: it calls the plugin's hooks
// through its transport and checks every answer, the same way wherever
// the plugin runs. The host calls at most one hook of an instance at a
// time (the methods lock), so an Instance may be shared by goroutines.
//
// Errors are *Error (wrapping the result code) except for the two non-error
// answers ErrEnd and ErrRetry. After the host found the plugin broke the
// contract (header rule 8) the instance is poisoned: traffic hooks fail
// without calling the plugin, but Drain and Stop still call it, once each,
// so that it ends in order. After TREMOR_ERR_PANIC only Destroy calls it.
type Instance struct {
	who   Who
	hooks Hooks
	log   zerolog.Logger

	mu        sync.Mutex
	t         Transport
	destroyed bool
	poisoned  error
	panicked  bool  // poisoned by TREMOR_ERR_PANIC: only on_destroy follows
	ended     Hooks // on_drain / on_stop called since the instance was poisoned

	send    sending       // between BeginSend and EndSend (send.b set)
	guards  bool          // SetContractGuards was on at Create
	retired []*cmem.Arena // rooms of earlier pulls, inaccessible (guards)
}

// contractGuards: see SetContractGuards.
var contractGuards atomic.Bool

// SetContractGuards turns on, for instances created afterwards, the memory
// guards of `tremorctl run --check-contract` where the batch is this
// process's own memory (in-process plugins): a sent batch is read-only
// during on_send, and each pull gets a fresh room while the last one is
// poisoned and made inaccessible, so a write into a sent batch or a use of
// a room after on_pull returned faults in the hook that does it. Slower;
// for authors debugging a plugin against real traffic.
func SetContractGuards(on bool) { contractGuards.Store(on) }

// maxRetiredRooms bounds the rooms an instance keeps inaccessible.
const maxRetiredRooms = 64

// guarded reports whether b gets the guards (private memory only: a
// mapping shared with a plugin's process is protected in that process).
func (i *Instance) guarded(b *Batch) bool {
	return i.guards && b.shared == nil && b.arena != nil && b.arena.FD() < 0
}

// freshRoom moves b to a new mapping of the same room and retires the old
// one (guards).
func (i *Instance) freshRoom(b *Batch) {
	old := b.arena
	b.arena = nil // kept: mapArena would unmap it
	if err := b.mapArena(b.caps); err != nil {
		b.arena = old
		return
	}
	if old.Retire() != nil {
		old.Free()
		return
	}
	i.retired = append(i.retired, old)
	if len(i.retired) > maxRetiredRooms {
		i.retired[0].Free()
		i.retired = i.retired[1:]
	}
}

// Create calls on_create through t with the checked, encoded config and
// returns the instance. When it fails, t is not destroyed: its creator
// releases it. log is the instance's logger (tagged).
func Create(t Transport, who Who, hooks Hooks, log zerolog.Logger, config []abi.Value, bytes []byte) (*Instance, error) {
	i := &Instance{who: who, hooks: hooks, log: log, t: t, guards: contractGuards.Load()}
	rep, err := t.Create(who.Alias, config, bytes)
	if err != nil {
		return nil, err
	}
	if rep.Code == abi.ResultOK && !rep.Overran {
		return i, nil
	}
	err = i.result("create", rep)
	if err == nil || rep.Code == abi.ResultEnd || rep.Code == abi.ResultRetry {
		err = i.violation("create", fmt.Sprintf("on_create returned %s instead of TREMOR_OK or an error", rep.Code.Name()))
	}
	return nil, err
}

// Alias is the instance's name in the flow.
func (i *Instance) Alias() string { return i.who.Alias }

func (i *Instance) fail(op string, code abi.Result, msg string) *Error {
	return i.who.Err(op, code, msg)
}

// violation poisons the instance: the plugin broke the contract. It is
// not logged here: the caller reports the error it gets, once.
func (i *Instance) violation(op, msg string) error {
	err := i.fail(op, abi.ResultErrInvalid, msg)
	err.Violation = true
	i.poisoned = err
	return err
}

// result maps a hook's answer to nil, ErrEnd, ErrRetry or an *Error
// carrying the plugin's message.
func (i *Instance) result(op string, rep Reply) error {
	rc := rep.Code
	if rep.Overran {
		return i.violation(op, fmt.Sprintf("wrote past the error buffer (cap %d): a plugin never writes past msg[cap-1]; the host memory after it was overwritten", rep.MsgCap))
	}
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
			if msg := rep.message(); msg != "" {
				return retryError(msg)
			}
			return ErrRetry
		}
		return i.violation(op, "returned TREMOR_RETRY, which only on_connect may answer")
	}
	if rc > 0 {
		return i.violation(op, fmt.Sprintf("returned %d, which is not a result code of ABI %s", int32(rc), abi.ABIVersionString))
	}
	err := i.fail(op, rc, rep.message())
	if rc == abi.ResultErrPanic {
		i.poisoned, i.panicked = err, true
	}
	return err
}

// isViolation reports whether err is a contract break the host found.
func isViolation(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Violation
}

// message is the text of an error reply as the host shows it.
func (rep Reply) message() string {
	switch {
	case rep.BufChanged:
		return "(the plugin changed the error buffer's msg or cap; message dropped)"
	case rep.MsgLen > rep.MsgCap:
		return strings.ToValidUTF8(string(rep.Msg), "\uFFFD") + fmt.Sprintf(" (message truncated: the plugin set len %d, past cap %d)", rep.MsgLen, rep.MsgCap)
	}
	return strings.ToValidUTF8(string(rep.Msg[:min(uint64(len(rep.Msg)), rep.MsgLen)]), "\uFFFD")
}

func (i *Instance) enter(op string) error {
	if i.send.b != nil {
		return fmt.Errorf("%s: a send is under way on this instance (the host must end it first)", op)
	}
	if i.destroyed {
		return i.fail(op, abi.ResultErrInvalid, "the instance was destroyed")
	}
	if i.poisoned != nil {
		return fmt.Errorf("%s: the instance is unusable after an earlier error: %w", op, i.poisoned)
	}
	return nil
}

// enterEnd is enter for on_drain and on_stop: after a contract break they
// are still called, once each, so that the plugin ends in order (header
// rule 8); after TREMOR_ERR_PANIC they are not. skip: the hook is not
// called and this is no error (it was already called after the break, or
// the plugin lacks it).
func (i *Instance) enterEnd(op string, h Hook) (skip bool, err error) {
	if i.poisoned == nil || i.destroyed {
		if err := i.enter(op); err != nil {
			return true, err
		}
		return !i.hooks.Has(h), nil
	}
	if i.panicked {
		return true, nil // not skipped by mistake: the panic was the error
	}
	if i.ended.Has(h) || !i.hooks.Has(h) {
		return true, nil
	}
	i.ended |= 1 << h
	return false, nil
}

// Connect calls on_connect (attempt counts from 1). ErrRetry means not yet.
// A connector without on_connect is always connected.
func (i *Instance) Connect(attempt uint32) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter("connect"); err != nil || !i.hooks.Has(HookConnect) {
		return err
	}
	rep, err := i.t.Connect(attempt)
	if err != nil {
		return err
	}
	return i.result("connect", rep)
}

func (i *Instance) step(op string, h Hook) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if h == HookDrain || h == HookStop {
		if skip, err := i.enterEnd(op, h); skip {
			return err
		}
	} else if err := i.enter(op); err != nil || !i.hooks.Has(h) {
		return err
	}
	rep, err := i.t.Step(h)
	if err != nil {
		return err
	}
	return i.result(op, rep)
}

// Start calls on_start.
func (i *Instance) Start() error { return i.step("start", HookStart) }

// Pause calls on_pause.
func (i *Instance) Pause() error { return i.step("pause", HookPause) }

// Resume calls on_resume.
func (i *Instance) Resume() error { return i.step("resume", HookResume) }

// Drain calls on_drain.
func (i *Instance) Drain() error { return i.step("drain", HookDrain) }

// Stop calls on_stop.
func (i *Instance) Stop() error { return i.step("stop", HookStop) }

// Pull calls on_pull to fill b, waiting up to wait for data, and checks
// what the plugin wrote. It returns nil (b.Len() may be 0: nothing yet),
// ErrEnd (b may still hold the last events), or an *Error such as
// abi.ResultErrDisconnected; b holds the events written before it with
// every answer but a panic. When the plugin answers TREMOR_ERR_NO_ROOM, b
// grows to what it asks for and the pull is repeated. Pull does not
// allocate on success.
func (i *Instance) Pull(b *Batch, wait time.Duration) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	b.Reset()
	if err := i.enter("pull"); err != nil {
		return err
	}
	if !i.hooks.Has(HookPull) {
		return i.fail("pull", abi.ResultErrUnsupported, "connector is not a source")
	}
	ms := uint32(min(max(wait.Milliseconds(), 0), maxWaitMs))
	for try := 0; ; try++ {
		if try == 0 && i.guarded(b) {
			i.freshRoom(b)
		}
		b.prepareRoom()
		rep, err := i.t.Pull(b, ms)
		if err != nil {
			b.Reset()
			return err
		}
		if rep.Code == abi.ResultErrNoRoom {
			if try >= maxNoRoom {
				return i.violation("pull", fmt.Sprintf("answered TREMOR_ERR_NO_ROOM %d times in a row after the room grew as asked", try+1))
			}
			need := b.pulledHeader()
			if err := b.grow(need.BytesNeeded, need.ValuesNeeded); err != nil {
				return i.violation("pull", err.Error())
			}
			continue
		}
		// The events written are the host's with any answer but a panic
		// (the header's on_pull rule): a plugin that fails half-way has
		// handed them over and will not offer them again.
		if rep.Code != abi.ResultErrPanic {
			if err := b.adoptPulled(); err != nil {
				b.Reset()
				return i.violation("pull", err.Error())
			}
		}
		err = i.result("pull", rep)
		if isViolation(err) {
			b.Reset() // a break's events are not taken on trust (rule 8)
		}
		return err
	}
}

// Ack calls on_ack with ids (split into calls of at most MaxIDs ids).
func (i *Instance) Ack(ids []uint64) error { return i.idsCall("ack", HookAck, ids) }

// Fail calls on_fail with ids (split into calls of at most MaxIDs ids).
func (i *Instance) Fail(ids []uint64) error { return i.idsCall("fail", HookFail, ids) }

func (i *Instance) idsCall(op string, h Hook, ids []uint64) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.enter(op); err != nil || !i.hooks.Has(h) {
		return err
	}
	for len(ids) > 0 {
		n := min(len(ids), MaxIDs)
		rep, err := i.t.IDs(h, ids[:n])
		if err != nil {
			return err
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
// events were delivered (OutcomeOK). When the call did not complete, or the
// plugin broke the contract, every outcome is OutcomeFailed whatever it
// wrote (header rule 8). Send does not allocate on success.
func (i *Instance) Send(b *Batch, outcomes []uint8) error {
	i.mu.Lock() // one lock for both halves: the instance may be shared
	defer i.mu.Unlock()
	if len(outcomes) < b.Len() {
		return fmt.Errorf("send: outcomes has room for %d events, the batch holds %d", len(outcomes), b.Len())
	}
	if err := i.beginSend(b, false); err != nil {
		failAll(outcomes[:min(len(outcomes), b.Len())])
		return err
	}
	return i.endSend(b, outcomes)
}

// A SendPipeliner is a Transport that can leave a send under way while the
// host prepares the next batch: SendBegin returns once the plugin has b,
// SendEnd waits for its answer (the outcomes into out, and the reply). A
// plugin in another process works on one batch while the host encodes the
// next; a transport that calls the plugin on the host's thread gains
// nothing from it and does not implement it.
type SendPipeliner interface {
	SendBegin(b *Batch) error
	SendEnd(b *Batch, out []uint8) (Reply, error)
}

// sending is a send between BeginSend and EndSend.
type sending struct {
	b    *Batch
	out  []uint8 // the transport's outcomes room
	done bool    // not pipelined: the call is over, rep and err are its answer
	rep  Reply
	err  error
}

// Pipelines reports whether the plugin works on a send between BeginSend
// and EndSend (its transport is a SendPipeliner); otherwise BeginSend
// makes the whole call and EndSend only reports it.
func (i *Instance) Pipelines() bool {
	_, ok := i.t.(SendPipeliner)
	return ok
}

// BeginSend starts on_send with the events in b; EndSend waits for its
// answer and checks it as Send does. Between the two the host must not
// change b, and the instance takes no other call but EndSend (and Destroy,
// which ends the send first). An error means nothing was started: EndSend
// must not follow.
func (i *Instance) BeginSend(b *Batch) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.beginSend(b, true)
}

// beginSend starts the send; with pipeline unset, or a transport that
// cannot pipeline, the whole call is made now.
func (i *Instance) beginSend(b *Batch, pipeline bool) error {
	if err := i.enter("send"); err != nil {
		return err
	}
	if !i.hooks.Has(HookSend) {
		return i.fail("send", abi.ResultErrUnsupported, "connector is not a sink")
	}
	out, err := i.t.Outcomes(b.Len())
	if err != nil {
		return err
	}
	out = out[:b.Len()]
	failAll(out)
	b.prepareSend()
	i.send = sending{b: b, out: out}
	if p, ok := i.t.(SendPipeliner); ok && pipeline {
		if err := p.SendBegin(b); err != nil {
			i.send = sending{}
			return err
		}
		return nil
	}
	guarded := i.guarded(b) && b.arena.ReadOnly() == nil
	i.send.rep, i.send.err = i.t.Send(b, out)
	if guarded {
		_ = b.arena.Writable()
	}
	i.send.done = true
	return nil
}

// EndSend waits for the answer to the send BeginSend started with b and
// copies its outcomes into outcomes (room for b.Len() entries), checked
// as Send says.
func (i *Instance) EndSend(b *Batch, outcomes []uint8) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.endSend(b, outcomes)
}

func (i *Instance) endSend(b *Batch, outcomes []uint8) error {
	n := b.Len()
	if len(outcomes) < n {
		return fmt.Errorf("send: outcomes has room for %d events, the batch holds %d", len(outcomes), n)
	}
	// Failed until the plugin's answer is found good: every early return
	// below leaves them so (the caller's slice holds the last send's).
	failAll(outcomes[:n])
	sd := i.send
	if sd.b != b {
		return errors.New("send: EndSend without a BeginSend of this batch")
	}
	i.send = sending{}
	rep, err := sd.rep, sd.err
	if !sd.done {
		rep, err = i.t.(SendPipeliner).SendEnd(b, sd.out)
	}
	if err != nil {
		return err
	}
	if !b.sentUnchanged() {
		return i.violation("send", "it modified the batch header it was given to read (a sink must not modify the batch); every event of the batch is failed back")
	}
	for k, o := range sd.out {
		if o > abi.OutcomeRetry {
			return i.violation("send", fmt.Sprintf("outcomes[%d] is %d, not a TREMOR_OUTCOME_* value; every event of the batch is failed back", k, o))
		}
	}
	err = i.result("send", rep)
	if !isViolation(err) {
		copy(outcomes[:n], sd.out)
	}
	return err
}

func failAll(outcomes []uint8) {
	for k := range outcomes {
		outcomes[k] = abi.OutcomeFailed
	}
}

// Destroy calls on_destroy (once; later calls do nothing) and releases the
// transport.
func (i *Instance) Destroy() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.destroyed {
		return
	}
	if sd := i.send; sd.b != nil && !sd.done {
		_, _ = i.t.(SendPipeliner).SendEnd(sd.b, sd.out) // its outcomes no longer matter
	}
	i.send = sending{}
	i.destroyed = true
	i.t.Destroy()
	for _, a := range i.retired {
		a.Free()
	}
	i.retired = nil
}
