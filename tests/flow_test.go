package tests

// End-to-end flow tests: flows of the real plugins built by
// ./scripts/build.sh (C metronome and bench, Rust file, Go tcp), run by the
// host runtime (runtime.New + Run) over real channels: files, and TCP
// sockets on 127.0.0.1. Every test counts every event at both ends: what
// the source produced, what the runtime counted (acks, fails, discards,
// deliveries) and what arrived at the far end.
//
// The tests wait on conditions (stats, received lines) with a deadline and
// never assert how long anything took.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

// benchSourceTotals reads what bench_source itself counted, from the line
// it logs when stopped.
func benchSourceTotals(t testing.TB, fr *flowRun, alias string) (emitted, acked, failed uint64) {
	t.Helper()
	msg := fr.logs.find(alias, "bench_source: emitted")
	require.NotEmpty(t, msg, "bench_source %s logged no totals", alias)
	var size uint64
	_, err := fmt.Sscanf(msg, "bench_source: emitted %d events of %d bytes, %d acked, %d failed", &emitted, &size, &acked, &failed)
	require.NoError(t, err, "%q", msg)
	return emitted, acked, failed
}

// a. File -> TCP. The Rust file connector reads a file of N JSON lines;
// they go through a pipeline to the Go tcp_client, which writes them to a
// listener in the test. Every line arrives exactly once, in order, and
// unchanged; the source gets exactly N acks and no fail.
func TestFlowFileToTCP(t *testing.T) {
	const n = 5000
	in := filepath.Join(t.TempDir(), "in.jsonl")
	data := jsonLines(0, n)
	require.NoError(t, os.WriteFile(in, data, 0o644))
	far := newLineServer(t)

	fr := startFlow(t, newFlow("").Batch(64).
		Connector("in", Conn{Type: "file", Codec: "json", Config: cfg("path", in, "mode", "read")}).
		Connector("out", tcpClient(far.addr)).
		Chain("in", "pass", "out").
		TOML(), runtime.Options{})
	stats, err := fr.wait() // the file source ends; Run returns once all is settled
	require.NoError(t, err)

	src, sink := statOf(t, stats, "in"), statOf(t, stats, "out")
	assert.Equal(t, runtime.Stats{Connector: "in", In: n, Out: n, Acks: n}, src)
	assert.Equal(t, runtime.Stats{Connector: "out", In: n, Out: n}, sink)

	// The client closed its connection when the flow stopped: once the
	// listener read to its end, it has everything it will ever get.
	far.waitClientClosed()
	per, torn := far.perConn()
	require.Len(t, per, 1, "one connection")
	assert.Equal(t, "", torn[0])
	want := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	got := per[0]
	require.Len(t, got, n)
	for i := range want {
		var w, g map[string]any
		require.NoError(t, json.Unmarshal([]byte(want[i]), &w))
		require.NoError(t, json.Unmarshal([]byte(got[i]), &g), "line %d: %q", i, got[i])
		require.Equal(t, w, g, "line %d", i)
	}
}

