package pdk

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"tremorhost/abi"
)

// ValueBuilder is a value built member by member, straight into tremor_value nodes:
// a hot path's Event.Meta (or structured Event.Value) without a Go map per
// event, without sorting keys and, once its buffers have grown, without
// allocating. Reset it and build one value per event; Push copies it into
// the room, so the ValueBuilder may be reused as soon as Push returns.
//
//	d.Reset()
//	d.Object("")        // the root: no key
//	d.Object("kafka")   // members of an object take a key
//	d.String("topic", r.Topic)
//	d.Int("offset", r.Offset)
//	d.End()
//	d.End()
//	room.Push(pdk.Event{ID: id, Payload: r.Value, Meta: &d})
//
// Members are written in the order given: write them in key order for the
// same layout as a map (which Push encodes sorted), and give each key once.
// A mistake (a key outside an object, a missing key inside one, a second
// root, a string that is not UTF-8, End without an open container) is kept
// and returned by Push, which refuses the event.
type ValueBuilder struct {
	nodes []abi.Value
	bytes []byte
	open  []int // indexes of the containers not yet ended, innermost last
	err   error
	doc   abi.Doc // the value as a Doc for appendTo (a field: no allocation)
}

// Reset empties d, keeping its buffers.
func (d *ValueBuilder) Reset() {
	d.nodes, d.bytes, d.open, d.err = d.nodes[:0], d.bytes[:0], d.open[:0], nil
}

// Object opens an object; members follow until End.
func (d *ValueBuilder) Object(key string) { d.container(key, abi.ValueObject) }

// Array opens an array (its elements take key ""); End closes it.
func (d *ValueBuilder) Array(key string) { d.container(key, abi.ValueArray) }

// End closes the innermost open object or array.
func (d *ValueBuilder) End() {
	if d.err != nil {
		return
	}
	if len(d.open) == 0 {
		d.fail(errors.New("End without an open Object or Array"))
		return
	}
	i := d.open[len(d.open)-1]
	d.open = d.open[:len(d.open)-1]
	d.nodes[i].As = uint64(len(d.nodes) - i - 1)
}

// Null adds a null.
func (d *ValueBuilder) Null(key string) { d.add(key, abi.ValueNull) }

// Bool adds a boolean.
func (d *ValueBuilder) Bool(key string, v bool) {
	if n := d.add(key, abi.ValueBool); n != nil && v {
		n.As = 1
	}
}

// Int adds a signed integer.
func (d *ValueBuilder) Int(key string, v int64) {
	if n := d.add(key, abi.ValueInt); n != nil {
		n.As = uint64(v)
	}
}

// Uint adds an unsigned integer.
func (d *ValueBuilder) Uint(key string, v uint64) {
	if n := d.add(key, abi.ValueUint); n != nil {
		n.As = v
	}
}

// Float adds a float.
func (d *ValueBuilder) Float(key string, v float64) {
	if n := d.add(key, abi.ValueFloat); n != nil {
		n.As = math.Float64bits(v)
	}
}

// String adds a string; it must be valid UTF-8 (use Bytes or Text for
// binary data).
func (d *ValueBuilder) String(key, s string) {
	if d.err == nil && !utf8.ValidString(s) {
		d.fail(fmt.Errorf("string of key %q is not valid UTF-8 (use Bytes or Text for binary data)", key))
		return
	}
	if n := d.add(key, abi.ValueString); n != nil {
		n.As, n.Len = uint64(len(d.bytes)), uint64(len(s))
		d.bytes = append(d.bytes, s...)
	}
}

// Bytes adds a byte string (copied).
func (d *ValueBuilder) Bytes(key string, b []byte) {
	if n := d.add(key, abi.ValueBytes); n != nil {
		n.As, n.Len = uint64(len(d.bytes)), uint64(len(b))
		d.bytes = append(d.bytes, b...)
	}
}

// Text adds b as a string when it is valid UTF-8 and as bytes otherwise,
// as connectors carry keys and headers that are usually text.
func (d *ValueBuilder) Text(key string, b []byte) {
	kind := uint8(abi.ValueBytes)
	if utf8.Valid(b) {
		kind = abi.ValueString
	}
	if n := d.add(key, kind); n != nil {
		n.As, n.Len = uint64(len(d.bytes)), uint64(len(b))
		d.bytes = append(d.bytes, b...)
	}
}

func (d *ValueBuilder) container(key string, kind uint8) {
	if d.err == nil && len(d.open) >= abi.MaxDepth {
		d.fail(fmt.Errorf("value nests deeper than %d levels", abi.MaxDepth))
		return
	}
	if d.add(key, kind) != nil {
		d.open = append(d.open, len(d.nodes)-1)
	}
}

