package tests

// End-to-end tests of process isolation (issue 5 item 1): flows through the
// real plugins of all three languages give the same results whether their
// plugins run in the host or in tremor-runner children; a plugin that
// segfaults or hangs mid-stream under isolation = "process" leaves the host
// running, its connector restarts, and every event is accounted for; the
// scanner reports a plugin that crashes while it is listed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/catalog"
	"tremorhost/host/flow"
	"tremorhost/host/isolate"
	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

// isoRunner is build/bin/tremor-runner.
func isoRunner(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testenv.Root(t), "build", "bin", "tremor-runner")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run ./scripts/build.sh first", p)
	}
	return p
}

// isoCatalog inspects the bundled plugins, the crash fixture and the Go
// fault plugin with the scanner (no plugin code in this process until a
// flow runs one here) and serves them with short isolation timeouts.
func isoCatalog(t testing.TB, o isolate.Options) runtime.Catalog {
	t.Helper()
	files := []string{testenv.Fixture(t, "fixture_crash"), testenv.Fixture(t, "faults_go")}
	for f := range bundled {
		files = append(files, testenv.Plugin(t, f))
	}
	sort.Strings(files)
	reg, err := (&isolate.Scanner{Runner: isoRunner(t)}).Registry(files)
	require.NoError(t, err)
	if o.Runner == "" {
		o.Runner = isoRunner(t)
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 10 * time.Second
	}
	return catalog.Plugins{Registry: reg, Isolate: o}
}

// isoRun runs a flow to its end (bounded) and returns its stats, its error
// and its log.
func isoRun(t testing.TB, src string, cat runtime.Catalog) ([]runtime.Stats, error, *logBuf) {
	t.Helper()
	f, err := flow.Parse(t.Name()+".toml", []byte(src))
	require.NoError(t, err, "flow:\n%s", src)
	logs := &logBuf{}
	r, err := runtime.New(f, cat, runtime.Options{Log: zerolog.New(logs).Level(zerolog.DebugLevel), DrainTimeout: 20 * time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stats, err := r.Run(ctx)
	require.NoError(t, ctx.Err(), "the flow did not end by itself; log:\n%s", logs.String())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("flow log:\n%s", logs.String())
		}
	})
	return stats, err, logs
}

func isoStat(t testing.TB, stats []runtime.Stats, id string) runtime.Stats {
	t.Helper()
	for _, s := range stats {
		if s.Connector == id {
			return s
		}
	}
	t.Fatalf("no stats for %q", id)
	return runtime.Stats{}
}

func isoLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// runUntilLines runs cmd (tremorctl run), waits until the file out holds
// at least n lines, stops it as Ctrl-C does and returns its exit status
// and stderr. The test fails when tremorctl ends by itself first, or when
// either wait takes longer than flowDeadline.
func runUntilLines(t *testing.T, cmd *exec.Cmd, out string, n int) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(flowDeadline)
	for {
		if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) >= n {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("tremorctl ended by itself (%v); stderr:\n%s", err, lastLines(stderr.String(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "%s did not reach %d lines within %s; stderr:\n%s", out, n, flowDeadline, lastLines(stderr.String(), 30))
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case <-done:
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl did not stop within %s of SIGINT; stderr:\n%s", flowDeadline, lastLines(stderr.String(), 30))
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// logCount counts the log lines whose message contains substr.
func logCount(l *logBuf, substr string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			if s, _ := m["message"].(string); strings.Contains(s, substr) {
				n++
			}
		}
	}
	return n
}

// sourceTotals sums what a source plugin says it was told, over every
// process that ran it: each logs its totals when it stops, with a
// message in format (three numbers: produced, acked, failed). Acks and
// fails of events whose process was gone by then never reached a plugin:
// the host drops them and logs their number (dropped).
func sourceTotals(t testing.TB, l *logBuf, alias, format string) (produced, acked, failed uint64, logged int) {
	t.Helper()
	for _, m := range logObjects(l, alias) {
		msg, _ := m["message"].(string)
		var p, a, f uint64
		if n, _ := fmt.Sscanf(msg, format, &p, &a, &f); n == 3 {
			produced, acked, failed = produced+p, acked+a, failed+f
			logged++
		}
	}
	return produced, acked, failed, logged
}

// dropped sums the acks (op "ack") or fails dropped for events of a plugin
// process that was gone.
func dropped(l *logBuf, alias, op string) uint64 {
	var n uint64
	for _, m := range logObjects(l, alias) {
		if m["message"] == "dropping acks/fails of events from a plugin process that is gone" && m["op"] == op {
			c, _ := m["count"].(float64)
			n += uint64(c)
		}
	}
	return n
}

// logObjects returns the JSON log lines of connector alias.
func logObjects(l *logBuf, alias string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["connector"] == alias {
			out = append(out, m)
		}
	}
	return out
}

