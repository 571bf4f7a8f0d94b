package isolate

import (
	"math/rand/v2"
	"testing"
)

// The ring against a map: events of several children (generations) added
// in sequence, settled in a shuffled order within a bounded window, some
// settled twice or never added. Every take answers what the map answers.
func TestIDRingMatchesAMap(t *testing.T) {
	type ent struct{ gen, id uint64 }
	rnd := rand.New(rand.NewPCG(7, 11))
	var r idRing
	r.init()
	model := map[uint64]ent{}
	var live []uint64
	gen := uint64(1)
	for step := range 200000 {
		switch {
		case rnd.IntN(5000) == 0:
			gen++ // a new child
		case len(live) < 3000 && rnd.IntN(2) == 0:
			id := rnd.Uint64() // the plugin's ids are anything
			s := r.add(gen, id)
			if _, dup := model[s]; dup {
				t.Fatalf("step %d: sequence number %d handed out twice", step, s)
			}
			model[s] = ent{gen, id}
			live = append(live, s)
		case len(live) > 0:
			// Mostly in order, sometimes from further back.
			i := 0
			if rnd.IntN(4) == 0 {
				i = rnd.IntN(len(live))
			}
			s := live[i]
			live = append(live[:i], live[i+1:]...)
			g, id, ok := r.take(s)
			want := model[s]
			if !ok || g != want.gen || id != want.id {
				t.Fatalf("step %d: take(%d) = %d, %d, %v; want %d, %d", step, s, g, id, ok, want.gen, want.id)
			}
			delete(model, s)
			if _, _, ok := r.take(s); ok {
				t.Fatalf("step %d: %d settled twice", step, s)
			}
		}
	}
	if _, _, ok := r.take(r.tail + 5); ok {
		t.Fatal("a sequence number never handed out was taken")
	}
	for _, s := range live {
		if _, _, ok := r.take(s); !ok {
			t.Fatalf("live %d not taken", s)
		}
	}
	if r.head != r.tail {
		t.Errorf("nothing live, but the ring holds [%d, %d)", r.head, r.tail)
	}
}

// One batch of 1024 events added, then settled in order, as a flow does
// (7-8 ns an event here).
func BenchmarkIDRing(b *testing.B) {
	var r idRing
	r.init()
	seqs := make([]uint64, 1024)
	for b.Loop() {
		for i := range seqs {
			seqs[i] = r.add(1, uint64(i))
		}
		for _, s := range seqs {
			r.take(s)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(seqs)), "ns/event")
}
