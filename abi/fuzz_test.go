package abi_test

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"tremorhost/abi"
)

// FuzzCheckDecode feeds arbitrary node arrays, arenas and spans to the
// functions that read plugin-written values: they must never panic, and
// whatever Check accepts Decode must decode and Encode must reproduce.
func FuzzCheckDecode(f *testing.F) {
	seed := func(v any) {
		var e abi.Encoder
		span, err := e.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&e.Nodes[0])), len(e.Nodes)*int(unsafe.Sizeof(abi.Value{})))
		f.Add(append([]byte{}, raw...), e.Bytes, span.Offset, span.Len)
	}
	seed(map[string]any{"a": int64(1), "b": []any{"x", true, nil, 1.5}, "c": map[string]any{"d": []byte{0, 1}}})
	seed([]any{uint64(1 << 63), int64(-3), "ü"})
	seed("plain")

	nodeSize := int(unsafe.Sizeof(abi.Value{}))
	f.Fuzz(func(t *testing.T, rawNodes, arena []byte, off, n uint64) {
		nodes := make([]abi.Value, len(rawNodes)/nodeSize)
		for i := range nodes {
			b := rawNodes[i*nodeSize:]
			nodes[i] = abi.Value{
				Kind:      b[0],
				KeyLen:    binary.LittleEndian.Uint32(b[4:]),
				KeyOffset: binary.LittleEndian.Uint64(b[8:]),
				Len:       binary.LittleEndian.Uint64(b[16:]),
				As:        binary.LittleEndian.Uint64(b[24:]),
			}
		}
		span := abi.Span{Offset: off, Len: n}
		var a abi.DocArena
		d, copyErr := a.Copy(nodes, arena, span)
		if err := abi.Check(nodes, arena, span); err != nil {
			if copyErr == nil || copyErr.Error() != err.Error() {
				t.Fatalf("Check refused (%v) what Copy took or refused otherwise (%v)", err, copyErr)
			}
			return
		}
		if copyErr != nil {
			t.Fatalf("Check accepted what Copy refused: %v", copyErr)
		}
		v, err := abi.Decode(nodes, arena, span)
		if err != nil {
			t.Fatalf("Check accepted what Decode refused: %v", err)
		}
		if got := d.Any(); !sameValue(got, v) {
			t.Fatalf("Copy gave %#v, Decode %#v", got, v)
		}
		if got := a.CopyChecked(nodes, arena, span).Any(); !sameValue(got, v) {
			t.Fatalf("CopyChecked gave %#v, Decode %#v", got, v)
		}
		// Bytes that change after the check (a plugin in another process
		// scribbling over the mapping) never make CopyChecked read out of
		// bounds.
		for i := range arena {
			arena[i] ^= 0xa5
		}
		a.CopyChecked(nodes, arena, span)
		var e abi.Encoder
		if _, err := e.Encode(v); err != nil {
			t.Fatalf("a decoded value does not encode again: %v", err)
		}
	})
}

// sameValue is reflect.DeepEqual with floats compared by their bits (NaN
// equals itself).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			if yv, ok := y[k]; !ok || !sameValue(xv, yv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
