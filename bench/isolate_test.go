package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	plugincat "tremorhost/host/catalog"
	"tremorhost/host/flow"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
)

// BenchmarkFlowIsolated measures what process isolation costs a flow: the
// flows of BenchmarkFlow at the default batch size, 100-byte and 1 KiB
// payloads, through each plugin, once with both connectors in
// the host (isolation = "none") and right after with both in tremor-runner
// child processes (isolation = "process"), so that each pair is measured
// seconds apart. Rows are FlowIsolated/<kind>/size=<s>/batch=<b>/<impl>/
// <none|process>; benchtable prints the ratio process/none per pair (the
// issue's target: >= 0.8x at the default batch). At the default batch the
// flow sets no batch_size, so the isolated rows run at the runtime's
// default for a connector in a child process (1024, not the 256 of the
// row's name): the comparison is of what a user gets by default.
// BENCH_CPUS="0, 1" pins both rows of each pair with the flow setting
// cpus = [0, 1] (host/runtime/cpus.go).
func BenchmarkFlowIsolated(b *testing.B) {
	cat := isoCatalog(b)
	for _, kind := range flowKinds {
		for _, size := range []int{100, 1024} {
			for _, batch := range []int{0} {
				for _, im := range impls {
					if im.file == "" {
						continue // in-process Go connectors cannot be isolated
					}
					for _, iso := range []string{"none", "process"} {
						name := fmt.Sprintf("%s/size=%d/%s/%s/%s", kind, size, batchName(batch), im.name, iso)
						b.Run(name, func(b *testing.B) {
							spec := flowSpec{im: im, kind: kind, batch: batch, size: size, count: b.N}
							runIsolatedFlow(b, cat, spec, iso)
						})
					}
				}
			}
		}
	}
}

var (
	isoCatOnce sync.Once
	isoCat     runtime.Catalog
	isoCatErr  error
)

// isoCatalog reads the bench plugins with the scanner (as tremorctl does)
// and runs isolated instances with build/bin/tremor-runner.
func isoCatalog(tb testing.TB) runtime.Catalog {
	tb.Helper()
	runner := filepath.Join(root(tb), "build", "bin", "tremor-runner")
	if _, err := os.Stat(runner); err != nil {
		tb.Fatalf("%s is missing: run ./scripts/build.sh first", runner)
	}
	var files []string
	for _, im := range impls {
		if im.file != "" {
			files = append(files, pluginFile(tb, im.file))
		}
	}
	isoCatOnce.Do(func() {
		var reg *plugin.Registry
		reg, isoCatErr = (&isolate.Scanner{Runner: runner}).Registry(files)
		isoCat = plugincat.Plugins{Registry: reg, Isolate: isolate.Options{Runner: runner}}
	})
	if isoCatErr != nil {
		tb.Fatal(isoCatErr)
	}
	return isoCat
}

// runIsolatedFlow is runFlow with every connector's isolation set.
func runIsolatedFlow(b *testing.B, cat runtime.Catalog, spec flowSpec, iso string) {
	src := strings.ReplaceAll(spec.toml(), "\n[[connector]]\n", fmt.Sprintf("\n[[connector]]\nisolation = %q\n", iso))
	if cpus := os.Getenv("BENCH_CPUS"); cpus != "" {
		src = strings.Replace(src, "[flow]\n", "[flow]\ncpus = ["+cpus+"]\n", 1)
	}
	f, err := flow.Parse("bench.toml", []byte(src))
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
		if s.Connector == "src" && (s.In != uint64(spec.count) || s.Acks != uint64(spec.count)) {
			b.Fatalf("source: %+v, want %d events in and acked", s, spec.count)
		}
		if s.Connector == "dst" && s.Out != uint64(spec.count) {
			b.Fatalf("sink: %+v, want %d events delivered", s, spec.count)
		}
	}
	n := float64(spec.count)
	b.ReportMetric(n/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
}
