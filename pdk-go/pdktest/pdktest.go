// Package pdktest drives tremor plugins the way a host does, from Go tests,
// through C (driver.c): every hook is called through the vtable's function
// pointer, with arguments in C memory, exactly as the real host calls it.
// It knows nothing about pdk-go, so the same driver tests Go plugins
// in-process (FromDescriptor) and any plugin .so (Open).
package pdktest

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -ldl -lpthread
#include <stdlib.h>
#include <string.h>
#include "driver.h"

// Instance pointers stay integers on the Go side: they are opaque handles,
// not memory Go's GC should ever look at.
static int32_t drvh_create(const tremor_connector_vtable *vt, const tremor_create_args *args,
                           uintptr_t *out, tremor_error *err) {
  void *inst = NULL;
  int32_t rc = drv_create(vt, args, &inst, err);
  *out = (uintptr_t)inst;
  return rc;
}
static void drvh_destroy(const tremor_connector_vtable *vt, uintptr_t h) { drv_destroy(vt, (void *)h); }
static int32_t drvh_connect(const tremor_connector_vtable *vt, uintptr_t h, uint32_t a, tremor_error *e) {
  return drv_connect(vt, (void *)h, a, e);
}
static int32_t drvh_step(const tremor_connector_vtable *vt, int s, uintptr_t h, tremor_error *e) {
  return drv_step(vt, s, (void *)h, e);
}
static int32_t drvh_pull(const tremor_connector_vtable *vt, uintptr_t h, tremor_batch *r, uint32_t w,
                         tremor_error *e) {
  return drv_pull(vt, (void *)h, r, w, e);
}
static int32_t drvh_ids(const tremor_connector_vtable *vt, int ack, uintptr_t h, const uint64_t *ids,
                        uint64_t n, tremor_error *e) {
  return drv_ids(vt, ack, (void *)h, ids, n, e);
}
static int32_t drvh_send(const tremor_connector_vtable *vt, uintptr_t h, const tremor_batch *b,
                         uint8_t *o, tremor_error *e) {
  return drv_send(vt, (void *)h, b, o, e);
}
static int drvh_pipe(const tremor_connector_vtable *svt, uintptr_t s, const tremor_connector_vtable *kvt,
                     uintptr_t k, uint64_t ec, uint64_t vc, uint64_t bc, uint32_t w, uint64_t mp,
                     uint64_t mi, drv_pipe_stats *st) {
  return drv_pipe(svt, (void *)s, kvt, (void *)k, ec, vc, bc, w, mp, mi, st);
}
static const tremor_host_api *drvh_api(void) { return &drv_host_api; }

// The entry point of a plugin linked into this very binary (a Go plugin's
// package main imports pdk-go, whose shim.c defines it), if there is one:
// a weak reference resolves to NULL otherwise.
#pragma weak tremor_plugin_get_descriptor
static const tremor_plugin_descriptor *drvh_in_process(void) {
  return tremor_plugin_get_descriptor ? tremor_plugin_get_descriptor() : NULL;
}
static void drvh_echo(int on) { drv_log_echo = on; }
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"tremorhost/abi"
)

// Result codes, from abi (the header's Go mirror, checked against the
// header by abi's tests).
const (
	OK              = int32(abi.ResultOK)
	End             = int32(abi.ResultEnd)
	Retry           = int32(abi.ResultRetry)
	ErrFailed       = int32(abi.ResultErrFailed)
	ErrConfig       = int32(abi.ResultErrConfig)
	ErrNoRoom       = int32(abi.ResultErrNoRoom)
	ErrDisconnected = int32(abi.ResultErrDisconnected)
	ErrUnsupported  = int32(abi.ResultErrUnsupported)
	ErrInvalid      = int32(abi.ResultErrInvalid)
	ErrPanic        = int32(abi.ResultErrPanic)
)

