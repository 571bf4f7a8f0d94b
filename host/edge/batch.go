package edge

import (
	"errors"
	"fmt"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
)

// Caps is the room of a batch: events, value nodes and arena bytes.
type Caps struct {
	Events int
	Values int
	Bytes  int
}

// DefaultCaps suits most sources: 256 events of about 1 KiB.
var DefaultCaps = Caps{Events: 256, Values: 4096, Bytes: 256 << 10}

// Growth limits: a source asking for more room for one event than this
// (TREMOR_ERR_NO_ROOM with bytes_needed / values_needed) is refused.
const (
	MaxBatchBytes  = 256 << 20
	MaxBatchValues = 4 << 20
	maxBatchEvents = 1 << 20
)

var (
	batchHeaderSize = abi.SizeofBatch
	eventSize       = abi.SizeofEvent
	valueSize       = abi.SizeofValue
)

// Batch is a tremor_batch with its arenas, all in one mapping off the Go
// heap, allocated once and reused: pulled into by a source, filled by the
// host and sent to a sink, or both (pull from one instance, send the same
// batch to another). Not safe for concurrent use. Slices returned by its
// accessors view the arenas and stay valid until the next Reset, Pull or
// Append.
type Batch struct {
	arena *cmem.Arena
	hdr   *abi.Batch
	caps  Caps

	events []abi.Event // cap caps.Events
	values []abi.Value // cap caps.Values
	bytes  []byte      // cap caps.Bytes

	// The arenas in the mapping (full length). events and values view them,
	// except after a pull into shared memory: then they are private copies
	// (cEvents, cValues) of what was checked, because a plugin in another
	// process can keep writing into the mapping (see adoptPulled).
	mEvents   []abi.Event
	mValues   []abi.Value
	cEvents   []abi.Event
	cValues   []abi.Value
	copied    bool
	prep      abi.Batch // the header last prepared for a hook
	remote    abi.Batch // the header a plugin in another process left
	hasRemote bool

	evAddr, valAddr, byteAddr uintptr
	n                         int // valid events
	enc                       abi.Encoder
	shared                    *sharing // set once shared with another process (shared.go)
}

// NewBatch maps a batch with the given room.
func NewBatch(c Caps) (*Batch, error) {
	if c.Events <= 0 || c.Events > maxBatchEvents || c.Values < 0 || c.Values > MaxBatchValues || c.Bytes < 0 || c.Bytes > MaxBatchBytes {
		return nil, fmt.Errorf("batch room %+v out of range (events 1..%d, values 0..%d, bytes 0..%d)", c, maxBatchEvents, MaxBatchValues, MaxBatchBytes)
	}
	b := &Batch{}
	if err := b.mapArena(c); err != nil {
		return nil, err
	}
	return b, nil
}

// layout places the header and arenas of a batch with room c in one
// mapping of size bytes.
func layout(c Caps) (evOff, valOff, byteOff uintptr, size int) {
	evOff = (batchHeaderSize + 63) &^ 63
	valOff = evOff + uintptr(c.Events)*eventSize
	byteOff = valOff + uintptr(c.Values)*valueSize
	return evOff, valOff, byteOff, int(byteOff) + c.Bytes + 1
}

func (b *Batch) mapArena(c Caps) error {
	evOff, valOff, byteOff, size := layout(c)
	a, err := b.mapMem(size)
	if err != nil {
		return err
	}
	b.arena.Free()
	b.arena, b.caps = a, c
	b.hdr = cmem.At[abi.Batch](a, 0)
	b.mEvents = cmem.Slice[abi.Event](a, evOff, c.Events)
	b.mValues = cmem.Slice[abi.Value](a, valOff, c.Values)
	b.cEvents, b.cValues = nil, nil
	b.bytes = cmem.Slice[byte](a, byteOff, c.Bytes)[:0]
	base := a.Addr()
	b.evAddr, b.valAddr, b.byteAddr = base+evOff, base+valOff, base+byteOff
	b.Reset()
	return nil
}

// Free unmaps the batch. It must not be used afterwards.
func (b *Batch) Free() {
	b.arena.Free()
	b.arena, b.hdr = nil, nil
	b.events, b.values, b.bytes = nil, nil, nil
	b.mEvents, b.mValues, b.cEvents, b.cValues = nil, nil, nil, nil
	b.n, b.enc = 0, abi.Encoder{Fixed: true} // no view of the unmapped arena is left
}

// Caps returns the batch's room.
func (b *Batch) Caps() Caps { return b.caps }

// MappingSize is the size in bytes of the one mapping a batch of room c
// takes (header, events, values, bytes).
func (c Caps) MappingSize() int {
	_, _, _, size := layout(c)
	return size
}

