package tests

import (
	"fmt"
	"testing"

	"tremorhost/host/edge"
)

// Per-call cost of Pull and Send through the host into the bundled bench
// plugins (C: libtremor_bench.so, Go: libtremor_bench_go.so), 100-byte
// events. Run: go test -run - -bench . ./tests/
func BenchmarkBundledPull(b *testing.B) {
	for _, src := range []struct{ file, name string }{
		{"libtremor_bench.so", "bench_source"},
		{"libtremor_bench_go.so", "bench_go_source"},
	} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", src.name, n), func(b *testing.B) {
				i := create(b, connector(b, src.file, src.name), "bench", map[string]any{"count": uint64(1) << 50, "size": 100}, nil)
				lifecycle(b, i)
				batch := newBatch(b, edge.Caps{Events: n, Values: 0, Bytes: 100 * n})
				b.ReportAllocs()
				for b.Loop() {
					if err := i.Pull(batch, 0); err != nil || batch.Len() != n {
						b.Fatal(err, batch.Len())
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			})
		}
	}
}

func BenchmarkBundledSend(b *testing.B) {
	for _, dst := range []struct{ file, name string }{
		{"libtremor_bench.so", "bench_sink"},
		{"libtremor_bench_go.so", "bench_go_sink"},
	} {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", dst.name, n), func(b *testing.B) {
				cfg := map[string]any{}
				if dst.name == "bench_go_sink" {
					cfg["check"] = false
				}
				i := create(b, connector(b, dst.file, dst.name), "bench", cfg, nil)
				lifecycle(b, i)
				batch := newBatch(b, edge.Caps{Events: n, Values: 0, Bytes: 100 * n})
				payload := make([]byte, 100)
				copy(payload, `{"seq":0,"pad":"`)
				for k := 0; k < n; k++ {
					if err := batch.Append(&edge.Event{ID: uint64(k), Payload: payload}); err != nil {
						b.Fatal(err)
					}
				}
				outcomes := make([]uint8, n)
				b.ReportAllocs()
				for b.Loop() {
					if err := i.Send(batch, outcomes); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			})
		}
	}
}
