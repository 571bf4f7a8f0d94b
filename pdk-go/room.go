package pdk

import (
	"errors"
	"fmt"
	"unsafe"

	"tremorhost/abi"
)

// Port is the output port of an event (TREMOR_PORT_*).
type Port uint32

const (
	PortOut Port = 0 // regular output
	PortErr Port = 1 // error output
)

// Event is one event for Room.Push. For a Bytes connector the payload is
// Payload; for a Structured connector it is Value (encoded into the room's
// value nodes; Payload is ignored).
type Event struct {
	ID       uint64 // unique among the instance's unacknowledged events
	Stream   uint64 // 0 if unused
	Port     Port
	IngestNs uint64 // ns since the Unix epoch; 0: the host stamps it
	Payload  []byte
	Value    any // nil, bool, integers, floats, string, []byte, []any, []string, map[string]any, *ValueBuilder
	Meta     any // nil for none; a map[string]any, or a *ValueBuilder on a hot path
	// EndStream marks the last event of its stream (TREMOR_EVENT_END_STREAM),
	// e.g. when a connection closes: the host then flushes and forgets what
	// it keeps for the stream, such as a last line without a newline held
	// by the lines pre-processor. The payload may be empty. It is an event
	// like any other: it needs an ID and is acked or failed.
	EndStream bool
}

var errRoomGone = errors.New("pdk: Room used outside the Pull it was given to")

// Room is the space the host gives Pull to write events into: its own C
// memory, written directly (no allocation per event). A Room is valid only
// during the Pull call it is passed to.
type Room struct {
	valid      bool
	structured bool
	events     []abi.Event
	values     []abi.Value
	arena      []byte
	nev, nval  int
	nbytes     int
	// needBytes/needValues: what the first event that did not fit needs.
	needBytes, needValues uint64
	needSet               bool
}

// open lays the room over the host's batch; it checks the batch first.
func (r *Room) open(b *abi.Batch, structured bool) error {
	if b.StructSize < minBatchSize {
		return fmt.Errorf("tremor_batch struct_size %d is smaller than ABI 1.0's %d", b.StructSize, minBatchSize)
	}
	if b.EventsLen > b.EventsCap || b.ValuesLen > b.ValuesCap || b.BytesLen > b.BytesCap {
		return fmt.Errorf("room has a *_len larger than its *_cap")
	}
	evs, err := cSlice(cPtr[abi.Event](b.Events), b.EventsCap)
	if err != nil {
		return fmt.Errorf("room events: %w", err)
	}
	vals, err := cSlice(cPtr[abi.Value](b.Values), b.ValuesCap)
	if err != nil {
		return fmt.Errorf("room values: %w", err)
	}
	arena, err := cSlice(cPtr[byte](b.Bytes), b.BytesCap)
	if err != nil {
		return fmt.Errorf("room bytes: %w", err)
	}
	*r = Room{valid: true, structured: structured, events: evs, values: vals, arena: arena,
		nev: int(b.EventsLen), nval: int(b.ValuesLen), nbytes: int(b.BytesLen)}
	return nil
}

// close writes the lengths back into the host's batch and detaches the room.
func (r *Room) close(b *abi.Batch, publish bool) {
	if publish {
		b.EventsLen, b.ValuesLen, b.BytesLen = uint64(r.nev), uint64(r.nval), uint64(r.nbytes)
		if r.needSet {
			b.BytesNeeded, b.ValuesNeeded = r.needBytes, r.needValues
		}
	}
	*r = Room{}
}

// cSlice lays a Go slice over n elements of C memory at p.
func cSlice[T any](p *T, n uint64) ([]T, error) {
	if n == 0 {
		return nil, nil
	}
	var zero T
	if p == nil {
		return nil, fmt.Errorf("NULL pointer with capacity %d", n)
	}
	if n > uint64(maxInt)/uint64(unsafe.Sizeof(zero)) {
		return nil, fmt.Errorf("capacity %d is too large", n)
	}
	return unsafe.Slice(p, int(n)), nil
}

const maxInt = int(^uint(0) >> 1)

// Len returns how many events the room holds so far.
func (r *Room) Len() int { return r.nev }

// Free returns how many more events, and how many more payload bytes, fit.
func (r *Room) Free() (events, bytes int) {
	return len(r.events) - r.nev, len(r.arena) - r.nbytes
}

