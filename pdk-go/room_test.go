package pdk

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"

	"tremorhost/abi"
)

// roomOver opens a Room over arenas laid out as the host lays its batch
// (the Room only sees addresses and capacities), in memory outside the Go
// heap as the host's is: addresses of Go memory passed as integers are what
// the race detector's pointer checks refuse.
func roomOver(t testing.TB, structured bool, events, values, nbytes int) (*Room, *abi.Batch) {
	t.Helper()
	evSize, valSize := int(unsafe.Sizeof(abi.Event{})), int(unsafe.Sizeof(abi.Value{}))
	size := max(events*evSize+values*valSize+nbytes, 1)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(mem) })
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	b := &abi.Batch{
		StructSize: uint32(abi.SizeofBatch),
		Events:     base, EventsCap: uint64(events),
		Values: base + uintptr(events*evSize), ValuesCap: uint64(values),
		Bytes: base + uintptr(events*evSize+values*valSize), BytesCap: uint64(nbytes),
	}
	var r Room
	if err := r.open(b, structured); err != nil {
		t.Fatal(err)
	}
	return &r, b
}

// The per-event write paths of Pull write into the host's memory and must
// not allocate.
func TestRoomPushDoesNotAllocate(t *testing.T) {
	payload := []byte("0123456789abcdef")
	meta := map[string]any{"k": int64(1)}
	var value any = []any{int64(7), "seven", true, meta} // boxed once, as a plugin would keep it
	var doc ValueBuilder
	docMeta := func() *ValueBuilder { // a ValueBuilder rebuilt per event, as a source does
		doc.Reset()
		doc.Object("")
		doc.Text("key", payload)
		doc.Int("offset", 42)
		doc.End()
		return &doc
	}
	tests := []struct {
		name       string
		structured bool
		push       func(r *Room, id uint64) error
	}{
		{"PushBytes", false, func(r *Room, id uint64) error { return r.PushBytes(id, payload) }},
		{"Reserve", false, func(r *Room, id uint64) error { _, err := r.Reserve(id, 8); return err }},
		{"Push bytes", false, func(r *Room, id uint64) error { return r.Push(Event{ID: id, Payload: payload}) }},
		{"Push bytes+meta", false, func(r *Room, id uint64) error { return r.Push(Event{ID: id, Payload: payload, Meta: meta}) }},
		{"Push bytes+ValueBuilder meta", false, func(r *Room, id uint64) error { return r.Push(Event{ID: id, Payload: payload, Meta: docMeta()}) }},
		{"Push value", true, func(r *Room, id uint64) error { return r.Push(Event{ID: id, Value: value, Meta: meta}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const runs = 100
			r, _ := roomOver(t, tc.structured, runs+2, 8*(runs+2), 64*(runs+2))
			id := uint64(0)
			allocs := testing.AllocsPerRun(runs, func() {
				id++
				if err := tc.push(r, id); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%s allocates %.1f times per event, want 0", tc.name, allocs)
			}
		})
	}
}

// An event that does not fit an empty room is refused, and the room
// records what it needs; the room's lengths stay as they were.
func TestRoomRefusesAndRecordsNeeds(t *testing.T) {
	r, b := roomOver(t, true, 4, 2, 4)
	v := map[string]any{"name": "a longer string"}
	if err := r.Push(Event{ID: 1, Value: v}); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("Push = %v, want ErrNoRoom", err)
	}
	r.close(b, true)
	if b.EventsLen != 0 || b.ValuesLen != 0 || b.BytesLen != 0 {
		t.Fatalf("lengths %d/%d/%d after a refused event, want 0/0/0", b.EventsLen, b.ValuesLen, b.BytesLen)
	}
	if b.ValuesNeeded != 2 || b.BytesNeeded != uint64(len("name")+len("a longer string")) {
		t.Fatalf("needs %d values, %d bytes; want 2, %d", b.ValuesNeeded, b.BytesNeeded, len("name")+len("a longer string"))
	}
}