// add appends a node under the innermost open container, its key checked
// and written; nil once d holds a mistake.
func (d *ValueBuilder) add(key string, kind uint8) *abi.Value {
	if d.err != nil {
		return nil
	}
	var n abi.Value
	n.Kind = kind
	switch {
	case len(d.open) == 0 && len(d.nodes) > 0:
		d.fail(errors.New("a second root value (End closed the root already)"))
		return nil
	case len(d.open) == 0 || d.nodes[d.open[len(d.open)-1]].Kind == abi.ValueArray:
		if key != "" {
			d.fail(fmt.Errorf("key %q outside an object", key))
			return nil
		}
	default:
		if !utf8.ValidString(key) || len(key) > math.MaxUint32 {
			d.fail(fmt.Errorf("object key %q is not valid UTF-8 or too long", key))
			return nil
		}
		n.KeyOffset, n.KeyLen = uint64(len(d.bytes)), uint32(len(key))
		d.bytes = append(d.bytes, key...)
	}
	if len(d.open) > 0 {
		d.nodes[d.open[len(d.open)-1]].Len++
	}
	d.nodes = append(d.nodes, n)
	return &d.nodes[len(d.nodes)-1]
}

// Decode returns the value built as plain Go values (as Batch.Meta would
// give it to a sink), or the first mistake; it allocates, for tests.
func (d *ValueBuilder) Decode() (any, error) {
	var enc abi.Encoder
	span, err := d.appendTo(&enc)
	if err != nil {
		return nil, err
	}
	return abi.Decode(enc.Nodes, enc.Bytes, span)
}

func (d *ValueBuilder) fail(err error) { d.err = fmt.Errorf("pdk.ValueBuilder: %w", err) }

// appendTo copies the value into enc's arenas, its byte offsets moved to
// where its bytes land (abi.Encoder's copy of a Doc). Fixed arenas too
// small: abi.ErrNoRoom, enc unchanged.
func (d *ValueBuilder) appendTo(enc *abi.Encoder) (abi.Span, error) {
	switch {
	case d.err != nil:
		return abi.Span{}, d.err
	case len(d.nodes) == 0:
		return abi.Span{}, errors.New("pdk.ValueBuilder: empty (nothing was added since Reset)")
	case len(d.open) > 0:
		return abi.Span{}, fmt.Errorf("pdk.ValueBuilder: %d Object/Array not ended", len(d.open))
	}
	d.doc = abi.Doc{Nodes: d.nodes, Bytes: d.bytes}
	return enc.Encode(&d.doc)
}

// encodeValue encodes v, a *ValueBuilder or plain Go values, into enc.
func encodeValue(enc *abi.Encoder, v any) (abi.Span, error) {
	if d, ok := v.(*ValueBuilder); ok {
		return d.appendTo(enc)
	}
	return enc.Encode(v)
}

// Len returns how many values d holds: the index the next value added
// gets, for SetInt and SetText.
func (d *ValueBuilder) Len() int { return len(d.nodes) }

// SetInt and SetText replace a member added earlier. A value whose shape
// stays from event to event can be built once and then only its changing
// members set per event, which costs a fraction of building it again
// (kafka_source's meta of a partition: offset, timestamp and key change,
// topic and partition stay).

// SetInt replaces the integer at index i (added with Int).
func (d *ValueBuilder) SetInt(i int, v int64) {
	if n := d.at(i, "SetInt", abi.ValueInt, abi.ValueInt); n != nil {
		n.As = uint64(v)
	}
}

// SetText replaces the string or bytes at index i (added with String,
// Bytes or Text) with b, a string when b is valid UTF-8 and bytes
// otherwise, as Text adds it. b is copied to the end of d's bytes, over
// the member's old bytes when they are the last: setting one such member
// per event does not grow d, setting several grows it until Reset.
func (d *ValueBuilder) SetText(i int, b []byte) {
	n := d.at(i, "SetText", abi.ValueString, abi.ValueBytes)
	if n == nil {
		return
	}
	if n.As+n.Len == uint64(len(d.bytes)) {
		d.bytes = d.bytes[:n.As]
	}
	n.Kind = abi.ValueBytes
	if utf8.Valid(b) {
		n.Kind = abi.ValueString
	}
	n.As, n.Len = uint64(len(d.bytes)), uint64(len(b))
	d.bytes = append(d.bytes, b...)
}

// at returns the node at index i when it is of kind k1 or k2; else it
// records the mistake (nil).
func (d *ValueBuilder) at(i int, op string, k1, k2 uint8) *abi.Value {
	if d.err != nil {
		return nil
	}
	if i < 0 || i >= len(d.nodes) || d.nodes[i].Kind != k1 && d.nodes[i].Kind != k2 {
		d.fail(fmt.Errorf("%s(%d): no such member of this value", op, i))
		return nil
	}
	return &d.nodes[i]
}
