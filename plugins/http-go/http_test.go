package main

// These tests build libtremor_http.so exactly as scripts/build-go.sh does,
// dlopen it, and drive it through its vtables from C (pdk-go/pdktest), over
// loopback only.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tremorhost/pdk-go/pdktest"
)

var (
	lib    *pdktest.Lib
	soPath string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "http-go-test")
	if err != nil {
		panic(err)
	}
	soPath, err = pdktest.BuildGoPlugin(".", filepath.Join(dir, "libtremor_http.so"))
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

var room = pdktest.Room{Events: 16, Values: 256, Bytes: 64 << 10}

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

// startServer creates, connects and starts an http_server on a free port
// and returns it with its base URL.
func startServer(t *testing.T, cfg map[string]any) (*pdktest.Inst, string) {
	t.Helper()
	cfg["url"] = "127.0.0.1:0"
	in, r := lib.Create("http_server", "srv", cfg)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	t.Cleanup(in.Destroy)
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if r := in.Start(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	m := waitLog(t, in, regexp.MustCompile(`listening on (\S+)`))
	return in, "http://" + m[1]
}

type answer struct {
	status int
	body   string
	err    error
}

// post sends a request in the background.
func post(url, body string, hdr map[string]string) chan answer {
	ch := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- answer{status: resp.StatusCode, body: string(b)}
	}()
	return ch
}

// pullOne pulls until one event arrives.
func pullOne(t *testing.T, in *pdktest.Inst) pdktest.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		pr := in.Pull(room, 50)
		if pr.Code != pdktest.OK || pr.Violation != "" {
			t.Fatalf("pull: %+v", pr)
		}
		if len(pr.Events) > 1 {
			t.Fatalf("%d events, want 1", len(pr.Events))
		}
		if len(pr.Events) == 1 {
			return pr.Events[0]
		}
	}
	t.Fatal("no event")
	return pdktest.Event{}
}

func notYet(t *testing.T, ch chan answer, what string) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("answered before %s: %+v", what, a)
	case <-time.After(150 * time.Millisecond):
	}
}

func waitAnswer(t *testing.T, ch chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatal(a.err)
		}
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		return answer{}
	}
}

func TestDescriptor(t *testing.T) {
	syms, err := pdktest.ExportedSymbols(soPath)
	if err != nil {
		t.Fatalf("cannot list the exported symbols, so the entry point cannot be checked: %v", err)
	}
	if !slices.Contains(syms, "tremor_plugin_get_descriptor") {
		t.Fatalf("entry point not exported: %v", syms)
	}
	info := lib.Info()
	if info.Name != "http" || len(info.Connectors) != 2 {
		t.Fatalf("descriptor %+v", info)
	}
	srv, cli := info.Connectors[0], info.Connectors[1]
	if srv.Name != "http_server" || srv.Kinds != pdktest.KindSource|pdktest.KindSink || !srv.Hooks["on_ack"] || !srv.Hooks["on_fail"] || !srv.Hooks["on_send"] {
		t.Fatalf("http_server %+v", srv)
	}
	if cli.Name != "http_client" || cli.Kinds != pdktest.KindSink || !cli.Hooks["on_send"] {
		t.Fatalf("http_client %+v", cli)
	}
	var names []string
	for _, f := range cli.Fields {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"url", "method", "timeout_ms", "headers"}) || cli.Fields[0].Flags != pdktest.FieldRequired {
		t.Fatalf("http_client fields %+v", cli.Fields)
	}
	if srv.Fields[0].Default != `"127.0.0.1:8080"` {
		t.Fatalf("http_server fields %+v", srv.Fields)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []map[string]any{
		{"url": "no-port"},
		{"url": "127.0.0.1:0", "path": "events"},
		{"url": "127.0.0.1:0", "timeout_ms": uint64(0)},
		{"url": "127.0.0.1:0", "max_body": uint64(0)},
		{"url": uint64(8080)},
		{"url": "127.0.0.1:0", "timeout_ms": "5"},
		{"url": "127.0.0.1:0", "path": true},
	} {
		if _, r := lib.Create("http_server", "bad", cfg); r.Code != pdktest.ErrConfig {
			t.Errorf("server %v: %v", cfg, r)
		}
	}
	for _, cfg := range []map[string]any{
		{},
		{"url": "ftp://127.0.0.1/x"},
		{"url": "http://"},
		{"url": "http://127.0.0.1:1/", "method": "PO ST"},
		{"url": "http://127.0.0.1:1/", "method": int64(1)},
		{"url": int64(1)},
		{"url": "http://127.0.0.1:1/", "headers": map[string]any{"x-n": int64(3)}},
		{"url": "http://127.0.0.1:1/", "headers": map[string]any{"x-n": []any{"a", true}}},
	} {
		if _, r := lib.Create("http_client", "bad", cfg); r.Code != pdktest.ErrConfig {
			t.Errorf("client %v: %v", cfg, r)
		}
	}
}