// checkSourceTotals checks the host's acks and fails of source alias
// against what its plugin says it was told, plus what the host dropped
// for processes that were gone.
func checkSourceTotals(t testing.TB, l *logBuf, s runtime.Stats, format string) {
	t.Helper()
	_, acked, failed, logged := sourceTotals(t, l, s.Connector, format)
	require.Greater(t, logged, 0, "the source %s logged no totals", s.Connector)
	assert.Equal(t, s.Acks, acked+dropped(l, s.Connector, "ack"), "%s: acks the host counted = acks the plugin got + acks dropped for gone processes", s.Connector)
	assert.Equal(t, s.Fails, failed+dropped(l, s.Connector, "fail"), "%s: fails likewise", s.Connector)
}

const (
	crashSourceTotals = "crash_source: produced %d, acked %d, failed %d"
	benchSourceFormat = "bench_source: emitted %d events of 64 bytes, %d acked, %d failed"
	faultsGoTotals    = "faults_go: emitted %d, acked %d, failed %d"
)

// The same flows, every plugin in the host and then every plugin in a child
// process: the same counters and the same output, byte for byte.
func TestIsolatedFlowsMatchInProcess(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input.jsonl")
	var in bytes.Buffer
	for i := range 300 {
		fmt.Fprintf(&in, `{"n":%d,"s":"line %d é"}`+"\n", i, i)
	}
	require.NoError(t, os.WriteFile(input, in.Bytes(), 0o644))

	sources := map[string]Conn{ // language -> source connector
		"c":    {Type: "bench_source", Pre: lineFraming, Config: cfg("count", 300, "size", 64)},
		"go":   {Type: "bench_go_source", Pre: lineFraming, Config: cfg("count", 300, "size", 64)},
		"rust": fileSource(input, ""),
	}
	sinks := map[string]func(out string) Conn{ // -> sink connector; file sinks write out
		"rust": func(out string) Conn { return fileSink(out, "") },
		"go":   func(string) Conn { return Conn{Type: "bench_go_sink", Post: lineFraming, Config: cfg("check", true)} },
		"c":    func(string) Conn { return Conn{Type: "bench_sink", Post: lineFraming} },
	}
	cat := isoCatalog(t, isolate.Options{})
	for _, src := range []string{"c", "go", "rust"} {
		for _, dst := range []string{"rust", "go", "c"} {
			t.Run(src+"-to-"+dst, func(t *testing.T) {
				results := map[string][]runtime.Stats{}
				outputs := map[string]string{}
				for _, iso := range []string{"none", "process"} {
					out := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.jsonl", src, dst, iso))
					source, sink := sources[src], sinks[dst](out)
					source.Isolation, sink.Isolation = iso, iso
					flowSrc := newFlow("same").Batch(32).
						Connector("src", source).
						Connector("dst", sink).
						Chain("src", "pass", "dst").
						TOML()
					stats, err, logs := isoRun(t, flowSrc, cat)
					require.NoError(t, err)
					children := logCount(logs, "running the plugin in a child process")
					if iso == "process" {
						assert.Equal(t, 2, children, "both connectors run in a child process")
					} else {
						assert.Equal(t, 0, children)
					}
					results[iso] = stats
					if src == "c" {
						// (the Go and Rust sources report no totals)
						checkSourceTotals(t, logs, isoStat(t, stats, "src"), benchSourceFormat)
					}
					if dst == "rust" {
						data, err := os.ReadFile(out)
						require.NoError(t, err)
						outputs[iso] = string(data)
					}
				}
				s := isoStat(t, results["none"], "src")
				assert.Equal(t, uint64(300), s.In)
				assert.Equal(t, uint64(300), s.Acks)
				for _, id := range []string{"src", "dst"} {
					assert.Equal(t, isoStat(t, results["none"], id), isoStat(t, results["process"], id), id)
				}
				if dst == "rust" {
					assert.Equal(t, 300, strings.Count(outputs["none"], "\n"))
					assert.Equal(t, outputs["none"], outputs["process"])
				}
			})
		}
	}
}

// crashConnFlow is the flow "crash" (batch_size 32): a crash_source "src"
// -> "pass" -> a crash_sink "dst", both of codec json, reconnecting after
// 10 to 100 ms; src and dst give each its isolation and config.
func crashConnFlow(src, dst Conn) string {
	src.Type, dst.Type = "crash_source", "crash_sink"
	src.Codec, dst.Codec = "json", "json"
	return newFlow("crash").Batch(32).
		Connector("src", src.reconnect(10, 100)).
		Connector("dst", dst.reconnect(10, 100)).
		Chain("src", "pass", "dst").
		TOML()
}

