package tests

// Helpers for the end-to-end flow tests (flow_test.go): running a flow of
// the real bundled plugins with runtime.New + Run, waiting on conditions,
// and the far ends of the real channels (files, a TCP listener that records
// lines and can go down and come back).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tremorhost/host/catalog"
	"tremorhost/host/flow"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

// flowDeadline bounds every wait of a flow test. Flows end (or reach what a
// test waits for) in well under a second; this is only the point at which
// a hung flow fails the test instead of the whole run.
const flowDeadline = 20 * time.Second

// bundledCatalog loads the bundled plugins from build/plugins into one
// registry, as tremorctl does with its search path (only the bundled files,
// so that a half-built plugin of someone else's does not get in the way).
func bundledCatalog(t testing.TB) runtime.Catalog {
	t.Helper()
	var files []string
	for f := range bundled {
		files = append(files, testenv.Plugin(t, f))
	}
	sort.Strings(files)
	reg, err := plugin.LoadAll(files)
	require.NoError(t, err)
	return catalog.Plugins{Registry: reg}
}

// flowRun is a flow running in the background.
type flowRun struct {
	t      testing.TB
	r      *runtime.Runtime
	logs   *logBuf
	cancel context.CancelFunc
	done   chan struct{}
	stats  []runtime.Stats // Run's result, once done is closed
	err    error
}

// startFlow parses src (a flow file's text), checks it against the bundled
// plugins and runs it. The test's cleanup cancels it and waits for Run to
// return; when the test failed, the flow's log is printed.
func startFlow(t testing.TB, src string, opts runtime.Options) *flowRun {
	t.Helper()
	return startFlowWith(t, src, bundledCatalog(t), opts)
}

// startFlowWith is startFlow with the plugins of cat.
func startFlowWith(t testing.TB, src string, cat runtime.Catalog, opts runtime.Options) *flowRun {
	t.Helper()
	f, err := flow.Parse(t.Name()+".toml", []byte(src))
	require.NoError(t, err, "flow:\n%s", src)
	logs := &logBuf{}
	opts.Log = zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	r, err := runtime.New(f, cat, opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	fr := &flowRun{t: t, r: r, logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fr.done)
		fr.stats, fr.err = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-fr.done:
		case <-time.After(flowDeadline):
			t.Errorf("the flow did not stop within %s after its context was cancelled", flowDeadline)
		}
		if t.Failed() {
			t.Logf("flow log (last lines):\n%s", lastLines(logs.String(), 60))
		}
	})
	return fr
}

// wait waits for Run to return (the sources ended, or stop was called) and
// returns its result.
func (fr *flowRun) wait() ([]runtime.Stats, error) {
	fr.t.Helper()
	select {
	case <-fr.done:
		return fr.stats, fr.err
	case <-time.After(flowDeadline):
		fr.t.Fatalf("the flow did not finish within %s; stats: %+v", flowDeadline, fr.r.Stats())
		return nil, nil
	}
}

// stop cancels the flow's context (a shutdown, as on Ctrl-C) and waits for
// Run to return.
func (fr *flowRun) stop() ([]runtime.Stats, error) {
	fr.t.Helper()
	fr.cancel()
	return fr.wait()
}

// stat is a live snapshot of one connector's counters.
func (fr *flowRun) stat(id string) runtime.Stats { return statOf(fr.t, fr.r.Stats(), id) }

func statOf(t testing.TB, stats []runtime.Stats, id string) runtime.Stats {
	t.Helper()
	for _, s := range stats {
		if s.Connector == id {
			return s
		}
	}
	t.Fatalf("no stats for connector %q in %+v", id, stats)
	return runtime.Stats{}
}

// waitFor polls cond until it holds; the test fails (saying what it waited
// for, and the flow's stats) when it does not within flowDeadline.
func (fr *flowRun) waitFor(what string, cond func() bool) {
	fr.t.Helper()
	deadline := time.Now().Add(flowDeadline)
	for !cond() {
		select {
		case <-fr.done:
			if cond() {
				return
			}
			fr.t.Fatalf("the flow ended (err %v) before: %s; stats %+v", fr.err, what, fr.stats)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fr.t.Fatalf("timed out after %s waiting for: %s; stats %+v", flowDeadline, what, fr.r.Stats())
		}
	}
}

