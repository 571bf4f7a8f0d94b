package tests

// End-to-end tests of the bundled connectors of issue 6 over loopback
// (127.0.0.1 only), each through the real host: flows run by runtime.New +
// Run (or tremorctl as a subprocess), counting every event at both ends.
//
//   - http (Go): http_client -> http_server across two flows, and the
//     server's answer following the event's fate (202 after the ack, 503
//     after a fail, 504 after timeout_ms).
//   - udp (Rust): udp_client -> udp_server across two flows; an event too
//     big for a datagram fails back to its source (an http_server: 503).
//   - stdio (C): `tremorctl run` with stdin -> stdout, data piped through.
//   - file (Rust), resume_from: a flow stopped half-way through a file and
//     run again with the same state file delivers every line exactly once.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/runtime"
)

// The connector plugins these tests cover are bundled plugins too: every
// test that loads the bundled set loads them.
func init() {
	bundled["libtremor_http.so"] = []string{"http_server", "http_client"}
	bundled["libtremor_udp.so"] = []string{"udp_server", "udp_client"}
	bundled["libtremor_stdio.so"] = []string{"stdin", "stdout"}
}

// freeUDPAddr returns a 127.0.0.1 address with a UDP port that was free a
// moment ago.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return addr
}

// seqSet checks that lines hold the JSON objects with seq 0..n-1, each
// exactly once, and returns the seqs in the order of the lines.
func seqSet(t testing.TB, lines []string, n int) []int64 {
	t.Helper()
	got := fields(t, lines, "seq")
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		require.NotEqual(t, sorted[i-1], sorted[i], "seq %d delivered twice", sorted[i])
	}
	require.Equal(t, seqs(0, int64(n)), sorted, "every seq exactly once")
	return got
}

// ---- http ----

// http_client -> http_server across two flows. Flow "server" takes
// requests and writes their JSON bodies to a file; flow "client" reads N
// lines from a file and sends each as one request. The server answers 202
// only once the file sink has written the line (the event was acked), and
// the client's sink counts an event delivered only on a 2xx: so when the
// client flow ends with N acks, every line is already in the server's
// file, before the server flow is even stopped.
func TestConnectorHTTPClientToServer(t *testing.T) {
	const n = 300
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	require.NoError(t, os.WriteFile(in, jsonLines(0, n), 0o644))
	addr := freeAddr(t)

	server := startFlow(t, newFlow("server").Batch(16).
		Connector("http", Conn{Type: "http_server", Codec: "json", Config: cfg("url", addr, "path", "/events", "timeout_ms", 10000)}).
		Connector("file", fileSink(out, "json")).
		Chain("http", "pass", "file").
		TOML(), runtime.Options{})
	waitListening(t, addr)

	client := startFlow(t, newFlow("client").Batch(16).
		Connector("lines", fileSource(in, "json")).
		Connector("http", Conn{Type: "http_client", Codec: "json",
			Config: cfg("url", "http://"+addr+"/events/in", "headers", cfg(`"content-type"`, "application/json"))}).
		Chain("lines", "pass", "http").
		TOML(), runtime.Options{})
	cstats, err := client.wait() // the file source ends once every line is acked
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "lines", In: n, Out: n, Acks: n}, statOf(t, cstats, "lines"))
	assert.Equal(t, runtime.Stats{Connector: "http", In: n, Out: n}, statOf(t, cstats, "http"))

	// 202 after the ack: everything the client counted delivered is in
	// the server's file already.
	lines := fileLines(t, out)
	require.Len(t, lines, n, "every acked request's line is written before its 202")
	assert.Equal(t, seqs(0, n), seqSet(t, lines, n), "in order: the client sends one request at a time")

	server.waitFor("the server's acks counted", func() bool { return server.stat("http").Acks == n })
	sstats, err := server.stop()
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "http", In: n, Out: n, Acks: n}, statOf(t, sstats, "http"))
	assert.Equal(t, runtime.Stats{Connector: "file", In: n, Out: n}, statOf(t, sstats, "file"))
}

// backendServer is the far end of an http_client. It records every request
// body, and answers by the body's "want": "ok" 200, "bad" 400, "flaky" 503
// the first time and 200 after, "hang" not until release is closed.
type backendServer struct {
	srv     *httptest.Server
	release chan struct{}
	mu      sync.Mutex
	seen    []string       // bodies, in arrival order
	tries   map[string]int // attempts per body
}

