package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"tremorhost/host/edge"
)

// boundaryBatches are the batch sizes of BenchmarkBoundary.
var boundaryBatches = []int{1, 64, 256, 1024}

// BenchmarkBoundary measures host/plugin alone: Pull from a bench source
// plugin into an off-heap batch, and Send of a batch of 100-byte events to
// a bench sink plugin, without runtime, codec or processors. One op is one
// event (each loop moves a whole batch and counts batch-size ops), so
// ns/op is ns per event and allocs/op the boundary's allocations per event.
//
// The time includes what the plugin itself does per event: the bench
// sources format each line into the arena (about a 100-byte memset), the
// sinks count. The "null" plugin (testdata/null_plugin.c, compiled here
// with cc) does the least the contract allows, one tremor_event store per
// pulled event and one outcome byte per sent one, so its rows are the cost
// of the boundary itself.
func BenchmarkBoundary(b *testing.B) {
	null := impl{name: "null", file: nullPlugin(b), source: "null_source", sink: "null_sink"}
	for _, im := range append([]impl{null}, impls[1:]...) { // the plugins
		for _, n := range boundaryBatches {
			b.Run(fmt.Sprintf("pull/batch=%d/%s", n, im.name), func(b *testing.B) {
				cfg := map[string]any{"count": uint64(1) << 50, "size": uint64(100)}
				if im.name == "null" {
					delete(cfg, "count")
				}
				src := newInstance(b, im.file, im.source, cfg)
				batch := newBatch(b, edge.Caps{Events: n, Values: 0, Bytes: 100 * n})
				boundaryLoop(b, n, func() {
					if err := src.Pull(batch, 0); err != nil || batch.Len() != n {
						b.Fatal(err, batch.Len())
					}
				})
			})
			b.Run(fmt.Sprintf("send/batch=%d/%s", n, im.name), func(b *testing.B) {
				cfg := map[string]any{}
				if im.name == "gopl" {
					cfg["check"] = false
				}
				sink := newInstance(b, im.file, im.sink, cfg)
				batch := newBatch(b, edge.Caps{Events: n, Values: 0, Bytes: 100 * n})
				payload := make([]byte, 100)
				copy(payload, `{"seq":0,"pad":"`)
				for k := 0; k < n; k++ {
					if err := batch.Append(&edge.Event{ID: uint64(k), Payload: payload}); err != nil {
						b.Fatal(err)
					}
				}
				outcomes := make([]uint8, n)
				boundaryLoop(b, n, func() {
					if err := sink.Send(batch, outcomes); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}

// boundaryLoop runs op (which moves n events) until b.N events have moved.
func boundaryLoop(b *testing.B, n int, op func()) {
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += n {
		op()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// nullPlugin compiles testdata/null_plugin.c into build/bench (once, or
// again when the source is newer) and returns the library's path.
func nullPlugin(b *testing.B) string {
	b.Helper()
	r := root(b)
	src := filepath.Join(r, "bench", "testdata", "null_plugin.c")
	dir := filepath.Join(r, "build", "bench")
	lib := filepath.Join(dir, "libtremor_null.so")
	if ls, err := os.Stat(lib); err == nil {
		if ss, err := os.Stat(src); err == nil && !ss.ModTime().After(ls.ModTime()) {
			return lib
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	tmp := lib + ".tmp"
	out, err := exec.Command(cc, "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-I", filepath.Join(r, "include"), "-o", tmp, src).CombinedOutput()
	if err != nil {
		b.Fatalf("compiling %s: %v\n%s", src, err, out)
	}
	if err := os.Rename(tmp, lib); err != nil {
		b.Fatal(err)
	}
	return lib
}

// newInstance creates, connects and starts an instance, destroyed at the
// end of the benchmark.
func newInstance(b *testing.B, file, name string, cfg map[string]any) *edge.Instance {
	b.Helper()
	i, err := connector(b, file, name).Create("bench", cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = i.Stop()
		i.Destroy()
	})
	if err := i.Connect(1); err != nil {
		b.Fatal(err)
	}
	if err := i.Start(); err != nil {
		b.Fatal(err)
	}
	return i
}

func newBatch(b *testing.B, c edge.Caps) *edge.Batch {
	b.Helper()
	batch, err := edge.NewBatch(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(batch.Free)
	return batch
}
