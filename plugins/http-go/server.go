package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tremorhost/pdk-go"
)

// queueLen bounds the requests received but not yet pulled. When it is
// full, handlers wait (up to timeout_ms) for room: the host is paused or
// slow, and the clients feel it.
const queueLen = 256

// settleWait is how long a pull waits for a new request, at most, while
// pulled requests still wait for their ack or fail.
const settleWait = 2 * time.Millisecond

// Request states: a handler and Pull race to move a queued request on.
const (
	stateQueued    int32 = iota // in the queue, not yet pulled
	stateTaken                  // pulled: it is (or will be) an event
	stateAbandoned              // its handler gave up first: never emitted
)

// request is one HTTP request waiting for its event to settle.
type request struct {
	body  *bytes.Buffer // from server.bufs
	meta  map[string]any
	state atomic.Int32
	id    uint64          // the event id; set by Pull under server.mu
	done  chan settlement // buffered: what became of the event
}

// settlement is what became of a request's event: acked, failed, or rejected
// as bad input (an event sent back to the server from its err port).
type settlement struct {
	ok     bool
	reject []byte // the error event, encoded: the 400 answer's body
}

type server struct {
	host    pdk.Host
	open    atomic.Int64 // connections open now, for the http_connections_open gauge
	addr    string
	prefix  string
	timeout time.Duration
	maxBody int64

	queue chan *request
	bufs  sync.Pool // *bytes.Buffer for request bodies
	timer *time.Timer
	// pending is a request the last room had no space for; it goes first.
	pending *request
	nextID  uint64 // used by Pull only

	ln   net.Listener
	srv  *http.Server
	done chan struct{} // closed by Close: waiting handlers answer 503
	wg   sync.WaitGroup

	mu       sync.Mutex
	inflight map[uint64]*request // pulled, waiting for ack or fail
	srvErr   error               // the listener failed: Pull reports a disconnect
}

func newServer(cfg pdk.Config, host pdk.Host) (*server, error) {
	addr, err := optString(cfg, "url", "127.0.0.1:8080")
	if err != nil {
		return nil, err
	}
	addr = strings.TrimPrefix(addr, "http://")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, pdk.ConfigError("url %q is not host:port: %v", addr, err)
	}
	prefix, err := optString(cfg, "path", "/")
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(prefix, "/") {
		return nil, pdk.ConfigError("path %q must start with /", prefix)
	}
	timeout, err := optUint(cfg, "timeout_ms", 5000)
	if err != nil {
		return nil, err
	}
	if timeout == 0 || timeout > 3_600_000 {
		return nil, pdk.ConfigError("timeout_ms %d must be between 1 and 3600000", timeout)
	}
	maxBody, err := optUint(cfg, "max_body", 1<<20)
	if err != nil {
		return nil, err
	}
	if maxBody == 0 || maxBody > 1<<30 {
		return nil, pdk.ConfigError("max_body %d must be between 1 and 1073741824 bytes", maxBody)
	}
	s := &server{
		host: host, addr: addr, prefix: prefix,
		timeout: time.Duration(timeout) * time.Millisecond, maxBody: int64(maxBody),
		queue:    make(chan *request, queueLen),
		inflight: map[uint64]*request{},
	}
	s.bufs.New = func() any { return new(bytes.Buffer) }
	return s, nil
}

// Connect starts listening and serving. After a listener failure it
// listens anew.
func (s *server) Connect(attempt int) error {
	s.mu.Lock()
	failed := s.srvErr != nil
	s.srvErr = nil
	s.mu.Unlock()
	if s.srv != nil && !failed {
		return nil
	}
	if s.srv != nil {
		s.srv.Close()
		s.srv = nil
	}
	if s.done == nil {
		s.done = make(chan struct{})
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(debugWriter{s.host}, "", 0),
		ConnState:         s.connState,
	}
	s.ln, s.srv = ln, srv
	s.host.Infof("listening on %s", ln.Addr())
	s.wg.Add(1)
	s.host.Go(func() {
		defer s.wg.Done()
		err := srv.Serve(ln)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.host.Errorf("serving on %s: %v", ln.Addr(), err)
			s.mu.Lock()
			s.srvErr = err
			s.mu.Unlock()
		}
	})
	return nil
}