func newBackendServer(t testing.TB) *backendServer {
	b := &backendServer{release: make(chan struct{}), tries: map[string]int{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct{ Want string }
		_ = json.Unmarshal(body, &ev)
		b.mu.Lock()
		b.seen = append(b.seen, string(body))
		b.tries[string(body)]++
		try := b.tries[string(body)]
		b.mu.Unlock()
		switch {
		case ev.Want == "bad":
			w.WriteHeader(http.StatusBadRequest)
		case ev.Want == "flaky" && try == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case ev.Want == "hang":
			select {
			case <-b.release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release)
		}
		b.srv.Close()
	})
	return b
}

func (b *backendServer) count(body string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tries[body]
}

// One flow, http_server -> http_client -> a backend: the answer to each
// request to the server follows what became of its event downstream.
func TestConnectorHTTPServerAnswersAfterDelivery(t *testing.T) {
	be := newBackendServer(t)
	addr := freeAddr(t)
	fr := startFlow(t, newFlow("").Batch(8).
		Connector("in", Conn{Type: "http_server", Codec: "json", Config: cfg("url", addr, "path", "/in", "timeout_ms", 1500)}).
		Connector("out", Conn{Type: "http_client", Codec: "json", Config: cfg("url", be.srv.URL+"/sink")}.reconnect(20, 100)).
		Chain("in", "pass", "out").
		TOML(), runtime.Options{})
	waitListening(t, addr)

	send := func(body string) (int, string) {
		resp, err := http.Post("http://"+addr+"/in", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		msg, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(msg)
	}

	// Delivered (the backend said 200): 202, and the backend has it.
	ok := `{"want":"ok"}`
	code, _ := send(ok)
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, 1, be.count(ok), "202 only after the backend took it")

	// Refused for good (400 -> FAILED -> fail): 503.
	bad := `{"want":"bad"}`
	code, msg := send(bad)
	assert.Equal(t, http.StatusServiceUnavailable, code, msg)
	assert.Equal(t, 1, be.count(bad))

	// Refused once (503 -> RETRY), then taken: 202, after two attempts.
	flaky := `{"want":"flaky"}`
	code, _ = send(flaky)
	assert.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, 2, be.count(flaky))

	// Not delivered within timeout_ms: 504, while the sink still waits.
	hang := `{"want":"hang"}`
	code, _ = send(hang)
	assert.Equal(t, http.StatusGatewayTimeout, code)
	assert.Equal(t, 1, be.count(hang))
	close(be.release) // delivered late: acked, but nobody is waiting

	// Outside the path prefix: 404, and no event at all.
	resp, err := http.Post("http://"+addr+"/elsewhere", "application/json", strings.NewReader(ok))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	fr.waitFor("every event settled", func() bool {
		s := fr.stat("in")
		return s.In == 4 && s.Acks+s.Fails == 4
	})
	stats, err := fr.stop()
	require.NoError(t, err)
	src, sink := statOf(t, stats, "in"), statOf(t, stats, "out")
	assert.Equal(t, uint64(4), src.In)
	assert.Equal(t, uint64(3), src.Acks, "ok, flaky and the late hang")
	assert.Equal(t, uint64(1), src.Fails, "bad")
	assert.Equal(t, uint64(4), sink.In)
	assert.Equal(t, uint64(3), sink.Out)
	be.mu.Lock()
	assert.Len(t, be.seen, 5, "bad once, flaky twice, the others once")
	be.mu.Unlock()
}

// ---- udp ----

