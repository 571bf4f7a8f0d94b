package abi_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
)

func TestValueRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want any // nil: same as in
	}{
		{"null", nil, nil},
		{"true", true, nil},
		{"false", false, nil},
		{"int", int64(-42), nil},
		{"int min", int64(math.MinInt64), nil},
		{"uint max", uint64(math.MaxUint64), nil},
		{"float", 3.25, nil},
		{"nan-free inf", math.Inf(-1), nil},
		{"string", "héllo", nil},
		{"empty string", "", nil},
		{"bytes", []byte{0, 1, 0xff}, nil},
		{"empty array", []any{}, nil},
		{"empty object", map[string]any{}, nil},
		{"go int", 7, int64(7)},
		{"go uint32", uint32(7), uint64(7)},
		{"string slice", []string{"a", "b"}, []any{"a", "b"}},
		{"nested", map[string]any{
			"a": []any{int64(1), map[string]any{"x": nil, "y": []any{"deep", []byte("b")}}},
			"b": map[string]any{},
			"c": "end",
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.in
			}
			nodes, bytes, err := abi.EncodeDoc(tc.in)
			require.NoError(t, err)
			require.NoError(t, abi.Check(nodes, bytes, abi.Span{Len: uint64(len(nodes))}))
			got, err := abi.DecodeDoc(nodes, bytes)
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestEncodeLayout(t *testing.T) {
	nodes, bytes, err := abi.EncodeDoc(map[string]any{"b": []any{int64(1), "xy"}, "a": true})
	require.NoError(t, err)
	require.Len(t, nodes, 5)
	// Pre-order, keys sorted: {a: true, b: [1, "xy"]}
	assert.Equal(t, uint8(abi.ValueObject), nodes[0].Kind)
	assert.Equal(t, uint64(2), nodes[0].Len)
	assert.Equal(t, uint64(4), nodes[0].As, "descendants")
	assert.Equal(t, uint8(abi.ValueBool), nodes[1].Kind)
	assert.Equal(t, "a", string(bytes[nodes[1].KeyOffset:nodes[1].KeyOffset+uint64(nodes[1].KeyLen)]))
	assert.Equal(t, uint8(abi.ValueArray), nodes[2].Kind)
	assert.Equal(t, uint64(2), nodes[2].As)
	assert.Equal(t, uint32(0), nodes[3].KeyLen, "array children carry no key")
	assert.Equal(t, "xy", string(bytes[nodes[4].As:nodes[4].As+nodes[4].Len]))
}

func TestEncodeRefusesBadValues(t *testing.T) {
	for name, v := range map[string]any{
		"struct":       struct{}{},
		"bad utf8":     string([]byte{0xff}),
		"bad utf8 key": map[string]any{string([]byte{0xfe}): 1},
		"channel":      make(chan int),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := abi.EncodeDoc(v)
			assert.Error(t, err)
		})
	}
	deep := any(int64(1))
	for i := 0; i < abi.MaxDepth+2; i++ {
		deep = []any{deep}
	}
	_, _, err := abi.EncodeDoc(deep)
	assert.ErrorContains(t, err, "deeper")
}

func TestFixedEncoderNoRoomRollsBack(t *testing.T) {
	e := abi.Encoder{Nodes: make([]abi.Value, 0, 3), Bytes: make([]byte, 0, 4), Fixed: true}
	_, err := e.Encode("abc")
	require.NoError(t, err)
	_, err = e.Encode("de") // 2 bytes more than the 1 left
	assert.ErrorIs(t, err, abi.ErrNoRoom)
	assert.Len(t, e.Nodes, 1)
	assert.Len(t, e.Bytes, 3)
	_, err = e.Encode([]any{int64(1), int64(2), int64(3)}) // 4 nodes, 2 left
	assert.ErrorIs(t, err, abi.ErrNoRoom)
	assert.Len(t, e.Nodes, 1)
	sp, err := e.Encode([]any{int64(1)})
	require.NoError(t, err)
	assert.Equal(t, abi.Span{Offset: 1, Len: 2}, sp)
}