// A source that segfaults mid-stream under isolation = "process": the host
// keeps running, the source restarts in a new process, and every event it
// handed over is acked or failed (In == Acks + Fails), delivered to the
// sink once each.
func TestIsolatedSourceSegfaultLosesNoEvent(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	src := Conn{Isolation: "process", Config: cfg("count", 1000, "per_pull", 20, "crash_after", 5, "once_file", filepath.Join(dir, "crashed"))}
	dst := Conn{Config: cfg("path", out)}
	stats, err, logs := isoRun(t, crashConnFlow(src, dst), isoCatalog(t, isolate.Options{}))
	require.NoError(t, err)
	s, d := isoStat(t, stats, "src"), isoStat(t, stats, "dst")
	assert.Equal(t, uint64(5*20+1000), s.In, "100 events before the crash, then 1000 from the new process")
	assert.Equal(t, s.In, s.Acks+s.Fails, "every event is accounted for")
	assert.Equal(t, uint64(0), s.Fails)
	assert.Equal(t, s.Acks, d.Out)
	assert.Len(t, isoLines(t, out), int(d.Out))
	assert.Equal(t, 1, logCount(logs, "the plugin's process died"))
	assert.Contains(t, logs.String(), "SIGSEGV")
	assert.Equal(t, 1, logCount(logs, "starting a new process for the plugin"))
	produced, _, _, logged := sourceTotals(t, logs, "src", crashSourceTotals)
	assert.Equal(t, 2, logged, "the first process before it crashed, the second when it stopped")
	assert.Equal(t, uint64(100+1000), produced)
	checkSourceTotals(t, logs, s, crashSourceTotals)
}

// A sink that segfaults mid-stream: the batch it was given is sent again to
// the new process, nothing is failed back, every event arrives once.
func TestIsolatedSinkSegfaultResendsInFlight(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	src := Conn{Config: cfg("count", 1000, "per_pull", 50)}
	dst := Conn{Isolation: "process", Config: cfg("path", out, "crash_after", 3, "once_file", filepath.Join(dir, "crashed"))}
	stats, err, logs := isoRun(t, crashConnFlow(src, dst), isoCatalog(t, isolate.Options{}))
	require.NoError(t, err)
	s, d := isoStat(t, stats, "src"), isoStat(t, stats, "dst")
	assert.Equal(t, uint64(1000), s.In)
	assert.Equal(t, uint64(1000), s.Acks)
	assert.Equal(t, uint64(0), s.Fails)
	assert.Equal(t, uint64(1000), d.Out)
	lines := isoLines(t, out)
	require.Len(t, lines, 1000, "each event exactly once: the sink crashed before writing")
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	assert.Len(t, seen, 1000)
	assert.Equal(t, 1, logCount(logs, "the plugin's process died"))
	checkSourceTotals(t, logs, s, crashSourceTotals)
}

// Both ends misbehave once: the source segfaults (also while the sink is
// down) and the sink hangs, is killed after the call timeout and restarted
// like a crashed one. Every event is delivered once and acked, as the
// source's processes were told (or dropped for the one that crashed).
func TestIsolatedCrashesAndHangsEverywhere(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	src := Conn{Isolation: "process", Config: cfg("count", 2000, "per_pull", 25, "crash_after", 7, "once_file", filepath.Join(dir, "src-crashed"))}
	dst := Conn{Isolation: "process", Config: cfg("path", out, "hang_after", 4, "once_file", filepath.Join(dir, "dst-hung"))}
	// The hang is detected after CallTimeout: long enough that no healthy
	// call on a loaded machine runs into it.
	cat := isoCatalog(t, isolate.Options{CallTimeout: 3 * time.Second})
	stats, err, logs := isoRun(t, crashConnFlow(src, dst), cat)
	require.NoError(t, err)
	s, d := isoStat(t, stats, "src"), isoStat(t, stats, "dst")
	assert.Equal(t, uint64(7*25+2000), s.In)
	assert.Equal(t, s.In, s.Acks+s.Fails)
	assert.Equal(t, uint64(0), s.Fails)
	assert.Equal(t, s.In, d.Out)
	assert.Len(t, isoLines(t, out), int(d.Out))
	checkSourceTotals(t, logs, s, crashSourceTotals)

	var srcDied, dstHung int
	for _, m := range logObjects(logs, "src") {
		if msg, _ := m["message"].(string); strings.HasPrefix(msg, "the plugin's process died") {
			srcDied++
			assert.Contains(t, m["exit"], "SIGSEGV")
		}
	}
	for _, m := range logObjects(logs, "dst") {
		if msg, _ := m["message"].(string); strings.HasPrefix(msg, "the plugin's process died") {
			dstHung++
			assert.Contains(t, m["exit"], "send did not return within 3s: the plugin hangs")
		}
	}
	assert.Equal(t, 1, srcDied, "the source crashed once")
	assert.Equal(t, 1, dstHung, "the sink hung once")
}

