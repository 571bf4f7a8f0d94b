package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"tremorhost/pdk-go"
)

// testSource is a kafka_source without a client, its partitions p0 and p1
// of topic "t" assigned.
func testSource(t *testing.T, onFail string) *source {
	t.Helper()
	s, err := newSource(pdk.NewConfig(map[string]any{
		"brokers": "127.0.0.1:1", "topics": "t", "group_id": "g", "on_fail": onFail,
	}), pdk.NewHost("k", func(pdk.Level, string) {}))
	require.NoError(t, err)
	s.onAssigned(nil, nil, map[string][]int32{"t": {0, 1}})
	return s
}

// handOver tracks a record as if a Pull had handed it to the host under id
// (ids are handed out in sequence: id must be the next one).
func handOver(t *testing.T, s *source, id uint64, partition int32, offset int64) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Equal(t, s.ids.next(), id)
	pt := s.parts[topicPart{"t", partition}]
	require.True(t, pt.add(offset))
	s.ids.add(inFlight{pt: pt, rec: &kgo.Record{Topic: "t", Partition: partition, Offset: offset}})
}

// records lists the records of q, front first.
func records(q *recQueue) []*kgo.Record { return q.rs[q.head:] }

func (s *source) pendingCommits() map[int32]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int32]int64{}
	for p, eo := range s.commitsLocked(nil)["t"] {
		out[p] = eo.Offset
	}
	return out
}

// Acks of two partitions in any order: each partition commits only up to
// its first unacked record.
func TestSourceCommitsPerPartition(t *testing.T) {
	s := testSource(t, "redeliver")
	for i, o := range []int64{10, 11, 12} {
		handOver(t, s, uint64(i+1), 0, o) // ids 1-3: p0 offsets 10-12
	}
	for i, o := range []int64{10, 11, 12} {
		handOver(t, s, uint64(i+4), 1, o) // ids 4-6: p1 offsets 10-12
	}
	require.NoError(t, s.Ack([]uint64{2, 3, 4}))
	assert.Equal(t, map[int32]int64{1: 11}, s.pendingCommits(), "p0 waits for offset 10; p1 may commit past 10")
	require.NoError(t, s.Ack([]uint64{1, 6}))
	assert.Equal(t, map[int32]int64{0: 13}, s.pendingCommits(), "p0 complete; p1 still waits for 11")
	require.NoError(t, s.Ack([]uint64{5}))
	assert.Equal(t, map[int32]int64{1: 13}, s.pendingCommits())
	assert.Empty(t, s.pendingCommits(), "nothing new to commit")
}

// A failed event is offered again (and still holds the commit point back);
// with on_fail = "skip" it counts as done.
func TestSourceFail(t *testing.T) {
	s := testSource(t, "redeliver")
	handOver(t, s, 1, 0, 0)
	handOver(t, s, 2, 0, 1)
	require.NoError(t, s.Fail([]uint64{1}))
	require.NoError(t, s.Ack([]uint64{2}))
	assert.Empty(t, s.pendingCommits(), "offset 0 failed: nothing committed")
	require.Len(t, records(&s.redo), 1)
	assert.Equal(t, int64(0), s.redo.front().Offset, "offered again")

	s = testSource(t, "skip")
	handOver(t, s, 1, 0, 0)
	handOver(t, s, 2, 0, 1)
	require.NoError(t, s.Fail([]uint64{1}))
	require.NoError(t, s.Ack([]uint64{2}))
	assert.Equal(t, map[int32]int64{0: 2}, s.pendingCommits(), "skipped: committed past")
	assert.Empty(t, records(&s.redo))
}

// A lost partition is forgotten: its buffered and failed records are
// dropped, later acks of its events change nothing, and the other
// partition goes on.
func TestSourceForgetsLostPartitions(t *testing.T) {
	s := testSource(t, "redeliver")
	handOver(t, s, 1, 0, 0)
	handOver(t, s, 2, 1, 0)
	handOver(t, s, 3, 1, 1)
	require.NoError(t, s.Fail([]uint64{3}))
	s.fetched.push(&kgo.Record{Topic: "t", Partition: 1, Offset: 2})
	s.fetched.push(&kgo.Record{Topic: "t", Partition: 0, Offset: 1})
	s.onLost(nil, nil, map[string][]int32{"t": {1}})
	assert.Empty(t, records(&s.redo))
	require.Len(t, records(&s.fetched), 1)
	assert.Equal(t, int32(0), s.fetched.front().Partition)
	require.NoError(t, s.Ack([]uint64{1, 2}))
	assert.Equal(t, map[int32]int64{0: 1}, s.pendingCommits(), "only the partition still owned")
}

