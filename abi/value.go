package abi

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// The Go side of a structured value is plain `any`: nil, bool, int64,
// uint64, float64, string, []byte, []any and map[string]any. Encode also
// accepts the other Go integer and float types and []string,
// []map[string]any; Decode always yields the plain set.

// MaxDepth bounds the nesting of a value tree, on both encode and decode.
const MaxDepth = 256

// ErrNoRoom is returned by a fixed-size Encoder when the value does not fit.
var ErrNoRoom = errors.New("value does not fit in the room left in the arenas")

// Encoder appends values to a node array and a byte arena as flat pre-order
// trees (tremor_value). Nodes[:len] and Bytes[:len] are in use; with Fixed
// set the encoder never grows past cap (for arenas that live off the Go
// heap, viewed as slices) and returns ErrNoRoom instead, leaving both
// lengths as they were. Encoding does not allocate unless the arenas grow
// or SortKeys is set.
type Encoder struct {
	Nodes    []Value
	Bytes    []byte
	Fixed    bool
	SortKeys bool // encode object members in key order (deterministic docs)
}

// Encode appends v and returns the span of nodes that holds it.
func (e *Encoder) Encode(v any) (Span, error) {
	n0, b0 := len(e.Nodes), len(e.Bytes)
	if err := e.encode(v, "", false, 0); err != nil {
		e.Nodes, e.Bytes = e.Nodes[:n0], e.Bytes[:b0]
		return Span{}, err
	}
	return Span{Offset: uint64(n0), Len: uint64(len(e.Nodes) - n0)}, nil
}

// AppendBytes appends raw bytes to the byte arena and returns their span.
func (e *Encoder) AppendBytes(p []byte) (Span, error) {
	off, err := e.appendBytes(p)
	return Span{Offset: off, Len: uint64(len(p))}, err
}

// EncodeDoc encodes v on the Go heap with members in key order, as used for
// config documents.
func EncodeDoc(v any) ([]Value, []byte, error) {
	e := Encoder{SortKeys: true}
	if _, err := e.Encode(v); err != nil {
		return nil, nil, err
	}
	return e.Nodes, e.Bytes, nil
}

func (e *Encoder) node() (*Value, error) {
	if len(e.Nodes) == cap(e.Nodes) {
		if e.Fixed {
			return nil, ErrNoRoom
		}
		e.Nodes = slices.Grow(e.Nodes, 1)
	}
	e.Nodes = e.Nodes[:len(e.Nodes)+1]
	n := &e.Nodes[len(e.Nodes)-1]
	*n = Value{}
	return n, nil
}

func (e *Encoder) appendBytes(p []byte) (uint64, error) {
	off := len(e.Bytes)
	if cap(e.Bytes)-off < len(p) {
		if e.Fixed {
			return 0, ErrNoRoom
		}
		e.Bytes = slices.Grow(e.Bytes, len(p))
	}
	e.Bytes = append(e.Bytes, p...)
	return uint64(off), nil
}

func (e *Encoder) appendString(s string) (uint64, error) {
	off := len(e.Bytes)
	if cap(e.Bytes)-off < len(s) {
		if e.Fixed {
			return 0, ErrNoRoom
		}
		e.Bytes = slices.Grow(e.Bytes, len(s))
	}
	e.Bytes = append(e.Bytes, s...)
	return uint64(off), nil
}

