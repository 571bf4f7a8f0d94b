package runtime

import (
	"testing"

	"tremorhost/host/flow"
)

// A connector in a child process gets larger batches by default (each
// batch is a round trip to the child); a batch_size the flow sets is kept
// everywhere, and the window bounds the adapted size.
func TestBatchFor(t *testing.T) {
	for _, c := range []struct {
		name    string
		size    int
		set     bool
		process bool
		window  int
		want    int
	}{
		{"in the host, default", flow.DefaultBatchSize, false, false, 4096, flow.DefaultBatchSize},
		{"isolated, default", flow.DefaultBatchSize, false, true, 4096, isolatedBatch},
		{"isolated, set by the flow", 64, true, true, 4096, 64},
		{"isolated, set larger by the flow", 4096, true, true, 65536, 4096},
		{"isolated, small window", flow.DefaultBatchSize, false, true, 512, 512},
		{"isolated, window below the default", flow.DefaultBatchSize, false, true, 256, flow.DefaultBatchSize},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &flow.Flow{BatchSize: c.size, BatchSizeSet: c.set}
			if got := batchFor(f, Placement{Process: c.process}, c.window); got != c.want {
				t.Errorf("batchFor = %d, want %d", got, c.want)
			}
		})
	}
}
