package pdk

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"tremorhost/abi"
)

// kafkaLike builds, member by member and in key order, what kafkaLikeMap
// holds.
func kafkaLike(d *ValueBuilder) {
	d.Reset()
	d.Object("")
	d.Object("kafka")
	d.Object("headers")
	d.Bytes("bin", []byte{0xff, 0})
	d.Text("h", []byte("v"))
	d.Text("raw", []byte{0xfe})
	d.End()
	d.Text("key", []byte("k1"))
	d.Array("list")
	d.Null("")
	d.Bool("", true)
	d.Float("", 1.5)
	d.Array("")
	d.End()
	d.End()
	d.Int("offset", -7)
	d.Uint("seq", 1<<63)
	d.String("topic", "tö")
	d.End()
	d.End()
}

var kafkaLikeMap = map[string]any{"kafka": map[string]any{
	"headers": map[string]any{"bin": []byte{0xff, 0}, "h": "v", "raw": []byte{0xfe}},
	"key":     "k1",
	"list":    []any{nil, true, 1.5, []any{}},
	"offset":  int64(-7),
	"seq":     uint64(1 << 63),
	"topic":   "tö",
}}

// A ValueBuilder written in key order lays out exactly the nodes and bytes Push
// writes for the same map, wherever in the room it lands.
func TestValueBuilderMatchesMapEncoding(t *testing.T) {
	var d ValueBuilder
	for _, before := range []int{0, 1, 3} { // events already in the room
		rVB, bVB := roomOver(t, false, 8, 128, 1024)
		rMap, bMap := roomOver(t, false, 8, 128, 1024)
		for i := range before {
			kafkaLike(&d)
			must(t, rVB.Push(Event{ID: uint64(i), Payload: []byte("p"), Meta: &d}))
			must(t, rMap.Push(Event{ID: uint64(i), Payload: []byte("p"), Meta: kafkaLikeMap}))
		}
		kafkaLike(&d)
		must(t, rVB.Push(Event{ID: 9, Payload: []byte("payload"), Meta: &d}))
		must(t, rMap.Push(Event{ID: 9, Payload: []byte("payload"), Meta: kafkaLikeMap}))
		if !reflect.DeepEqual(rVB.events[:rVB.nev], rMap.events[:rMap.nev]) ||
			!reflect.DeepEqual(rVB.values[:rVB.nval], rMap.values[:rMap.nval]) ||
			string(rVB.arena[:rVB.nbytes]) != string(rMap.arena[:rMap.nbytes]) {
			t.Fatalf("after %d events: ValueBuilder and map layouts differ", before)
		}
		last := rVB.events[rVB.nev-1].Meta
		got, err := abi.Decode(rVB.values[:rVB.nval], rVB.arena[:rVB.nbytes], last)
		if err != nil || !reflect.DeepEqual(got, kafkaLikeMap) {
			t.Fatalf("after %d events: decoded %#v, %v", before, got, err)
		}
		if got, err := d.Decode(); err != nil || !reflect.DeepEqual(got, kafkaLikeMap) {
			t.Fatalf("Decode = %#v, %v", got, err)
		}
		rVB.close(bVB, true)
		rMap.close(bMap, true)
	}
}

// A mistake in building is returned by Push, naming it; the event is not
// written.
func TestValueBuilderMistakes(t *testing.T) {
	tests := []struct {
		name  string
		build func(d *ValueBuilder)
		want  string
	}{
		{"empty", func(d *ValueBuilder) {}, "empty"},
		{"not ended", func(d *ValueBuilder) { d.Object(""); d.Int("a", 1) }, "not ended"},
		{"End without Object", func(d *ValueBuilder) { d.Int("", 1); d.End() }, "End without"},
		{"second root", func(d *ValueBuilder) { d.Int("", 1); d.Int("", 2) }, "second root"},
		{"key at the root", func(d *ValueBuilder) { d.Int("a", 1) }, `key "a" outside an object`},
		{"key in an array", func(d *ValueBuilder) { d.Array(""); d.Int("a", 1); d.End() }, `key "a" outside`},
		{"key not UTF-8", func(d *ValueBuilder) { d.Object(""); d.Int("\xff", 1); d.End() }, "not valid UTF-8"},
		{"string not UTF-8", func(d *ValueBuilder) { d.Object(""); d.String("s", "\xff"); d.End() }, `key "s" is not valid UTF-8`},
		{"SetInt of a string", func(d *ValueBuilder) { d.Object(""); d.String("s", "x"); d.End(); d.SetInt(1, 2) }, "SetInt(1): no such member"},
		{"SetText past the end", func(d *ValueBuilder) { d.Object(""); d.String("s", "x"); d.End(); d.SetText(2, nil) }, "SetText(2): no such member"},
		{"too deep", func(d *ValueBuilder) {
			for range abi.MaxDepth + 1 {
				d.Array("")
			}
		}, "deeper than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, b := roomOver(t, false, 4, 512, 64)
			var d ValueBuilder
			tc.build(&d)
			err := r.Push(Event{ID: 1, Meta: &d})
			if err == nil || errors.Is(err, ErrNoRoom) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Push = %v, want an error containing %q", err, tc.want)
			}
			r.close(b, true)
			if b.EventsLen != 0 || b.ValuesLen != 0 || b.BytesLen != 0 {
				t.Fatalf("lengths %d/%d/%d after a refused event", b.EventsLen, b.ValuesLen, b.BytesLen)
			}
			if _, err := d.Decode(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode = %v, want the same error", err)
			}
			d.Reset()
			d.Int("", 1)
			if _, err := d.appendTo(&abi.Encoder{}); err != nil {
				t.Fatalf("after Reset: %v", err)
			}
		})
	}
}