// b. TCP -> file. A client writes N JSON lines into the Go tcp_server (in
// pieces that split lines across reads); the lines pre-processor frames
// them, a pipeline discards some on purpose, sends the last ones to the C
// bench_sink and the rest to the Rust file sink. Every line is accounted
// for exactly: discarded + written to the file + counted by bench_sink ==
// N, and every event the source pulled is acked.
func TestFlowTCPToFileAndBench(t *testing.T) {
	const (
		n         = 3000
		discarded = 300  // seq < 300
		tailFrom  = 2500 // seq >= 2500 go to bench_sink
	)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	addr := freeAddr(t)
	in := tcpServer(addr)
	in.Config = cfg("url", addr, "buf_size", 1000)
	fr := startFlow(t, newFlow("").Batch(32).
		Connector("in", in).
		Connector("file", fileSink(out, "json")).
		Connector("count", Conn{Type: "bench_sink", Codec: "json", Post: lineFraming}).
		Pipeline("route",
			Route{Field: "seq", Op: "lt", Value: discarded, Discard: true},
			Route{Field: "seq", Op: "ge", Value: tailFrom, To: "tail"}).
		Link("in", "route").
		Link("route/out", "file").
		Link("route/tail", "count").
		TOML(), runtime.Options{})

	c := dialRetry(t, addr)
	writeAll(t, c, jsonLines(0, n), 1, 7, 100, 4096, 33)
	require.NoError(t, c.Close())

	// Every line decoded, and each one discarded or delivered: then stop.
	fr.waitFor("every line routed and settled", func() bool {
		src := fr.stat("in")
		return src.Out == n && src.Discarded+fr.stat("file").Out+fr.stat("count").Out == n && src.Acks == src.In
	})
	stats, err := fr.stop()
	require.NoError(t, err)

	src, file, count := statOf(t, stats, "in"), statOf(t, stats, "file"), statOf(t, stats, "count")
	assert.Equal(t, uint64(n), src.Out, "lines decoded")
	assert.Equal(t, uint64(discarded), src.Discarded)
	assert.Equal(t, src.In, src.Acks, "every event pulled (a read, or the end of the connection) is acked")
	assert.Zero(t, src.Fails)
	assert.Zero(t, src.Errors)
	assert.Equal(t, runtime.Stats{Connector: "file", In: tailFrom - discarded, Out: tailFrom - discarded}, file)
	assert.Equal(t, runtime.Stats{Connector: "count", In: n - tailFrom, Out: n - tailFrom}, count)
	assert.Equal(t, uint64(n), src.Discarded+file.Out+count.Out)

	lines := fileLines(t, out)
	assert.Equal(t, seqs(discarded, tailFrom), fields(t, lines, "seq"), "the file holds exactly the routed lines, in order")
	assert.NotEmpty(t, fr.logs.find("count", fmt.Sprintf("bench_sink: received %d events", n-tailFrom)), "bench_sink's own count")
}