// Value kinds and flags, from abi.
const (
	KindNull   = uint8(abi.ValueNull)
	KindBool   = uint8(abi.ValueBool)
	KindInt    = uint8(abi.ValueInt)
	KindUint   = uint8(abi.ValueUint)
	KindFloat  = uint8(abi.ValueFloat)
	KindString = uint8(abi.ValueString)
	KindBytes  = uint8(abi.ValueBytes)
	KindArray  = uint8(abi.ValueArray)
	KindObject = uint8(abi.ValueObject)

	FlagStructured = uint32(abi.EventStructured)
	FlagEndStream  = uint32(abi.EventEndStream)
	KindSource     = uint32(abi.KindSource)
	KindSink       = uint32(abi.KindSink)
	FieldRequired  = uint32(abi.FieldRequired)
	FieldSecret    = uint32(abi.FieldSecret)
)

// CodeName returns the header's text for a result code.
func CodeName(code int32) string { return C.GoString(C.tremor_result_str(C.int32_t(code))) }

// Result is a hook's answer and the message it wrote.
type Result struct {
	Code int32
	Msg  string
}

func (r Result) String() string {
	if r.Msg == "" {
		return fmt.Sprintf("%d (%s)", r.Code, CodeName(r.Code))
	}
	return fmt.Sprintf("%d (%s): %s", r.Code, CodeName(r.Code), r.Msg)
}

// Node is a tremor_value, Span a tremor_span and RawEvent a tremor_event:
// abi's mirrors of the header.
type (
	Node     = abi.Value
	Span     = abi.Span
	RawEvent = abi.Event
)

// ---------------------------------------------------------------------------
// Libraries and descriptors

// Lib is a loaded plugin (its descriptor).
type Lib struct {
	desc *C.tremor_plugin_descriptor
}

// Open dlopens a plugin and calls its entry point.
func Open(path string) (*Lib, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	d := C.drv_open(cpath, &buf[0], C.size_t(len(buf)))
	if d == nil {
		return nil, errors.New(C.GoString(&buf[0]))
	}
	return &Lib{desc: d}, nil
}

// InProcess returns the plugin linked into the running binary: in the tests
// of a Go plugin's main package, that package registered itself with pdk-go
// in init, so its hooks can be driven without building the .so (and in the
// same Go runtime, so testing.AllocsPerRun sees the plugin's allocations).
func InProcess() (*Lib, error) {
	d := C.drvh_in_process()
	if d == nil {
		return nil, errors.New("pdktest: no plugin linked into this binary")
	}
	return &Lib{desc: d}, nil
}

// FromDescriptor wraps a descriptor pointer (a const tremor_plugin_descriptor *).
func FromDescriptor(p unsafe.Pointer) *Lib {
	return &Lib{desc: (*C.tremor_plugin_descriptor)(p)}
}

// Info is a descriptor, copied into Go.
type Info struct {
	StructSize         uint32
	ABIMajor, ABIMinor uint16
	Name, Version      string
	Description        string
	License, SDK       string
	Connectors         []ConnectorInfo
}

type ConnectorInfo struct {
	StructSize  uint32
	Name        string
	Description string
	Kinds       uint32
	Payload     uint32
	Fields      []FieldInfo
	Hooks       map[string]bool // which vtable entries are non-NULL
	VtableSize  uint32
}

type FieldInfo struct {
	Name       string
	Type       uint32
	Flags      uint32
	Default    string
	HasDefault bool
	Doc        string
}

