package pdk

import (
	"fmt"
	"math"
	"sort"
)

// Values cross the boundary as flat pre-order node arrays (tremor_value)
// plus a byte arena. In Go they are plain data:
//
//	nil, bool, int64, uint64, float64, string, []byte, []any, map[string]any
//
// decodeValue copies a value out of host memory into that form; encoding
// (Room.Push) also accepts the other Go integer and float types.

// maxValueDepth bounds nesting, so that a hostile document cannot make the
// decoder recurse without limit.
const maxValueDepth = 256

// spanOK reports whether [off, off+n) lies inside a region of size total,
// without overflowing.
func spanOK(off, n, total uint64) bool { return off <= total && n <= total-off }

// decodeValue decodes the value rooted at nodes[i] and returns it with the
// index of the node after its subtree. Every span is checked.
func decodeValue(nodes []cValue, arena []byte, i int, depth int) (any, int, error) {
	if i >= len(nodes) {
		return nil, i, fmt.Errorf("value node %d is past the end (%d nodes)", i, len(nodes))
	}
	if depth > maxValueDepth {
		return nil, i, fmt.Errorf("value nested deeper than %d", maxValueDepth)
	}
	n := &nodes[i]
	switch n.Kind {
	case kindNull:
		return nil, i + 1, nil
	case kindBool:
		return n.As != 0, i + 1, nil
	case kindInt:
		return int64(n.As), i + 1, nil
	case kindUint:
		return n.As, i + 1, nil
	case kindFloat:
		return math.Float64frombits(n.As), i + 1, nil
	case kindString, kindBytes:
		if !spanOK(n.As, n.Len, uint64(len(arena))) {
			return nil, i, fmt.Errorf("value node %d: span [%d, +%d) outside the %d-byte arena", i, n.As, n.Len, len(arena))
		}
		b := arena[n.As : n.As+n.Len]
		if n.Kind == kindString {
			return string(b), i + 1, nil
		}
		return append([]byte{}, b...), i + 1, nil
	case kindArray, kindObject:
		desc := n.As
		if desc > uint64(len(nodes)-i-1) {
			return nil, i, fmt.Errorf("value node %d: %d descendants but only %d nodes follow", i, desc, len(nodes)-i-1)
		}
		if n.Len > desc {
			return nil, i, fmt.Errorf("value node %d: %d children but %d descendants", i, n.Len, desc)
		}
		end := i + 1 + int(desc)
		sub := nodes[:end]
		j := i + 1
		if n.Kind == kindArray {
			arr := make([]any, 0, int(n.Len))
			for k := uint64(0); k < n.Len; k++ {
				v, next, err := decodeValue(sub, arena, j, depth+1)
				if err != nil {
					return nil, i, err
				}
				arr = append(arr, v)
				j = next
			}
			if j != end {
				return nil, i, fmt.Errorf("value node %d: children cover %d nodes, descendants say %d", i, j-i-1, desc)
			}
			return arr, end, nil
		}
		obj := make(map[string]any, int(n.Len))
		for k := uint64(0); k < n.Len; k++ {
			c := &sub[j]
			if !spanOK(c.KeyOffset, uint64(c.KeyLen), uint64(len(arena))) {
				return nil, i, fmt.Errorf("value node %d: key span [%d, +%d) outside the %d-byte arena", j, c.KeyOffset, c.KeyLen, len(arena))
			}
			key := string(arena[c.KeyOffset : c.KeyOffset+uint64(c.KeyLen)])
			v, next, err := decodeValue(sub, arena, j, depth+1)
			if err != nil {
				return nil, i, err
			}
			obj[key] = v // the last of duplicate keys wins, as the header says
			j = next
		}
		if j != end {
			return nil, i, fmt.Errorf("value node %d: children cover %d nodes, descendants say %d", i, j-i-1, desc)
		}
		return obj, end, nil
	default:
		return nil, i, fmt.Errorf("value node %d: unknown kind %d", i, n.Kind)
	}
}

// decodeSpan decodes the single value that occupies nodes [off, off+n).
func decodeSpan(nodes []cValue, arena []byte, off, n uint64) (any, error) {
	if n == 0 || !spanOK(off, n, uint64(len(nodes))) {
		return nil, fmt.Errorf("value span [%d, +%d) outside the %d value nodes", off, n, len(nodes))
	}
	v, next, err := decodeValue(nodes[:off+n], arena, int(off), 0)
	if err != nil {
		return nil, err
	}
	if uint64(next) != off+n {
		return nil, fmt.Errorf("value span [%d, +%d) holds more than one value", off, n)
	}
	return v, nil
}

