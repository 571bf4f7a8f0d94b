package isolate

import (
	"testing"

	"tremorhost/host/edge"
)

// A new mapping never takes the slot of a mapping an AHEAD being built
// names (that AHEAD would then name another batch's memory), and takes
// the slot of one an AHEAD out names only when nothing else is left.
func TestVictimSparesSlotsInUse(t *testing.T) {
	ids := make([]uint64, slotCount)
	batches := make([]*edge.Batch, slotCount)
	for i := range batches {
		b, err := edge.NewBatch(edge.Caps{Events: 4, Values: 16, Bytes: 1024})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Free)
		sm, err := b.Share()
		if err != nil {
			t.Fatal(err)
		}
		batches[i], ids[i] = b, sm.ID
	}
	for next := range slotCount {
		r := &remote{next: next}
		copy(r.slots[:], ids)
		// Slots 0-3 lent, 4-6 named by the AHEADs being built: only 7 is free.
		r.lent = batches[:4]
		r.naming = ids[4:7]
		if got := r.victim(); got != 7 {
			t.Errorf("next %d: victim %d, want 7 (the one slot nothing names)", next, got)
		}
		// Everything but slot 2 named now: a lent slot is taken, never a named one.
		r.lent = batches[:3]
		r.naming = append(append([]uint64{}, ids[3:]...), ids[0], ids[1])
		if got := r.victim(); got != 2 {
			t.Errorf("next %d: victim %d, want 2", next, got)
		}
	}
}