// udp_client -> udp_server across two flows: a metronome ticks N events
// into udp_client; udp_server turns each datagram back into one event and
// a file sink writes it. UDP may drop a datagram when the receiver's
// socket buffer is full; N is chosen so that all N fit in that buffer
// (net.core.rmem_default, at up to 2 KiB of kernel memory per small
// datagram) even if the server flow does not read at all until the client
// is done, which makes the loss-free case deterministic on a loaded
// machine: every tick arrives exactly once.
func TestConnectorUDPClientToServer(t *testing.T) {
	n := uint64(udpLossFree(t))
	out := filepath.Join(t.TempDir(), "out.jsonl")
	addr := freeUDPAddr(t)
	server := startFlow(t, newFlow("server").Batch(32).
		Connector("udp", Conn{Type: "udp_server", Codec: "json", Config: cfg("url", addr)}).
		Connector("file", fileSink(out, "json")).
		Chain("udp", "pass", "file").
		TOML(), runtime.Options{})
	waitUntil(t, "udp_server bound", func() bool { return server.logs.find("udp", "listening on udp "+addr) != "" })

	client := startFlow(t, newFlow("client").Batch(32).
		Connector("tick", metronomeConn(int(n))).
		Connector("udp", Conn{Type: "udp_client", Codec: "json", Config: cfg("url", addr)}).
		Chain("tick", "pass", "udp").
		TOML(), runtime.Options{})
	cstats, err := client.wait()
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "tick", In: n, Out: n, Acks: n}, statOf(t, cstats, "tick"))
	assert.Equal(t, runtime.Stats{Connector: "udp", In: n, Out: n}, statOf(t, cstats, "udp"))
	assert.NotEmpty(t, client.logs.find("udp", fmt.Sprintf("sent %d datagrams", n)), "the client's own count")

	server.waitFor("every datagram written", func() bool { return server.stat("file").Out == n })
	sstats, err := server.stop()
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "udp", In: n, Out: n, Acks: n}, statOf(t, sstats, "udp"), "one event per datagram")
	assert.Equal(t, runtime.Stats{Connector: "file", In: n, Out: n}, statOf(t, sstats, "file"))
	assert.NotEmpty(t, server.logs.find("udp", fmt.Sprintf("received %d datagrams", n)), "the server's own count")

	lines := fileLines(t, out)
	require.Len(t, lines, int(n))
	ids := fields(t, lines, "id")
	slices.Sort(ids)
	assert.Equal(t, seqs(0, int64(n)), ids, "every tick exactly once")
	for _, l := range lines {
		assert.Contains(t, l, `"onramp":"metronome"`)
	}
}

// udpLossFree is how many small datagrams (under 200 bytes) a receiver's
// default socket buffer holds for sure: at most 200, at least 50.
func udpLossFree(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_default")
	require.NoError(t, err)
	rmem, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	n := min(200, rmem/2048)
	require.GreaterOrEqual(t, n, 50, "net.core.rmem_default (%d) too small for this test", rmem)
	return n
}

// An event too big for a datagram fails, and the failure travels back to
// where the event came from: http_server -> udp_client, with a udp_server
// flow at the far end. Small bodies are answered 202 and arrive as
// datagrams; a 70000-byte body (over the 65507 a datagram holds) is
// answered 503 and never arrives.
func TestConnectorUDPOversizeFailsBackToTheSource(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.txt")
	udpAddr, httpAddr := freeUDPAddr(t), freeAddr(t)
	far := startFlow(t, newFlow("far").
		Connector("udp", Conn{Type: "udp_server", Codec: "string", Config: cfg("url", udpAddr)}).
		Connector("file", fileSink(out, "string")).
		Chain("udp", "pass", "file").
		TOML(), runtime.Options{})
	waitUntil(t, "udp_server bound", func() bool { return far.logs.find("udp", "listening on udp "+udpAddr) != "" })

	near := startFlow(t, newFlow("near").
		Connector("http", Conn{Type: "http_server", Codec: "binary", Config: cfg("url", httpAddr, "max_body", 200000)}).
		Connector("udp", Conn{Type: "udp_client", Codec: "binary", Config: cfg("url", udpAddr)}).
		Chain("http", "pass", "udp").
		TOML(), runtime.Options{})
	waitListening(t, httpAddr)

	post := func(body string) int {
		resp, err := http.Post("http://"+httpAddr+"/", "application/octet-stream", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusAccepted, post("small one"))
	assert.Equal(t, http.StatusServiceUnavailable, post(strings.Repeat("x", 70000)), "too big for a datagram")
	assert.Equal(t, http.StatusAccepted, post("small two"))

	far.waitFor("both small ones written", func() bool { return far.stat("file").Out == 2 })
	nstats, err := near.stop()
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "http", In: 3, Out: 3, Acks: 2, Fails: 1}, statOf(t, nstats, "http"))
	assert.Equal(t, runtime.Stats{Connector: "udp", In: 3, Out: 2, Fails: 1}, statOf(t, nstats, "udp"), "the sink counts the event it failed")
	assert.NotEmpty(t, near.logs.find("udp", "the largest has 70000 bytes"), "the client says why")
	fstats, err := far.stop()
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "udp", In: 2, Out: 2, Acks: 2}, statOf(t, fstats, "udp"))
	assert.Equal(t, []string{"small one", "small two"}, fileLines(t, out))
}