// A request becomes one event with its metadata, and is answered 202 only
// once the event is acked.
func TestServerAnswersOnceAcked(t *testing.T) {
	srv, base := startServer(t, map[string]any{"path": "/in"})
	ch := post(base+"/in/x?a=1", "hello\nworld", map[string]string{"X-Trace": "abc", "Content-Type": "text/plain"})
	ev := pullOne(t, srv)
	if string(ev.Payload) != "hello\nworld" {
		t.Fatalf("payload %q", ev.Payload)
	}
	if ev.Flags != pdktest.FlagEndStream || ev.Stream != ev.ID || ev.ID == 0 {
		t.Fatalf("event %+v: want its own stream, ended", ev)
	}
	meta, _ := ev.Meta.(map[string]any)
	headers, _ := meta["headers"].(map[string]any)
	if meta["method"] != "POST" || meta["path"] != "/in/x" || meta["query"] != "a=1" ||
		headers["x-trace"] != "abc" || headers["content-type"] != "text/plain" ||
		!strings.HasPrefix(meta["remote"].(string), "127.0.0.1:") {
		t.Fatalf("meta %#v", ev.Meta)
	}
	notYet(t, ch, "the ack")
	if r := srv.Ack([]uint64{ev.ID + 1000}); r.Code != pdktest.OK { // unknown ids are ignored
		t.Fatal(r)
	}
	if r := srv.Ack([]uint64{ev.ID}); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	if a := waitAnswer(t, ch); a.status != http.StatusAccepted {
		t.Fatalf("answer %+v", a)
	}

	// Failed: 503.
	ch = post(base+"/in", "x", nil)
	ev = pullOne(t, srv)
	notYet(t, ch, "the fail")
	srv.Fail([]uint64{ev.ID})
	if a := waitAnswer(t, ch); a.status != http.StatusServiceUnavailable {
		t.Fatalf("answer %+v", a)
	}

	// An empty body is an empty event on stream 0, not ended.
	ch = post(base+"/in", "", nil)
	ev = pullOne(t, srv)
	if len(ev.Payload) != 0 || ev.Flags != 0 || ev.Stream != 0 {
		t.Fatalf("event %+v", ev)
	}
	srv.Ack([]uint64{ev.ID})
	if a := waitAnswer(t, ch); a.status != http.StatusAccepted {
		t.Fatalf("answer %+v", a)
	}

	// Outside the prefix: 404, and no event.
	if a := waitAnswer(t, post(base+"/elsewhere", "x", nil)); a.status != http.StatusNotFound {
		t.Fatalf("answer %+v", a)
	}
	if pr := srv.Pull(room, 50); len(pr.Events) != 0 {
		t.Fatalf("events %+v", pr.Events)
	}
}

func TestServerTimeoutsAndLimits(t *testing.T) {
	// Generous: the request must be pulled before it times out, on a
	// loaded machine too.
	srv, base := startServer(t, map[string]any{"timeout_ms": uint64(3000), "max_body": uint64(10)})
	// Pulled, never settled: 504.
	ch := post(base+"/", "slow", nil)
	ev := pullOne(t, srv)
	if a := waitAnswer(t, ch); a.status != http.StatusGatewayTimeout {
		t.Fatalf("answer %+v", a)
	}
	srv.Ack([]uint64{ev.ID}) // too late: ignored
	// Never pulled: 504 too, and the request is not emitted afterwards.
	// Nothing pulls here, so a short timeout assumes nothing about speed.
	srv, base = startServer(t, map[string]any{"timeout_ms": uint64(100), "max_body": uint64(10)})
	ch = post(base+"/", "never", nil)
	if a := waitAnswer(t, ch); a.status != http.StatusGatewayTimeout {
		t.Fatalf("answer %+v", a)
	}
	if pr := srv.Pull(room, 50); len(pr.Events) != 0 {
		t.Fatalf("an abandoned request became an event: %+v", pr.Events)
	}
	if a := waitAnswer(t, post(base+"/", "01234567890", nil)); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("answer %+v", a)
	}
	// A pull with nothing to take waits about wait_ms.
	t0 := time.Now()
	srv.Pull(room, 100)
	if d := time.Since(t0); d < 80*time.Millisecond || d > 30*time.Second {
		t.Fatalf("pull took %s", d)
	}
}