// TREMOR_EVENT_END_STREAM: the Go tcp_server ends a connection's stream
// when the peer closes it, so the lines pre-processor flushes a last line
// that has no "\n" right away, while the flow runs. A connection that stays
// open keeps its partial line until the flow shuts down (then it is
// flushed too).
func TestFlowTCPEndOfStreamFlushesLastLine(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	addr := freeAddr(t)
	fr := startFlow(t, newFlow("").
		Connector("in", tcpServer(addr)).
		Connector("file", fileSink(out, "json")).
		Chain("in", "pass", "file").
		TOML(), runtime.Options{})

	// A connection that stays open, with a partial line: pulled, held.
	open := dialRetry(t, addr)
	_, err := open.Write([]byte(`{"seq":100}`))
	require.NoError(t, err)
	fr.waitFor("the open connection's bytes pulled", func() bool { return fr.stat("in").In >= 1 })

	// A connection that sends two lines, the last without "\n", and closes.
	c := dialRetry(t, addr)
	_, err = c.Write([]byte("{\"seq\":1}\n{\"seq\":2}"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	fr.waitFor("both lines of the closed connection in the file", func() bool { return fr.stat("file").Out == 2 })
	assert.Equal(t, []int64{1, 2}, fields(t, fileLines(t, out), "seq"), "delivered while the flow runs, before any shutdown")

	stats, err := fr.stop()
	require.NoError(t, err)
	src := statOf(t, stats, "in")
	assert.Equal(t, uint64(3), src.Out)
	assert.Equal(t, src.In, src.Acks)
	assert.Zero(t, src.Fails)
	assert.Zero(t, src.Errors)
	assert.Equal(t, []int64{1, 2, 100}, fields(t, fileLines(t, out), "seq"), "the open connection's partial line is flushed at shutdown")
}

// An end-of-stream event has an empty payload; without pre-processors
// there is nothing to flush, and the runtime must not decode the empty
// payload: no empty event reaches the sink (codec string) and no decode
// error fails it back (codec json).
func TestFlowTCPEndOfStreamWithoutPreprocessors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.txt")
	addr := freeAddr(t)
	fr := startFlow(t, newFlow("").
		Connector("in", Conn{Type: "tcp_server", Codec: "string", Config: cfg("url", addr)}).
		Connector("file", fileSink(out, "string")).
		Chain("in", "pass", "file").
		TOML(), runtime.Options{})
	c := dialRetry(t, addr)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	nonEmpty := func() (n int) {
		for _, l := range fileLines(t, out) {
			if l != "" {
				n++
			}
		}
		return n
	}
	// Each read is one event and one line; the end of the connection is one
	// more event that writes no line.
	fr.waitFor("the end of the connection pulled and settled", func() bool {
		src := fr.stat("in")
		return src.Acks+src.Fails == src.In && src.In > uint64(nonEmpty())
	})
	stats, err := fr.stop()
	require.NoError(t, err)
	src := statOf(t, stats, "in")
	lines := fileLines(t, out)
	assert.Equal(t, "hello", strings.Join(lines, ""))
	assert.NotContains(t, lines, "", "no empty event for the end of the stream")
	assert.Equal(t, src.In-1, src.Out, "every read became an event; the end of the stream none")
	assert.Zero(t, src.Errors)
	assert.Zero(t, src.Fails)
}

// c. Sink restart. The C metronome (1 ms ticks) feeds the Go tcp_client,
// writing to a listener that goes down mid-stream and comes back on the
// same port after the client's reconnects were refused a few times.
//
// Gracefully (the server stops accepting, sends FIN and reads until the
// client closes, as a server does on an orderly shutdown) the result is
// exact: every tick is acked, and the listener received every tick exactly
// once, in order, across its two connections. This needs tcp_client's
// check for a peer close before each batch: without it the client never
// notices the FIN (its writes into the half-closed connection keep
// succeeding) and the server cannot shut down. (When the server closes
// completely, a client without the check loses events: see
// TestFlowSinkRestartAfterIdleClose.)
//
// Abruptly (RST, unread bytes discarded) TCP itself cannot guarantee
// delivery: the client's kernel accepted bytes (so the runtime acked their
// events) that the server's kernel then threw away, and a peer that crashes
// mid-write leaves the client no way to know what was read. The test
// checks what still holds: every tick is acked or failed, no line arrives
// twice and all arrive in order, the ticks missing are one contiguous run
// right where the connection broke, and the flow recovers. The one partial
// repeat allowed is a torn line at the break: the start of the first tick
// not received whole, written partly when the connection broke; that tick
// is then sent again whole after the restart, or is among the lost.
func TestFlowSinkRestart(t *testing.T) {
	for _, graceful := range []bool{true, false} {
		name := map[bool]string{true: "graceful", false: "abrupt"}[graceful]
		t.Run(name, func(t *testing.T) {
			const n = 1000
			far := newLineServer(t)
			fr := startFlow(t, newFlow("").Batch(16).
				Connector("ticks", metronomeConn(n)).
				Connector("out", tcpClient(far.addr).reconnect(10, 40)).
				Chain("ticks", "pass", "out").
				TOML(), runtime.Options{})

			waitUntil(t, "200 ticks received", func() bool { return far.count() >= 200 })
			if graceful {
				far.goDownGracefully()
			} else {
				far.goDownAbruptly()
			}
			fr.waitFor("two refused reconnects", func() bool { return fr.stat("out").Errors >= 2 })
			far.comeBack()
			stats, err := fr.wait() // the metronome ends after n ticks
			require.NoError(t, err)
			far.waitClientClosed() // the client closed at stop: all is read

			src, sink := statOf(t, stats, "ticks"), statOf(t, stats, "out")
			assert.Equal(t, uint64(n), src.In)
			assert.Equal(t, src.In, src.Acks+src.Fails, "every tick acked or failed back")
			assert.Equal(t, uint64(n), src.Acks, "the sink came back: every tick delivered")
			assert.Equal(t, uint64(n), sink.Out)

			per, torn := far.perConn()
			require.Len(t, per, 2, "one connection before and one after the restart")
			first, second := fields(t, per[0], "id"), fields(t, per[1], "id")
			require.NotEmpty(t, second, "ticks received after the restart")
			assert.Equal(t, "", torn[1])
			assert.Equal(t, seqs(0, int64(len(first))), first, "before: every tick from 0, in order")
			b := second[0]
			assert.Equal(t, seqs(b, n), second, "after: every tick to the last, in order")
			if graceful {
				assert.Equal(t, "", torn[0])
				assert.Equal(t, int64(len(first)), b, "nothing lost, nothing twice")
				assert.Equal(t, seqs(0, n), fields(t, far.all(), "id"))
				return
			}
			a := int64(len(first))
			require.GreaterOrEqual(t, b, a, "no tick received twice")
			if torn[0] != "" {
				assert.True(t, strings.HasPrefix(fmt.Sprintf(`{"id":%d,`, a), torn[0]) || strings.HasPrefix(torn[0], fmt.Sprintf(`{"id":%d,`, a)),
					"the torn line %q is the start of tick %d", torn[0], a)
			}
			if b > a {
				t.Logf("abrupt close: ticks [%d, %d) were acked (taken by the client's kernel) and lost with the reset connection; torn line %q", a, b, torn[0])
			} else {
				t.Logf("abrupt close: nothing lost this time (torn line %q)", torn[0])
			}
		})
	}
}

// c'. Sink restart after the server closed the connection completely while
// nothing was in flight, the case where a TCP writer is fooled: the first
// write after the close still succeeds locally (the server's kernel answers
// it with RST), so a client that just writes acks events that are lost.
// tcp_client checks for the close before writing, so the exact result
// holds: every event received exactly once, in order. The input is a
// tcp_server fed by the test, so that nothing is in flight when the server
// closes.
func TestFlowSinkRestartAfterIdleClose(t *testing.T) {
	const k, n = 100, 300
	far := newLineServer(t)
	inAddr := freeAddr(t)
	fr := startFlow(t, newFlow("").Batch(16).
		Connector("in", tcpServer(inAddr)).
		Connector("out", tcpClient(far.addr).reconnect(10, 40)).
		Chain("in", "pass", "out").
		TOML(), runtime.Options{})

	c := dialRetry(t, inAddr)
	writeAll(t, c, jsonLines(0, k), 4096)
	waitUntil(t, "the first lines received", func() bool { return far.count() == k })
	far.goDownWhileIdle()

	writeAll(t, c, jsonLines(k, n-k), 500)
	fr.waitFor("the client noticed the close and its reconnects were refused", func() bool { return fr.stat("out").Errors >= 2 })
	far.comeBack()
	fr.waitFor("every line delivered and acked", func() bool {
		src := fr.stat("in")
		return src.Out == n && fr.stat("out").Out == n && src.Acks == src.In
	})
	stats, err := fr.stop()
	require.NoError(t, err)
	far.waitClientClosed()

	src := statOf(t, stats, "in")
	assert.Equal(t, src.In, src.Acks)
	assert.Zero(t, src.Fails)
	per, torn := far.perConn()
	require.Len(t, per, 2)
	assert.Equal(t, []string{"", ""}, torn)
	assert.Equal(t, seqs(0, k), fields(t, per[0], "seq"))
	assert.Equal(t, seqs(k, n), fields(t, per[1], "seq"), "every line sent after the close arrives after the restart: none acked and lost")
}

// d. Shutdown mid-stream: the C bench_source (endless for this test's
// purposes) feeds the Rust file sink; the flow is cancelled after some
// events. Run returns without error once every event pulled has settled:
// the lines in the file, the sink's deliveries and the source's acks are
// the same number, nothing is failed, and bench_source's own counts agree.
func TestFlowShutdownMidStream(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	fr := startFlow(t, newFlow("").Batch(128).
		Connector("gen", benchSource()).
		Connector("file", fileSink(out, "json")).
		Chain("gen", "pass", "file").
		TOML(), runtime.Options{})
	fr.waitFor("20000 events written", func() bool { return fr.stat("file").Out >= 20000 })
	stats, err := fr.stop()
	require.NoError(t, err)

	gen, file := statOf(t, stats, "gen"), statOf(t, stats, "file")
	assert.Equal(t, gen.In, gen.Acks+gen.Fails, "every event pulled is acked or failed")
	assert.Zero(t, gen.Fails, "a sink that is up gets everything in flight delivered at shutdown")
	assert.Equal(t, gen.In, gen.Out)
	assert.Equal(t, file.In, file.Out)
	assert.Equal(t, gen.Acks, file.Out)
	lines := fileLines(t, out)
	assert.Equal(t, int(file.Out), len(lines), "lines in the file == events delivered")
	assert.Equal(t, seqs(0, int64(len(lines))), fields(t, lines, "seq"))

	emitted, acked, failed := benchSourceTotals(t, fr, "gen")
	assert.Equal(t, gen.In, emitted, "bench_source emitted what the runtime pulled")
	assert.Equal(t, gen.Acks, acked)
	assert.Equal(t, gen.Fails, failed)
}

// d'. Shutdown while the sink is down: the Go tcp_client's server goes away
// (gracefully, so what was acked is exactly what was read) and never comes
// back; the flow is cancelled with a short drain timeout. Everything in
// flight is failed back to the source, everything acked was received, and
// the two add up to what the source produced.
func TestFlowShutdownWithSinkDown(t *testing.T) {
	far := newLineServer(t)
	fr := startFlow(t, newFlow("").Batch(64).
		Connector("gen", benchSource()).
		Connector("out", tcpClient(far.addr).reconnect(10, 40)).
		Chain("gen", "pass", "out").
		TOML(), runtime.Options{DrainTimeout: 300 * time.Millisecond})
	waitUntil(t, "2000 lines received", func() bool { return far.count() >= 2000 })
	far.goDownGracefully()
	fr.waitFor("a refused reconnect", func() bool { return fr.stat("out").Errors >= 1 })
	stats, err := fr.stop()
	// Failed-back events are not an error of Run (FailedBack counts them,
	// and tremorctl exits non-zero on it); a sink still reconnecting when
	// the flow stopped is, with its last attempt's error.
	require.Error(t, err, "Run after a shutdown with the sink down")
	assert.Contains(t, err.Error(), `connector "out" (type tcp_client): was reconnecting when the flow stopped; the last attempt: `)
	assert.Contains(t, err.Error(), "connection refused")

	gen, sink := statOf(t, stats, "gen"), statOf(t, stats, "out")
	assert.Positive(t, gen.Fails, "events in flight at the drain timeout are failed back")
	assert.Equal(t, gen.Fails, fr.r.FailedBack(), "FailedBack counts the events failed back to the source")
	assert.Equal(t, gen.In, gen.Acks+gen.Fails, "every event pulled is acked or failed")
	assert.Equal(t, gen.Acks, sink.Out)
	got := fields(t, far.all(), "seq")
	assert.Equal(t, seqs(0, int64(gen.Acks)), got, "exactly the acked events were received, once each, in order")
	_, torn := far.perConn()
	assert.Equal(t, []string{""}, torn)

	emitted, acked, failed := benchSourceTotals(t, fr, "gen")
	assert.Equal(t, gen.In, emitted)
	assert.Equal(t, gen.Acks, acked)
	assert.Equal(t, gen.Fails, failed)
}

// ---- e. tremorctl as a subprocess ----

// tremorctl returns build/bin/tremorctl.
func tremorctl(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(testenv.Root(t), "build", "bin", "tremorctl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run ./scripts/build.sh first", bin)
	}
	return bin
}