// Reset empties the batch.
func (b *Batch) Reset() {
	b.n = 0
	b.events, b.values, b.bytes = b.mEvents[:0], b.mValues[:0], b.bytes[:0]
	b.copied, b.hasRemote = false, false
	b.enc = abi.Encoder{Nodes: b.values, Bytes: b.bytes, Fixed: true}
}

// Len is the number of events in the batch.
func (b *Batch) Len() int { return b.n }

// Event returns event i (a view into the arena; do not keep it).
func (b *Batch) Event(i int) *abi.Event { return &b.events[i] }

// Payload returns the raw payload of event i (a view into the byte arena),
// or nil for a structured event.
func (b *Batch) Payload(i int) []byte {
	e := &b.events[i]
	if e.Flags&abi.EventStructured != 0 {
		return nil
	}
	return b.bytes[e.Payload.Offset : e.Payload.Offset+e.Payload.Len : e.Payload.Offset+e.Payload.Len]
}

// Value decodes the structured payload of event i.
func (b *Batch) Value(i int) (any, error) {
	e := &b.events[i]
	if e.Flags&abi.EventStructured == 0 {
		return nil, errors.New("event is not structured")
	}
	return abi.Decode(b.values, b.bytes, e.Payload)
}

// Meta decodes the metadata of event i (nil when it has none).
func (b *Batch) Meta(i int) (any, error) {
	e := &b.events[i]
	if e.Meta.Len == 0 {
		return nil, nil
	}
	return abi.Decode(b.values, b.bytes, e.Meta)
}

// ValueDoc is Value as a flat Doc built in a (see abi.Doc): checked and
// copied out of the batch, without a Go allocation per event.
func (b *Batch) ValueDoc(i int, a *abi.DocArena) (*abi.Doc, error) {
	e := &b.events[i]
	if e.Flags&abi.EventStructured == 0 {
		return nil, errors.New("event is not structured")
	}
	return b.copyValue(e.Payload, a)
}

// copyValue copies the value in span into a: checked again, unless the
// pull checked it in the host's own copy of the nodes (adoptPulled, a
// plugin in another process), which nothing can have changed since.
func (b *Batch) copyValue(span abi.Span, a *abi.DocArena) (*abi.Doc, error) {
	if b.copied {
		return a.CopyChecked(b.values, b.bytes, span), nil
	}
	return a.Copy(b.values, b.bytes, span)
}

// MetaDoc is Meta as a flat Doc built in a; nil when the event has none.
func (b *Batch) MetaDoc(i int, a *abi.DocArena) (*abi.Doc, error) {
	e := &b.events[i]
	if e.Meta.Len == 0 {
		return nil, nil
	}
	return b.copyValue(e.Meta, a)
}

// Event is what the host appends to a batch for a sink.
type Event struct {
	ID       uint64
	Stream   uint64
	IngestNs uint64
	Port     uint32
	// Raw payload (for bytes connectors); ignored when Structured is set.
	Payload []byte
	// Structured payload (for structured connectors).
	Structured bool
	Value      any
	// Metadata, usually a map[string]any or an *abi.Doc; nil for none.
	Meta any
}

// Append adds an event, copying its payload and encoding its values into
// the arenas. It returns ErrBatchFull (and leaves the batch unchanged) when
// the event does not fit, or an encoding error. It does not allocate.
func (b *Batch) Append(ev *Event) error { return b.append(ev, false) }

// Tail is the free room of the byte arena: an empty slice whose capacity is
// what is left. A payload written there in place (by appending to Tail())
// is added with AppendTail without the copy Append makes. Like every view
// of the arenas it is valid until the next Reset, Pull or Append.
func (b *Batch) Tail() []byte {
	n := len(b.enc.Bytes)
	return b.enc.Bytes[n:n:cap(b.enc.Bytes)]
}

// AppendTail adds ev (a raw event: ev.Structured and ev.Payload are
// ignored) whose payload p was written in place at the start of Tail().
// When p is not there (an append that outgrew the room moved it to the Go
// heap), it is copied as Append would, which then reports ErrBatchFull.
// The performance path of sinks that encode straight into the batch.
func (b *Batch) AppendTail(ev *Event, p []byte) error {
	t := b.Tail()
	inPlace := len(p) <= cap(t) && (len(p) == 0 || &p[0] == &t[:1][0])
	e := *ev
	e.Structured, e.Payload = false, p
	return b.append(&e, inPlace)
}