// noRoom records what the refused event needs when it is the first one.
func (r *Room) noRoom(bytes, values uint64) error {
	if r.nev == 0 && !r.needSet {
		r.needBytes, r.needValues, r.needSet = bytes, values, true
	}
	return ErrNoRoom
}

// PushBytes appends an event with payload copied into the host's arena, on
// stream 0 and the out port. It returns ErrNoRoom when the event does not
// fit: keep it for the next Pull (see Puller).
func (r *Room) PushBytes(id uint64, payload []byte) error {
	dst, err := r.Reserve(id, len(payload))
	if err != nil {
		return err
	}
	copy(dst, payload)
	return nil
}

// Reserve appends an event whose payload is the n bytes it returns, inside
// the host's arena: fill them before Pull returns (this spares a copy when
// the payload can be written in place). ErrNoRoom as PushBytes.
func (r *Room) Reserve(id uint64, n int) ([]byte, error) {
	if !r.valid {
		return nil, errRoomGone
	}
	if r.structured {
		return nil, fmt.Errorf("pdk: PushBytes/Reserve on a Structured connector: use Push with Event.Value")
	}
	if n < 0 {
		return nil, fmt.Errorf("pdk: negative payload size %d", n)
	}
	if r.nev >= len(r.events) || n > len(r.arena)-r.nbytes {
		return nil, r.noRoom(uint64(n), 0)
	}
	off := r.nbytes
	r.events[r.nev] = abi.Event{ID: id, Payload: abi.Span{Offset: uint64(off), Len: uint64(n)}}
	r.nev++
	r.nbytes += n
	return r.arena[off : off+n : off+n], nil
}

// Push appends an event with stream, port, ingest time and metadata (see
// Event). ErrNoRoom as PushBytes; other errors mean the event cannot be
// encoded at all.
func (r *Room) Push(ev Event) error {
	if !r.valid {
		return errRoomGone
	}
	if ev.Port != PortOut && ev.Port != PortErr {
		return fmt.Errorf("pdk: unknown port %d", ev.Port)
	}
	if r.nev >= len(r.events) {
		return r.refuse(ev)
	}
	e := abi.Event{ID: ev.ID, Stream: ev.Stream, Port: uint32(ev.Port), IngestNs: ev.IngestNs}
	if ev.EndStream {
		e.Flags |= eventEndStream
	}
	// The encoder writes straight into the host's arenas and never grows
	// them; on any error both lengths are put back as they were.
	enc := abi.Encoder{Nodes: r.values[:r.nval], Bytes: r.arena[:r.nbytes], Fixed: true, SortKeys: true}
	var err error
	if r.structured {
		e.Flags |= eventStructured
		e.Payload, err = encodeValue(&enc, ev.Value)
		err = wrapValueErr("event value", err)
	} else {
		e.Payload, err = enc.AppendBytes(ev.Payload)
	}
	if err == nil && ev.Meta != nil {
		e.Meta, err = encodeValue(&enc, ev.Meta)
		err = wrapValueErr("event meta", err)
	}
	if errors.Is(err, abi.ErrNoRoom) {
		return r.refuse(ev)
	}
	if err != nil {
		return err
	}
	r.events[r.nev] = e
	r.nev++
	r.nval, r.nbytes = len(enc.Nodes), len(enc.Bytes)
	return nil
}

func wrapValueErr(what string, err error) error {
	if err == nil || errors.Is(err, abi.ErrNoRoom) {
		return err
	}
	return fmt.Errorf("pdk: %s: %w", what, err)
}

// refuse answers ErrNoRoom for ev, recording what it needs when it is the
// first event (the host then grows the room). Measuring encodes ev once
// more on the Go heap: it happens at most once per Pull.
func (r *Room) refuse(ev Event) error {
	if r.nev != 0 || r.needSet {
		return ErrNoRoom
	}
	var enc abi.Encoder
	if r.structured {
		if _, err := encodeValue(&enc, ev.Value); err != nil {
			return wrapValueErr("event value", err)
		}
	} else {
		enc.Bytes = make([]byte, 0, len(ev.Payload))
		enc.AppendBytes(ev.Payload)
	}
	if ev.Meta != nil {
		if _, err := encodeValue(&enc, ev.Meta); err != nil {
			return wrapValueErr("event meta", err)
		}
	}
	return r.noRoom(uint64(len(enc.Bytes)), uint64(len(enc.Nodes)))
}
