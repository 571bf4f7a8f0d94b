package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"tremorhost/abi"
	"tremorhost/pdk-go/pdktest"
)

var (
	lib    *pdktest.Lib // the built libtremor_bench_go.so
	soPath string
	tmp    string
)

func TestMain(m *testing.M) {
	var err error
	tmp, err = os.MkdirTemp("", "bench-go-test")
	if err != nil {
		panic(err)
	}
	soPath, err = pdktest.BuildGoPlugin(".", filepath.Join(tmp, "libtremor_bench_go.so"))
	if err == nil {
		lib, err = pdktest.Open(soPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func TestDescriptorAndExports(t *testing.T) {
	info := lib.Info()
	if info.Name != "bench_go" || info.SDK != "pdk-go 0.1" || len(info.Connectors) != 2 ||
		info.Connectors[0].Name != "bench_go_source" || info.Connectors[1].Name != "bench_go_sink" {
		t.Fatalf("descriptor %+v", info)
	}
	syms, err := pdktest.ExportedSymbols(soPath)
	if err != nil {
		t.Fatalf("cannot check the exported symbols: %v", err)
	}
	if !slices.Contains(syms, "tremor_plugin_get_descriptor") {
		t.Fatalf("entry point not exported: %v", syms)
	}
}

func TestSourcePayloads(t *testing.T) {
	src, r := lib.Create("bench_go_source", "src", map[string]any{"count": uint64(12), "size": uint64(40)})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer src.Destroy()
	// 39 bytes: not even one event fits.
	pr := src.Pull(pdktest.Room{Events: 5, Bytes: 39}, 0)
	if pr.Code != pdktest.ErrNoRoom || pr.BytesNeeded != 40 || len(pr.Events) != 0 {
		t.Fatalf("tiny room: %+v", pr)
	}
	var seq uint64
	for _, room := range []pdktest.Room{{Events: 5, Bytes: 1000}, {Events: 100, Bytes: 100}, {Events: 100, Bytes: 1000}} {
		pr := src.Pull(room, 0)
		if pr.Violation != "" {
			t.Fatal(pr.Violation)
		}
		for _, ev := range pr.Events {
			var v struct {
				Seq uint64 `json:"seq"`
				Pad string `json:"pad"`
			}
			if len(ev.Payload) != 40 || ev.Payload[39] != '\n' || json.Unmarshal(ev.Payload, &v) != nil ||
				v.Seq != seq || ev.ID != seq || strings.Trim(v.Pad, "x") != "" {
				t.Fatalf("event %d: %q", seq, ev.Payload)
			}
			seq++
		}
		if seq == 12 && pr.Code != pdktest.End {
			t.Fatalf("last pull: %v", pr.Result)
		}
	}
	if seq != 12 {
		t.Fatalf("got %d events", seq)
	}
	if _, r := lib.Create("bench_go_source", "src", map[string]any{"count": uint64(1000), "size": uint64(20)}); r.Code != pdktest.ErrConfig {
		t.Fatalf("size too small: %v", r)
	}
}

func TestPipeSharedObject(t *testing.T) {
	src, r := lib.Create("bench_go_source", "src", map[string]any{"count": uint64(200000), "size": uint64(100)})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer src.Destroy()
	sink, r := lib.Create("bench_go_sink", "sink", nil)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer sink.Destroy()
	src.Connect(1)
	sink.Connect(1)
	src.Start()
	st := pdktest.Pipe(src, sink, pdktest.Room{Events: 1000, Bytes: 64 << 10}, 0, 0, 0)
	if st.Events != 200000 || st.Bytes != 200000*100 || st.OK != st.Events || st.PullRC != pdktest.End || st.Err != "" {
		t.Fatalf("pipe %+v", st)
	}
	if r := sink.Stop(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	var totals string
	for _, l := range sink.Logs() {
		if strings.Contains(l.Msg, "totals:") {
			totals = l.Msg
		}
	}
	if !strings.Contains(totals, "events=200000 bytes=20000000 bad=0 out_of_order=0") {
		t.Fatalf("sink totals %q", totals)
	}
	t.Log(totals)
}

// In the test binary the plugin is linked in (this package registered it),
// so the Go runtime counting allocations is the plugin's own.
func TestZeroAllocationsPerEvent(t *testing.T) {
	in, err := pdktest.InProcess()
	if err != nil {
		t.Fatal(err)
	}
	const events = 200000
	src, r := in.Create("bench_go_source", "src", map[string]any{"count": uint64(events + 1000), "size": uint64(100)})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer src.Destroy()
	sink, r := in.Create("bench_go_sink", "sink", nil)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer sink.Destroy()
	room := pdktest.Room{Events: 1000, Bytes: 1000 * 100}
	pdktest.Pipe(src, sink, room, 0, 1, 0) // warm up: first-call allocations
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st := pdktest.Pipe(src, sink, room, 0, events/1000, 0)
	runtime.ReadMemStats(&after)
	if st.Events != events || st.OK != events {
		t.Fatalf("pipe %+v", st)
	}
	allocs := after.Mallocs - before.Mallocs
	t.Logf("%d allocations for %d events in %d pulls and %d sends", allocs, st.Events, st.Pulls, st.Sends)
	// Zero per event and per call; a few from the Go runtime are tolerated.
	if allocs > st.Pulls/10 {
		t.Fatalf("%d allocations for %d events in %d pulls", allocs, st.Events, st.Pulls)
	}
}

// The .so in a plain C process, with no Go runtime but its own.
func TestCRunner(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil && os.Getenv("CC") == "" {
		t.Fatal("no C compiler (cc, or one named by $CC) to build the C runner: install gcc (scripts/bootstrap.sh does it as root)")
	}
	runner, err := pdktest.BuildRunner(filepath.Join(tmp, "runner"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(runner, soPath, "bench_go_source", "bench_go_sink", "300000", "100").CombinedOutput()
	if err != nil {
		t.Fatalf("runner: %v\n%s", err, out)
	}
	for _, re := range []string{
		fmt.Sprintf(`plugin bench_go 0\.1\.0 sdk pdk-go 0\.1 abi %d\.%d`, abi.ABIMajor, abi.ABIMinor),
		`pipe: .*events=300000 bytes=30000000 ok=300000 retry=0 failed=0 pull_rc=1 send_rc=0`,
		`log ctx=2 level=3 totals: events=300000 bytes=30000000 bad=0 out_of_order=0`,
	} {
		if !regexp.MustCompile(re).Match(out) {
			t.Fatalf("runner output lacks %s:\n%s", re, out)
		}
	}
	t.Logf("%s", out)
}

func BenchmarkPipeInProcess(b *testing.B) {
	in, err := pdktest.InProcess()
	if err != nil {
		b.Fatal(err)
	}
	src, _ := in.Create("bench_go_source", "src", map[string]any{"count": uint64(b.N), "size": uint64(100)})
	defer src.Destroy()
	sink, _ := in.Create("bench_go_sink", "sink", nil)
	defer sink.Destroy()
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	st := pdktest.Pipe(src, sink, pdktest.Room{Events: 1024, Bytes: 1024 * 100}, 0, 0, 0)
	if st.Events != uint64(b.N) {
		b.Fatalf("pipe %+v", st)
	}
}