// waitUntil polls cond (no flow involved) until it holds or the deadline.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(flowDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", flowDeadline, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// fileLines returns the lines of a file (without their "\n"); a last line
// without "\n" is returned too.
func fileLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// field decodes a JSON object line and returns its numeric field key.
func field(t testing.TB, line, key string) int64 {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(line), &m), "line %q", line)
	v, ok := m[key].(float64)
	require.True(t, ok, "line %q has no numeric %q", line, key)
	return int64(v)
}

// fields returns field(line, key) of every line.
func fields(t testing.TB, lines []string, key string) []int64 {
	t.Helper()
	out := make([]int64, len(lines))
	for i, l := range lines {
		out[i] = field(t, l, key)
	}
	return out
}

// seqs returns [from, to).
func seqs(from, to int64) []int64 {
	out := make([]int64, 0, max(to-from, 0))
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// ---- lineServer: the far end of a tcp_client ----

// lineServer listens on one 127.0.0.1 port and records every line each
// accepted connection sends, per connection, in order (or, made by
// newCountingServer, only counts them, in bounded memory). It can go down
// (close its listener and its connections) and come back on the same port.
type lineServer struct {
	t         testing.TB
	addr      string
	countOnly bool // count the lines, keep none

	mu        sync.Mutex
	ln        net.Listener
	conns     []*lineConn
	total     uint64 // complete lines received, on all connections
	comeBacks int    // restarts after which a client connected again
	wg        sync.WaitGroup
}

// lineConn is one accepted connection and what it sent.
type lineConn struct {
	c     net.Conn
	lines []string
	torn  string        // a last line cut short (no "\n") when the connection ended
	done  chan struct{} // closed when the reader stopped
}

func newLineServer(t testing.TB) *lineServer {
	t.Helper()
	return listenLines(t, false)
}

// newCountingServer is a lineServer that keeps no line, for a long run.
func newCountingServer(t testing.TB) *lineServer {
	t.Helper()
	return listenLines(t, true)
}

func listenLines(t testing.TB, countOnly bool) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &lineServer{t: t, addr: ln.Addr().String(), countOnly: countOnly}
	s.serve(ln)
	t.Cleanup(s.close)
	return s
}

func (s *lineServer) serve(ln net.Listener) {
	s.mu.Lock()
	restarted := s.ln != nil
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			lc := &lineConn{c: c, done: make(chan struct{})}
			s.mu.Lock()
			s.conns = append(s.conns, lc)
			if first && restarted {
				s.comeBacks++
			}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.read(lc)
			}()
		}
	}()
}

func (s *lineServer) read(lc *lineConn) {
	defer close(lc.done)
	br := bufio.NewReader(lc.c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" {
				s.mu.Lock()
				lc.torn = line
				s.mu.Unlock()
			}
			return
		}
		s.mu.Lock()
		s.total++
		if !s.countOnly {
			lc.lines = append(lc.lines, strings.TrimSuffix(line, "\n"))
		}
		s.mu.Unlock()
	}
}

// count is the number of complete lines received so far, on all
// connections.
func (s *lineServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.total)
}

// accepted is the number of connections accepted so far.
func (s *lineServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// reconnected is how many of the server's restarts a client came back
// after.
func (s *lineServer) reconnected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.comeBacks
}

// perConn returns the lines received on each connection, and the torn
// last line of each ("" when none).
func (s *lineServer) perConn() (lines [][]string, torn []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		lines = append(lines, append([]string{}, c.lines...))
		torn = append(torn, c.torn)
	}
	return lines, torn
}

// all returns every complete line, connection after connection.
func (s *lineServer) all() []string {
	per, _ := s.perConn()
	var out []string
	for _, l := range per {
		out = append(out, l...)
	}
	return out
}

// current is the last accepted connection.
func (s *lineServer) current() *lineConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(s.t, s.conns, "no connection was accepted")
	return s.conns[len(s.conns)-1]
}