// ---- stdio ----

// runTremorctl runs `tremorctl ARGS...` with stdin and returns stdout and
// stderr; it fails the test when tremorctl fails or hangs.
func runTremorctl(t testing.TB, stdin []byte, args ...string) (stdout, stderr []byte) {
	t.Helper()
	cmd := exec.Command(tremorctl(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "tremorctl %v failed; stderr:\n%s", args, lastLines(errb.String(), 30))
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl %v did not end within %s; stderr:\n%s", args, flowDeadline, lastLines(errb.String(), 30))
	}
	return out.Bytes(), errb.Bytes()
}

// splitSummary splits tremorctl's stderr into what the flow wrote and the
// summary tremorctl prints after it ("flow ... ran for ...", the stats).
func splitSummary(t testing.TB, out []byte, flowName string) (data []byte, summary string) {
	t.Helper()
	mark := []byte(fmt.Sprintf("flow %q ran for ", flowName))
	i := bytes.LastIndex(out, mark)
	require.GreaterOrEqual(t, i, 0, "no summary in tremorctl's output")
	return out[:i], string(out[i:])
}

// stdioFlow is stdin -> stdout (or stderr: stream), each with its codec
// and processors (nil: the type's natural framing).
func stdioFlow(in Conn, bufSize int, out Conn, stream string) string {
	in.Type, in.Config = "stdin", cfg("buf_size", bufSize)
	out.Type, out.Config = "stdout", cfg("stream", stream)
	return newFlow("cat").Batch(64).
		Connector("in", in).
		Connector("out", out).
		Chain("in", "pass", "out").
		TOML()
}

// Bytes piped into `tremorctl run` come out unchanged: stdin in chunks,
// each chunk one event, decoded and encoded by the binary codec, written
// by stdout as-is (the flow turns the stdio types' natural lines framing
// off with empty processor lists). The process ends by itself at the end
// of its input.
func TestConnectorStdioBytesThroughTremorctl(t *testing.T) {
	input := make([]byte, 300_000)
	for i := range input {
		input[i] = byte(i*7 + i/251) // every byte value, newlines among them
	}
	const chunk = 4096
	flowFile := filepath.Join(t.TempDir(), "cat.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(stdioFlow(
		Conn{Codec: "binary", Pre: []string{}}, chunk, Conn{Codec: "binary", Post: []string{}}, "stdout")), 0o644))

	out, stderr := runTremorctl(t, input, "--log-level", "info", "--log-format", "json", "run", flowFile)
	// The summary goes to stderr: stdout holds exactly what the flow wrote.
	data, summary := out, string(stderr)
	require.True(t, bytes.Equal(input, data), "stdout differs from stdin: %d bytes in, %d out", len(input), len(data))

	rows := statsTable(t, summary)
	in, sink := rows["in"], rows["out"]
	// in, out, errors, acks, fails, discarded
	assert.GreaterOrEqual(t, in[0], uint64(len(input)/chunk), "at least one event per %d bytes", chunk)
	assert.Equal(t, [6]uint64{in[0], in[0], 0, in[0], 0, 0}, in, "every chunk decoded, delivered and acked")
	assert.Equal(t, [6]uint64{in[0], in[0], 0, 0, 0, 0}, sink)
	assert.Contains(t, string(stderr), fmt.Sprintf("stdin: read %d bytes in %d events, %d acked, 0 failed", len(input), in[0], in[0]))
	assert.Contains(t, string(stderr), fmt.Sprintf("stdout: wrote %d bytes of %d events", len(input), in[0]))
}

