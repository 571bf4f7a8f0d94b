package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tremorhost/host/plugin"
)

// maxCopies bounds the plugin copies one process loads: libraries are
// never unloaded, so each iteration of BenchmarkLoadPlugin maps a library
// for good. Run the load benchmarks with a fixed count (-benchtime 100x).
const maxCopies = 2000

var copiesLoaded int

// BenchmarkLoadPlugin is the time to load and check one plugin file
// (plugin.Load: stat, ELF check, dlopen, descriptor and every connector
// type and config field checked). Each iteration loads a fresh copy, as
// the loader caches by path and a library stays loaded.
func BenchmarkLoadPlugin(b *testing.B) {
	for _, im := range impls[1:3] { // C and Rust; a Go c-shared library brings a whole Go runtime and is loaded once per process at most
		b.Run(im.name, func(b *testing.B) {
			if copiesLoaded+b.N > maxCopies {
				b.Fatalf("b.N = %d: run the load benchmarks with -benchtime 100x (every iteration maps a library that is never unloaded)", b.N)
			}
			copiesLoaded += b.N
			src := pluginFile(b, im.file)
			dir := b.TempDir()
			paths := make([]string, b.N)
			for i := range paths {
				paths[i] = filepath.Join(dir, fmt.Sprintf("libtremor_copy%d.so", i))
				copyFile(b, src, paths[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := plugin.Load(paths[i])
				if err != nil || p.Connector(im.source) == nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/load")
		})
	}
}

// BenchmarkListPlugins100 runs `tremorctl list-plugins DIR` (a fresh
// process each time, so startup is included) over a directory of 100
// distinct plugin files: 50 C and 50 Rust bench plugins whose names were
// made unique by rewriting "bench_" to "bNNNx_" in each copy (same length,
// so the libraries stay intact), so that every file loads and registers.
//
// scanner: tremorctl as built, which reads each file in a tremor-runner
// child process when it finds one next to it (host/isolate.Scanner);
// inprocess: a copy of tremorctl alone in a directory, which loads every
// file into its own process (plugin.LoadAll).
func BenchmarkListPlugins100(b *testing.B) {
	bin := filepath.Join(root(b), "build", "bin", "tremorctl")
	if _, err := os.Stat(bin); err != nil {
		b.Fatalf("%s is missing: run ./scripts/build.sh first", bin)
	}
	dir := b.TempDir()
	for i := 0; i < 100; i++ {
		im := impls[1+i%2]
		data, err := os.ReadFile(pluginFile(b, im.file))
		if err != nil {
			b.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte("bench_"), fmt.Appendf(nil, "b%03dx_", i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("libtremor_%s%03d.so", im.name, i)), data, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	alone := filepath.Join(b.TempDir(), "tremorctl")
	copyFile(b, bin, alone)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "TREMOR_RUNNER=") {
			env = append(env, e)
		}
	}
	for _, mode := range []struct{ name, bin string }{{"scanner", bin}, {"inprocess", alone}} {
		b.Run(mode.name, func(b *testing.B) {
			list := func() {
				cmd := exec.Command(mode.bin, "list-plugins", dir)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if err != nil || !bytes.Contains(out, []byte("100 plugins, 200 connector types")) {
					b.Fatalf("list-plugins: %v\n%s", err, out)
				}
			}
			list()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				list()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/list")
		})
	}
}

func copyFile(b *testing.B, src, dst string) {
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		b.Fatal(err)
	}
}