// isolation = "auto" runs Go plugins in a child process and the others in
// the host; "process" without a runner is refused when the flow is checked.
func TestIsolationAuto(t *testing.T) {
	// A Go source into a C sink (of isolation cIso), in a flow without a
	// [flow] table.
	autoFlow := func(cIso string) string {
		return newFlow("").
			Connector("go", Conn{Type: "faults_go", Codec: "binary", Config: cfg("count", 100)}).
			Connector("c", Conn{Type: "bench_sink", Isolation: cIso, Post: lineFraming}).
			Chain("go", "pass", "c").
			TOML()
	}
	flowSrc := autoFlow("")
	stats, err, logs := isoRun(t, flowSrc, isoCatalog(t, isolate.Options{}))
	require.NoError(t, err)
	g := isoStat(t, stats, "go")
	assert.Equal(t, uint64(100), g.In)
	assert.Equal(t, uint64(100), g.Acks)
	assert.Equal(t, uint64(100), isoStat(t, stats, "c").Out)
	emitted, _, _, _ := sourceTotals(t, logs, "go", faultsGoTotals)
	assert.Equal(t, uint64(100), emitted)
	checkSourceTotals(t, logs, g, faultsGoTotals)
	assert.Equal(t, 1, logCount(logs, "running the plugin in a child process"))
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "running the plugin in a child process") {
			assert.Contains(t, line, `"connector":"go"`)
		}
	}

	noRunner := isoCatalog(t, isolate.Options{Runner: "/nonexistent/tremor-runner"})
	f, err := flow.Parse("auto.toml", []byte(autoFlow("process")))
	require.NoError(t, err)
	_, err = runtime.New(f, noRunner, runtime.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connector[1].isolation")
	assert.Contains(t, err.Error(), "needs tremor-runner")
}

// list-plugins inspects plugins in child processes: a plugin that crashes
// (or hangs) while it is read is reported as that file's error, and the
// others are listed.
func TestListPluginsSurvivesACrashingPlugin(t *testing.T) {
	root := testenv.Root(t)
	bin := filepath.Join(t.TempDir(), "tremorctl")
	build := exec.Command("go", "build", "-o", bin, "./host/cmd/tremorctl")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build tremorctl: %s", out)

	crash := filepath.Join(testenv.FixturesDir(t), "unloadable", "libtremor_fixture_crash_describe.so")
	good := testenv.Fixture(t, "fixture")
	cmd := exec.Command(bin, "list-plugins", "--json", crash, good, testenv.Plugin(t, "libtremor_bench_go.so"))
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"="+isoRunner(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "a broken file makes list-plugins exit non-zero; stderr: %s", stderr.String())
	assert.Equal(t, 1, ee.ExitCode())
	var listed []struct {
		Path  string  `json:"path"`
		Name  *string `json:"name"`
		SDK   *string `json:"sdk"`
		Error *string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(stdout, &listed), "%s", stdout)
	require.Len(t, listed, 3)
	assert.Equal(t, crash, listed[0].Path)
	require.NotNil(t, listed[0].Error)
	assert.Contains(t, *listed[0].Error, "crashed while being inspected in a child process")
	assert.Contains(t, *listed[0].Error, "SIGSEGV")
	assert.Nil(t, listed[1].Error)
	assert.Equal(t, "fixture", *listed[1].Name)
	assert.Nil(t, listed[2].Error)
	assert.Equal(t, "pdk-go 0.1", *listed[2].SDK)
}

