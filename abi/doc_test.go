package abi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func docValue(i int) any {
	return map[string]any{
		"seq":  int64(i),
		"name": fmt.Sprintf("event-%d", i),
		"tags": []any{"a", strings.Repeat("x", i%300), uint64(i), 1.5, nil, true, []byte{1, 2}},
	}
}

// buildDoc builds v in a through the Copy path (as the host copies a
// plugin's value).
func buildDoc(t *testing.T, a *DocArena, v any) *Doc {
	t.Helper()
	e := Encoder{}
	span, err := e.Encode(v)
	require.NoError(t, err)
	d, err := a.Copy(e.Nodes, e.Bytes, span)
	require.NoError(t, err)
	return d
}

// Docs built one after another stay intact while the arena moves on to new
// chunks (each is far smaller than the thousands built here).
func TestDocArenaKeepsEarlierDocs(t *testing.T) {
	var a DocArena
	docs := make([]*Doc, 3000)
	for i := range docs {
		docs[i] = buildDoc(t, &a, docValue(i))
	}
	for i, d := range docs {
		require.Equal(t, docValue(i), d.Any(), "doc %d", i)
	}
}

// A Doc larger than a chunk moves to a chunk of its own while being built.
func TestDocArenaDocLargerThanAChunk(t *testing.T) {
	var a DocArena
	small := buildDoc(t, &a, "before")
	big := make([]any, 3*docChunkNodes)
	for i := range big {
		big[i] = strings.Repeat("y", i%50)
	}
	d := buildDoc(t, &a, big)
	require.Equal(t, big, d.Any())
	require.Equal(t, "before", small.Any())
}

// After Reset the arena reuses one chunk large enough for a whole round:
// a steady load stops allocating.
func TestDocArenaResetReuses(t *testing.T) {
	var a DocArena
	round := func() {
		for i := range 500 {
			a.Begin()
			off := a.AppendString("0123456789012345678901234567890123456789")
			a.Push(Value{Kind: ValueString, As: off, Len: 40})
			if d := a.End(); len(d.Nodes) != 1 {
				t.Fatalf("doc %d has %d nodes", i, len(d.Nodes))
			}
		}
		a.Reset()
	}
	round()
	round()
	require.Zero(t, testing.AllocsPerRun(10, round))
}

// Copy takes a plugin's value from anywhere in its arenas (keys and
// strings in any order) and checks it first.
func TestDocArenaCopy(t *testing.T) {
	var a DocArena
	// the value {"k": "v"} with the string before the key in the arena,
	// and a stray key offset on the root
	nodes := []Value{
		{Kind: ValueObject, Len: 1, As: 1, KeyOffset: 99},
		{Kind: ValueString, KeyOffset: 1, KeyLen: 1, As: 0, Len: 1},
	}
	d, err := a.Copy(nodes, []byte("vk"), Span{Offset: 0, Len: 2})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"k": "v"}, d.Any())
	require.Zero(t, d.Nodes[0].KeyOffset)

	// a key span on a node that is not an object's member is ignored
	// (Check does not look at it), never followed
	arr := []Value{
		{Kind: ValueArray, Len: 1, As: 1},
		{Kind: ValueString, KeyOffset: 1 << 40, KeyLen: 9, As: 0, Len: 1},
	}
	d, err = a.Copy(arr, []byte("vk"), Span{Offset: 0, Len: 2})
	require.NoError(t, err)
	require.Equal(t, []any{"v"}, d.Any())
	require.Zero(t, d.Nodes[1].KeyLen)

	nodes[1].Len = 5 // past the arena
	_, err = a.Copy(nodes, []byte("vk"), Span{Offset: 0, Len: 2})
	require.ErrorContains(t, err, "outside")
}

// A Doc goes into a batch's arenas (Encoder) node for node, and comes out
// as the same value.
func TestEncoderAppendsDoc(t *testing.T) {
	var a DocArena
	v := docValue(7)
	d := buildDoc(t, &a, v)
	e := Encoder{Bytes: []byte("already here")}
	span, err := e.Encode(d)
	require.NoError(t, err)
	got, err := Decode(e.Nodes, e.Bytes, span)
	require.NoError(t, err)
	require.Equal(t, v, got)

	// too little room: nothing is left behind
	fixed := Encoder{Nodes: make([]Value, 0, 2), Bytes: make([]byte, 0, 8), Fixed: true}
	_, err = fixed.Encode(d)
	require.ErrorIs(t, err, ErrNoRoom)
	require.Empty(t, fixed.Nodes)
	require.Empty(t, fixed.Bytes)

	// nested in a Go value, it is encoded like the value it holds
	span, err = e.Encode(map[string]any{"inner": d})
	require.NoError(t, err)
	got, err = Decode(e.Nodes, e.Bytes, span)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"inner": v}, got)
}

