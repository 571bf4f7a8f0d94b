package edge

import (
	"encoding/binary"
	"testing"

	"tremorhost/abi"
)

// FuzzAdoptPulled plays a plugin that writes arbitrary bytes into the room
// it was given: header lengths, events, value nodes and payload bytes. The
// host's check must refuse what breaks the contract and never panic, and
// whatever it accepts must be readable without panicking.
func FuzzAdoptPulled(f *testing.F) {
	f.Add(uint64(1), uint64(0), uint64(5), make([]byte, 64), make([]byte, 0), []byte("hello"))
	f.Add(uint64(2), uint64(1), uint64(0), make([]byte, 128), make([]byte, 32), []byte{})
	f.Add(uint64(1), uint64(1), uint64(3), append(make([]byte, 28), 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0), make([]byte, 32), []byte("abc"))

	eventSz, valueSz := int(abi.SizeofEvent), int(abi.SizeofValue)
	f.Fuzz(func(t *testing.T, nEvents, nValues, nBytes uint64, rawEvents, rawValues, payload []byte) {
		b, err := NewBatch(Caps{Events: 4, Values: 8, Bytes: 64})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Free()
		b.prepareRoom()
		events := b.events[:b.caps.Events]
		for i := range events {
			if len(rawEvents) < (i+1)*eventSz {
				break
			}
			r := rawEvents[i*eventSz:]
			u := func(o int) uint64 { return binary.LittleEndian.Uint64(r[o:]) }
			events[i] = abi.Event{ID: u(0), Stream: u(8), IngestNs: u(16),
				Port: binary.LittleEndian.Uint32(r[24:]), Flags: binary.LittleEndian.Uint32(r[28:]),
				Payload: abi.Span{Offset: u(32), Len: u(40)}, Meta: abi.Span{Offset: u(48), Len: u(56)}}
		}
		values := b.values[:b.caps.Values]
		for i := range values {
			if len(rawValues) < (i+1)*valueSz {
				break
			}
			r := rawValues[i*valueSz:]
			values[i] = abi.Value{Kind: r[0], KeyLen: binary.LittleEndian.Uint32(r[4:]),
				KeyOffset: binary.LittleEndian.Uint64(r[8:]), Len: binary.LittleEndian.Uint64(r[16:]),
				As: binary.LittleEndian.Uint64(r[24:])}
		}
		copy(b.bytes[:b.caps.Bytes], payload)
		b.hdr.EventsLen, b.hdr.ValuesLen, b.hdr.BytesLen = nEvents, nValues, nBytes

		if err := b.adoptPulled(); err != nil {
			return
		}
		for i := 0; i < b.Len(); i++ {
			_ = b.Payload(i)
			if b.Event(i).Flags&abi.EventStructured != 0 {
				if _, err := b.Value(i); err != nil {
					t.Fatalf("accepted event %d whose value does not decode: %v", i, err)
				}
			}
			if _, err := b.Meta(i); err != nil {
				t.Fatalf("accepted event %d whose meta does not decode: %v", i, err)
			}
		}
	})
}