// A source whose own thread keeps scribbling random values over its batch
// (header, events, value nodes, bytes) after on_pull returned, run isolated
// through tremorctl again and again for a few seconds: the host never
// panics (it checks private copies of what it reads, so a concurrent writer
// cannot make it read outside the arenas); a pull the check refuses ends
// the source with an error that names the plugin and the broken rule; every
// event it accepted is delivered.
func TestIsolatedScribblingPluginCannotCrashTheHost(t *testing.T) {
	dir := t.TempDir()
	flowFile := filepath.Join(dir, "scribble.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(newFlow("scribble").Batch(64).
		Connector("src", Conn{Type: "fault", Codec: "binary", Isolation: "process", Config: cfg("misbehave", "scribble", "count", 20000)}).
		Connector("dst", Conn{Type: "fault", Codec: "binary", Isolation: "none"}).
		Chain("src", "pass", "dst").
		TOML()), 0o644))
	plugins := faultPluginDir(t)
	env := []string{isolate.EnvRunner + "=" + isoRunner(t)}
	start := time.Now()
	runs, refused := 0, 0
	for runs < 5 || time.Since(start) < 3*time.Second {
		runs++
		code, _, stderr := tremorctlExit(t, dir, env, "run", "--plugin-path", plugins, flowFile)
		require.NotContains(t, stderr, "panic:", "run %d: the host panicked", runs)
		require.NotContains(t, stderr, "goroutine ", "run %d", runs)
		rows := statsTable(t, stderr)
		src, dst := rows["src"], rows["dst"] // in, out, errors, acks, fails, discarded
		require.Greater(t, src[0], uint64(0), "run %d: the source produced events; stderr:\n%s", runs, lastLines(stderr, 10))
		// Each event taken is delivered, or failed back (its metadata was
		// scribbled into something that does not decode), or its outcome
		// could not be told to a source that broke the contract: those the
		// runtime logs with their number.
		// (The runtime holds back repeated warnings and does not report the
		// last ones held back, so the logged number is a lower bound.)
		untold := untoldOutcomes(t, stderr)
		assert.LessOrEqual(t, dst[1]+src[4], src[0], "run %d: nothing delivered and failed", runs)
		assert.LessOrEqual(t, src[3], dst[1], "run %d: only delivered events are acked", runs)
		assert.LessOrEqual(t, src[3]+src[4]+untold, src[0], "run %d: acks + fails + untold <= in", runs)
		if src[3]+src[4] < src[0] {
			assert.Equal(t, 1, code, "run %d: outcomes the source was not told make the run fail", runs)
			assert.Greater(t, untold, uint64(0), "run %d: and are logged", runs)
		}
		switch code {
		case 0:
			assert.Equal(t, uint64(20000), src[0], "run %d: no pull refused, every event came", runs)
			assert.Equal(t, src[0], src[3]+src[4], "run %d: and was acked or failed", runs)
		case 1:
			refused++
			assert.Contains(t, stderr, `connector "src" (type fault): plugin "fault"`, "run %d", runs)
			assert.Contains(t, stderr, "broke the plugin contract while reading events", "run %d", runs)
		default:
			t.Fatalf("run %d: tremorctl exited with %d; stderr:\n%s", runs, code, lastLines(stderr, 20))
		}
	}
	t.Logf("%d runs in %s, %d ended by a refused pull", runs, time.Since(start).Round(time.Millisecond), refused)
}