// connState counts connections (ABI 1.1 metrics; nothing on a 1.0 host).
func (s *server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.host.CounterAdd("http_connections_total", "HTTP connections accepted.", 1)
		s.host.GaugeSet("http_connections_open", "HTTP connections open now.", s.open.Add(1))
	case http.StateClosed, http.StateHijacked:
		s.host.GaugeSet("http_connections_open", "HTTP connections open now.", s.open.Add(-1))
	}
}

// statusWriter remembers the status a request was answered with.
type statusWriter struct {
	http.ResponseWriter
	code int // 0 until answered
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP turns a request into an event and answers once it settled.
func (s *server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		status := "none" // the client left before an answer
		if w.code != 0 {
			status = strconv.Itoa(w.code)
		}
		s.host.CounterAdd("http_requests_total", "HTTP requests, by the status they were answered with.", 1, pdk.Label{Name: "status", Value: status})
	}()
	if !strings.HasPrefix(r.URL.Path, s.prefix) {
		http.Error(w, "not found: this server takes requests under "+s.prefix, http.StatusNotFound)
		return
	}
	buf := s.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(r.Body, s.maxBody+1))
	if err != nil {
		s.bufs.Put(buf)
		http.Error(w, "cannot read the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if n > s.maxBody {
		s.bufs.Put(buf)
		http.Error(w, fmt.Sprintf("request body larger than %d bytes", s.maxBody), http.StatusRequestEntityTooLarge)
		return
	}
	headers := make(map[string]any, len(r.Header))
	for k, v := range r.Header {
		if len(v) > 0 {
			headers[strings.ToLower(k)] = v[0]
		}
	}
	req := &request{
		body: buf,
		meta: map[string]any{
			"method":  r.Method,
			"path":    r.URL.Path,
			"query":   r.URL.RawQuery,
			"headers": headers,
			"remote":  r.RemoteAddr,
		},
		done: make(chan settlement, 1),
	}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()

	select {
	case s.queue <- req:
	case <-timer.C:
		s.bufs.Put(buf)
		http.Error(w, "busy: the flow takes no events right now", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		s.bufs.Put(buf)
		return
	case <-s.done:
		s.bufs.Put(buf)
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}

	select {
	case a := <-req.done:
		// Settled: Pull copied the body long before.
		s.bufs.Put(buf)
		switch {
		case a.reject != nil:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write(a.reject)
		case a.ok:
			w.WriteHeader(http.StatusAccepted)
		default:
			http.Error(w, "the event was not delivered", http.StatusServiceUnavailable)
		}
	case <-timer.C:
		s.abandon(req)
		http.Error(w, fmt.Sprintf("the event was not delivered within %s", s.timeout), http.StatusGatewayTimeout)
	case <-r.Context().Done():
		s.abandon(req) // the client left: nobody to answer
	case <-s.done:
		s.abandon(req)
		http.Error(w, "shutting down before the event was delivered", http.StatusServiceUnavailable)
	}
}

// abandon forgets a request whose handler stops waiting. A request still
// in the queue is never emitted; one already pulled may still be
// delivered, but nobody hears of it any more.
func (s *server) abandon(req *request) {
	if req.state.CompareAndSwap(stateQueued, stateAbandoned) {
		s.bufs.Put(req.body) // Pull will skip it without touching the body
		return
	}
	// Taken: Pull may be copying the body right now, so the buffer is
	// left to the garbage collector instead of the pool.
	s.mu.Lock()
	if req.id != 0 {
		delete(s.inflight, req.id)
	}
	s.mu.Unlock()
}

// push puts a request into the room; on ErrNoRoom it is kept as pending.
func (s *server) push(room *pdk.Room, req *request) error {
	if req.id == 0 {
		if !req.state.CompareAndSwap(stateQueued, stateTaken) {
			return nil // its handler gave up: never an event
		}
		s.nextID++
		req.meta["request_id"] = s.nextID // how an answer finds its request (Send)
		s.mu.Lock()
		req.id = s.nextID
		s.inflight[req.id] = req
		s.mu.Unlock()
	}
	body := req.body.Bytes()
	ev := pdk.Event{ID: req.id, Payload: body, Meta: req.meta}
	if len(body) > 0 {
		// One stream per request, ended by its only event: what a
		// pre-processor holds of it is flushed right away.
		ev.Stream, ev.EndStream = req.id, true
	}
	if err := room.Push(ev); err != nil {
		s.pending = req
		return err
	}
	return nil
}

func (s *server) Pull(room *pdk.Room, wait time.Duration) error {
	if s.pending != nil {
		req := s.pending
		s.pending = nil
		if err := s.push(room, req); err != nil {
			return err
		}
	}
	if room.Len() == 0 && wait > 0 {
		// The host settles events between pulls: while requests wait for
		// their ack, a long wait here would hold their answers back.
		if wait > settleWait {
			s.mu.Lock()
			waiting := len(s.inflight) > 0
			s.mu.Unlock()
			if waiting {
				wait = settleWait
			}
		}
		if s.timer == nil {
			s.timer = time.NewTimer(wait)
		} else {
			s.timer.Reset(wait)
		}
		select {
		case req := <-s.queue:
			s.timer.Stop()
			if err := s.push(room, req); err != nil {
				return err
			}
		case <-s.timer.C:
		}
	}
	for {
		select {
		case req := <-s.queue:
			if err := s.push(room, req); err != nil {
				return nil // the rest waits in the queue; req is pending
			}
		default:
			s.mu.Lock()
			err := s.srvErr
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("server on %s failed: %v: %w", s.addr, err, pdk.ErrDisconnected)
			}
			return nil
		}
	}
}