// The in-flight queue finds each id whatever order they settle in, refuses
// ids it never gave or already settled, and keeps only the unsettled span
// (its array reused, not grown, when ids settle in order).
func TestFlights(t *testing.T) {
	rec := func(o int64) inFlight { return inFlight{pt: &partTrack{}, rec: &kgo.Record{Offset: o}} }
	f := flights{base: 1}
	for i := range int64(5) {
		f.add(rec(i))
	}
	for _, c := range []struct {
		id     uint64
		ok     bool
		offset int64
	}{{3, true, 2}, {3, false, 0}, {0, false, 0}, {6, false, 0}, {1, true, 0}, {2, true, 1}, {5, true, 4}} {
		x, ok := f.take(c.id)
		require.Equal(t, c.ok, ok, "id %d", c.id)
		if ok {
			assert.Equal(t, c.offset, x.rec.Offset, "id %d", c.id)
		}
	}
	assert.Equal(t, 2, f.span(), "id 4 in flight, 5 settled behind it")
	assert.Equal(t, uint64(6), f.next())
	x, ok := f.take(4)
	require.True(t, ok)
	assert.Equal(t, int64(3), x.rec.Offset)
	assert.Equal(t, 0, f.span())

	// In order, a long run: the array stays at its first size.
	for range 3 {
		for i := range int64(2000) {
			f.add(rec(i))
		}
		c := cap(f.q)
		for id := f.base; f.span() > 0; id++ {
			_, ok := f.take(id)
			require.True(t, ok)
		}
		assert.Equal(t, c, cap(f.q))
	}
	assert.Equal(t, uint64(6+3*2000), f.next(), "ids keep counting up")

	// One id held back while the rest settle: the span waits for it, then
	// empties at once.
	held := f.next()
	for i := range int64(5000) {
		f.add(rec(i))
	}
	for id := held + 1; id < f.next(); id++ {
		_, ok := f.take(id)
		require.True(t, ok)
	}
	assert.Equal(t, 5000, f.span())
	_, ok = f.take(held)
	require.True(t, ok)
	assert.Equal(t, 0, f.span())
}

// Each event's meta has the documented shape: key and header values are
// strings when UTF-8 and bytes otherwise, a repeated header keeps its last
// value, no key and no headers leave those members out.
func TestRecordMeta(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	base := func(extra map[string]any) map[string]any {
		k := map[string]any{"topic": "t", "partition": int64(3), "offset": int64(42), "timestamp_ms": int64(1700000000123)}
		for n, v := range extra {
			k[n] = v
		}
		return map[string]any{"kafka": k}
	}
	rec := func(key []byte, hs ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: "t", Partition: 3, Offset: 42, Timestamp: ts, Key: key, Headers: hs}
	}
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	tests := []struct {
		name string
		r    *kgo.Record
		want map[string]any
	}{
		{"no key, no headers", rec(nil), base(nil)},
		{"empty key", rec([]byte{}), base(map[string]any{"key": ""})},
		{"text key", rec([]byte("k1")), base(map[string]any{"key": "k1"})},
		{"binary key", rec([]byte{0xff, 0}), base(map[string]any{"key": []byte{0xff, 0}})},
		{"headers out of order, repeated, binary", rec([]byte("k"), h("z", "1"), h("a", "2"), h("m", "\xfe"), h("a", "3"), h("b", "")),
			base(map[string]any{"key": "k", "headers": map[string]any{"a": "3", "b": "", "m": []byte{0xfe}, "z": "1"}})},
	}
	var m pdk.ValueBuilder
	var hdr []int
	s := testSource(t, "redeliver")
	pt := newPartTrack() // partition 3's
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeMeta(&m, &hdr, tc.r)
			got, err := m.Decode()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "built whole")
			// Pull's path: the partition's shape, set per record, twice
			// (the second time over the first record's members).
			for range 2 {
				got, err = s.recordMeta(pt, tc.r).Decode()
				require.NoError(t, err)
				assert.Equal(t, tc.want, got, "from the partition's shape")
			}
		})
	}
	// One shape, records in a row: every member set is the record's own
	// (keys longer, shorter, binary, empty, then text again).
	keys := [][]byte{[]byte("a"), []byte("a longer key"), {0xff, 0xfe}, {}, []byte("k")}
	for i, k := range keys {
		r := rec(k)
		r.Offset, r.Timestamp = int64(100+i), ts.Add(time.Duration(i)*time.Millisecond)
		got, err := s.recordMeta(pt, r).Decode()
		require.NoError(t, err)
		var key any = string(k)
		if i == 2 {
			key = k
		}
		want := base(map[string]any{"key": key})
		want["kafka"].(map[string]any)["offset"] = int64(100 + i)
		want["kafka"].(map[string]any)["timestamp_ms"] = int64(1700000000123 + i)
		assert.Equal(t, want, got, "record %d", i)
	}
}

// Building an event's meta allocates nothing once the builder has grown.
func TestRecordMetaDoesNotAllocate(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 7, Timestamp: time.Now(), Key: []byte("key"),
		Headers: []kgo.RecordHeader{{Key: "b", Value: []byte("1")}, {Key: "a", Value: []byte("2")}}}
	var m pdk.ValueBuilder
	var hdr []int
	writeMeta(&m, &hdr, r)
	if n := testing.AllocsPerRun(100, func() { writeMeta(&m, &hdr, r) }); n != 0 {
		t.Fatalf("writeMeta allocates %.1f times per record, want 0", n)
	}
	s := testSource(t, "redeliver")
	pt := s.parts[topicPart{"t", 1}]
	for _, r := range []*kgo.Record{r, {Topic: "t", Partition: 1, Offset: 8, Key: []byte("key")}, {Topic: "t", Partition: 1, Offset: 9}} {
		s.recordMeta(pt, r)
		if n := testing.AllocsPerRun(100, func() { s.recordMeta(pt, r) }); n != 0 {
			t.Fatalf("recordMeta allocates %.1f times per record, want 0", n)
		}
	}
}
