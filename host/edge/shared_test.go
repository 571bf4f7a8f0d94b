package edge

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"tremorhost/abi"
)

// A plugin in another process can keep writing into a shared batch after
// its on_pull returned. Here a goroutine plays that thread: it scribbles
// random values over the whole mapping (the header, the event array, the
// value nodes and the bytes) while the host adopts pulls and reads every
// event it accepted. The host may refuse a pull (the check saw garbage) or
// read changed payload bytes, but it must never read out of bounds (a
// panic: slice bounds out of range), and what it accepted must stay as it
// was checked.
func TestAdoptPulledWithConcurrentWriter(t *testing.T) {
	caps := Caps{Events: 32, Values: 64, Bytes: 1024}
	b, err := NewBatch(caps)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	if _, err := b.Share(); err != nil {
		t.Fatal(err)
	}
	mem := b.arena.Mem()
	words := len(mem) / 8
	base := unsafe.Pointer(unsafe.SliceData(mem))

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for !stop.Load() {
			w := (*uint64)(unsafe.Add(base, 8*r.IntN(words)))
			switch r.IntN(4) {
			case 0: // a plausible span or length, slightly too long
				*w = uint64(r.IntN(2 * caps.Bytes))
			case 1:
				*w = r.Uint64()
			case 2:
				*w = 0
			default: // a huge offset: reading it unchecked leaves the arena
				*w = 1 << 40
			}
		}
	}()
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()

	var adopted, refused, events int
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(deadline) || adopted == 0; i++ {
		b.prepareRoom()
		h := fillPull(b, i)
		b.SetRemoteHeader(h)
		if err := b.adoptPulled(); err != nil {
			refused++
			continue
		}
		adopted++
		for k := range b.Len() {
			ev := *b.Event(k)
			p := b.Payload(k)
			if ev.Flags&abi.EventStructured == 0 && uint64(len(p)) != ev.Payload.Len {
				t.Fatalf("event %d: payload of %d bytes, its checked span says %d", k, len(p), ev.Payload.Len)
			}
			_, _ = b.Meta(k)
			if ev.Flags&abi.EventStructured != 0 {
				_, _ = b.Value(k)
			}
			events++
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("no pull survived the writer in 22 s (%d refused)", refused)
		}
	}
	t.Logf("%d pulls adopted (%d events read), %d refused", adopted, events, refused)
}

// fillPull writes a well-formed pull into b's mapping as a plugin would
// (raw events with a {"n": i} meta) and returns the header it would report,
// with offsets in place of addresses.
func fillPull(b *Batch, i int) abi.Batch {
	n := b.caps.Events
	var nv, nb uint64
	for k := range n {
		payload := []byte("event payload")
		copy(b.bytes[:cap(b.bytes)][nb:], payload)
		e := abi.Event{ID: uint64(k + 1), Payload: abi.Span{Offset: nb, Len: uint64(len(payload))}}
		nb += uint64(len(payload))
		if k%2 == 0 && nv+2 <= uint64(b.caps.Values) {
			b.bytes[:cap(b.bytes)][nb] = 'n'
			b.mValues[nv] = abi.Value{Kind: abi.ValueObject, Len: 1, As: 1}
			b.mValues[nv+1] = abi.Value{Kind: abi.ValueUint, KeyOffset: nb, KeyLen: 1, As: uint64(i)}
			e.Meta = abi.Span{Offset: nv, Len: 2}
			nv += 2
			nb++
		}
		b.mEvents[k] = e
	}
	h := b.RemoteHeader()
	h.EventsLen, h.ValuesLen, h.BytesLen = uint64(n), nv, nb
	return h
}

// Share moves a batch that already holds events (a sink's first send
// fills the batch before the transport shares it) into shared memory
// without losing any of them: raw payloads, structured values and
// metadata read back the same from the new mapping.
func TestShareKeepsEvents(t *testing.T) {
	b, err := NewBatch(Caps{Events: 64, Values: 256, Bytes: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free()
	var want []Event
	for i := range 20 {
		ev := Event{ID: uint64(i), Stream: 7, IngestNs: uint64(1000 + i), Meta: map[string]any{"n": int64(i)}}
		if i%2 == 0 {
			ev.Payload = []byte(fmt.Sprintf("line %d of the batch", i))
		} else {
			ev.Structured, ev.Value = true, map[string]any{"seq": int64(i), "tag": "odd"}
		}
		if err := b.Append(&ev); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev)
	}
	if _, err := b.Share(); err != nil {
		t.Fatal(err)
	}
	if b.Len() != len(want) {
		t.Fatalf("%d events after Share, want %d", b.Len(), len(want))
	}
	for i, w := range want {
		ev := b.Event(i)
		if ev.ID != w.ID || ev.Stream != w.Stream || ev.IngestNs != w.IngestNs {
			t.Errorf("event %d: id %d stream %d ingest %d, want %d %d %d", i, ev.ID, ev.Stream, ev.IngestNs, w.ID, w.Stream, w.IngestNs)
		}
		if w.Structured {
			v, err := b.Value(i)
			if err != nil || !reflect.DeepEqual(v, w.Value) {
				t.Errorf("event %d: value %v (%v), want %v", i, v, err, w.Value)
			}
		} else if got := string(b.Payload(i)); got != string(w.Payload) {
			t.Errorf("event %d: payload %q, want %q", i, got, w.Payload)
		}
		if m, err := b.Meta(i); err != nil || !reflect.DeepEqual(m, w.Meta) {
			t.Errorf("event %d: meta %v (%v), want %v", i, m, err, w.Meta)
		}
	}
}