// untoldOutcomes sums the events of the runtime's "the plugin was not told
// the outcome of these events" warnings in a JSON log.
func untoldOutcomes(t testing.TB, log string) (events uint64) {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var m struct {
			Message string `json:"message"`
			Events  uint64 `json:"events"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(m.Message, "the plugin was not told the outcome") {
			events += m.Events
		}
	}
	return events
}

// pluginDir is a directory holding only the given built plugin files
// (build/plugins or build/test-plugins names), for tremorctl's plugin path.
func pluginDir(t testing.TB, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o755))
	}
	return dir
}

// A source whose process crashes after every second pull (20 events per
// process), run by tremorctl for 4 s: restarts are paced (exponential
// backoff, not hundreds a second), the crash lines are held back to one in
// full plus one with the count, and every event taken is delivered and
// acked.
func TestIsolatedCrashLoopIsPaced(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	flowFile := filepath.Join(dir, "crashloop.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(crashConnFlow(
		Conn{Isolation: "process", Config: cfg("count", 0, "per_pull", 10, "crash_after", 2)},
		Conn{Config: cfg("path", out)})), 0o644))
	plugins := pluginDir(t, testenv.Fixture(t, "fixture_crash"))

	cmd := exec.Command(tremorctl(t), "run", "--log-level", "debug", "--plugin-path", plugins, flowFile)
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"="+isoRunner(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Watch the crash loop for a while, then stop the flow as Ctrl-C does.
	select {
	case err := <-done:
		t.Fatalf("tremorctl ended by itself (%v); stderr:\n%s", err, lastLines(stderr.String(), 30))
	case <-time.After(4 * time.Second):
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case <-done:
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl did not stop within %s of SIGINT; stderr:\n%s", flowDeadline, lastLines(stderr.String(), 30))
	}
	assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "nothing failed back; stderr:\n%s", lastLines(stderr.String(), 30))

	type line struct{ Level, Message string }
	var lines []line
	for _, l := range strings.Split(stderr.String(), "\n") {
		var m line
		if json.Unmarshal([]byte(l), &m) == nil {
			lines = append(lines, m)
		}
	}
	count := func(level, substr string) int {
		n := 0
		for _, l := range lines {
			if (level == "" || l.Level == level) && strings.Contains(l.Message, substr) {
				n++
			}
		}
		return n
	}
	restarts := count("", "starting a new process for the plugin")
	assert.GreaterOrEqual(t, restarts, 2, "it crashed and was restarted")
	// Backoff 0, 0.1, 0.2, 0.4, 0.8, 1.6, 2 s...: at most 7 restarts in
	// 4 s (fewer on a loaded machine); without it, hundreds.
	assert.LessOrEqual(t, restarts, 8)
	assert.Equal(t, 1, count("error", "the plugin's process died"), "one crash in full")
	assert.Equal(t, 1, count("error", "more times in the last"), "the others counted in one line")
	// Every process crashed but perhaps the last: one started while the
	// flow stops may end before its third pull, or crash in a pull ahead.
	if !strings.Contains(stderr.String(), `crashed `+fmt.Sprint(restarts)+` more times in the last`) {
		assert.Contains(t, stderr.String(), `crashed `+fmt.Sprint(restarts-1)+` more times in the last`)
	}
	assert.Contains(t, stderr.String(), `(SIGSEGV)`)
	assert.Equal(t, 1, count("warn", "starting a new process"), "restart lines are held back with their crash")
	warnOrWorse := 0
	for _, l := range lines {
		if l.Level == "warn" || l.Level == "error" {
			warnOrWorse++
		}
	}
	assert.LessOrEqual(t, warnOrWorse, 2*restarts+5, "log lines at warn and above bounded by the restarts")

	rows := statsTable(t, stderr.String())
	src, dst := rows["src"], rows["dst"] // in, out, errors, acks, fails, discarded
	// 20 events from each process that crashed, up to 20 from the last
	assert.GreaterOrEqual(t, src[0], uint64(20*restarts))
	assert.LessOrEqual(t, src[0], uint64(20*(restarts+1)))
	assert.Equal(t, src[0], src[3]+src[4], "every event acked or failed")
	assert.Equal(t, uint64(0), src[4])
	assert.Equal(t, src[0], dst[1])
	assert.Len(t, isoLines(t, out), int(dst[1]))
}

// faultPluginDir is a directory holding only the C fault plugin
// (build/test-plugins/libtremor_fault.so).
func faultPluginDir(t testing.TB) string {
	t.Helper()
	return pluginDir(t, testenv.Fixture(t, "fault"))
}

// tremor-runner runs plugin code with the host's rights, so it is held to
// the rules plugin files are: a runner named by TREMOR_RUNNER or found next
// to tremorctl that is missing, not executable or changeable by others
// makes run, validate and list-plugins fail, saying which file, why and
// what to do; nothing runs (the sink's file is never created) and no
// plugin is loaded into tremorctl instead.
func TestUntrustedRunnerIsRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	flowFile := filepath.Join(dir, "flow.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(crashConnFlow(Conn{Config: cfg("count", 10)}, Conn{Config: cfg("path", out)})), 0o644))
	plugins := pluginDir(t, testenv.Fixture(t, "fixture_crash"))
	runnerBytes, err := os.ReadFile(isoRunner(t))
	require.NoError(t, err)
	writable := filepath.Join(dir, "writable-runner")
	require.NoError(t, os.WriteFile(writable, runnerBytes, 0o755))
	require.NoError(t, os.Chmod(writable, 0o777))
	notExec := filepath.Join(dir, "not-executable")
	require.NoError(t, os.WriteFile(notExec, runnerBytes, 0o644))
	// A symlink to the real runner, in a directory anyone could repoint
	// it from.
	openDir := filepath.Join(dir, "open")
	require.NoError(t, os.Mkdir(openDir, 0o755))
	require.NoError(t, os.Chmod(openDir, 0o777))
	linked := filepath.Join(openDir, "tremor-runner")
	require.NoError(t, os.Symlink(isoRunner(t), linked))
	// Another program in the runner's place.
	other := filepath.Join(dir, "not-a-runner")
	require.NoError(t, os.WriteFile(other, []byte("#!/bin/sh\necho hi\n"), 0o755))

	for _, tc := range []struct {
		name, runner string
		want         []string
	}{
		{"missing", "/nonexistent/tremor-runner", []string{"TREMOR_RUNNER=/nonexistent/tremor-runner: no such file", "set TREMOR_RUNNER to the tremor-runner built with this host"}},
		{"writable by others", writable, []string{"TREMOR_RUNNER=" + writable, "writable by group or others (mode 0777)", "chmod go-w " + writable}},
		{"not executable", notExec, []string{"TREMOR_RUNNER=" + notExec, "not an executable file"}},
		{"a symlink others can repoint", linked, []string{"TREMOR_RUNNER=" + linked, "chmod go-w " + openDir}},
		{"another program", other, []string{"TREMOR_RUNNER=" + other, `not a tremor-runner: --version answered "hi"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{isolate.EnvRunner + "=" + tc.runner}
			for _, args := range [][]string{
				{"run", "--plugin-path", plugins, flowFile},
				{"validate", "--plugin-path", plugins, flowFile},
				{"list-plugins", plugins},
			} {
				code, stdout, stderr := tremorctlExit(t, dir, env, args...)
				assert.Equal(t, 1, code, "%v: stderr:\n%s", args, stderr)
				msg := stderr
				if args[0] == "list-plugins" {
					msg = stdout // each file is listed as refused, with the reason
					assert.Contains(t, stdout, "0 plugins")
				}
				assert.Contains(t, msg, "tremor-runner refused", args)
				for _, w := range tc.want {
					assert.Contains(t, msg, w, args)
				}
				assert.NotContains(t, stdout+stderr, "connector    in", "%v: no flow ran", args)
				assert.NoFileExists(t, out, "%v: nothing reached the sink", args)
			}
		})
	}
}