func gostr(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// Info copies the descriptor into Go.
func (l *Lib) Info() Info {
	d := l.desc
	in := Info{
		StructSize: uint32(d.struct_size), ABIMajor: uint16(d.abi_major), ABIMinor: uint16(d.abi_minor),
		Name: gostr(d.name), Version: gostr(d.version), Description: gostr(d.description),
		License: gostr(d.license), SDK: gostr(d.sdk),
	}
	if d.connectors_len == 0 || d.connectors == nil {
		return in
	}
	for _, t := range unsafe.Slice(d.connectors, int(d.connectors_len)) {
		ci := ConnectorInfo{
			StructSize: uint32(t.struct_size), Name: gostr(t.name), Description: gostr(t.description),
			Kinds: uint32(t.kinds), Payload: uint32(t.payload), Hooks: map[string]bool{},
		}
		if t.fields_len > 0 {
			for _, f := range unsafe.Slice(t.fields, int(t.fields_len)) {
				ci.Fields = append(ci.Fields, FieldInfo{
					Name: gostr(f.name), Type: uint32(f._type), Flags: uint32(f.flags),
					Default: gostr(f.default_json), HasDefault: f.default_json != nil, Doc: gostr(f.doc),
				})
			}
		}
		if vt := t.vtable; vt != nil {
			ci.VtableSize = uint32(vt.struct_size)
			for name, p := range map[string]unsafe.Pointer{
				"on_create": unsafe.Pointer(vt.on_create), "on_destroy": unsafe.Pointer(vt.on_destroy),
				"on_connect": unsafe.Pointer(vt.on_connect), "on_start": unsafe.Pointer(vt.on_start),
				"on_pause": unsafe.Pointer(vt.on_pause), "on_resume": unsafe.Pointer(vt.on_resume),
				"on_drain": unsafe.Pointer(vt.on_drain), "on_stop": unsafe.Pointer(vt.on_stop),
				"on_pull": unsafe.Pointer(vt.on_pull), "on_ack": unsafe.Pointer(vt.on_ack),
				"on_fail": unsafe.Pointer(vt.on_fail), "on_send": unsafe.Pointer(vt.on_send),
			} {
				ci.Hooks[name] = p != nil
			}
		}
		in.Connectors = append(in.Connectors, ci)
	}
	return in
}

func (l *Lib) connector(name string) (*C.tremor_connector_type, error) {
	d := l.desc
	if d.connectors_len == 0 {
		return nil, fmt.Errorf("plugin has no connectors")
	}
	for _, t := range unsafe.Slice(d.connectors, int(d.connectors_len)) {
		if gostr(t.name) == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no connector type %q", name)
}

// ---------------------------------------------------------------------------
// Instances

// Inst is one connector instance.
type Inst struct {
	vt     *C.tremor_connector_vtable
	h      C.uintptr_t
	ctx    *C.tremor_host_ctx
	CtxID  uint64
	ErrCap int // capacity of the error buffer handed to hooks (default 1024)

	outcomes *C.uint8_t // reused across Send calls
	nout     int
}

var ctxIDs struct {
	sync.Mutex
	next uint64
}

// CreateOptions tweak Create for contract tests.
type CreateOptions struct {
	ArgsSize uint32 // struct_size of tremor_create_args; 0: the real size
	NoHost   bool   // pass a NULL host table
}

// Create makes an instance with a config given as Go values.
func (l *Lib) Create(typ, alias string, cfg map[string]any) (*Inst, Result) {
	var d Doc
	if cfg != nil {
		d.Add(cfg)
	}
	return l.CreateDoc(typ, alias, d.Nodes, d.Arena, CreateOptions{})
}

// CreateDoc makes an instance from a raw config document.
func (l *Lib) CreateDoc(typ, alias string, nodes []Node, arena []byte, o CreateOptions) (*Inst, Result) {
	t, err := l.connector(typ)
	if err != nil {
		return nil, Result{ErrInvalid, err.Error()}
	}
	ctxIDs.Lock()
	ctxIDs.next++
	id := ctxIDs.next
	ctxIDs.Unlock()
	in := &Inst{vt: t.vtable, ctx: C.drv_ctx_new(C.uint64_t(id)), CtxID: id, ErrCap: 1024}

	args := (*C.tremor_create_args)(C.calloc(1, C.sizeof_tremor_create_args))
	defer C.free(unsafe.Pointer(args))
	args.struct_size = C.uint32_t(C.sizeof_tremor_create_args)
	if o.ArgsSize != 0 {
		args.struct_size = C.uint32_t(o.ArgsSize)
	}
	if !o.NoHost {
		args.host = C.drvh_api()
	}
	args.ctx = in.ctx
	calias := cbytes([]byte(alias))
	defer C.free(unsafe.Pointer(calias))
	args.alias, args.alias_len = (*C.uint8_t)(calias), C.uint64_t(len(alias))
	cnodes := cbytes(nodesBytes(nodes))
	defer C.free(unsafe.Pointer(cnodes))
	carena := cbytes(arena)
	defer C.free(unsafe.Pointer(carena))
	args.config.nodes = (*C.tremor_value)(unsafe.Pointer(cnodes))
	args.config.nodes_len = C.uint64_t(len(nodes))
	args.config.bytes = (*C.uint8_t)(carena)
	args.config.bytes_len = C.uint64_t(len(arena))
	// The host owns the config only for the duration of on_create: scribble
	// over it afterwards, so a plugin that kept pointers into it shows up.
	defer func() {
		C.memset(unsafe.Pointer(cnodes), 0xA5, C.size_t(len(nodes))*C.sizeof_tremor_value+1)
		C.memset(unsafe.Pointer(carena), 0xA5, C.size_t(len(arena))+1)
	}()

	var r Result
	in.call(func(e *C.tremor_error) C.int32_t { return C.drvh_create(in.vt, args, &in.h, e) }, &r)
	if r.Code != OK {
		C.drv_ctx_kill(in.ctx)
		return nil, r
	}
	return in, r
}

// cbytes copies b into C memory (at least 1 byte, never NULL).
func cbytes(b []byte) unsafe.Pointer {
	p := C.malloc(C.size_t(len(b) + 1))
	if len(b) > 0 {
		copy(unsafe.Slice((*byte)(p), len(b)), b)
	}
	return p
}

func nodesBytes(nodes []Node) []byte {
	if len(nodes) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&nodes[0])), len(nodes)*int(unsafe.Sizeof(Node{})))
}