// statsTable parses the table `tremorctl run` prints: connector -> in, out,
// errors, acks, fails, discarded.
func statsTable(t testing.TB, out string) map[string][6]uint64 {
	t.Helper()
	rows := map[string][6]uint64{}
	inTable := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 7 && f[0] == "connector" && f[1] == "in" {
			inTable = true
			continue
		}
		if !inTable || len(f) != 7 {
			if inTable {
				break
			}
			continue
		}
		var row [6]uint64
		for i := range row {
			v, err := strconv.ParseUint(f[i+1], 10, 64)
			require.NoError(t, err, "stats row %q", line)
			row[i] = v
		}
		rows[f[0]] = row
	}
	require.NotEmpty(t, rows, "no stats table in:\n%s", out)
	return rows
}

// `tremorctl run` without a flow file runs the built-in example: C
// metronome and Go generator into the Rust file sink and the C counter.
func TestTremorctlRunExample(t *testing.T) {
	tmp := t.TempDir()
	code, stdout, stderr := tremorctlExit(t, "", []string{"TMPDIR=" + tmp}, "run") // TMPDIR: where the example writes
	require.Equal(t, 0, code, "tremorctl run failed\nstdout:\n%s\nstderr:\n%s", stdout, lastLines(stderr, 30))

	rows := statsTable(t, stderr)
	// in, out, errors, acks, fails, discarded
	assert.Equal(t, [6]uint64{20, 20, 0, 20, 0, 0}, rows["ticks"], "ticks")
	gen := rows["generator"]
	assert.Equal(t, [4]uint64{1000, 0, 1000, 0}, [4]uint64{gen[1], gen[2], gen[3], gen[4]}, "generator: out, errors, acks, fails")
	assert.Equal(t, [6]uint64{990, 990, 0, 0, 0, 0}, rows["counter"], "counter")
	assert.Equal(t, [6]uint64{30, 30, 0, 0, 0, 0}, rows["out"], "out")

	// A new file of its own in $TMPDIR (TestCLIExampleWritesAFileOfItsOwn).
	m := regexp.MustCompile(`wrote 30 lines to (` + regexp.QuoteMeta(tmp) + `/tremor-example-[0-9]+\.jsonl);`).FindStringSubmatch(stdout)
	require.NotNil(t, m, "stdout names the file in %s:\n%s", tmp, stdout)
	assert.Len(t, fileLines(t, m[1]), 30)
}