// ctlCopy copies build/bin/tremorctl into a directory of its own (with
// the files extra, e.g. a runner, next to it) and returns the copy.
func ctlCopy(t testing.TB, extra map[string]os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(tremorctl(t))
	require.NoError(t, err)
	bin := filepath.Join(dir, "tremorctl")
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	for name, mode := range extra {
		data, err := os.ReadFile(isoRunner(t))
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o755))
		require.NoError(t, os.Chmod(p, mode))
	}
	return bin
}

// runCopy runs a tremorctl copy (ctlCopy) with TREMOR_RUNNER unset.
func runCopy(t testing.TB, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	ctx, cancel := context.WithTimeout(context.Background(), flowDeadline)
	defer cancel()
	go func() {
		<-ctx.Done()
		if cmd.Process != nil && ctx.Err() == context.DeadlineExceeded {
			cmd.Process.Kill()
		}
	}()
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "%v did not end within %s", args, flowDeadline)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, o.String(), e.String()
}

// A runner next to tremorctl that others can change is refused like a
// named one. Without any runner (none named, none next to tremorctl),
// plugins are read in tremorctl and a flow runs as before, except that a Go
// plugin under isolation "auto" runs in the host with a warning naming the
// connector, and isolation = "process" is refused when the flow is checked.
func TestRunnerNextToTremorctl(t *testing.T) {
	dir := t.TempDir()
	plugins := pluginDir(t, testenv.Plugin(t, "libtremor_bench_go.so"), testenv.Plugin(t, "libtremor_bench.so"))
	goFlow := func(isolation string) string {
		p := filepath.Join(dir, isolation+".toml")
		require.NoError(t, os.WriteFile(p, []byte(newFlow("gorun").
			Connector("gen", Conn{Type: "bench_go_source", Isolation: isolation, Pre: lineFraming, Config: cfg("count", 100)}).
			Connector("count", Conn{Type: "bench_sink", Post: lineFraming}).
			Chain("gen", "pass", "count").
			TOML()), 0o644))
		return p
	}

	t.Run("untrusted next to tremorctl", func(t *testing.T) {
		bin := ctlCopy(t, map[string]os.FileMode{isolate.RunnerName: 0o777})
		runner := filepath.Join(filepath.Dir(bin), isolate.RunnerName)
		for _, args := range [][]string{{"run", "--plugin-path", plugins, goFlow("auto")}, {"list-plugins", plugins}} {
			code, stdout, stderr := runCopy(t, bin, args...)
			assert.Equal(t, 1, code, args)
			assert.Contains(t, stdout+stderr, "tremor-runner refused: "+runner+": refusing to load: the file is writable by group or others", args)
			assert.NotContains(t, stdout+stderr, "connector    in", args)
		}
	})

	t.Run("none", func(t *testing.T) {
		bin := ctlCopy(t, nil)
		code, stdout, stderr := runCopy(t, bin, "run", "--plugin-path", plugins, goFlow("auto"))
		require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
		rows := statsTable(t, stderr)
		assert.Equal(t, uint64(100), rows["gen"][0])
		assert.Equal(t, uint64(100), rows["gen"][3], "acked")
		assert.Equal(t, uint64(100), rows["count"][1])
		warned := 0
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, "running a Go plugin inside the host") {
				warned++
				assert.Contains(t, l, `"level":"warn"`)
				assert.Contains(t, l, `"connector":"gen"`)
				assert.Contains(t, l, "tremor-runner not found")
			}
		}
		assert.Equal(t, 1, warned, "one warning for the Go connector; stderr:\n%s", stderr)

		code, stdout, stderr = runCopy(t, bin, "validate", "--plugin-path", plugins, goFlow("process"))
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, `connector[0].isolation: isolation = "process" needs tremor-runner: tremor-runner not found`)
		assert.NotContains(t, stdout, "ok (")

		code, stdout, _ = runCopy(t, bin, "list-plugins", plugins)
		assert.Equal(t, 0, code)
		assert.Contains(t, stdout, "bench_go_source")
	})
}

