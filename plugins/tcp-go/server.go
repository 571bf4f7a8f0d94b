package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"tremorhost/pdk-go"
)

// queueLen bounds the chunks read but not yet pulled. When it is full the
// connection readers block, TCP's window fills, and the peers slow down:
// back-pressure without unbounded memory.
const queueLen = 64

// chunk is one read from one connection, or the end of a connection.
type chunk struct {
	stream uint64
	buf    []byte // from the free list, len(buf) == bufSize; nil when end
	n      int
	end    bool // the connection closed: an empty TREMOR_EVENT_END_STREAM event
}

type server struct {
	host    pdk.Host
	addr    string
	bufSize int

	ln     net.Listener
	queue  chan chunk
	free   chan []byte // recycled read buffers: no allocation per read
	done   chan struct{}
	wg     sync.WaitGroup
	timer  *time.Timer
	nextID uint64
	// pending is a chunk the last room had no space for; it goes first.
	pending    chunk
	hasPending bool

	mu       sync.Mutex
	conns    map[uint64]net.Conn
	nextConn uint64
	resume   chan struct{} // non-nil while paused; closed by Resume
	lnErr    error         // the listener failed: Pull reports a disconnect
}

func newServer(cfg pdk.Config, host pdk.Host) (*server, error) {
	addr, err := hostPort(cfg)
	if err != nil {
		return nil, err
	}
	size, err := cfg.OptionalUint("buf_size", 8192)
	if err != nil {
		return nil, err
	}
	if size == 0 || size > 64<<20 {
		return nil, pdk.ConfigError("buf_size %d must be between 1 and 64 MiB", size)
	}
	return &server{
		host: host, addr: addr, bufSize: int(size),
		queue: make(chan chunk, queueLen),
		free:  make(chan []byte, queueLen+8),
		conns: map[uint64]net.Conn{},
	}, nil
}

// Connect starts listening (and accepting). After a listener failure it
// listens anew.
func (s *server) Connect(attempt int) error {
	s.mu.Lock()
	failed := s.lnErr != nil
	s.lnErr = nil
	s.mu.Unlock()
	if s.ln != nil && !failed {
		return nil
	}
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	if s.done == nil {
		s.done = make(chan struct{})
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.addr, err)
	}
	s.ln = ln
	s.host.Infof("listening on %s", ln.Addr())
	s.wg.Add(1)
	s.host.Go(func() { s.accept(ln) })
	return nil
}

func (s *server) accept(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return // closed by Close
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return // closed by a reconnect
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.host.Errorf("accept on %s: %v", ln.Addr(), err)
			s.mu.Lock()
			s.lnErr = err
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.nextConn++
		id := s.nextConn
		s.conns[id] = c
		open := len(s.conns)
		s.wg.Add(1)
		s.mu.Unlock()
		s.countConns(1, open)
		s.host.Infof("connection %d from %s opened", id, c.RemoteAddr())
		s.host.Go(func() { s.read(id, c) })
	}
}

// countConns reports accepted connections and those open now (ABI 1.1
// metrics; nothing on a 1.0 host).
func (s *server) countConns(accepted uint64, open int) {
	if accepted > 0 {
		s.host.CounterAdd("tcp_connections_total", "TCP connections accepted.", accepted)
	}
	s.host.GaugeSet("tcp_connections_open", "TCP connections open now.", int64(open))
}

// running blocks while the source is paused; false when it is closing.
func (s *server) running() bool {
	for {
		s.mu.Lock()
		ch := s.resume
		s.mu.Unlock()
		if ch == nil {
			return true
		}
		select {
		case <-ch:
		case <-s.done:
			return false
		}
	}
}

func (s *server) getBuf() []byte {
	select {
	case b := <-s.free:
		return b
	default:
		return make([]byte, s.bufSize)
	}
}

func (s *server) putBuf(b []byte) {
	select {
	case s.free <- b:
	default:
	}
}

// read turns what connection id sends into chunks, in order. When the peer
// closes (or resets) the connection, a last chunk ends the stream, so that
// the host flushes a last line without a newline; a connection closed by
// Close gets none (nothing is pulled any more).
func (s *server) read(id uint64, c net.Conn) {
	var total uint64
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, id)
		open := len(s.conns)
		s.mu.Unlock()
		s.countConns(0, open)
		s.host.Infof("connection %d from %s closed after %d bytes", id, c.RemoteAddr(), total)
		s.wg.Done()
	}()
	for s.running() {
		buf := s.getBuf()
		n, err := c.Read(buf)
		if n > 0 {
			total += uint64(n)
			s.host.CounterAdd("tcp_bytes_read_total", "Bytes read from TCP connections.", uint64(n))
			select {
			case s.queue <- chunk{stream: id, buf: buf, n: n}:
			case <-s.done:
				return
			}
		} else {
			s.putBuf(buf)
		}
		if err != nil {
			if err != io.EOF && !errors.Is(err, net.ErrClosed) {
				s.host.Debugf("connection %d: %v", id, err)
			}
			select {
			case s.queue <- chunk{stream: id, end: true}:
			case <-s.done:
			}
			return
		}
	}
}

// push puts a chunk into the room; on ErrNoRoom the chunk is kept.
func (s *server) push(room *pdk.Room, c chunk) error {
	ev := pdk.Event{ID: s.nextID, Stream: c.stream, EndStream: c.end}
	if !c.end {
		ev.Payload = c.buf[:c.n]
	}
	if err := room.Push(ev); err != nil {
		s.pending, s.hasPending = c, true
		return err
	}
	s.nextID++
	if !c.end {
		s.putBuf(c.buf)
	}
	return nil
}

func (s *server) Pull(room *pdk.Room, wait time.Duration) error {
	if s.hasPending {
		s.hasPending = false
		if err := s.push(room, s.pending); err != nil {
			return err
		}
	}
	if room.Len() == 0 && wait > 0 {
		if s.timer == nil {
			s.timer = time.NewTimer(wait)
		} else {
			s.timer.Reset(wait)
		}
		select {
		case c := <-s.queue:
			s.timer.Stop()
			if err := s.push(room, c); err != nil {
				return err
			}
		case <-s.timer.C:
		}
	}
	for {
		select {
		case c := <-s.queue:
			if err := s.push(room, c); err != nil {
				return nil // the rest waits in the queue; c is pending
			}
		default:
			s.mu.Lock()
			err := s.lnErr
			s.mu.Unlock()
			if err != nil {
				return fmt.Errorf("listener on %s failed: %v: %w", s.addr, err, pdk.ErrDisconnected)
			}
			return nil
		}
	}
}

// Pause stops reading from the connections; TCP pushes back on the peers.
func (s *server) Pause() error {
	s.mu.Lock()
	if s.resume == nil {
		s.resume = make(chan struct{})
	}
	s.mu.Unlock()
	s.host.Debugf("paused")
	return nil
}

func (s *server) Resume() error {
	s.mu.Lock()
	if s.resume != nil {
		close(s.resume)
		s.resume = nil
	}
	s.mu.Unlock()
	s.host.Debugf("resumed")
	return nil
}

// Close stops listening, closes every connection and waits for the
// goroutines.
func (s *server) Close() error {
	if s.done == nil {
		return nil // never connected
	}
	s.mu.Lock()
	close(s.done)
	conns := make([]net.Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	s.host.Infof("stopped listening on %s", s.addr)
	return nil
}