// measureValue returns how many nodes and arena bytes v needs.
func measureValue(v any, depth int) (nodes, nbytes uint64, err error) {
	if depth > maxValueDepth {
		return 0, 0, fmt.Errorf("value nested deeper than %d", maxValueDepth)
	}
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, uintptr, float32, float64:
		return 1, 0, nil
	case string:
		return 1, uint64(len(x)), nil
	case []byte:
		return 1, uint64(len(x)), nil
	case []any:
		nodes = 1
		for _, e := range x {
			n, b, err := measureValue(e, depth+1)
			if err != nil {
				return 0, 0, err
			}
			nodes, nbytes = nodes+n, nbytes+b
		}
		return nodes, nbytes, nil
	case []string:
		nodes = 1 + uint64(len(x))
		for _, e := range x {
			nbytes += uint64(len(e))
		}
		return nodes, nbytes, nil
	case map[string]any:
		nodes = 1
		for k, e := range x {
			if uint64(len(k)) > math.MaxUint32 {
				return 0, 0, fmt.Errorf("object key of %d bytes is too long", len(k))
			}
			n, b, err := measureValue(e, depth+1)
			if err != nil {
				return 0, 0, err
			}
			nodes, nbytes = nodes+n, nbytes+b+uint64(len(k))
		}
		return nodes, nbytes, nil
	default:
		return 0, 0, fmt.Errorf("cannot encode a %T as a tremor value (use nil, bool, integers, floats, string, []byte, []any, []string or map[string]any)", v)
	}
}

// valueWriter appends encoded values to a node slice and a byte arena that
// were checked to be large enough (by measureValue).
type valueWriter struct {
	nodes []cValue
	nn    int
	arena []byte
	nb    int
}

func (w *valueWriter) bytes(b []byte) uint64 {
	off := w.nb
	w.nb += copy(w.arena[off:], b)
	return uint64(off)
}

func (w *valueWriter) str(s string) uint64 {
	off := w.nb
	w.nb += copy(w.arena[off:], s)
	return uint64(off)
}

// write encodes v (whose key, when the parent is an object, is key) and
// returns the number of nodes it wrote.
func (w *valueWriter) write(v any, key string, keyed bool) uint64 {
	idx := w.nn
	w.nn++
	n := cValue{}
	if keyed {
		n.KeyOffset = w.str(key)
		n.KeyLen = uint32(len(key))
	}
	switch x := v.(type) {
	case nil:
		n.Kind = kindNull
	case bool:
		n.Kind = kindBool
		if x {
			n.As = 1
		}
	case int:
		n.Kind, n.As = kindInt, uint64(int64(x))
	case int8:
		n.Kind, n.As = kindInt, uint64(int64(x))
	case int16:
		n.Kind, n.As = kindInt, uint64(int64(x))
	case int32:
		n.Kind, n.As = kindInt, uint64(int64(x))
	case int64:
		n.Kind, n.As = kindInt, uint64(x)
	case uint:
		n.Kind, n.As = kindUint, uint64(x)
	case uint8:
		n.Kind, n.As = kindUint, uint64(x)
	case uint16:
		n.Kind, n.As = kindUint, uint64(x)
	case uint32:
		n.Kind, n.As = kindUint, uint64(x)
	case uint64:
		n.Kind, n.As = kindUint, x
	case uintptr:
		n.Kind, n.As = kindUint, uint64(x)
	case float32:
		n.Kind, n.As = kindFloat, math.Float64bits(float64(x))
	case float64:
		n.Kind, n.As = kindFloat, math.Float64bits(x)
	case string:
		n.Kind, n.Len = kindString, uint64(len(x))
		n.As = w.str(x)
	case []byte:
		n.Kind, n.Len = kindBytes, uint64(len(x))
		n.As = w.bytes(x)
	case []any:
		n.Kind, n.Len = kindArray, uint64(len(x))
		for _, e := range x {
			n.As += w.write(e, "", false)
		}
	case []string:
		n.Kind, n.Len = kindArray, uint64(len(x))
		for _, e := range x {
			n.As += w.write(e, "", false)
		}
	case map[string]any:
		n.Kind, n.Len = kindObject, uint64(len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic output
		for _, k := range keys {
			n.As += w.write(x[k], k, true)
		}
	}
	w.nodes[idx] = n
	return uint64(w.nn - idx)
}