// A slow sink (its on_send waits 500 us, as on the network) has its sends
// pipelined; when its process segfaults in the middle of one, tremorctl
// sends that batch again to the new process, the batch it had encoded
// meanwhile after it: every event arrives once, in order, nothing is
// failed back, and the run ends with status 0.
func TestCLISlowSinkSegfaultWhilePipelined(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	src := Conn{Config: cfg("count", 2000, "per_pull", 50)}
	dst := Conn{Isolation: "process", Config: cfg("path", out, "send_delay_us", 500, "crash_after", 10, "once_file", filepath.Join(dir, "crashed"))}
	path := writeFlow(t, dir, "slow.toml", crashConnFlow(src, dst))
	p := startCtl(t, "run", "--log-level", "debug", "--plugin-path", pluginDir(t, testenv.Fixture(t, "fixture_crash")), path)
	code := p.wait()
	stderr := p.stderr.String()
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 30))
	noCrash(t, stderr)
	pipelined := strings.Index(stderr, "sends are slow: the next batch is encoded while the plugin sends")
	died := strings.Index(stderr, "the plugin's process died")
	require.GreaterOrEqual(t, pipelined, 0, "the sink's sends were pipelined")
	require.Greater(t, died, pipelined, "and the sink died after that")
	rows := statsTable(t, stderr)
	assert.Equal(t, row{2000, 2000, 0, 2000, 0, 0}, rows["src"], "every event acked, none failed back")
	assert.Equal(t, uint64(2000), rows["dst"][colOut])
	lines := isoLines(t, out)
	require.Len(t, lines, 2000, "each event exactly once: the sink crashed before writing")
	for i, l := range lines {
		require.Equal(t, fmt.Sprintf(`{"n":%d}`, i+1), l, "line %d: in order", i+1)
	}
}

// Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
// The plugins' processes run in groups of their own, so only tremorctl
// gets it: it drains, stops its isolated plugins itself and exits 0, and
// every event was delivered and acked (the plugins' processes used to be
// killed by the same SIGINT in the middle of the drain).
func TestCLICtrlCReachesOnlyTremorctl(t *testing.T) {
	path := writeFlow(t, t.TempDir(), "ctrlc.toml", isolatedTicks("ctrlc", ""))
	cmd := exec.Command(tremorctl(t), "--log-format", "json", "run", "--stats-interval", "100ms", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a shell's foreground job
	var stderr logBuf
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	waitUntil(t, "both plugins connected", func() bool {
		s := stderr.String()
		return strings.Contains(s, `"connector":"src","type":"metronome","attempt":1,`) &&
			strings.Contains(s, `"connector":"dst","type":"bench_sink","attempt":1,`)
	})
	delivered := regexp.MustCompile(`"connector":"dst","in":\d+,"out":[1-9]`)
	waitUntil(t, "events reach the sink", func() bool { return delivered.MatchString(stderr.String()) })
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT), "Ctrl-C to the group")
	err := cmd.Wait()
	out := stderr.String()
	require.NoError(t, err, "stderr:\n%s", lastLines(out, 20))
	assert.NotContains(t, out, "killed by signal", "no plugin process got the SIGINT")
	assert.NotContains(t, out, `"level":"error"`)
	noCrash(t, out)
	rows := statsTable(t, out)
	src, dst := rows["src"], rows["dst"]
	assert.NotZero(t, src[colOut])
	assert.Equal(t, src[colOut], dst[colOut], "every event reached the sink")
	assert.Equal(t, src[colOut], src[colAcks], "and was acked")
	assert.Zero(t, src[colFails]+dst[colFails])
}