// JSON lines through stdin -> lines -> json -> lines -> stderr: every line
// comes out once, as the same value, and stderr holds nothing else (the
// log level keeps tremorctl quiet).
func TestConnectorStdioLinesToStderr(t *testing.T) {
	const n = 2000
	input := jsonLines(0, n)
	input = input[:len(input)-1] // the last line without "\n": flushed at the end of input
	flowFile := filepath.Join(t.TempDir(), "lines.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(stdioFlow(
		Conn{Codec: "json", Pre: lineFraming}, 1000, Conn{Codec: "json", Post: lineFraming}, "stderr")), 0o644))

	out, stderr := runTremorctl(t, input, "--log-level", "error", "run", flowFile)
	assert.Empty(t, out, "nothing on stdout")
	data, summary := splitSummary(t, stderr, "cat") // the summary follows the data on stderr

	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, got, n)
	want := strings.Split(string(input), "\n")
	for i := range want {
		var w, g map[string]any
		require.NoError(t, json.Unmarshal([]byte(want[i]), &w))
		require.NoError(t, json.Unmarshal([]byte(got[i]), &g), "line %d: %q", i, got[i])
		require.Equal(t, w, g, "line %d", i)
	}
	rows := statsTable(t, summary)
	assert.Equal(t, uint64(n), rows["in"][1], "lines decoded")
	assert.Equal(t, rows["in"][0], rows["in"][3], "every chunk acked")
	assert.Equal(t, [6]uint64{n, n, 0, 0, 0, 0}, rows["out"])
}

// ---- file: resume_from ----

// resumeLines writes n JSON lines {"seq":i,"down":b}: down is false before
// line k, and true for every even line from k on. It returns each line's
// byte offset.
func resumeLines(t testing.TB, path string, n, k int) []int64 {
	var b strings.Builder
	offsets := make([]int64, n)
	for i := range n {
		offsets[i] = int64(b.Len())
		fmt.Fprintf(&b, "{\"seq\":%d,\"down\":%t,\"pad\":\"%s\"}\n", i, i >= k && i%2 == 0, strings.Repeat("r", i%9))
	}
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return offsets
}

// stateOffset reads the offset a resume state file records, and its acked
// list.
func stateOffset(t testing.TB, path string) (int64, []int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var off int64 = -1
	var acked []int64
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "offset":
			off, err = strconv.ParseInt(f[1], 10, 64)
			require.NoError(t, err)
		case len(f) > 0 && f[0] == "acked":
			for _, a := range f[1:] {
				v, err := strconv.ParseInt(a, 10, 64)
				require.NoError(t, err)
				acked = append(acked, v)
			}
		}
	}
	require.GreaterOrEqual(t, off, int64(0), "no offset in %s:\n%s", path, data)
	return off, acked
}