// call runs a hook with a fresh error buffer and fills r.
func (in *Inst) call(f func(*C.tremor_error) C.int32_t, r *Result) {
	ecap := in.ErrCap
	buf := (*C.uint8_t)(C.malloc(C.size_t(ecap + 16)))
	defer C.free(unsafe.Pointer(buf))
	// A canary past the end catches writes beyond cap.
	canary := unsafe.Slice((*byte)(unsafe.Pointer(buf)), ecap+16)[ecap:]
	for i := range canary {
		canary[i] = 0xCC
	}
	e := (*C.tremor_error)(C.calloc(1, C.sizeof_tremor_error))
	defer C.free(unsafe.Pointer(e))
	e.msg, e.cap = buf, C.uint64_t(ecap)
	r.Code = int32(f(e))
	n := uint64(e.len)
	if n > uint64(ecap) {
		r.Msg = fmt.Sprintf("CONTRACT: plugin set err.len %d > cap %d", n, ecap)
		return
	}
	for _, c := range canary {
		if c != 0xCC {
			r.Msg = "CONTRACT: plugin wrote past err.cap"
			return
		}
	}
	r.Msg = string(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n)))
}

// WithHandle returns a copy of the instance that passes h as the instance
// pointer (for stale-handle tests).
func (in *Inst) WithHandle(h uintptr) *Inst {
	c := *in
	c.h = C.uintptr_t(h)
	c.outcomes, c.nout = nil, 0
	return &c
}

// Handle returns the instance pointer the plugin returned, as an integer.
func (in *Inst) Handle() uintptr { return uintptr(in.h) }

func (in *Inst) Connect(attempt uint32) Result {
	var r Result
	in.call(func(e *C.tremor_error) C.int32_t { return C.drvh_connect(in.vt, in.h, C.uint32_t(attempt), e) }, &r)
	return r
}

func (in *Inst) step(s int) Result {
	var r Result
	in.call(func(e *C.tremor_error) C.int32_t { return C.drvh_step(in.vt, C.int(s), in.h, e) }, &r)
	return r
}

func (in *Inst) Start() Result  { return in.step(0) }
func (in *Inst) Pause() Result  { return in.step(1) }
func (in *Inst) Resume() Result { return in.step(2) }
func (in *Inst) Drain() Result  { return in.step(3) }
func (in *Inst) Stop() Result   { return in.step(4) }

// Destroy destroys the instance and marks its ctx dead.
func (in *Inst) Destroy() {
	C.drvh_destroy(in.vt, in.h)
	C.drv_ctx_kill(in.ctx)
	if in.outcomes != nil {
		C.free(unsafe.Pointer(in.outcomes))
		in.outcomes = nil
	}
}