// `tremorctl validate` accepts a good flow and names file, line and key of
// what is wrong in a bad one, whether the flow file itself is wrong or a
// connector's config does not fit its plugin.
func TestTremorctlValidate(t *testing.T) {
	dir := t.TempDir()
	good := newFlow("check").
		Connector("ticks", Conn{Type: "metronome", Config: cfg("interval_ms", 10, "count", 5)}).
		Connector("out", fileSink("/tmp/never-written.jsonl", "json")).
		Pipeline("pass", Route{Field: "id", Op: "gt", Value: 3, Discard: true}).
		Link("ticks", "pass").
		Link("pass", "out").
		TOML()
	run := func(name, text string) (int, string, string) {
		return tremorctlExit(t, "", nil, "validate", writeFlow(t, dir, name, text))
	}

	code, stdout, stderr := run("good.toml", good)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Equal(t, filepath.Join(dir, "good.toml")+": ok (2 connectors, 1 pipeline, 2 links)\n", stdout)

	for _, bad := range []struct {
		name, old, new string
		line           int
		key, msg       string
	}{
		// The flow file itself: an unknown route operator (line 19).
		{"bad-op.toml", `op = "gt"`, `op = "bigger"`, 19, "pipeline[0].route[0].op", "expected one of"},
		// The file plugin's declared fields: no such config key (line 13).
		{"bad-config.toml", `mode = "write" }`, `mode = "write", colour = "red" }`, 13, "connector[1].config", "colour"},
		// No plugin provides the type (line 6).
		{"bad-type.toml", `type = "metronome"`, `type = "metronomes"`, 6, "connector[0].type", `no loaded plugin provides connector type "metronomes"`},
	} {
		require.Contains(t, good, bad.old)
		code, stdout, stderr := run(bad.name, strings.Replace(good, bad.old, bad.new, 1))
		assert.Equal(t, 1, code, "%s: stdout %q", bad.name, stdout)
		prefix := fmt.Sprintf("tremorctl: %s:%d: %s: ", filepath.Join(dir, bad.name), bad.line, bad.key)
		assert.True(t, strings.HasPrefix(lastLine(stderr), prefix), "%s: stderr %q, want the prefix %q", bad.name, stderr, prefix)
		assert.Contains(t, stderr, bad.msg, bad.name)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