// A file read half-way, stopped, and read again with the same state file:
// no line is lost and none is written twice.
//
// Run 1 routes the lines marked down (every even line from line k on) to a
// tcp_client whose server never comes up, and the others to a file sink.
// Once undeliverable lines pile up (the source is held back by its window
// and the stuck sink's queue), the flow is stopped: the stuck lines fail back at the drain timeout, and
// the state file records line k's offset as the lowest unacknowledged one,
// with the odd lines after it as acknowledged already. Run 2 sends
// everything to the file sink: it resumes at line k and skips the lines
// acked in run 1. Run 3 finds nothing left.
func TestConnectorFileResumesFromAckedOffsets(t *testing.T) {
	const (
		n      = 3000
		k      = 1000
		window = 64
		batch  = 16
	)
	dir := t.TempDir()
	in, out, state := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "in.state")
	offsets := resumeLines(t, in, n, k)
	down := freeAddr(t) // nobody listens there

	resuming := Conn{Type: "file", Codec: "json", Config: cfg("path", in, "resume_from", state)}
	appending := Conn{Type: "file", Codec: "json", Config: cfg("path", out, "mode", "append")}
	stuck := tcpClient(down).reconnect(20, 50)
	stuck.Config = cfg("url", down, "connect_timeout_ms", 100)
	run1 := startFlow(t, newFlow("").Batch(batch).
		Connector("in", resuming).
		Connector("up", appending).
		Connector("stuck", stuck).
		Pipeline("route", Route{Field: "down", Op: "eq", Value: true, To: "down"}).
		Link("in", "route").
		Link("route/out", "up").
		Link("route/down", "stuck").
		TOML(), runtime.Options{Window: window, DrainTimeout: 300 * time.Millisecond})

	// Soon the source is held back (its window, or the stuck sink's queue,
	// is full of undeliverable lines): stop it there.
	run1.waitFor("undeliverable lines piling up", func() bool {
		return run1.stat("in").In > k && run1.stat("stuck").In >= 20
	})
	stats1, _ := run1.stop() // the stuck sink's events fail back: an error is expected
	src1 := statOf(t, stats1, "in")
	require.Greater(t, src1.In, uint64(k), "read past line k")
	require.Less(t, src1.In, uint64(n), "stopped half-way")
	assert.Equal(t, src1.In, src1.Acks+src1.Fails, "every line read settled")
	written1 := fileLines(t, out)
	require.Len(t, written1, int(src1.Acks), "run 1 wrote exactly its acked lines")

	off, acked := stateOffset(t, state)
	assert.Equal(t, offsets[k], off, "resume at the first undelivered line")
	var oddAbove []int64
	for i := k + 1; i < int(src1.In); i += 2 {
		oddAbove = append(oddAbove, offsets[i])
	}
	assert.Equal(t, oddAbove, acked, "the lines after it that were delivered")

	// Run 2: everything to the file sink; the source ends once all is acked.
	flow2 := newFlow("").Batch(batch).
		Connector("in", resuming).
		Connector("up", appending).
		Chain("in", "pass", "up").
		TOML()
	stats2, err := startFlow(t, flow2, runtime.Options{Window: window}).wait()
	require.NoError(t, err)
	src2 := statOf(t, stats2, "in")
	assert.Equal(t, uint64(n)-src1.Acks, src2.In, "run 2 reads exactly what run 1 did not deliver")
	assert.Equal(t, runtime.Stats{Connector: "in", In: src2.In, Out: src2.In, Acks: src2.In}, src2)

	seqSet(t, fileLines(t, out), n) // every line exactly once across both runs
	info, err := os.Stat(in)
	require.NoError(t, err)
	off, acked = stateOffset(t, state)
	assert.Equal(t, info.Size(), off, "everything acknowledged")
	assert.Empty(t, acked)

	// Run 3: nothing left to read.
	stats3, err := startFlow(t, flow2, runtime.Options{Window: window}).wait()
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "in"}, statOf(t, stats3, "in"))
	assert.Len(t, fileLines(t, out), n)
}

// ---- flow file mistakes, through tremorctl ----

// Mistakes in the shape of a flow, through `tremorctl validate` and `run`
// as a subprocess: exit status 1, one message naming the file, the line,
// the indexed key and what the flow expects, and no event moved: the sink's
// file is never created.
func TestConnectorFlowMistakesThroughTremorctl(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	good := newFlow("").
		Connector("tick", Conn{Type: "metronome", Config: cfg("interval_ms", 1, "count", 5)}).
		Connector("out", Conn{Type: "file", Config: cfg("path", out, "mode", "write")}).
		Chain("tick", "route", "out").
		TOML()
	code, stdout, stderr := tremorctlExit(t, "", nil, "validate", writeFlow(t, dir, "good.toml", good))
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "ok (2 connectors, 1 pipeline, 2 links)")

	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"dup.toml", "to = \"out\"\n", "to = \"out\"\n[[link]]\nfrom = \"tick\"\nto = \"route\"\n",
			`dup.toml:20: link[2]: duplicates link[0] (line 14): tick -> route; remove one (a link written twice would deliver every event twice)`},
		{"array.toml", `to = "out"`, `to = ["out"]`,
			`array.toml:19: link[1].to: expected a string like "pipeline" or "connector/port", got an array`},
		{"range.toml", `count = 5 }`, `count = 18446744073709551616 }`,
			`range.toml:4: connector[0].config.count: 18446744073709551616 is out of range: a flow file holds integers from -9223372036854775808 to 9223372036854775807 (TOML integers are 64-bit signed), so an int or uint field takes at most 9223372036854775807`},
		{"reconnect.toml", `count = 5 }`, "count = 5 }\n[connector.reconnect]\nmax_ms = 9223372036854775807",
			`reconnect.toml:6: connector[0].reconnect.max_ms: must be at most 86400000 ms (a day), got 9223372036854775807`},
		{"deep.toml", `count = 5 }`, `count = 5, x = ` + strings.Repeat("{ a = ", 5000) + "1" + strings.Repeat(" }", 5000) + " }",
			`deep.toml:4: nested deeper than 32 levels of inline tables and arrays; a flow never needs that: flatten it`},
	} {
		src := strings.Replace(good, tt.old, tt.new, 1)
		require.NotEqual(t, good, src, tt.name)
		path := writeFlow(t, dir, tt.name, src)
		for _, cmd := range []string{"validate", "run"} {
			code, stdout, stderr := tremorctlExit(t, "", nil, cmd, path)
			assert.Equal(t, 1, code, "%s %s: stdout %s", cmd, tt.name, stdout)
			assert.Equal(t, "tremorctl: "+filepath.Join(dir, tt.want), strings.TrimSpace(lastLines(stderr, 1)), "%s %s", cmd, tt.name)
			assert.NotContains(t, stderr, "goroutine", "no Go panic trace")
			assert.NoFileExists(t, out, "%s %s: no event may move", cmd, tt.name)
		}
	}

	// A config field of the wrong type: one message, not also "missing".
	src := strings.Replace(good, `mode = "write" }`, `mode = 5 }`, 1)
	code, _, stderr = tremorctlExit(t, "", nil, "validate", writeFlow(t, dir, "mode.toml", src))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `mode.toml:9: connector[1].config: connector "file": invalid config: config field "mode": expected string, got int (connector type file`)
}

