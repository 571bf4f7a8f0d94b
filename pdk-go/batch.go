package pdk

import (
	"fmt"
	"slices"

	"tremorhost/abi"
)

// Batch is the read-only batch of events on_send gives Send. Everything in
// it, payloads included, is the host's memory and valid only during Send:
// copy what you keep. Every span was checked against the arenas before
// Send was called.
type Batch struct {
	events []abi.Event
	values []abi.Value
	arena  []byte
}

// open lays the batch over the host's C batch and checks every event.
func (bt *Batch) open(b *abi.Batch) error {
	if b.StructSize < minBatchSize {
		return fmt.Errorf("tremor_batch struct_size %d is smaller than ABI 1.0's %d", b.StructSize, minBatchSize)
	}
	evs, err := cSlice(cPtr[abi.Event](b.Events), b.EventsLen)
	if err != nil {
		return fmt.Errorf("batch events: %w", err)
	}
	vals, err := cSlice(cPtr[abi.Value](b.Values), b.ValuesLen)
	if err != nil {
		return fmt.Errorf("batch values: %w", err)
	}
	arena, err := cSlice(cPtr[byte](b.Bytes), b.BytesLen)
	if err != nil {
		return fmt.Errorf("batch bytes: %w", err)
	}
	nv, nb := uint64(len(vals)), uint64(len(arena))
	for i := range evs {
		e := &evs[i]
		if e.Flags&^abi.EventKnownFlags != 0 {
			return fmt.Errorf("event %d: unknown flags %#x", i, e.Flags)
		}
		if e.Flags&eventStructured != 0 {
			if e.Payload.Len == 0 || !spanOK(e.Payload.Offset, e.Payload.Len, nv) {
				return fmt.Errorf("event %d: structured payload [%d, +%d) outside the %d value nodes", i, e.Payload.Offset, e.Payload.Len, nv)
			}
		} else if !spanOK(e.Payload.Offset, e.Payload.Len, nb) {
			return fmt.Errorf("event %d: payload [%d, +%d) outside the %d-byte arena", i, e.Payload.Offset, e.Payload.Len, nb)
		}
		if !spanOK(e.Meta.Offset, e.Meta.Len, nv) {
			return fmt.Errorf("event %d: meta [%d, +%d) outside the %d value nodes", i, e.Meta.Offset, e.Meta.Len, nv)
		}
	}
	*bt = Batch{events: evs, values: vals, arena: arena}
	return nil
}

func (bt *Batch) close() { *bt = Batch{} }

// Len returns the number of events.
func (bt *Batch) Len() int { return len(bt.events) }

// ID returns event i's id.
func (bt *Batch) ID(i int) uint64 { return bt.events[i].ID }

// Stream returns event i's stream.
func (bt *Batch) Stream(i int) uint64 { return bt.events[i].Stream }

// Port returns event i's port.
func (bt *Batch) Port(i int) Port { return Port(bt.events[i].Port) }

// IngestNs returns event i's ingest time (ns since the Unix epoch, 0 if unset).
func (bt *Batch) IngestNs(i int) uint64 { return bt.events[i].IngestNs }

// Structured reports whether event i carries a value rather than bytes.
func (bt *Batch) Structured(i int) bool { return bt.events[i].Flags&eventStructured != 0 }

// EndStream reports whether event i is the last of its stream
// (TREMOR_EVENT_END_STREAM).
func (bt *Batch) EndStream(i int) bool { return bt.events[i].Flags&eventEndStream != 0 }

// Payload returns event i's bytes, inside the host's arena (valid only
// during Send, read-only: its capacity ends with it, so append copies).
// It is nil for a structured event.
func (bt *Batch) Payload(i int) []byte {
	e := &bt.events[i]
	if e.Flags&eventStructured != 0 {
		return nil
	}
	end := e.Payload.Offset + e.Payload.Len
	return bt.arena[e.Payload.Offset:end:end]
}

// Value decodes event i's structured payload into Go values (a copy, which
// may be kept). A bytes event decodes as its []byte payload, copied.
func (bt *Batch) Value(i int) (any, error) {
	e := &bt.events[i]
	if e.Flags&eventStructured == 0 {
		return slices.Clone(bt.Payload(i)), nil
	}
	return abi.Decode(bt.values, bt.arena, e.Payload)
}

// Meta decodes event i's metadata (a copy), or returns nil when it has none.
func (bt *Batch) Meta(i int) (any, error) {
	e := &bt.events[i]
	if e.Meta.Len == 0 {
		return nil, nil
	}
	return abi.Decode(bt.values, bt.arena, e.Meta)
}

// spanOK reports whether [off, off+n) lies inside a region of size total,
// without overflowing.
func spanOK(off, n, total uint64) bool { return off <= total && n <= total-off }