func (in *Inst) ids(ack int, ids []uint64) Result {
	p := (*C.uint64_t)(cbytes(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(ids))), len(ids)*8)))
	defer C.free(unsafe.Pointer(p))
	var r Result
	in.call(func(e *C.tremor_error) C.int32_t {
		return C.drvh_ids(in.vt, C.int(ack), in.h, p, C.uint64_t(len(ids)), e)
	}, &r)
	return r
}

func (in *Inst) Ack(ids []uint64) Result  { return in.ids(1, ids) }
func (in *Inst) Fail(ids []uint64) Result { return in.ids(0, ids) }

// ---------------------------------------------------------------------------
// Pull

// Room is the capacity of a room handed to on_pull.
type Room struct{ Events, Values, Bytes int }

// Event is an event copied out of a batch.
type Event struct {
	ID, Stream, IngestNs uint64
	Port, Flags          uint32
	Payload              []byte // bytes events
	Value                any    // structured events
	Meta                 any
}

// PullResult is what on_pull answered and wrote.
type PullResult struct {
	Result
	Events                    []Event
	EventsLen, ValuesLen      uint64
	BytesLen                  uint64
	BytesNeeded, ValuesNeeded uint64
	Violation                 string // how the plugin broke the batch rules, if it did
}

// Pull calls on_pull with an empty room of the given capacity.
func (in *Inst) Pull(room Room, waitMs uint32) PullResult {
	b := (*C.tremor_batch)(C.calloc(1, C.sizeof_tremor_batch))
	defer C.free(unsafe.Pointer(b))
	b.struct_size = C.uint32_t(C.sizeof_tremor_batch)
	b.events = (*C.tremor_event)(C.calloc(C.size_t(room.Events+1), C.sizeof_tremor_event))
	defer C.free(unsafe.Pointer(b.events))
	b.values = (*C.tremor_value)(C.calloc(C.size_t(room.Values+1), C.sizeof_tremor_value))
	defer C.free(unsafe.Pointer(b.values))
	b.bytes = (*C.uint8_t)(C.calloc(C.size_t(room.Bytes+1), 1))
	defer C.free(unsafe.Pointer(b.bytes))
	b.events_cap, b.values_cap, b.bytes_cap = C.uint64_t(room.Events), C.uint64_t(room.Values), C.uint64_t(room.Bytes)

	var pr PullResult
	in.call(func(e *C.tremor_error) C.int32_t { return C.drvh_pull(in.vt, in.h, b, C.uint32_t(waitMs), e) }, &pr.Result)
	pr.EventsLen, pr.ValuesLen, pr.BytesLen = uint64(b.events_len), uint64(b.values_len), uint64(b.bytes_len)
	pr.BytesNeeded, pr.ValuesNeeded = uint64(b.bytes_needed), uint64(b.values_needed)
	if pr.EventsLen > uint64(room.Events) || pr.ValuesLen > uint64(room.Values) || pr.BytesLen > uint64(room.Bytes) {
		pr.Violation = fmt.Sprintf("lengths %d/%d/%d beyond capacities %v", pr.EventsLen, pr.ValuesLen, pr.BytesLen, room)
		return pr
	}
	evs := unsafe.Slice((*RawEvent)(unsafe.Pointer(b.events)), int(pr.EventsLen))
	nodes := unsafe.Slice((*Node)(unsafe.Pointer(b.values)), int(pr.ValuesLen))
	arena := unsafe.Slice((*byte)(unsafe.Pointer(b.bytes)), int(pr.BytesLen))
	for i, re := range evs {
		ev, err := readEvent(re, nodes, arena)
		if err != nil {
			pr.Violation = fmt.Sprintf("event %d: %v", i, err)
			return pr
		}
		pr.Events = append(pr.Events, ev)
	}
	return pr
}

