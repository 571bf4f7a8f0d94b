package edge

import (
	"fmt"
	"sync/atomic"

	"tremorhost/abi"
	"tremorhost/host/internal/cmem"
)

// A batch handed to a plugin in another process (host/isolate) lives in
// shared memory: a memfd both processes map, so events cross without being
// copied. A batch starts in private memory and moves into a memfd the first
// time Share is called; from then on every remap (the room grew) makes a
// new memfd with a new ID, which the other process must map again.
//
// The tremor_batch header holds addresses, which differ between the two
// mappings, so it does not travel through the shared memory: the remote
// side is told the header with offsets into the mapping instead of
// addresses (RemoteHeader), builds its own with its own addresses, and
// reports back what the plugin left in it the same way (SetRemoteHeader).
// An address the plugin moved stays moved after the translation, and
// adoptPulled refuses it as it does in this process.

type sharing struct {
	id uint64
}

var sharedIDs atomic.Uint64

// SharedMem is a batch's mapping as another process maps it.
type SharedMem struct {
	FD   int    // the memfd (owned by the batch: do not close)
	Size uint64 // bytes to map
	// ID changes whenever the batch is remapped: map FD again when it does.
	ID uint64
}

func (b *Batch) mapMem(size int) (*cmem.Arena, error) {
	if b.shared == nil {
		return cmem.Map(size)
	}
	a, err := cmem.MapShared(size, "tremor-batch")
	if err == nil {
		b.shared.id = sharedIDs.Add(1)
	}
	return a, err
}

// Share moves the batch into shared memory (once; its events stay) and
// returns the mapping for another process.
func (b *Batch) Share() (SharedMem, error) {
	if b.shared == nil {
		b.shared = &sharing{}
		old := b.arena
		a, err := b.mapMem(old.Size())
		if err != nil {
			b.shared = nil
			return SharedMem{}, err
		}
		evOff, valOff, byteOff, _ := layout(b.caps)
		nEv, nVal, nBytes := len(b.events), len(b.values), len(b.bytes)
		// Only what is in use moves: copying the whole room would fault in
		// every page of both mappings (milliseconds for a default batch,
		// at every isolated connector's start).
		src, dst := old.Mem(), a.Mem()
		for _, r := range [][2]uintptr{
			{0, evOff},
			{evOff, evOff + uintptr(nEv)*eventSize},
			{valOff, valOff + uintptr(nVal)*valueSize},
			{byteOff, byteOff + uintptr(nBytes)},
		} {
			copy(dst[r[0]:r[1]], src[r[0]:r[1]])
		}
		oldBase := old.Addr()
		b.arena = a
		b.hdr = cmem.At[abi.Batch](a, 0)
		// A header already prepared for the next hook points into the old
		// mapping: move its addresses along.
		for _, p := range []*uintptr{&b.prep.Events, &b.prep.Values, &b.prep.Bytes} {
			if *p != 0 {
				*p = *p - oldBase + a.Addr()
			}
		}
		*b.hdr = b.prep
		b.mEvents = cmem.Slice[abi.Event](a, evOff, b.caps.Events)
		b.mValues = cmem.Slice[abi.Value](a, valOff, b.caps.Values)
		if !b.copied {
			b.events, b.values = b.mEvents[:nEv], b.mValues[:nVal]
		}
		b.bytes = cmem.Slice[byte](a, byteOff, b.caps.Bytes)[:nBytes]
		base := a.Addr()
		b.evAddr, b.valAddr, b.byteAddr = base+evOff, base+valOff, base+byteOff
		b.enc = abi.Encoder{Nodes: b.values, Bytes: b.bytes, Fixed: true}
		old.Free()
	}
	return SharedMem{FD: b.arena.FD(), Size: uint64(b.arena.Size()), ID: b.shared.id}, nil
}

// RemoteHeader returns the header prepared for the hook being called (the
// empty room for on_pull, the events for on_send), with offsets into the
// mapping in place of the events, values and bytes addresses. It is taken
// from the host's own copy, not from the mapping the other process can
// write.
func (b *Batch) RemoteHeader() abi.Batch {
	h := b.prep
	base := b.arena.Addr()
	h.Events -= base
	h.Values -= base
	h.Bytes -= base
	return h
}

// SetRemoteHeader sets the header from what the plugin in another process
// left in it, reported with offsets into the mapping in place of
// addresses. The Instance then checks it as it checks a header a plugin in
// this process wrote, from a private copy (the mapping's header is set
// too, for the checks that compare it, but the other process can write
// it).
func (b *Batch) SetRemoteHeader(h abi.Batch) {
	base := b.arena.Addr()
	h.Events += base
	h.Values += base
	h.Bytes += base
	b.remote, b.hasRemote = h, true
	*b.hdr = h
}

// SwapShared exchanges the mappings of b and o, two shared batches of the
// same room, between a transport's calls: a transport that had the plugin
// pull ahead into o hands that pull to b. The header prepared in b for the
// current call moves to b's new mapping (same offsets); both batches are
// left empty, as after Reset.
func (b *Batch) SwapShared(o *Batch) error {
	if b.shared == nil || o.shared == nil || b.caps != o.caps {
		return fmt.Errorf("cannot swap batches of rooms %+v and %+v (both shared, the same room)", b.caps, o.caps)
	}
	bBase, oBase := b.arena.Addr(), o.arena.Addr()
	b.arena, o.arena = o.arena, b.arena
	b.hdr, o.hdr = o.hdr, b.hdr
	b.mEvents, o.mEvents = o.mEvents, b.mEvents
	b.mValues, o.mValues = o.mValues, b.mValues
	b.bytes, o.bytes = o.bytes[:0], b.bytes[:0]
	b.evAddr, o.evAddr = o.evAddr, b.evAddr
	b.valAddr, o.valAddr = o.valAddr, b.valAddr
	b.byteAddr, o.byteAddr = o.byteAddr, b.byteAddr
	b.shared, o.shared = o.shared, b.shared
	moveAddrs(&b.prep, bBase, oBase)
	moveAddrs(&o.prep, oBase, bBase)
	b.Reset()
	o.Reset()
	*b.hdr, *o.hdr = b.prep, o.prep
	return nil
}

// moveAddrs moves the addresses of a prepared header from one mapping to
// another of the same layout.
func moveAddrs(h *abi.Batch, from, to uintptr) {
	for _, p := range [...]*uintptr{&h.Events, &h.Values, &h.Bytes} {
		if *p != 0 {
			*p = *p - from + to
		}
	}
}
