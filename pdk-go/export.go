package pdk

// The hooks, exported to C. shim.c's trampolines (the function pointers in
// the vtables) call these; nothing else does. A file with //export may only
// declare C in its preamble, which is why the trampolines live in shim.c.

/*
#cgo CFLAGS: -I${SRCDIR}/../include -fvisibility=hidden
#include "tremor/plugin.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"time"
	"unsafe"

	"tremorhost/abi"
)

const (
	stepStart  = 0
	stepPause  = 1
	stepResume = 2
	stepDrain  = 3
	stepStop   = 4
)

//export pdkgo_descriptor
func pdkgo_descriptor() *C.tremor_plugin_descriptor {
	return descriptor()
}

//export pdkgo_create
func pdkgo_create(idx C.uint32_t, args *C.tremor_create_args, out *C.uintptr_t, err *C.tremor_error) C.int32_t {
	return C.int32_t(create(int(idx), (*abi.CreateArgs)(unsafe.Pointer(args)), (*uintptr)(unsafe.Pointer(out)), (*abi.ErrorBuf)(unsafe.Pointer(err))))
}

//export pdkgo_destroy
func pdkgo_destroy(h C.uintptr_t) {
	destroy(uintptr(h))
}

//export pdkgo_connect
func pdkgo_connect(h C.uintptr_t, attempt C.uint32_t, err *C.tremor_error) C.int32_t {
	return C.int32_t(connect(uintptr(h), uint32(attempt), (*abi.ErrorBuf)(unsafe.Pointer(err))))
}

//export pdkgo_step
func pdkgo_step(h C.uintptr_t, step C.int32_t, err *C.tremor_error) C.int32_t {
	return C.int32_t(runStep(uintptr(h), int(step), (*abi.ErrorBuf)(unsafe.Pointer(err))))
}

//export pdkgo_pull
func pdkgo_pull(h C.uintptr_t, room *C.tremor_batch, waitMs C.uint32_t, err *C.tremor_error) C.int32_t {
	return C.int32_t(pull(uintptr(h), (*abi.Batch)(unsafe.Pointer(room)), uint32(waitMs), (*abi.ErrorBuf)(unsafe.Pointer(err))))
}

//export pdkgo_ids
func pdkgo_ids(h C.uintptr_t, ack C.int32_t, ids *C.uint64_t, count C.uint64_t, err *C.tremor_error) C.int32_t {
	return C.int32_t(ackOrFail(uintptr(h), ack != 0, (*uint64)(unsafe.Pointer(ids)), uint64(count), (*abi.ErrorBuf)(unsafe.Pointer(err))))
}

//export pdkgo_send
func pdkgo_send(h C.uintptr_t, batch *C.tremor_batch, outcomes *C.uint8_t, err *C.tremor_error) C.int32_t {
	return C.int32_t(send(uintptr(h), (*abi.Batch)(unsafe.Pointer(batch)), (*Outcome)(unsafe.Pointer(outcomes)), (*abi.ErrorBuf)(unsafe.Pointer(err))))
}

// The hooks in Go. Each one starts with a deferred panic barrier (barrier,
// or its own in create and destroy, where there is no instance yet/any more).

func create(idx int, args *abi.CreateArgs, out *uintptr, cerr *abi.ErrorBuf) (rc int32) {
	var in *instance
	var hs *hostState
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("panic in on_create: %v", r)
			if hs != nil {
				logPanic(hs.log, msg, debug.Stack())
				hs.kill()
			}
			if in != nil {
				closeConnector(in, "on_create")
			}
			setError(cerr, msg)
			rc = codePanic
		}
	}()
	typ, alias, cfg, err := createInput(idx, args, out)
	if err != nil {
		setError(cerr, err.Error())
		return codeInvalid
	}
	hs = &hostState{alive: true, api: cPtr[C.tremor_host_api](args.Host), ctx: *(**C.tremor_host_ctx)(unsafe.Pointer(&args.Ctx)), alias: string(alias)}
	conn, err := typ.New.make(cfg, Host{s: hs})
	if err == nil && conn == nil {
		err = fmt.Errorf("pdk-go: %s: New returned neither a connector nor an error", typ.Name)
	}
	if err != nil {
		hs.kill()
		return result(err, "New", 0, cerr) // ConfigError: TREMOR_ERR_CONFIG
	}
	in = &instance{typ: typ, conn: conn, host: hs}
	if missing := in.findHooks(); missing != "" {
		closeConnector(in, "on_create")
		hs.kill()
		setError(cerr, fmt.Sprintf("pdk-go: connector %q: %T does not implement %s", typ.Name, conn, missing))
		return codeFailed
	}
	hs.mu.Lock()
	hs.inst = in
	hs.mu.Unlock()
	*out = addInstance(in)
	return codeOK
}

// createInput checks what on_create was given and reads it: the connector
// type idx of the registered plugin, the alias and the config.
func createInput(idx int, args *abi.CreateArgs, out *uintptr) (*ConnectorType, []byte, Config, error) {
	p, err := registered()
	if err != nil {
		return nil, nil, Config{}, fmt.Errorf("pdk-go: %w", err)
	}
	if idx < 0 || idx >= len(p.Connectors) {
		return nil, nil, Config{}, fmt.Errorf("pdk-go: no connector type %d", idx)
	}
	if args == nil || out == nil {
		return nil, nil, Config{}, fmt.Errorf("pdk-go: on_create called with NULL args or instance")
	}
	if args.StructSize < minCreateArgsSize {
		return nil, nil, Config{}, fmt.Errorf("pdk-go: tremor_create_args struct_size %d is smaller than ABI 1.0's %d", args.StructSize, minCreateArgsSize)
	}
	alias, err := cSlice(cPtr[byte](args.Alias), args.AliasLen)
	if err != nil {
		return nil, nil, Config{}, fmt.Errorf("pdk-go: alias: %w", err)
	}
	cfg, err := readConfig(&args.Config)
	if err != nil {
		return nil, nil, Config{}, fmt.Errorf("pdk-go: config: %w", err)
	}
	return &p.Connectors[idx], alias, cfg, nil
}

// findHooks finds the optional interfaces in.conn implements and names the
// one its kinds require that it lacks ("" when none).
func (in *instance) findHooks() (missing string) {
	conn, typ := in.conn, in.typ
	in.puller, _ = conn.(Puller)
	in.sender, _ = conn.(Sender)
	if typ.acks() {
		in.acker = conn.(Acker) // New checked the type when the plugin registered
	}
	in.starter, _ = conn.(Starter)
	in.pauser, _ = conn.(Pauser)
	in.drainer, _ = conn.(Drainer)
	switch {
	case typ.Kinds&Source != 0 && in.puller == nil:
		return "pdk.Puller (it is a source)"
	case typ.Kinds&Sink != 0 && in.sender == nil:
		return "pdk.Sender (it is a sink)"
	}
	return ""
}

// readConfig copies the config document out of host memory.
func readConfig(d *abi.ValueDoc) (Config, error) {
	nodes, err := cSlice(cPtr[abi.Value](d.Nodes), d.NodesLen)
	if err != nil {
		return Config{}, err
	}
	arena, err := cSlice(cPtr[byte](d.Bytes), d.BytesLen)
	if err != nil {
		return Config{}, err
	}
	if len(nodes) == 0 {
		return Config{m: map[string]any{}}, nil
	}
	v, err := abi.DecodeDoc(nodes, arena)
	if err != nil {
		return Config{}, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Config{}, fmt.Errorf("the root is not an object")
	}
	return Config{m: m}, nil
}

// closePanic is a panic in Close: the hook that ran Close answers it with
// TREMOR_ERR_PANIC, like a panic in any other method.
type closePanic struct{ msg string }

func (e *closePanic) Error() string { return e.msg }

// closeConnector calls Close once; a panic comes back as a *closePanic.
func closeConnector(in *instance, hook string) (err error) {
	if in.closed {
		return nil
	}
	in.closed = true
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("panic in Close (%s): %v", hook, r)
			in.poisonWith(msg)
			logPanic(in.host.log, msg, debug.Stack())
			err = &closePanic{msg: msg}
		}
	}()
	return in.conn.Close()
}

func destroy(h uintptr) {
	var in *instance
	defer func() {
		if r := recover(); r != nil && in != nil {
			in.host.log(LevelError, fmt.Sprintf("panic in on_destroy: %v", r))
			in.host.kill()
		}
	}()
	in = removeInstance(h)
	if in == nil {
		return // unknown or already destroyed: nothing to release
	}
	if err := closeConnector(in, "on_destroy"); err != nil {
		in.host.log(LevelError, "close: "+err.Error())
	}
	in.host.kill()
}

func connect(h uintptr, attempt uint32, cerr *abi.ErrorBuf) (rc int32) {
	var in *instance
	defer barrier(&in, "on_connect", cerr, &rc)
	in, rc = lookup(h, cerr)
	if in == nil {
		return rc
	}
	return result(in.conn.Connect(int(attempt)), "Connect", allowRetry, cerr)
}

var stepNames = [...]string{"on_start", "on_pause", "on_resume", "on_drain", "on_stop"}

func runStep(h uintptr, step int, cerr *abi.ErrorBuf) (rc int32) {
	var in *instance
	name := "on_step"
	if step >= 0 && step < len(stepNames) {
		name = stepNames[step]
	}
	defer barrier(&in, name, cerr, &rc)
	in, rc = lookup(h, cerr)
	if in == nil {
		return rc
	}
	var err error
	switch step {
	case stepStart:
		if in.starter != nil {
			err = in.starter.Start()
		}
	case stepPause:
		if in.pauser != nil {
			err = in.pauser.Pause()
		}
	case stepResume:
		if in.pauser != nil {
			err = in.pauser.Resume()
		}
	case stepDrain:
		if in.drainer != nil {
			err = in.drainer.Drain()
		}
	case stepStop:
		err = closeConnector(in, "on_stop")
		if cp, ok := err.(*closePanic); ok {
			setError(cerr, cp.msg)
			return codePanic
		}
	default:
		setError(cerr, fmt.Sprintf("pdk-go: unknown step %d", step))
		return codeInvalid
	}
	return result(err, name, 0, cerr)
}

func pull(h uintptr, b *abi.Batch, waitMs uint32, cerr *abi.ErrorBuf) (rc int32) {
	var in *instance
	defer barrier(&in, "on_pull", cerr, &rc)
	in, rc = lookup(h, cerr)
	if in == nil {
		return rc
	}
	if in.puller == nil {
		setError(cerr, "pdk-go: not a source")
		return codeUnsupported
	}
	if b == nil {
		setError(cerr, "pdk-go: on_pull called with a NULL room")
		return codeInvalid
	}
	room := &in.room
	if err := room.open(b, in.typ.Payload == Structured); err != nil {
		setError(cerr, "pdk-go: "+err.Error())
		return codeInvalid
	}
	published := false
	defer func() {
		if !published { // Pull panicked: detach the room, publish nothing
			room.close(b, false)
		}
	}()
	err := in.puller.Pull(room, time.Duration(waitMs)*time.Millisecond)
	if err == nil && room.nev == 0 && room.needSet {
		err = ErrNoRoom // the first event did not fit: the host must grow the room
	}
	rc = result(err, "Pull", allowEnd, cerr)
	if rc == codeNoRoom && room.nev > 0 {
		rc = codeOK // later events did not fit: they wait for the next pull
		if cerr != nil {
			cerr.Len = 0
		}
	}
	room.close(b, true)
	published = true
	return rc
}

func ackOrFail(h uintptr, ack bool, ids *uint64, count uint64, cerr *abi.ErrorBuf) (rc int32) {
	var in *instance
	hook := "on_fail"
	if ack {
		hook = "on_ack"
	}
	defer barrier(&in, hook, cerr, &rc)
	in, rc = lookup(h, cerr)
	if in == nil {
		return rc
	}
	list, err := cSlice(ids, count)
	if err != nil {
		setError(cerr, "pdk-go: ids: "+err.Error())
		return codeInvalid
	}
	if in.acker == nil {
		return codeOK
	}
	if ack {
		return result(in.acker.Ack(list), "Ack", 0, cerr)
	}
	return result(in.acker.Fail(list), "Fail", 0, cerr)
}

func send(h uintptr, b *abi.Batch, outcomes *Outcome, cerr *abi.ErrorBuf) (rc int32) {
	var in *instance
	defer barrier(&in, "on_send", cerr, &rc)
	in, rc = lookup(h, cerr)
	if in == nil {
		return rc
	}
	if in.sender == nil {
		setError(cerr, "pdk-go: not a sink")
		return codeUnsupported
	}
	if b == nil {
		setError(cerr, "pdk-go: on_send called with a NULL batch")
		return codeInvalid
	}
	bt := &in.batch
	if err := bt.open(b); err != nil {
		setError(cerr, "pdk-go: "+err.Error())
		return codeInvalid
	}
	defer bt.close()
	outs, err := cSlice(outcomes, uint64(bt.Len()))
	if err != nil {
		setError(cerr, "pdk-go: outcomes: "+err.Error())
		return codeInvalid
	}
	err = in.sender.Send(bt, outs)
	for i, o := range outs {
		if o > OutcomeRetry {
			outs[i] = OutcomeFailed // never hand the host a value it does not know
		}
	}
	return result(err, "Send", 0, cerr)
}