// AppendReserve adds ev (raw; ev.Structured and ev.Payload are ignored)
// with a payload of n bytes reserved in the byte arena, and returns those
// bytes for the caller to fill before the batch is used, as
// tremor_batch_reserve_bytes does for C plugins. ErrBatchFull when it does
// not fit.
func (b *Batch) AppendReserve(ev *Event, n int) ([]byte, error) {
	t := b.Tail()
	if n < 0 || n > cap(t) {
		return nil, ErrBatchFull
	}
	p := t[:n]
	if err := b.AppendTail(ev, p); err != nil {
		return nil, err
	}
	return p, nil
}

// append adds ev; inPlace says that ev.Payload already sits at the start
// of the free byte room and only needs to be taken.
func (b *Batch) append(ev *Event, inPlace bool) error {
	if b.n == cap(b.events) {
		return ErrBatchFull
	}
	nv, nb := len(b.enc.Nodes), len(b.enc.Bytes)
	undo := func(err error) error {
		b.enc.Nodes, b.enc.Bytes = b.enc.Nodes[:nv], b.enc.Bytes[:nb]
		if errors.Is(err, abi.ErrNoRoom) {
			return ErrBatchFull
		}
		return err
	}
	out := abi.Event{ID: ev.ID, Stream: ev.Stream, IngestNs: ev.IngestNs, Port: ev.Port}
	var err error
	switch {
	case ev.Structured:
		out.Flags = abi.EventStructured
		if out.Payload, err = b.enc.Encode(ev.Value); err != nil {
			return undo(err)
		}
	case inPlace:
		out.Payload = abi.Span{Offset: uint64(nb), Len: uint64(len(ev.Payload))}
		b.enc.Bytes = b.enc.Bytes[:nb+len(ev.Payload)]
	default:
		if out.Payload, err = b.enc.AppendBytes(ev.Payload); err != nil {
			return undo(err)
		}
	}
	if ev.Meta != nil {
		if out.Meta, err = b.enc.Encode(ev.Meta); err != nil {
			return undo(err)
		}
	}
	b.events = b.events[:b.n+1]
	b.events[b.n] = out
	b.n++
	b.values, b.bytes = b.enc.Nodes, b.enc.Bytes
	return nil
}

// prepareRoom sets the header for on_pull: everything empty, full room.
func (b *Batch) prepareRoom() {
	b.Reset()
	b.prep = abi.Batch{
		StructSize: uint32(batchHeaderSize),
		Events:     b.evAddr, EventsCap: uint64(b.caps.Events),
		Values: b.valAddr, ValuesCap: uint64(b.caps.Values),
		Bytes: b.byteAddr, BytesCap: uint64(b.caps.Bytes),
	}
	*b.hdr = b.prep
}

// prepareSend sets the header for on_send: the events appended so far.
func (b *Batch) prepareSend() {
	b.hasRemote = false
	if b.copied {
		// The events were pulled from another process and checked in
		// private copies: they go back into the mapping for the sink.
		nv := len(b.values)
		copy(b.mEvents, b.events[:b.n])
		copy(b.mValues, b.values)
		b.events, b.values = b.mEvents[:b.n], b.mValues[:nv]
		b.enc.Nodes = b.values
		b.copied = false
	}
	b.prep = abi.Batch{
		StructSize: uint32(batchHeaderSize),
		Events:     b.evAddr, EventsLen: uint64(b.n), EventsCap: uint64(b.caps.Events),
		Values: b.valAddr, ValuesLen: uint64(len(b.values)), ValuesCap: uint64(b.caps.Values),
		Bytes: b.byteAddr, BytesLen: uint64(len(b.bytes)), BytesCap: uint64(b.caps.Bytes),
	}
	*b.hdr = b.prep
}