func readEvent(re RawEvent, nodes []Node, arena []byte) (Event, error) {
	ev := Event{ID: re.ID, Stream: re.Stream, IngestNs: re.IngestNs, Port: re.Port, Flags: re.Flags}
	if re.Flags&^(FlagStructured|FlagEndStream) != 0 {
		return ev, fmt.Errorf("unknown flags %#x", re.Flags)
	}
	if re.Flags&FlagStructured != 0 {
		v, err := abi.Decode(nodes, arena, re.Payload)
		if err != nil {
			return ev, fmt.Errorf("payload: %w", err)
		}
		ev.Value = v
	} else {
		if re.Payload.Offset > uint64(len(arena)) || re.Payload.Len > uint64(len(arena))-re.Payload.Offset {
			return ev, fmt.Errorf("payload [%d,+%d) outside %d bytes", re.Payload.Offset, re.Payload.Len, len(arena))
		}
		ev.Payload = append([]byte{}, arena[re.Payload.Offset:re.Payload.Offset+re.Payload.Len]...)
	}
	if re.Meta.Len > 0 {
		v, err := abi.Decode(nodes, arena, re.Meta)
		if err != nil {
			return ev, fmt.Errorf("meta: %w", err)
		}
		ev.Meta = v
	}
	return ev, nil
}

// ---------------------------------------------------------------------------
// Send

// Send builds a batch from events (Payload for bytes events, Value with
// FlagStructured for structured ones, Meta optional) and calls on_send.
func (in *Inst) Send(events []Event) ([]uint8, Result) {
	var d Doc
	raw := make([]RawEvent, len(events))
	for i, ev := range events {
		re := RawEvent{ID: ev.ID, Stream: ev.Stream, IngestNs: ev.IngestNs, Port: ev.Port, Flags: ev.Flags}
		if ev.Flags&FlagStructured != 0 {
			root, n := d.Add(ev.Value)
			re.Payload = Span{Offset: uint64(root), Len: uint64(n)}
		} else {
			re.Payload = Span{Offset: uint64(len(d.Arena)), Len: uint64(len(ev.Payload))}
			d.Arena = append(d.Arena, ev.Payload...)
		}
		if ev.Meta != nil {
			root, n := d.Add(ev.Meta)
			re.Meta = Span{Offset: uint64(root), Len: uint64(n)}
		}
		raw[i] = re
	}
	return in.SendRaw(raw, d.Nodes, d.Arena, 0)
}

// SendRaw calls on_send with a batch built exactly from its arguments
// (structSize 0: the real sizeof(tremor_batch)).
func (in *Inst) SendRaw(events []RawEvent, nodes []Node, arena []byte, structSize uint32) ([]uint8, Result) {
	b := (*C.tremor_batch)(C.calloc(1, C.sizeof_tremor_batch))
	defer C.free(unsafe.Pointer(b))
	b.struct_size = C.uint32_t(C.sizeof_tremor_batch)
	if structSize != 0 {
		b.struct_size = C.uint32_t(structSize)
	}
	ev := cbytes(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(events))), len(events)*int(unsafe.Sizeof(RawEvent{}))))
	defer C.free(ev)
	nv := cbytes(nodesBytes(nodes))
	defer C.free(nv)
	ar := cbytes(arena)
	defer C.free(ar)
	b.events, b.events_len, b.events_cap = (*C.tremor_event)(ev), C.uint64_t(len(events)), C.uint64_t(len(events))
	b.values, b.values_len, b.values_cap = (*C.tremor_value)(nv), C.uint64_t(len(nodes)), C.uint64_t(len(nodes))
	b.bytes, b.bytes_len, b.bytes_cap = (*C.uint8_t)(ar), C.uint64_t(len(arena)), C.uint64_t(len(arena))
	if in.nout < len(events) {
		C.free(unsafe.Pointer(in.outcomes))
		in.outcomes = (*C.uint8_t)(C.malloc(C.size_t(len(events) + 1)))
		in.nout = len(events)
	}
	outs := unsafe.Slice((*uint8)(unsafe.Pointer(in.outcomes)), len(events))
	for i := range outs {
		outs[i] = uint8(C.TREMOR_OUTCOME_FAILED)
	}
	var r Result
	in.call(func(e *C.tremor_error) C.int32_t { return C.drvh_send(in.vt, in.h, b, in.outcomes, e) }, &r)
	return append([]uint8{}, outs...), r
}