// ---- http: undecodable bodies ----

// An undecodable body is answered 400, not 503: the server's err port is
// linked back to the server, whose sink side answers the request with the
// error event. Good bodies are delivered and answered 202. Counts at both
// ends: the server saw 3 requests, all acked (the error event was
// delivered, as an answer), 1 decoding error; the file has the 2 good ones.
func TestConnectorHTTPServerAnswers400ToUndecodable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	addr := freeAddr(t)
	fr := startFlow(t, newFlow("").
		Connector("api", Conn{Type: "http_server", Codec: "json", Config: cfg("url", addr, "timeout_ms", 20000)}).
		Connector("file", fileSink(out, "json")).
		Pipeline("pass").
		Pipeline("rejects").
		Link("api", "pass").
		Link("pass", "file").
		Link("api/err", "rejects").
		Link("rejects", "api").
		TOML(), runtime.Options{})
	waitListening(t, addr)
	post := func(body string) (int, string) {
		resp, err := http.Post("http://"+addr+"/", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, _ := post(`{"seq":0}`)
	assert.Equal(t, http.StatusAccepted, code)
	code, body := post(`{"seq": oops`)
	assert.Equal(t, http.StatusBadRequest, code, body)
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &e), "the 400's body is the error event: %q", body)
	assert.Equal(t, "api", e["connector"])
	assert.Equal(t, `{"seq": oops`, e["data"])
	assert.NotEmpty(t, e["error"])
	code, _ = post(`{"seq":1}`)
	assert.Equal(t, http.StatusAccepted, code)

	fr.waitFor("every request settled", func() bool { s := fr.stat("api"); return s.Acks == 3 })
	stats, err := fr.stop()
	require.NoError(t, err)
	// api counts both roles: 3 requests pulled and the error event taken as
	// a sink (in); 2 good events and the error event routed, the error event
	// delivered (out).
	assert.Equal(t, runtime.Stats{Connector: "api", In: 4, Out: 4, Errors: 1, Acks: 3}, statOf(t, stats, "api"))
	assert.Equal(t, runtime.Stats{Connector: "file", In: 2, Out: 2}, statOf(t, stats, "file"))
	assert.Equal(t, []int64{0, 1}, fields(t, fileLines(t, out), "seq"))
}

// ---- tcp_client: a peer that accepts and never reads ----