func (e *Encoder) encode(v any, key string, keyed bool, depth int) error {
	if d, ok := v.(*Doc); ok {
		if depth == 0 && !keyed {
			return e.appendDoc(d)
		}
		v = d.Any() // nested in a Go value: checked like one
	}
	if depth > MaxDepth {
		return fmt.Errorf("value nests deeper than %d levels", MaxDepth)
	}
	var koff uint64
	if keyed {
		if !utf8.ValidString(key) {
			return fmt.Errorf("object key %q is not valid UTF-8", key)
		}
		if len(key) > math.MaxUint32 {
			return fmt.Errorf("object key of %d bytes is too long", len(key))
		}
		var err error
		if koff, err = e.appendString(key); err != nil {
			return err
		}
	}
	idx := len(e.Nodes)
	n, err := e.node()
	if err != nil {
		return err
	}
	if keyed {
		n.KeyOffset, n.KeyLen = koff, uint32(len(key))
	}
	switch x := v.(type) {
	case nil:
		n.Kind = ValueNull
	case bool:
		n.Kind = ValueBool
		if x {
			n.As = 1
		}
	case int64:
		n.Kind, n.As = ValueInt, uint64(x)
	case int:
		n.Kind, n.As = ValueInt, uint64(int64(x))
	case int32:
		n.Kind, n.As = ValueInt, uint64(int64(x))
	case int16:
		n.Kind, n.As = ValueInt, uint64(int64(x))
	case int8:
		n.Kind, n.As = ValueInt, uint64(int64(x))
	case uint64:
		n.Kind, n.As = ValueUint, x
	case uint:
		n.Kind, n.As = ValueUint, uint64(x)
	case uint32:
		n.Kind, n.As = ValueUint, uint64(x)
	case uint16:
		n.Kind, n.As = ValueUint, uint64(x)
	case uint8:
		n.Kind, n.As = ValueUint, uint64(x)
	case float64:
		n.Kind, n.As = ValueFloat, math.Float64bits(x)
	case float32:
		n.Kind, n.As = ValueFloat, math.Float64bits(float64(x))
	case string:
		if !utf8.ValidString(x) {
			return errors.New("string value is not valid UTF-8 (use []byte for binary data)")
		}
		off, err := e.appendString(x)
		if err != nil {
			return err
		}
		n.Kind, n.As, n.Len = ValueString, off, uint64(len(x))
	case []byte:
		off, err := e.appendBytes(x)
		if err != nil {
			return err
		}
		n.Kind, n.As, n.Len = ValueBytes, off, uint64(len(x))
	case []any:
		n.Kind, n.Len = ValueArray, uint64(len(x))
		for _, c := range x {
			if err := e.encode(c, "", false, depth+1); err != nil {
				return err
			}
		}
	case []string:
		n.Kind, n.Len = ValueArray, uint64(len(x))
		for _, c := range x {
			if err := e.encode(c, "", false, depth+1); err != nil {
				return err
			}
		}
	case []map[string]any:
		n.Kind, n.Len = ValueArray, uint64(len(x))
		for _, c := range x {
			if err := e.encode(c, "", false, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		n.Kind, n.Len = ValueObject, uint64(len(x))
		if e.SortKeys {
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if err := e.encode(x[k], k, true, depth+1); err != nil {
					return err
				}
			}
		} else {
			for k, c := range x {
				if err := e.encode(c, k, true, depth+1); err != nil {
					return err
				}
			}
		}
	default:
		return fmt.Errorf("cannot encode a Go %T as a tremor value", v)
	}
	// n may be stale if the node array grew while encoding children.
	if k := e.Nodes[idx].Kind; k == ValueArray || k == ValueObject {
		e.Nodes[idx].As = uint64(len(e.Nodes) - idx - 1)
	}
	return nil
}

// appendDoc copies a well-formed Doc's nodes and bytes, moving offsets. A
// Doc built in a DocArena holds only its own bytes: they are copied in one
// piece and every offset moves by the same amount. A Doc that shares a
// larger byte arena (a member of another) has its spans copied one by one.
func (e *Encoder) appendDoc(d *Doc) error {
	own := uint64(0)
	for i := range d.Nodes {
		n := &d.Nodes[i]
		own += uint64(n.KeyLen)
		if n.Kind == ValueString || n.Kind == ValueBytes {
			own += n.Len
		}
	}
	if uint64(len(d.Bytes)) > 2*own+64 {
		return e.appendDocEach(d)
	}
	if e.Fixed && (cap(e.Nodes)-len(e.Nodes) < len(d.Nodes) || cap(e.Bytes)-len(e.Bytes) < len(d.Bytes)) {
		return ErrNoRoom
	}
	base, err := e.appendBytes(d.Bytes)
	if err != nil {
		return err
	}
	first := len(e.Nodes)
	e.Nodes = append(e.Nodes, d.Nodes...)
	for i := first; i < len(e.Nodes); i++ {
		n := &e.Nodes[i]
		if n.KeyLen > 0 {
			n.KeyOffset += base
		}
		if n.Kind == ValueString || n.Kind == ValueBytes {
			n.As += base
		}
	}
	return nil
}

func (e *Encoder) appendDocEach(d *Doc) error {
	for i := range d.Nodes {
		src := &d.Nodes[i]
		n, err := e.node()
		if err != nil {
			return err
		}
		*n = *src
		if src.KeyLen > 0 {
			if n.KeyOffset, err = e.appendBytes(d.Key(i)); err != nil {
				return err
			}
		}
		if src.Kind == ValueString || src.Kind == ValueBytes {
			if n.As, err = e.appendBytes(d.Data(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Check verifies that span holds exactly one well-formed value of nodes
// whose string, byte and key spans lie inside arena: every kind known,
// booleans 0 or 1, strings and keys valid UTF-8, child counts and
// descendant counts consistent, nesting at most MaxDepth. It does not
// allocate unless it finds a problem.
func Check(nodes []Value, arena []byte, span Span) error {
	if span.Offset > uint64(len(nodes)) || span.Len > uint64(len(nodes))-span.Offset {
		return fmt.Errorf("value span [%d, +%d) is outside the %d value nodes written", span.Offset, span.Len, len(nodes))
	}
	if span.Len == 0 {
		return errors.New("value span is empty: a value needs at least one node")
	}
	end := span.Offset + span.Len
	if checkValue(nodes[span.Offset:end], arena, nil) {
		return nil
	}
	// Refused: the recursive walk says what is wrong, and where.
	next, err := checkNode(nodes, arena, span.Offset, end, false, 0)
	if err != nil {
		return err
	}
	if next != end {
		return fmt.Errorf("value span [%d, +%d) holds %d nodes after the value at node %d: it must hold exactly one value", span.Offset, span.Len, end-next, span.Offset)
	}
	return nil
}

func inArena(off, n uint64, arena []byte) bool {
	return off <= uint64(len(arena)) && n <= uint64(len(arena))-off
}

// checkNode checks the subtree at i, which must end at or before end, and
// returns the index after it.
func checkNode(nodes []Value, arena []byte, i, end uint64, keyed bool, depth int) (uint64, error) {
	if depth > MaxDepth {
		return 0, fmt.Errorf("value node %d nests deeper than %d levels", i, MaxDepth)
	}
	if i >= end {
		return 0, fmt.Errorf("value node %d is missing: the tree runs past its span (ends at %d)", i, end)
	}
	n := &nodes[i]
	if keyed {
		if !inArena(n.KeyOffset, uint64(n.KeyLen), arena) {
			return 0, fmt.Errorf("value node %d: key span [%d, +%d) is outside the %d-byte arena", i, n.KeyOffset, n.KeyLen, len(arena))
		}
		if !validUTF8(arena[n.KeyOffset : n.KeyOffset+uint64(n.KeyLen)]) {
			return 0, fmt.Errorf("value node %d: key is not valid UTF-8", i)
		}
	}
	switch n.Kind {
	case ValueNull, ValueInt, ValueUint, ValueFloat:
		return i + 1, nil
	case ValueBool:
		if n.As > 1 {
			return 0, fmt.Errorf("value node %d: bool is %d, must be 0 or 1", i, n.As)
		}
		return i + 1, nil
	case ValueString, ValueBytes:
		if !inArena(n.As, n.Len, arena) {
			return 0, fmt.Errorf("value node %d: %s span [%d, +%d) is outside the %d-byte arena", i, KindName(uint32(n.Kind)), n.As, n.Len, len(arena))
		}
		if n.Kind == ValueString && !validUTF8(arena[n.As:n.As+n.Len]) {
			return 0, fmt.Errorf("value node %d: string is not valid UTF-8", i)
		}
		return i + 1, nil
	case ValueArray, ValueObject:
		desc := n.As
		if desc >= end-i {
			return 0, fmt.Errorf("value node %d: %s claims %d descendants, only %d nodes remain in its span", i, KindName(uint32(n.Kind)), desc, end-i-1)
		}
		if n.Len > desc {
			return 0, fmt.Errorf("value node %d: %s claims %d children but only %d descendants", i, KindName(uint32(n.Kind)), n.Len, desc)
		}
		stop := i + 1 + desc
		j := i + 1
		for c := uint64(0); c < n.Len; c++ {
			var err error
			if j, err = checkNode(nodes, arena, j, stop, n.Kind == ValueObject, depth+1); err != nil {
				return 0, err
			}
		}
		if j != stop {
			return 0, fmt.Errorf("value node %d: %s's %d children use %d nodes, but it claims %d descendants", i, KindName(uint32(n.Kind)), n.Len, j-i-1, desc)
		}
		return stop, nil
	}
	return 0, fmt.Errorf("value node %d: unknown kind %d", i, n.Kind)
}

// Decode checks (see Check) and decodes the one value in span into plain Go
// values. Strings and byte strings are copied out of the arena.
func Decode(nodes []Value, arena []byte, span Span) (any, error) {
	if err := Check(nodes, arena, span); err != nil {
		return nil, err
	}
	v, _ := decodeNode(nodes, arena, span.Offset)
	return v, nil
}

// DecodeDoc decodes a whole document (the value at node 0). An empty
// document decodes to nil.
func DecodeDoc(nodes []Value, arena []byte) (any, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	return Decode(nodes, arena, Span{Offset: 0, Len: uint64(len(nodes))})
}

func decodeNode(nodes []Value, arena []byte, i uint64) (any, uint64) {
	n := &nodes[i]
	switch n.Kind {
	case ValueBool:
		return n.As == 1, i + 1
	case ValueInt:
		return int64(n.As), i + 1
	case ValueUint:
		return n.As, i + 1
	case ValueFloat:
		return math.Float64frombits(n.As), i + 1
	case ValueString:
		return string(arena[n.As : n.As+n.Len]), i + 1
	case ValueBytes:
		b := make([]byte, n.Len) // never nil, also when empty
		copy(b, arena[n.As:n.As+n.Len])
		return b, i + 1
	case ValueArray:
		out := make([]any, 0, n.Len)
		j := i + 1
		for c := uint64(0); c < n.Len; c++ {
			var v any
			v, j = decodeNode(nodes, arena, j)
			out = append(out, v)
		}
		return out, i + 1 + n.As
	case ValueObject:
		out := make(map[string]any, n.Len)
		j := i + 1
		for c := uint64(0); c < n.Len; c++ {
			k := &nodes[j]
			key := string(arena[k.KeyOffset : k.KeyOffset+uint64(k.KeyLen)])
			var v any
			v, j = decodeNode(nodes, arena, j)
			out[key] = v // duplicate keys: the last one wins
		}
		return out, i + 1 + n.As
	}
	return nil, i + 1
}