// Outcomes (TREMOR_OUTCOME_*).
const (
	OutcomeOK     = uint8(C.TREMOR_OUTCOME_OK)
	OutcomeFailed = uint8(C.TREMOR_OUTCOME_FAILED)
	OutcomeRetry  = uint8(C.TREMOR_OUTCOME_RETRY)
)

// ---------------------------------------------------------------------------
// Pipe

// PipeStats is what Pipe counted.
type PipeStats struct {
	Pulls, Sends, Events, Bytes, OK, Retry, Failed uint64
	PullRC, SendRC                                 int32
	Err                                            string
}

// Pipe pulls from src and sends each room as-is to sink, in C (see
// drv_pipe in driver.h).
func Pipe(src, sink *Inst, room Room, waitMs uint32, maxPulls, maxIdle uint64) PipeStats {
	var st C.drv_pipe_stats
	C.drvh_pipe(src.vt, src.h, sink.vt, sink.h, C.uint64_t(room.Events), C.uint64_t(room.Values),
		C.uint64_t(room.Bytes), C.uint32_t(waitMs), C.uint64_t(maxPulls), C.uint64_t(maxIdle), &st)
	return PipeStats{
		Pulls: uint64(st.pulls), Sends: uint64(st.sends), Events: uint64(st.events), Bytes: uint64(st.bytes),
		OK: uint64(st.ok), Retry: uint64(st.retry), Failed: uint64(st.failed),
		PullRC: int32(st.pull_rc), SendRC: int32(st.send_rc), Err: C.GoString(&st.err[0]),
	}
}

// ---------------------------------------------------------------------------
// Logs

// LogLine is one line a plugin logged through the host table.
type LogLine struct {
	Ctx   uint64
	Level int32
	Msg   string
}

var logs struct {
	sync.Mutex
	lines []LogLine
}

func collect() {
	var n C.size_t
	p := C.drv_logs_take(&n)
	if p == nil {
		return
	}
	defer C.free(unsafe.Pointer(p))
	b := unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
	for len(b) >= 16 {
		l := int(binary.LittleEndian.Uint32(b[12:]))
		logs.lines = append(logs.lines, LogLine{
			Ctx: binary.LittleEndian.Uint64(b), Level: int32(binary.LittleEndian.Uint32(b[8:])), Msg: string(b[16 : 16+l]),
		})
		b = b[16+l:]
	}
}

// Logs returns the lines logged so far by the instance with this ctx id.
func Logs(ctx uint64) []LogLine {
	logs.Lock()
	defer logs.Unlock()
	collect()
	var out []LogLine
	for _, l := range logs.lines {
		if l.Ctx == ctx {
			out = append(out, l)
		}
	}
	return out
}

// Logs returns the lines this instance logged so far.
func (in *Inst) Logs() []LogLine { return Logs(in.CtxID) }

// DeadCtxLogs counts log calls made with a ctx after its instance was destroyed.
func DeadCtxLogs() uint64 { return uint64(C.drv_dead_ctx_logs()) }

// EchoLogs makes the host log print to stderr too.
func EchoLogs(on bool) {
	v := 0
	if on {
		v = 1
	}
	C.drvh_echo(C.int(v))
}

// ---------------------------------------------------------------------------
// Values

// Doc builds a value document: nodes plus a byte arena.
type Doc struct {
	Nodes []Node
	Arena []byte
}

// Add appends v (nil, bool, integers, floats, string, []byte, []any,
// map[string]any; objects in key order) and returns its root index and
// node count. It panics on a value abi cannot encode: the test is wrong.
func (d *Doc) Add(v any) (root, count int) {
	e := abi.Encoder{Nodes: d.Nodes, Bytes: d.Arena, SortKeys: true}
	sp, err := e.Encode(v)
	if err != nil {
		panic(fmt.Sprintf("pdktest: %v", err))
	}
	d.Nodes, d.Arena = e.Nodes, e.Bytes
	return int(sp.Offset), int(sp.Len)
}