// tcp_client against a peer that accepts the first connection and never
// reads it (a small receive buffer, so it fills at once): the write
// timeout drops that connection, and only what the peer's TCP acknowledged
// was acked. The peer then reads what it got on that connection and every
// later connection is read at once: every line arrives exactly once, and
// the source's acks match what arrived.
func TestConnectorTCPClientPeerNeverReads(t *testing.T) {
	const n = 3000
	in := filepath.Join(t.TempDir(), "in.jsonl")
	require.NoError(t, os.WriteFile(in, jsonLines(0, n), 0o644))
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	first := make(chan net.Conn, 1)
	peer := &lineServer{t: t, addr: ln.Addr().String()}
	t.Cleanup(peer.close)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(first)
			return
		}
		first <- c
		peer.serve(ln) // later connections are read as they come
	}()

	out := tcpClient(peer.addr).reconnect(20, 100)
	out.Config = cfg("url", peer.addr, "write_timeout_ms", 300)
	fr := startFlow(t, newFlow("").Batch(64).
		Connector("lines", fileSource(in, "json")).
		Connector("out", out).
		Chain("lines", "pass", "out").
		TOML(), runtime.Options{})
	stuck := <-first
	require.NotNil(t, stuck, "no connection accepted")
	defer stuck.Close()
	fr.waitFor("the write timeout dropped the connection", func() bool {
		return fr.logs.find("out", "the peer did not acknowledge") != ""
	})

	stats, err := fr.wait() // the file source ends once every line is acked
	require.NoError(t, err)
	assert.Equal(t, runtime.Stats{Connector: "lines", In: n, Out: n, Acks: n}, statOf(t, stats, "lines"))
	assert.Equal(t, uint64(n), statOf(t, stats, "out").Out)

	// What the stuck connection holds: exactly the lines acked on it.
	stuck.SetReadDeadline(time.Now().Add(flowDeadline))
	data, err := io.ReadAll(stuck)
	if err != nil {
		require.ErrorIs(t, err, syscall.ECONNRESET, "the client aborts the connection")
	}
	text := string(data)
	var firstLines []string
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		firstLines = strings.Split(text[:i], "\n")
	}
	assert.NotEmpty(t, firstLines, "the peer's buffer took some lines before it filled")
	peer.waitLines(t, n-len(firstLines))
	all := append(firstLines, peer.all()...)
	// Every line exactly once across both connections: a line the stuck
	// peer holds was acked and not sent again (else a duplicate), and a
	// line it does not hold was retried on the new connection (else a
	// gap). Comparing with the source's ack counter at the moment of the
	// drop would race the settlements still on their way to it.
	seqSet(t, all, n)
}

// waitLines waits until the server received at least want complete lines.
func (s *lineServer) waitLines(t testing.TB, want int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d lines at the peer", want), func() bool { return s.count() >= want })
}

// A file source with resume_from and the lines pre-processor ends by itself
// at the end of the file: the source flags its last line end-of-stream, so
// the runtime lets go of the partial frame that holds the lines' acks
// while the source waits for them. The source strips each line's "\n", so
// the lines pre-processor makes one frame of the whole file. A second run
// finds everything acknowledged and reads nothing.
func TestConnectorFileResumeWithPreprocessorEnds(t *testing.T) {
	dir := t.TempDir()
	in, out, state := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt"), filepath.Join(dir, "in.state")
	text := "alpha\nbeta\ngamma\n"
	require.NoError(t, os.WriteFile(in, []byte(text), 0o644))
	flow := writeFlow(t, dir, "flow.toml", newFlow("resume-lines").Batch(16).
		Connector("src", Conn{Type: "file", Codec: "string", Pre: lineFraming, Config: cfg("path", in, "resume_from", state)}).
		Connector("dst", Conn{Type: "file", Codec: "string", Config: cfg("path", out, "mode", "append")}).
		Chain("src", "p", "dst").
		TOML())

	code, _, stderr := ctl(t, "run", flow)
	noCrash(t, stderr)
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 30))
	rows := statsTable(t, stderr)
	assert.Equal(t, row{3, 1, 0, 3, 0, 0}, rows["src"], "three lines read and acked, one frame decoded")
	assert.Equal(t, row{1, 1, 0, 0, 0, 0}, rows["dst"])
	assert.Equal(t, []string{"alphabetagamma"}, fileLines(t, out))
	off, acked := stateOffset(t, state)
	assert.Equal(t, int64(len(text)), off, "everything acknowledged")
	assert.Empty(t, acked)

	code, _, stderr = ctl(t, "run", flow)
	noCrash(t, stderr)
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 30))
	rows = statsTable(t, stderr)
	assert.Equal(t, row{}, rows["src"], "nothing left to read")
	assert.Equal(t, []string{"alphabetagamma"}, fileLines(t, out), "nothing written twice")
}