// goDownGracefully is an orderly shutdown: the listener closes (new
// connects are refused), every open connection is half-closed (FIN) and
// still read until the peer closes its side, so every byte the peer wrote
// before it noticed is received. It returns once the peers closed.
func (s *lineServer) goDownGracefully() {
	s.t.Helper()
	s.mu.Lock()
	s.ln.Close()
	conns := slices.Clone(s.conns)
	s.mu.Unlock()
	for _, lc := range conns {
		select {
		case <-lc.done: // the peer closed it already
		default:
			require.NoError(s.t, lc.c.(*net.TCPConn).CloseWrite())
			select {
			case <-lc.done:
			case <-time.After(flowDeadline):
				s.t.Fatalf("the client did not close its side within %s after the server's FIN", flowDeadline)
			}
		}
		lc.c.Close()
	}
}

// restart goes down gracefully and comes back on the same port.
func (s *lineServer) restart() {
	s.t.Helper()
	s.goDownGracefully()
	s.comeBack()
}

// waitClientClosed waits until the client closed the last connection (a
// tcp_client does when its flow stops): then everything it sent is read.
func (s *lineServer) waitClientClosed() {
	s.t.Helper()
	select {
	case <-s.current().done:
	case <-time.After(flowDeadline):
		s.t.Fatal("the tcp_client's connection is still open after Run returned")
	}
}

// goDownAbruptly is a crash-like shutdown: the listener closes and the
// connection is reset (RST) without reading what is still in its receive
// buffer, which the kernel discards.
func (s *lineServer) goDownAbruptly() {
	s.t.Helper()
	s.mu.Lock()
	s.ln.Close()
	s.mu.Unlock()
	lc := s.current()
	lc.c.(*net.TCPConn).SetLinger(0)
	lc.c.Close()
	<-lc.done
}

// goDownWhileIdle closes the connection completely at a moment when the
// caller knows nothing is in flight (everything sent was received): it
// sends FIN, waits until the client's kernel acknowledged it (so the client
// can know), then closes the socket, after which the server's kernel
// answers anything the client writes with RST. The listener closes first.
func (s *lineServer) goDownWhileIdle() {
	s.t.Helper()
	s.mu.Lock()
	s.ln.Close()
	s.mu.Unlock()
	lc := s.current()
	tc := lc.c.(*net.TCPConn)
	require.NoError(s.t, tc.CloseWrite())
	waitUntil(s.t, "the client's kernel acknowledged the FIN (FIN_WAIT2)", func() bool { return tcpState(s.t, tc) == tcpFinWait2 })
	lc.c.Close()
	<-lc.done
}

// tcpFinWait2 is Linux's TCP_FIN_WAIT2 (include/net/tcp_states.h).
const tcpFinWait2 = 5

// tcpState returns the Linux TCP state of c (tcp_info.tcpi_state, the
// first byte of struct tcp_info).
func tcpState(t testing.TB, c *net.TCPConn) uint8 {
	t.Helper()
	raw, err := c.SyscallConn()
	require.NoError(t, err)
	var info [256]byte
	size := uint32(len(info))
	var errno syscall.Errno
	require.NoError(t, raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	}))
	if errno != 0 {
		t.Fatalf("getsockopt(TCP_INFO): %v", errno)
	}
	return info[0]
}

// comeBack listens on the same port again.
func (s *lineServer) comeBack() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	require.NoError(s.t, err, "listening again on %s", s.addr)
	s.serve(ln)
}

func (s *lineServer) close() {
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// dialRetry connects to addr, retrying while nobody listens yet (a flow's
// tcp_server starts listening when the flow connects it).
func dialRetry(t testing.TB, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	waitUntil(t, "tcp_server listening on "+addr, func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitListening waits until something accepts TCP connections on addr.
func waitListening(t testing.TB, addr string) {
	t.Helper()
	dialRetry(t, addr).Close()
}

// writeAll writes data in pieces of the given sizes, in turn, so that lines
// are split across reads (and so across events) at many places.
func writeAll(t testing.TB, c net.Conn, data []byte, pieces ...int) {
	t.Helper()
	for k := 0; len(data) > 0; k++ {
		n := min(pieces[k%len(pieces)], len(data))
		_, err := c.Write(data[:n])
		require.NoError(t, err)
		data = data[n:]
	}
}

// jsonLines returns n lines {"seq":i,"msg":"..."}\n for i in [from, from+n).
func jsonLines(from, n int) []byte {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "{\"seq\":%d,\"msg\":\"event %d %s\"}\n", i, i, strings.Repeat("é", i%5))
	}
	return []byte(b.String())
}