// A value built once and then set member by member (SetInt, SetText) is
// the value built whole with the members' new values, and setting the
// same text member again and again reuses its bytes (no growth).
func TestValueBuilderSet(t *testing.T) {
	var d ValueBuilder
	build := func(d *ValueBuilder, key []byte, offset int64) {
		d.Reset()
		d.Object("")
		d.Text("key", key)
		d.Int("offset", offset)
		d.String("topic", "t")
		d.End()
	}
	build(&d, []byte("first key"), 1)
	key, offset := 1, 2
	if d.Len() != 4 {
		t.Fatalf("Len = %d, want 4", d.Len())
	}
	var once ValueBuilder
	for i, k := range [][]byte{[]byte("k"), {0xff}, {}, []byte("a longer key than before"), []byte("k2")} {
		d.SetText(key, k)
		d.SetInt(offset, int64(-i))
		build(&once, k, int64(-i))
		got, err := d.Decode()
		must(t, err)
		want, err := once.Decode()
		must(t, err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("set %d: %#v, want %#v", i, got, want)
		}
	}
	n := len(d.bytes)
	for range 3 {
		d.SetText(key, []byte("k2"))
	}
	if len(d.bytes) != n {
		t.Fatalf("bytes grew from %d to %d setting the same member", n, len(d.bytes))
	}
	r, _ := roomOver(t, false, 4, 16, 256)
	if allocs := testing.AllocsPerRun(100, func() {
		r.nev, r.nval, r.nbytes = 0, 0, 0
		d.SetInt(offset, 7)
		d.SetText(key, []byte("k3"))
		must(t, r.Push(Event{ID: 1, Meta: &d}))
	}); allocs != 0 {
		t.Fatalf("set and push allocate %.1f times, want 0", allocs)
	}
}

// A ValueBuilder that does not fit is refused like a map: ErrNoRoom, the needs of
// a first event recorded, nothing written.
func TestValueBuilderNoRoom(t *testing.T) {
	var d ValueBuilder
	kafkaLike(&d)
	r, b := roomOver(t, false, 4, 3, 1024)
	if err := r.Push(Event{ID: 1, Payload: []byte("p"), Meta: &d}); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("Push = %v, want ErrNoRoom", err)
	}
	r.close(b, true)
	if b.EventsLen != 0 || b.ValuesLen != 0 || b.BytesLen != 0 {
		t.Fatalf("lengths %d/%d/%d after a refused event", b.EventsLen, b.ValuesLen, b.BytesLen)
	}
	if b.ValuesNeeded != uint64(len(d.nodes)) || b.BytesNeeded != uint64(1+len(d.bytes)) {
		t.Fatalf("needs %d values, %d bytes; want %d, %d", b.ValuesNeeded, b.BytesNeeded, len(d.nodes), 1+len(d.bytes))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPushMeta: an event of 100 bytes with a kafka_source-like meta,
// built whole per event, or built once and set per event (SetInt), beside
// the same event without meta.
func BenchmarkPushMeta(b *testing.B) {
	payload := make([]byte, 100)
	whole := func(d *ValueBuilder, i int) {
		d.Reset()
		d.Object("")
		d.Object("kafka")
		d.Int("offset", int64(i))
		d.Int("partition", 3)
		d.Int("timestamp_ms", 1700000000000+int64(i))
		d.String("topic", "bench-1700000000")
		d.End()
		d.End()
	}
	set := func(d *ValueBuilder, i int) {
		d.SetInt(2, int64(i))
		d.SetInt(4, 1700000000000+int64(i))
	}
	for _, bc := range []struct {
		name string
		meta func(d *ValueBuilder, i int)
	}{{"none", nil}, {"built whole", whole}, {"set", set}} {
		b.Run(bc.name, func(b *testing.B) {
			r, _ := roomOver(b, false, 1024, 16*1024, 256*1024)
			var d ValueBuilder
			whole(&d, 0)
			for i := range b.N {
				ev := Event{ID: uint64(i), Payload: payload}
				if bc.meta != nil {
					bc.meta(&d, i)
					ev.Meta = &d
				}
				if err := r.Push(ev); err != nil {
					r.nev, r.nval, r.nbytes = 0, 0, 0 // full: the host took the batch
				}
			}
		})
	}
}