// settle answers the requests of these events.
func (s *server) settle(ids []uint64, ok bool) {
	s.mu.Lock()
	for _, id := range ids {
		if req := s.inflight[id]; req != nil {
			delete(s.inflight, id)
			select {
			case req.done <- settlement{ok: ok}:
			default:
			}
		}
	}
	s.mu.Unlock()
}

func (s *server) Ack(ids []uint64) error { s.settle(ids, true); return nil }

// Send is the server's sink side: every event it gets answers the request
// it came from (meta.request_id) with 400 Bad Request and the event's
// payload as the body. It is meant for the server's own err port, which
// carries the events the runtime could not decode or frame:
//
//	[[link]] from = "api/err", to = "rejects"    (a pipeline)
//	[[link]] from = "rejects", to = "api"
//
// An event whose request is no longer waiting (answered 504, the client
// left) or that names no request of this server is FAILED, and logged.
func (s *server) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	unanswered := 0
	for i := 0; i < b.Len(); i++ {
		id, ok := requestID(b, i)
		var req *request
		if ok {
			s.mu.Lock()
			if req = s.inflight[id]; req != nil {
				delete(s.inflight, id)
			}
			s.mu.Unlock()
		}
		if req == nil {
			unanswered++
			continue // stays OutcomeFailed
		}
		body := append([]byte{}, b.Payload(i)...)
		if len(body) == 0 {
			body = []byte(`{"error":"the request body could not be decoded"}`)
		}
		select {
		case req.done <- settlement{reject: body}:
		default:
		}
		outcomes[i] = pdk.OutcomeOK
	}
	if unanswered > 0 {
		s.host.Warnf("%d of %d events sent to this server name no request still waiting (answered 504, the client left, or not from this server); failed", unanswered, b.Len())
	}
	return nil
}

// requestID reads meta.request_id of event i.
func requestID(b *pdk.Batch, i int) (uint64, bool) {
	meta, err := b.Meta(i)
	if err != nil {
		return 0, false
	}
	m, _ := meta.(map[string]any)
	switch v := m["request_id"].(type) {
	case uint64:
		return v, true
	case int64:
		return uint64(v), v > 0
	}
	return 0, false
}
func (s *server) Fail(ids []uint64) error { s.settle(ids, false); return nil }

// Close stops serving: requests still waiting are answered 503.
func (s *server) Close() error {
	if s.done == nil {
		return nil // never connected
	}
	close(s.done)
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		cancel()
	}
	s.wg.Wait()
	s.host.Infof("stopped serving on %s", s.addr)
	return nil
}

// debugWriter sends net/http's own complaints (bad requests, TLS noise)
// to the host's log at debug level instead of the process's stderr.
type debugWriter struct{ host pdk.Host }

func (d debugWriter) Write(p []byte) (int, error) {
	d.host.Debugf("http: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
