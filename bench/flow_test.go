package bench

import (
	"context"
	"fmt"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/host/flow"
	"tremorhost/host/runtime"
)

var (
	flowKinds  = []string{"raw", "json"}
	flowSizes  = []int{100, 1024, 64 << 10}
	flowBatchs = []int{1, 64, 256, 0} // 0: the default (flow.DefaultBatchSize, 1024)
)

func batchName(n int) string {
	if n == 0 {
		return fmt.Sprintf("batch=default%d", flow.DefaultBatchSize)
	}
	return fmt.Sprintf("batch=%d", n)
}

// BenchmarkFlow runs one whole flow of b.N events per configuration. The
// in-process Go baseline runs right before the plugins of the same
// configuration, so each ratio compares numbers measured seconds apart.
func BenchmarkFlow(b *testing.B) {
	cat := catalog(b)
	for _, kind := range flowKinds {
		for _, size := range flowSizes {
			for _, batch := range flowBatchs {
				for _, im := range impls {
					name := fmt.Sprintf("%s/size=%d/%s/%s", kind, size, batchName(batch), im.name)
					b.Run(name, func(b *testing.B) {
						runFlow(b, cat, flowSpec{im: im, kind: kind, batch: batch, size: size, count: b.N})
					})
				}
			}
		}
	}
}

// runFlow runs the flow once with count = b.N events and reports events/s,
// ns/event, MB/s (of payload) and allocations per event in the host.
func runFlow(b *testing.B, cat runtime.Catalog, spec flowSpec) {
	f, err := flow.Parse("bench.toml", []byte(spec.toml()))
	if err != nil {
		b.Fatal(err)
	}
	r, err := runtime.New(f, cat, runtime.Options{Log: zerolog.Nop(), DrainTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(spec.size))
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	stats, err := r.Run(context.Background())
	elapsed := time.Since(start)
	b.StopTimer()
	goruntime.ReadMemStats(&after)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range stats {
		switch s.Connector {
		case "src":
			if s.In != uint64(spec.count) || s.Acks != uint64(spec.count) || s.Fails != 0 {
				b.Fatalf("source: %+v, want %d events in and acked", s, spec.count)
			}
		case "dst":
			if s.Out != uint64(spec.count) {
				b.Fatalf("sink: %+v, want %d events delivered", s, spec.count)
			}
		}
	}
	n := float64(spec.count)
	b.ReportMetric(n/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
}
