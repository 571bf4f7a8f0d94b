package main

// These tests build libtremor_tcp.so exactly as scripts/build-go.sh does,
// dlopen it, and drive it through its vtables from C (pdk-go/pdktest), over
// loopback only.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"tremorhost/pdk-go/pdktest"
)

var (
	lib    *pdktest.Lib
	soPath string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tcp-go-test")
	if err != nil {
		panic(err)
	}
	soPath, err = pdktest.BuildGoPlugin(".", filepath.Join(dir, "libtremor_tcp.so"))
	if err == nil {
		lib, err = pdktest.Open(soPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func waitLog(t *testing.T, in *pdktest.Inst, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range in.Logs() {
			if m := re.FindStringSubmatch(l.Msg); m != nil {
				return m
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no log line matching %s; logs: %+v", re, in.Logs())
	return nil
}

func TestExportsAndDescriptor(t *testing.T) {
	syms, err := pdktest.ExportedSymbols(soPath)
	if err != nil {
		// Not a skip: without the symbol list this test proves nothing.
		t.Fatalf("cannot list the exported symbols, so the descriptor check cannot run: %v", err)
	}
	if !slices.Contains(syms, "tremor_plugin_get_descriptor") {
		t.Fatalf("tremor_plugin_get_descriptor not exported: %v", syms)
	}
	for _, s := range syms {
		if strings.HasPrefix(s, "pdk") {
			t.Errorf("SDK internals exported: %s", s)
		}
	}
	info := lib.Info()
	if info.Name != "tcp" || info.SDK != "pdk-go 0.1" || info.ABIMajor != 1 || len(info.Connectors) != 2 {
		t.Fatalf("descriptor %+v", info)
	}
	srv, cli := info.Connectors[0], info.Connectors[1]
	if srv.Name != "tcp_server" || srv.Kinds != pdktest.KindSource || !srv.Hooks["on_pull"] || srv.Hooks["on_send"] || srv.Hooks["on_ack"] {
		t.Fatalf("tcp_server %+v", srv)
	}
	if cli.Name != "tcp_client" || cli.Kinds != pdktest.KindSink || !cli.Hooks["on_send"] || cli.Hooks["on_pull"] {
		t.Fatalf("tcp_client %+v", cli)
	}
	if srv.Fields[0].Name != "url" || srv.Fields[0].Flags != pdktest.FieldRequired || srv.Fields[1].Default != "8192" {
		t.Fatalf("tcp_server fields %+v", srv.Fields)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []map[string]any{
		{"url": "no-port"},
		{},
		{"url": "127.0.0.1:0", "buf_size": uint64(0)},
		{"url": "127.0.0.1:0", "buf_size": "big"},
	} {
		if _, r := lib.Create("tcp_server", "bad", cfg); r.Code != pdktest.ErrConfig {
			t.Errorf("%v: %v", cfg, r)
		}
	}
	for _, cfg := range []map[string]any{
		{"url": "::1"},
		{"url": "127.0.0.1:1", "connect_timeout_ms": "slow"},
		{"url": "127.0.0.1:1", "write_timeout_ms": -5},
		{"url": "127.0.0.1:1", "write_timeout_ms": uint64(1) << 62},
	} {
		if _, r := lib.Create("tcp_client", "bad", cfg); r.Code != pdktest.ErrConfig {
			t.Errorf("client %v: %v", cfg, r)
		}
	}
}

// pullAll pulls until want bytes arrived on each stream, and returns the
// bytes per stream. End-of-stream events (empty, TREMOR_EVENT_END_STREAM)
// are checked and skipped.
func pullAll(t *testing.T, in *pdktest.Inst, room pdktest.Room, want map[uint64]int, lastID *int64) map[uint64][]byte {
	t.Helper()
	got := map[uint64][]byte{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for s, n := range want {
			done = done && len(got[s]) >= n
		}
		if done {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: got %d streams %v", len(got), got)
		}
		pr := in.Pull(room, 100)
		if pr.Code != pdktest.OK || pr.Violation != "" {
			t.Fatalf("pull: %+v", pr)
		}
		for _, ev := range pr.Events {
			if int64(ev.ID) != *lastID+1 {
				t.Fatalf("event id %d after %d", ev.ID, *lastID)
			}
			*lastID = int64(ev.ID)
			if ev.Flags == pdktest.FlagEndStream && len(ev.Payload) == 0 {
				continue
			}
			if ev.Flags != 0 || len(ev.Payload) == 0 || len(ev.Payload) > room.Bytes {
				t.Fatalf("payload of %d bytes", len(ev.Payload))
			}
			got[ev.Stream] = append(got[ev.Stream], ev.Payload...)
		}
	}
}

func TestServerReceives(t *testing.T) {
	in, r := lib.Create("tcp_server", "srv", map[string]any{"url": "127.0.0.1:0", "buf_size": uint64(16)})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer in.Destroy()
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if r := in.Start(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	addr := waitLog(t, in, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))[1]

	// Nothing yet: an empty OK after waiting.
	t0 := time.Now()
	if pr := in.Pull(pdktest.Room{Events: 8, Bytes: 64}, 50); pr.Code != pdktest.OK || len(pr.Events) != 0 {
		t.Fatalf("idle pull %+v", pr)
	}
	if el := time.Since(t0); el < 40*time.Millisecond || el > 5*time.Second {
		t.Fatalf("idle pull took %s for wait_ms 50", el)
	}

	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	waitLog(t, in, regexp.MustCompile(`connection 2 from .* opened`))
	msg1 := bytes.Repeat([]byte("0123456789abcdef-"), 20) // 340 bytes: many 16-byte reads
	msg2 := []byte("hello from two\n")
	if _, err := c1.Write(msg1); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Write(msg2); err != nil {
		t.Fatal(err)
	}
	lastID := int64(-1)
	// A room of 40 bytes takes two 16-byte chunks and keeps the third.
	got := pullAll(t, in, pdktest.Room{Events: 8, Bytes: 40}, map[uint64]int{1: len(msg1), 2: len(msg2)}, &lastID)
	if !bytes.Equal(got[1], msg1) || !bytes.Equal(got[2], msg2) {
		t.Fatalf("stream 1: %q\nstream 2: %q", got[1], got[2])
	}

	// A closed peer is logged.
	c2.Close()
	waitLog(t, in, regexp.MustCompile(`connection 2 from .* closed after 15 bytes`))

	// Paused: data waits; resumed: it flows, nothing lost.
	if r := in.Pause(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if _, err := c1.Write([]byte("after pause")); err != nil {
		t.Fatal(err)
	}
	if r := in.Resume(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	got = pullAll(t, in, pdktest.Room{Events: 8, Bytes: 64}, map[uint64]int{1: len("after pause")}, &lastID)
	if string(got[1]) != "after pause" {
		t.Fatalf("after resume: %q", got[1])
	}

	// Stop closes the listener and the connections.
	if r := in.Stop(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	c1.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c1.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Fatalf("peer read after stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still listening after stop")
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

func TestServerBackPressure(t *testing.T) {
	in, r := lib.Create("tcp_server", "bp", map[string]any{"url": "127.0.0.1:0", "buf_size": uint64(1024)})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer in.Destroy()
	in.Connect(1)
	addr := waitLog(t, in, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))[1]
	in.Pause()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// While paused nobody reads: the writer must block long before 64 MiB.
	c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	chunk := make([]byte, 64<<10)
	var written int
	for written < 64<<20 {
		n, err := c.Write(chunk)
		written += n
		if err != nil {
			break
		}
	}
	if written >= 64<<20 {
		t.Fatalf("wrote %d bytes to a paused source without blocking", written)
	}
	if pr := in.Pull(pdktest.Room{Events: 64, Bytes: 1 << 20}, 10); len(pr.Events) != 0 {
		t.Fatalf("paused source produced %d events", len(pr.Events))
	}
	// Resume and drain everything that was written.
	in.Resume()
	var total int
	deadline := time.Now().Add(10 * time.Second)
	for total < written && time.Now().Before(deadline) {
		pr := in.Pull(pdktest.Room{Events: 256, Bytes: 1 << 20}, 100)
		for _, ev := range pr.Events {
			total += len(ev.Payload)
		}
	}
	if total != written {
		t.Fatalf("pulled %d of %d bytes", total, written)
	}
}

func TestClientDelivers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	in, r := lib.Create("tcp_client", "cli", map[string]any{"url": ln.Addr().String()})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer in.Destroy()
	// Sending before connecting: everything is to be retried.
	outs, r := in.Send([]pdktest.Event{{Payload: []byte("early")}})
	if r.Code != pdktest.ErrDisconnected || outs[0] != pdktest.OutcomeRetry {
		t.Fatalf("send before connect: %v %v", outs, r)
	}
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	peer := <-accepted
	evs := []pdktest.Event{{ID: 1, Payload: []byte("alpha\n")}, {ID: 2, Payload: []byte("")}, {ID: 3, Payload: []byte("gamma\n")}}
	outs, r = in.Send(evs)
	if r.Code != pdktest.OK || !bytes.Equal(outs, []uint8{0, 0, 0}) {
		t.Fatalf("send: %v %v", outs, r)
	}
	// A batch is OK once the peer's TCP acknowledged it: more than a
	// receive window, so the peer must read while Send waits.
	big := bytes.Repeat([]byte("z"), 1<<20)
	want := append([]byte("alpha\ngamma\n"), big...)
	got := make([]byte, len(want))
	read := make(chan error, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := io.ReadFull(peer, got)
		read <- err
	}()
	outs, r = in.Send([]pdktest.Event{{ID: 4, Payload: big}})
	if r.Code != pdktest.OK || outs[0] != pdktest.OutcomeOK {
		t.Fatalf("send big: %v %v", outs, r)
	}
	if err := <-read; err != nil || !bytes.Equal(got, want) {
		t.Fatalf("peer got %d bytes (%v)", len(got), err)
	}

	// The peer goes away: a later send fails, nothing is marked delivered
	// that was not written, and the rest is to be retried.
	peer.(*net.TCPConn).SetLinger(0) // RST
	peer.Close()
	var disc bool
	for i := 0; i < 100 && !disc; i++ {
		outs, r = in.Send([]pdktest.Event{{Payload: []byte("x")}, {Payload: []byte("y")}})
		switch r.Code {
		case pdktest.OK:
			time.Sleep(10 * time.Millisecond)
		case pdktest.ErrDisconnected:
			disc = true
			for _, o := range outs {
				if o != pdktest.OutcomeRetry && o != pdktest.OutcomeOK {
					t.Fatalf("outcomes after disconnect: %v", outs)
				}
			}
			if outs[1] == pdktest.OutcomeOK && outs[0] != pdktest.OutcomeOK {
				t.Fatalf("out of order outcomes %v", outs)
			}
		default:
			t.Fatalf("send to a dead peer: %v", r)
		}
	}
	if !disc {
		t.Fatal("never noticed the lost connection")
	}
	waitLog(t, in, regexp.MustCompile(`connection to .* (dropped|closed by the peer)`))
	// Reconnect and deliver again.
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	peer = <-accepted
	defer peer.Close()
	if outs, r = in.Send([]pdktest.Event{{Payload: []byte("again")}}); r.Code != pdktest.OK || outs[0] != 0 {
		t.Fatalf("send after reconnect %v %v", outs, r)
	}
	got = make([]byte, 5)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "again" {
		t.Fatalf("after reconnect peer got %q (%v)", got, err)
	}
}

func TestClientConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	in, r := lib.Create("tcp_client", "refused", map[string]any{"url": addr})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer in.Destroy()
	if r := in.Connect(1); r.Code != pdktest.Retry {
		t.Fatalf("connect to a closed port: %v", r)
	}
	waitLog(t, in, regexp.MustCompile(`connect to .* \(attempt 1\).*refused`))
}

// The server source piped into the client sink, both from the .so, with a
// net.Listen'd socket at the end: bytes in, same bytes out.
func TestServerToClientPipe(t *testing.T) {
	out, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	srv, r := lib.Create("tcp_server", "pipe-src", map[string]any{"url": "127.0.0.1:0"})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer srv.Destroy()
	cli, r := lib.Create("tcp_client", "pipe-sink", map[string]any{"url": out.Addr().String()})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer cli.Destroy()
	srv.Connect(1)
	if r := cli.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	peer, err := out.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	addr := waitLog(t, srv, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))[1]
	src, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("line of text\n"), 10000) // 130 KB
	go func() {
		src.Write(payload)
		src.Close()
	}()
	received := make(chan []byte)
	go func() {
		b := make([]byte, len(payload))
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := io.ReadFull(peer, b)
		received <- b[:n]
	}()
	st := pdktest.Pipe(srv, cli, pdktest.Room{Events: 64, Bytes: 64 << 10}, 50, 0, 6)
	got := <-received
	if !bytes.Equal(got, payload) {
		t.Fatalf("peer got %d of %d bytes; pipe %+v", len(got), len(payload), st)
	}
	if st.Bytes != uint64(len(payload)) || st.OK != st.Events || st.Err != "" {
		t.Fatalf("pipe %+v", st)
	}
}

// When a peer closes its connection, the server ends the connection's
// stream with an empty TREMOR_EVENT_END_STREAM event, after all its data,
// so that the host flushes a last line that has no newline.
func TestServerEndsStreamOnClose(t *testing.T) {
	in, r := lib.Create("tcp_server", "ends", map[string]any{"url": "127.0.0.1:0"})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer in.Destroy()
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	addr := waitLog(t, in, regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`))[1]
	for k, reset := range []bool{false, true} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("first line\nlast line %d without newline", k)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if reset {
			c.(*net.TCPConn).SetLinger(0) // RST instead of FIN: the stream ends too
		}
		c.Close()
		var got []byte
		var stream uint64
		deadline := time.Now().Add(5 * time.Second)
		for ended := false; !ended; {
			if time.Now().After(deadline) {
				t.Fatalf("connection %d: no end-of-stream event; got %q", k+1, got)
			}
			pr := in.Pull(pdktest.Room{Events: 8, Bytes: 1024}, 50)
			if pr.Code != pdktest.OK || pr.Violation != "" {
				t.Fatalf("pull: %+v", pr)
			}
			for _, ev := range pr.Events {
				if ended {
					t.Fatalf("event after the end of stream %d: %+v", stream, ev)
				}
				if stream == 0 {
					stream = ev.Stream
				}
				if ev.Stream != stream {
					t.Fatalf("event on stream %d, want %d", ev.Stream, stream)
				}
				switch ev.Flags {
				case 0:
					got = append(got, ev.Payload...)
				case pdktest.FlagEndStream:
					if len(ev.Payload) != 0 {
						t.Fatalf("end-of-stream payload %q", ev.Payload)
					}
					ended = true
				default:
					t.Fatalf("flags %#x", ev.Flags)
				}
			}
		}
		// With a RST the kernel may drop data the server had not read yet;
		// with a FIN every byte comes before the end of the stream.
		if !reset && string(got) != msg {
			t.Fatalf("stream %d: got %q, want %q", stream, got, msg)
		}
		if stream != uint64(k+1) {
			t.Fatalf("connection %d had stream %d", k+1, stream)
		}
	}
	// Nothing else follows.
	if pr := in.Pull(pdktest.Room{Events: 8, Bytes: 1024}, 20); pr.Code != pdktest.OK || len(pr.Events) != 0 {
		t.Fatalf("after both streams ended: %+v", pr)
	}
}

// A peer that closed its end (FIN) is noticed before the next batch is
// written: the batch is not written, every event is to be retried, and
// Send answers ErrDisconnected. Without the check the first write after
// the close succeeds locally and its events are acked and lost.
func TestClientNoticesPeerCloseBeforeWriting(t *testing.T) {
	for _, how := range []string{"close", "close-write", "reset"} {
		t.Run(how, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			in, r := lib.Create("tcp_client", "notice-"+how, map[string]any{"url": ln.Addr().String()})
			if r.Code != pdktest.OK {
				t.Fatal(r)
			}
			defer in.Destroy()
			if r := in.Connect(1); r.Code != pdktest.OK {
				t.Fatal(r)
			}
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			// The peer may talk: the client drops what it sends and stays up.
			if _, err := peer.Write([]byte("hello client\n")); err != nil {
				t.Fatal(err)
			}
			outs, r := in.Send([]pdktest.Event{{ID: 1, Payload: []byte("one\n")}})
			if r.Code != pdktest.OK || outs[0] != pdktest.OutcomeOK {
				t.Fatalf("send while the peer is up: %v %v", outs, r)
			}
			got := make([]byte, 4)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(peer, got); err != nil || string(got) != "one\n" {
				t.Fatalf("peer got %q (%v)", got, err)
			}
			switch how {
			case "close":
				peer.Close()
			case "close-write":
				peer.(*net.TCPConn).CloseWrite() // FIN, but the peer could still read
			case "reset":
				peer.(*net.TCPConn).SetLinger(0)
				peer.Close()
			}
			// Over loopback the FIN (or RST) reaches the client's socket
			// during the close call; the pause is only a margin.
			time.Sleep(20 * time.Millisecond)
			outs, r = in.Send([]pdktest.Event{{ID: 2, Payload: []byte("two\n")}, {ID: 3, Payload: []byte("three\n")}})
			if r.Code != pdktest.ErrDisconnected || outs[0] != pdktest.OutcomeRetry || outs[1] != pdktest.OutcomeRetry {
				t.Fatalf("first send after the peer's %s: %v %v (the batch must not be written)", how, outs, r)
			}
			if how == "close-write" {
				// Nothing of the batch was written: the peer reads EOF (the
				// client closed), not "two".
				rest, err := io.ReadAll(peer)
				if err != nil || len(rest) != 0 {
					t.Fatalf("peer read %q (%v) after the refused batch", rest, err)
				}
			}
			waitLog(t, in, regexp.MustCompile(`closed by the peer`))
		})
	}
}

// A peer that accepts but never reads: the client writes until the socket
// buffers are full, and the write timeout gives up. Only the bytes the
// peer's TCP acknowledged count as delivered, the rest is to be sent again,
// the connection is reported lost, and nothing counted undelivered reaches
// the peer afterwards (the abort discards the send queue): what the peer
// finally reads is exactly the events marked OK, plus at most one torn one.
func TestClientWriteTimeoutAcksOnlyWhatThePeerReceived(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	in, r := lib.Create("tcp_client", "stuck", map[string]any{"url": ln.Addr().String(), "write_timeout_ms": uint64(300)})
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	defer in.Destroy()
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	peer := <-accepted
	defer peer.Close()

	const size = 1000
	var okBytes, sent int
	var lastOuts []uint8
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no write timeout after %d events", sent)
		}
		evs := make([]pdktest.Event, 64)
		for i := range evs {
			p := bytes.Repeat([]byte{byte('a' + (sent+i)%26)}, size)
			p[size-1] = '\n'
			evs[i] = pdktest.Event{ID: uint64(sent + i), Payload: p}
		}
		outs, r := in.Send(evs)
		sent += len(evs)
		for j, o := range outs {
			if o == pdktest.OutcomeOK {
				if j > 0 && outs[j-1] != pdktest.OutcomeOK {
					t.Fatalf("OK after a not-OK outcome: %v", outs)
				}
				okBytes += size
			} else if o != pdktest.OutcomeRetry {
				t.Fatalf("outcome %d for event %d", o, j)
			}
		}
		if r.Code == pdktest.ErrDisconnected {
			lastOuts = outs
			break
		}
		if r.Code != pdktest.OK || slices.ContainsFunc(outs, func(o uint8) bool { return o != pdktest.OutcomeOK }) {
			t.Fatalf("send: %v %v", outs, r)
		}
	}
	if !slices.Contains(lastOuts, pdktest.OutcomeRetry) {
		t.Fatalf("the batch that timed out was acked in full: %v", lastOuts)
	}
	waitLog(t, in, regexp.MustCompile(`connection to .* dropped: the peer did not acknowledge|connection to .* dropped: .*timeout`))

	// The peer reads at last: it finds the acked events, whole, and at
	// most the start of the next one.
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil && !isReset(err) {
		t.Fatalf("peer read: %v", err)
	}
	if len(got) < okBytes || len(got) >= okBytes+size {
		t.Fatalf("the peer received %d bytes; the client marked %d bytes delivered (events of %d bytes)", len(got), okBytes, size)
	}
	if okBytes == 0 {
		t.Fatal("nothing acknowledged at all: the test did not fill the peer's buffer")
	}
	t.Logf("%d events sent, %d bytes acked, the peer received %d bytes", sent, okBytes, len(got))
}