// A body that does not fit the room waits for a bigger one.
func TestServerNoRoom(t *testing.T) {
	srv, base := startServer(t, map[string]any{})
	ch := post(base+"/", strings.Repeat("b", 3000), nil)
	var pr pdktest.PullResult
	deadline := time.Now().Add(5 * time.Second)
	for pr.Code != pdktest.ErrNoRoom {
		if time.Now().After(deadline) {
			t.Fatalf("no NO_ROOM: %+v", pr)
		}
		pr = srv.Pull(pdktest.Room{Events: 4, Values: 64, Bytes: 1000}, 50)
	}
	if pr.BytesNeeded < 3000 {
		t.Fatalf("bytes needed %d", pr.BytesNeeded)
	}
	ev := pullOne(t, srv)
	if len(ev.Payload) != 3000 {
		t.Fatalf("payload of %d bytes", len(ev.Payload))
	}
	srv.Ack([]uint64{ev.ID})
	if a := waitAnswer(t, ch); a.status != http.StatusAccepted {
		t.Fatalf("answer %+v", a)
	}
}

// Stopping answers every waiting request 503.
func TestServerStopAnswersWaitingRequests(t *testing.T) {
	srv, base := startServer(t, map[string]any{})
	ch := post(base+"/", "held", nil)
	pullOne(t, srv)
	queued := post(base+"/", "queued", nil)
	time.Sleep(50 * time.Millisecond)
	if r := srv.Stop(); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	for _, c := range []chan answer{ch, queued} {
		a := <-c
		if a.err == nil && a.status != http.StatusServiceUnavailable {
			t.Fatalf("answer %+v", a)
		}
	}
}

// backend is the far end of an http_client: it records every request and
// answers with the status the body asks for ("status:NNN ..."), 200
// otherwise.
type backend struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
}

type seen struct {
	method, path, body string
	header             http.Header
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, seen{r.Method, r.URL.Path, string(body), r.Header.Clone()})
		b.mu.Unlock()
		var code int
		if _, err := fmt.Sscanf(string(body), "status:%d", &code); err == nil {
			if code == 0 {
				time.Sleep(time.Second)
				code = 200
			}
			w.WriteHeader(code)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) bodies() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.reqs {
		out = append(out, r.body)
	}
	return out
}

func startClient(t *testing.T, cfg map[string]any) *pdktest.Inst {
	t.Helper()
	in, r := lib.Create("http_client", "cli", cfg)
	if r.Code != pdktest.OK {
		t.Fatal(r)
	}
	t.Cleanup(in.Destroy)
	if r := in.Connect(1); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	return in
}

func events(bodies ...string) []pdktest.Event {
	var evs []pdktest.Event
	for i, b := range bodies {
		evs = append(evs, pdktest.Event{ID: uint64(i), Payload: []byte(b)})
	}
	return evs
}

func TestClientOutcomes(t *testing.T) {
	be := newBackend(t)
	cli := startClient(t, map[string]any{
		"url": be.srv.URL + "/ingest", "method": "PUT",
		"headers": map[string]any{"X-Api": "k1", "X-Multi": []any{"a", "b"}},
	})
	// 2xx OK, 4xx FAILED, and the batch goes on after a 4xx.
	out, r := cli.Send(events("one", "status:400 bad", "", "status:201 made"))
	if r.Code != pdktest.OK || !slices.Equal(out, []uint8{pdktest.OutcomeOK, pdktest.OutcomeFailed, pdktest.OutcomeOK, pdktest.OutcomeOK}) {
		t.Fatalf("outcomes %v, %v", out, r)
	}
	if got := be.bodies(); !slices.Equal(got, []string{"one", "status:400 bad", "", "status:201 made"}) {
		t.Fatalf("backend saw %q", got)
	}
	first := be.reqs[0]
	if first.method != "PUT" || first.path != "/ingest" || first.header.Get("X-Api") != "k1" ||
		!slices.Equal(first.header.Values("X-Multi"), []string{"a", "b"}) {
		t.Fatalf("request %+v", first)
	}
	// 5xx (and 429): this one and the rest RETRY, nothing after it is sent.
	for _, code := range []string{"503", "429"} {
		n := len(be.bodies())
		out, r = cli.Send(events("a", "status:"+code, "never"))
		if r.Code != pdktest.OK || !slices.Equal(out, []uint8{pdktest.OutcomeOK, pdktest.OutcomeRetry, pdktest.OutcomeRetry}) {
			t.Fatalf("%s: outcomes %v, %v", code, out, r)
		}
		if got := be.bodies()[n:]; !slices.Equal(got, []string{"a", "status:" + code}) {
			t.Fatalf("%s: backend saw %q", code, got)
		}
	}
	if !slices.ContainsFunc(cli.Logs(), func(l pdktest.LogLine) bool {
		return strings.Contains(l.Msg, "1 event(s) refused and failed (first answer: 400 Bad Request)")
	}) {
		t.Fatalf("logs %+v", cli.Logs())
	}
}