func TestDocLookups(t *testing.T) {
	var a DocArena
	d := buildDoc(t, &a, map[string]any{"a": []any{int64(1), "two", map[string]any{"b": false}}})
	i, ok := d.Member(0, "a")
	require.True(t, ok)
	j, ok := d.Element(i, 1)
	require.True(t, ok)
	require.Equal(t, "two", string(d.Data(j)))
	k, ok := d.Element(i, 2)
	require.True(t, ok)
	b, ok := d.Member(k, "b")
	require.True(t, ok)
	v, ok := d.Scalar(b)
	require.True(t, ok)
	require.Equal(t, false, v)
	_, ok = d.Element(i, 3)
	require.False(t, ok)
	_, ok = d.Member(i, "a") // not an object
	require.False(t, ok)
}

// kafkaMeta is the shape of a kafka_source event's metadata.
var kafkaMeta = map[string]any{"kafka": map[string]any{
	"key": "user-42", "offset": int64(123456789), "partition": int64(3),
	"timestamp_ms": int64(1764000000000), "topic": "bench-topic",
}}

func BenchmarkDocCopy(b *testing.B) {
	e := Encoder{}
	span, err := e.Encode(kafkaMeta)
	if err != nil {
		b.Fatal(err)
	}
	var a DocArena
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if err := Check(e.Nodes, e.Bytes, span); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("copy-checked", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			a.CopyChecked(e.Nodes, e.Bytes, span)
			if i%256 == 0 {
				a.Reset()
			}
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := a.Copy(e.Nodes, e.Bytes, span); err != nil {
				b.Fatal(err)
			}
			if i%256 == 0 {
				a.Reset()
			}
		}
	})
}

// CopyChecked copies a value whose keys and strings lie together in its
// arena as one run, and one whose spans lie far apart span by span: both
// read back as the value, and the Doc never holds much more than the
// value's own bytes.
func TestCopyCheckedSpans(t *testing.T) {
	for _, tc := range []struct {
		name string
		gap  int // bytes of the arena between the two members' spans
	}{
		{"together", 0},
		{"a little apart", 40},
		{"far apart", 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arena := make([]byte, 0, 20000)
			put := func(s string) (uint64, uint64) {
				off := uint64(len(arena))
				arena = append(arena, s...)
				return off, uint64(len(s))
			}
			k1, k1n := put("topic")
			v1, v1n := put("bench-topic")
			arena = append(arena, make([]byte, tc.gap)...)
			k2, k2n := put("key")
			v2, v2n := put("user-42")
			nodes := []Value{
				{Kind: ValueObject, Len: 2, As: 2}, // two children, two descendants
				{Kind: ValueString, KeyOffset: k1, KeyLen: uint32(k1n), As: v1, Len: v1n},
				{Kind: ValueString, KeyOffset: k2, KeyLen: uint32(k2n), As: v2, Len: v2n},
			}
			span := Span{Offset: 0, Len: uint64(len(nodes))}
			require.NoError(t, Check(nodes, arena, span))
			var a DocArena
			d := a.CopyChecked(nodes, arena, span)
			require.Equal(t, map[string]any{"topic": "bench-topic", "key": "user-42"}, d.Any())
			own := int(k1n + v1n + k2n + v2n)
			require.LessOrEqual(t, len(d.Bytes), 2*own+64, "the Doc's bytes")
		})
	}
}

// Encoding a Doc copies its bytes in one piece when they are its own, and
// span by span when it shares a larger arena (a member of another Doc, as
// the pipeline makes): both encode the same value, and the member does not
// drag its parent's bytes along.
func TestEncodeDocSharedArena(t *testing.T) {
	big := strings.Repeat("x", 5000)
	var a DocArena
	e0 := Encoder{SortKeys: true}
	span, err := e0.Encode(map[string]any{"big": big, "small": map[string]any{"k": "v", "n": int64(3)}})
	require.NoError(t, err)
	d, err := a.Copy(e0.Nodes, e0.Bytes, span)
	require.NoError(t, err)

	var whole Encoder
	s, err := whole.Encode(d)
	require.NoError(t, err)
	got, err := Decode(whole.Nodes, whole.Bytes, s)
	require.NoError(t, err)
	require.Equal(t, d.Any(), got)

	i, ok := d.Member(0, "small")
	require.True(t, ok)
	sub := &Doc{Nodes: d.Nodes[i:d.Next(i)], Bytes: d.Bytes}
	var part Encoder
	s, err = part.Encode(sub)
	require.NoError(t, err)
	got, err = Decode(part.Nodes, part.Bytes, s)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"k": "v", "n": int64(3)}, got)
	require.Less(t, len(part.Bytes), 100, "the member's bytes only")
}