func TestFixedEncoderDoesNotAllocate(t *testing.T) {
	e := abi.Encoder{Nodes: make([]abi.Value, 0, 64), Bytes: make([]byte, 0, 1024), Fixed: true}
	v := map[string]any{"host": "example", "port": int64(80), "tags": []any{"a", "b"}, "raw": []byte("x")}
	allocs := testing.AllocsPerRun(100, func() {
		e.Nodes, e.Bytes = e.Nodes[:0], e.Bytes[:0]
		if _, err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	nodes := e.Nodes
	allocs = testing.AllocsPerRun(100, func() {
		if err := abi.Check(nodes, e.Bytes, abi.Span{Len: uint64(len(nodes))}); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestCheckRejectsMalformedTrees(t *testing.T) {
	arena := []byte("keyvalue\xff")
	str := func(off, n uint64) abi.Value { return abi.Value{Kind: abi.ValueString, As: off, Len: n} }
	cases := []struct {
		name  string
		nodes []abi.Value
		span  abi.Span
		want  string
	}{
		{"span past nodes", []abi.Value{{}}, abi.Span{Offset: 0, Len: 2}, "outside the 1 value nodes"},
		{"span offset overflow", []abi.Value{{}}, abi.Span{Offset: math.MaxUint64, Len: 2}, "outside"},
		{"empty span", []abi.Value{{}}, abi.Span{Offset: 0, Len: 0}, "empty"},
		{"two values in span", []abi.Value{{}, {}}, abi.Span{Len: 2}, "exactly one value"},
		{"unknown kind", []abi.Value{{Kind: 9}}, abi.Span{Len: 1}, "unknown kind 9"},
		{"bool 2", []abi.Value{{Kind: abi.ValueBool, As: 2}}, abi.Span{Len: 1}, "must be 0 or 1"},
		{"string past arena", []abi.Value{str(5, 10)}, abi.Span{Len: 1}, "outside the 9-byte arena"},
		{"string offset overflow", []abi.Value{str(math.MaxUint64, 2)}, abi.Span{Len: 1}, "outside"},
		{"string bad utf8", []abi.Value{str(8, 1)}, abi.Span{Len: 1}, "not valid UTF-8"},
		{"descendants too many", []abi.Value{{Kind: abi.ValueArray, Len: 1, As: 5}, {}}, abi.Span{Len: 2}, "claims 5 descendants"},
		{"children more than descendants", []abi.Value{{Kind: abi.ValueArray, Len: 2, As: 1}, {}}, abi.Span{Len: 2}, "claims 2 children"},
		{"children fewer than descendants", []abi.Value{{Kind: abi.ValueArray, Len: 1, As: 2}, {}, {}}, abi.Span{Len: 3}, "claims 2 descendants"},
		{"key past arena", []abi.Value{{Kind: abi.ValueObject, Len: 1, As: 1}, {KeyOffset: 8, KeyLen: 5}}, abi.Span{Len: 2}, "key span"},
		{"key bad utf8", []abi.Value{{Kind: abi.ValueObject, Len: 1, As: 1}, {KeyOffset: 8, KeyLen: 1}}, abi.Span{Len: 2}, "key is not valid UTF-8"},
		{"nested overrun", []abi.Value{{Kind: abi.ValueArray, Len: 1, As: 1}, {Kind: abi.ValueArray, Len: 1, As: 1}}, abi.Span{Len: 2}, "descendants"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := abi.Check(tc.nodes, arena, tc.span)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = abi.Decode(tc.nodes, arena, tc.span)
			assert.Error(t, err)
		})
	}
	// A well-formed object with a key decodes; duplicate keys: last wins.
	nodes := []abi.Value{{Kind: abi.ValueObject, Len: 2, As: 2}, {Kind: abi.ValueInt, KeyOffset: 0, KeyLen: 3, As: 1}, {Kind: abi.ValueInt, KeyOffset: 0, KeyLen: 3, As: 2}}
	v, err := abi.Decode(nodes, arena, abi.Span{Len: 3})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"key": int64(2)}, v)
}