// adoptPulled checks what on_pull wrote into the header and arenas and, when
// it keeps the contract, makes the events visible. It does not allocate
// unless it finds a violation (or, once, for the copies below).
//
// The header is read once. In shared memory (a plugin in another process)
// the event array and the value nodes are copied out of the mapping before
// they are checked, and only the copies are used afterwards: a thread of
// the plugin that keeps writing into the batch after on_pull returned can
// then change payload bytes, but never a span the host checked, so the host
// never reads outside the arenas.
func (b *Batch) adoptPulled() error {
	h := b.pulledHeader()
	if h.Events != b.evAddr || h.Values != b.valAddr || h.Bytes != b.byteAddr {
		return errors.New("it changed the events/values/bytes pointers of the batch: a plugin fills the arenas it is given, never moves them")
	}
	if h.EventsCap != uint64(b.caps.Events) || h.ValuesCap != uint64(b.caps.Values) || h.BytesCap != uint64(b.caps.Bytes) || h.StructSize != uint32(batchHeaderSize) {
		return errors.New("it changed struct_size or a *_cap field of the batch: those are the host's")
	}
	if h.EventsLen > h.EventsCap {
		return fmt.Errorf("events_len %d is larger than events_cap %d", h.EventsLen, h.EventsCap)
	}
	if h.ValuesLen > h.ValuesCap {
		return fmt.Errorf("values_len %d is larger than values_cap %d", h.ValuesLen, h.ValuesCap)
	}
	if h.BytesLen > h.BytesCap {
		return fmt.Errorf("bytes_len %d is larger than bytes_cap %d", h.BytesLen, h.BytesCap)
	}
	events := b.mEvents[:h.EventsLen]
	values := b.mValues[:h.ValuesLen]
	arena := b.bytes[:h.BytesLen]
	if b.shared != nil {
		if cap(b.cEvents) < b.caps.Events || cap(b.cValues) < b.caps.Values {
			// room for Append after the pull, as in the mapping
			b.cEvents = make([]abi.Event, 0, b.caps.Events)
			b.cValues = make([]abi.Value, 0, b.caps.Values)
		}
		events = append(b.cEvents[:0], events...)
		values = append(b.cValues[:0], values...)
	}
	for i := range events {
		e := &events[i]
		// The common event (raw, no metadata, either port, payload inside
		// the bytes written) passes with one branch; anything else takes
		// the full checks below, which name what is wrong. Cuts the
		// per-event cost of a pull by about a third.
		if e.Flags&^uint32(abi.EventEndStream) == 0 && e.Port <= abi.PortErr && e.Meta.Len == 0 &&
			e.Payload.Offset <= h.BytesLen && e.Payload.Len <= h.BytesLen-e.Payload.Offset {
			continue
		}
		if e.Flags&^uint32(abi.EventKnownFlags) != 0 {
			return fmt.Errorf("event %d (id %d): flags 0x%x has bits ABI %s does not define", i, e.ID, e.Flags, abi.ABIVersionString)
		}
		if e.Port != abi.PortOut && e.Port != abi.PortErr {
			return fmt.Errorf("event %d (id %d): port %d is neither TREMOR_PORT_OUT nor TREMOR_PORT_ERR", i, e.ID, e.Port)
		}
		if e.Flags&abi.EventStructured != 0 {
			if err := abi.Check(values, arena, e.Payload); err != nil {
				return fmt.Errorf("event %d (id %d): structured payload: %w", i, e.ID, err)
			}
		} else if e.Payload.Offset > h.BytesLen || e.Payload.Len > h.BytesLen-e.Payload.Offset {
			return fmt.Errorf("event %d (id %d): payload span [%d, +%d) is outside the %d bytes written (bytes_len)", i, e.ID, e.Payload.Offset, e.Payload.Len, h.BytesLen)
		}
		if e.Meta.Len != 0 {
			if err := abi.Check(values, arena, e.Meta); err != nil {
				return fmt.Errorf("event %d (id %d): meta: %w", i, e.ID, err)
			}
		}
	}
	b.events, b.values, b.bytes = events, values, arena
	b.copied = b.shared != nil
	b.n = len(events)
	b.enc = abi.Encoder{Nodes: values, Bytes: arena, Fixed: true}
	return nil
}

// grow remaps the batch so that one event of the given size fits.
func (b *Batch) grow(needBytes, needValues uint64) error {
	if needBytes > MaxBatchBytes || needValues > MaxBatchValues {
		return fmt.Errorf("it asks for %d bytes and %d value nodes for one event, more than the host allows (%d bytes, %d nodes)", needBytes, needValues, MaxBatchBytes, MaxBatchValues)
	}
	if needBytes <= uint64(b.caps.Bytes) && needValues <= uint64(b.caps.Values) {
		return fmt.Errorf("it answered TREMOR_ERR_NO_ROOM but asks for %d bytes and %d value nodes, which the room (%d bytes, %d nodes) already has", needBytes, needValues, b.caps.Bytes, b.caps.Values)
	}
	c := b.caps
	c.Bytes = max(c.Bytes, int(needBytes))
	c.Values = max(c.Values, int(needValues))
	return b.mapArena(c)
}

// pulledHeader is the header as on_pull left it: in the mapping, or as a
// plugin in another process reported it.
func (b *Batch) pulledHeader() abi.Batch {
	if b.hasRemote {
		return b.remote
	}
	return *b.hdr
}

// sentUnchanged reports whether on_send left the header it was given as
// it was prepared.
func (b *Batch) sentUnchanged() bool { return *b.hdr == b.prep }

// Addr is the address of the batch's tremor_batch header in this process,
// for a transport that calls the plugin here.
func (b *Batch) Addr() uintptr { return b.arena.Addr() }