func TestClientTimeout(t *testing.T) {
	be := newBackend(t)
	cli := startClient(t, map[string]any{"url": be.srv.URL, "timeout_ms": uint64(200)})
	out, r := cli.Send(events("status:0 slow", "next"))
	if r.Code != pdktest.OK || !slices.Equal(out, []uint8{pdktest.OutcomeRetry, pdktest.OutcomeRetry}) {
		t.Fatalf("outcomes %v, %v", out, r)
	}
}

func TestClientServerGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(ln)
	cli := startClient(t, map[string]any{"url": "http://" + addr + "/"})
	if out, r := cli.Send(events("a")); r.Code != pdktest.OK || out[0] != pdktest.OutcomeOK {
		t.Fatalf("outcomes %v, %v", out, r)
	}
	srv.Close()
	out, r := cli.Send(events("b", "c"))
	if r.Code != pdktest.ErrDisconnected || !slices.Equal(out, []uint8{pdktest.OutcomeRetry, pdktest.OutcomeRetry}) {
		t.Fatalf("outcomes %v, %v", out, r)
	}
	// Nobody listens: connect answers TREMOR_RETRY, so the host backs off.
	if r := cli.Connect(1); r.Code != pdktest.Retry {
		t.Fatalf("connect: %v", r)
	}
}

// http_client -> http_server, both plugins: the client's send returns only
// once the server's event was acked, and its outcome follows the server's
// answer.
func TestClientToServer(t *testing.T) {
	srv, base := startServer(t, map[string]any{"timeout_ms": uint64(2000)})
	cli := startClient(t, map[string]any{"url": base + "/"})
	type sent struct {
		out []uint8
		r   pdktest.Result
	}
	done := make(chan sent, 1)
	go func() {
		out, r := cli.Send(events("first", "second", "third"))
		done <- sent{out, r}
	}()
	var got [][]byte
	for i := 0; i < 3; i++ {
		ev := pullOne(t, srv)
		got = append(got, ev.Payload)
		if i == 1 {
			srv.Fail([]uint64{ev.ID}) // 503: the client retries it and everything after
			break
		}
		srv.Ack([]uint64{ev.ID})
	}
	s := <-done
	if s.r.Code != pdktest.OK || !slices.Equal(s.out, []uint8{pdktest.OutcomeOK, pdktest.OutcomeRetry, pdktest.OutcomeRetry}) {
		t.Fatalf("outcomes %v, %v", s.out, s.r)
	}
	if !bytes.Equal(bytes.Join(got, []byte(",")), []byte("first,second")) {
		t.Fatalf("server got %q", got)
	}
}

// The server's sink side: an event sent to it (from its err port, in a
// flow) answers its request 400 with the event as the body; an event whose
// request is not waiting any more is FAILED.
func TestServerAnswers400ToEventsSentBack(t *testing.T) {
	srv, base := startServer(t, map[string]any{})
	ch := post(base+"/", "{not json", nil)
	ev := pullOne(t, srv)
	meta, _ := ev.Meta.(map[string]any)
	if meta["request_id"] != ev.ID {
		t.Fatalf("meta.request_id %#v, event id %d", meta["request_id"], ev.ID)
	}
	errEv := pdktest.Event{Payload: []byte(`{"error":"bad json","data":"{not json"}`), Meta: meta}
	outs, r := srv.Send([]pdktest.Event{errEv})
	if r.Code != pdktest.OK || outs[0] != pdktest.OutcomeOK {
		t.Fatalf("send: %v %v", outs, r)
	}
	if a := waitAnswer(t, ch); a.status != http.StatusBadRequest || a.body != string(errEv.Payload) {
		t.Fatalf("answer %+v", a)
	}
	// The original event is acked later (its error event was delivered):
	// the request was answered already, so nothing changes.
	if r := srv.Ack([]uint64{ev.ID}); r.Code != pdktest.OK {
		t.Fatal(r)
	}
	// Answered already, or never a request of this server: FAILED.
	outs, r = srv.Send([]pdktest.Event{errEv, {Payload: []byte("x")}})
	if r.Code != pdktest.OK || outs[0] != pdktest.OutcomeFailed || outs[1] != pdktest.OutcomeFailed {
		t.Fatalf("send for no waiting request: %v %v", outs, r)
	}
	waitLog(t, srv, regexp.MustCompile(`2 of 2 events sent to this server name no request still waiting`))
}
