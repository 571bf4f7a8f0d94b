package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"
	"unsafe"

	"tremorhost/pdk-go"
)

type client struct {
	host         pdk.Host
	addr         string
	dialTimeout  time.Duration
	writeTimeout time.Duration
	conn         net.Conn
	raw          syscall.RawConn // conn's socket, for peerGone
	bufs         [][]byte        // reused for every batch (one writev per batch)
	idx          []int           // bufs[j] is the payload of event idx[j]
	scratch      []byte          // where peerGone reads (and drops) what the peer sent
}

func newClient(cfg pdk.Config, host pdk.Host) (pdk.Connector, error) {
	addr, err := hostPort(cfg)
	if err != nil {
		return nil, err
	}
	dialMs, err := cfg.OptionalUint("connect_timeout_ms", 1000)
	if err != nil {
		return nil, err
	}
	writeMs, err := cfg.OptionalUint("write_timeout_ms", 2000)
	if err != nil {
		return nil, err
	}
	const maxMs = 24 * 3600 * 1000 // keeps the Duration far from overflowing
	if dialMs > maxMs || writeMs > maxMs {
		return nil, pdk.ConfigError("connect_timeout_ms and write_timeout_ms must be at most %d (a day)", maxMs)
	}
	return &client{
		host: host, addr: addr,
		dialTimeout:  time.Duration(dialMs) * time.Millisecond,
		writeTimeout: time.Duration(writeMs) * time.Millisecond,
	}, nil
}

// Connect dials. A refused or timed-out dial answers TREMOR_RETRY (the
// server may come up later; the host backs off); other failures, such as
// an unknown host, are errors, which the host logs and also retries.
func (c *client) Connect(attempt int) error {
	if c.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: c.dialTimeout}
	conn, err := d.Dial("tcp", c.addr)
	if err != nil {
		var ne net.Error
		if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &ne) && ne.Timeout()) {
			if attempt == 1 || attempt%10 == 0 {
				c.host.Warnf("connect to %s (attempt %d): %v; retrying", c.addr, attempt, err)
			}
			return fmt.Errorf("connect to %s: %v: %w", c.addr, err, pdk.ErrRetry)
		}
		return fmt.Errorf("connect to %s: %w", c.addr, err)
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		conn.Close()
		return fmt.Errorf("connect to %s: %T has no socket", c.addr, conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		conn.Close()
		return fmt.Errorf("connect to %s: %w", c.addr, err)
	}
	c.conn, c.raw = conn, raw
	c.host.Infof("connected to %s from %s", conn.RemoteAddr(), conn.LocalAddr())
	return nil
}

// peerGone checks, without blocking, whether the peer has closed (FIN) or
// reset (RST) the connection: it returns io.EOF or the socket error then,
// and nil while the connection is open. It reads with MSG_DONTWAIT straight
// from the socket (a Go Read with an expired deadline would not even try).
// The sink only writes, so anything the peer sent is read and dropped on
// the way to finding out whether a FIN follows it. A peer that only shut
// down its sending side (a half-close) counts as gone too: a server that
// stops talking to a write-only client is closing down.
func (c *client) peerGone() error {
	if c.scratch == nil {
		c.scratch = make([]byte, 4096)
	}
	var n int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for range 64 { // bounded: a chatty peer must not keep us here
			n, _, rerr = syscall.Recvfrom(int(fd), c.scratch, syscall.MSG_DONTWAIT)
			if rerr == syscall.EINTR || (rerr == nil && n > 0) {
				continue
			}
			break
		}
		return true // never wait for readiness
	})
	switch {
	case err != nil:
		return err
	case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		return nil // nothing to read: open
	case rerr != nil:
		return rerr // ECONNRESET and friends
	case n == 0:
		return io.EOF // orderly close by the peer
	default:
		return nil // the peer keeps talking: open
	}
}

// Send writes the batch's payloads, in order, with one writev, then waits
// until the peer's TCP has acknowledged every byte (the send queue is
// empty), for at most write_timeout_ms in all. An event is OutcomeOK only
// when all of its bytes were acknowledged by the peer: bytes that only sat
// in this socket's send buffer are not delivered, and are lost when the
// connection is abandoned. When the write fails, or the acknowledgement
// does not come in time (a peer that accepts but never reads), the
// connection is aborted (RST, so nothing still queued goes out later), the
// events not fully acknowledged are OutcomeRetry and Send answers
// ErrDisconnected: the host reconnects and sends them again. A partly
// acknowledged event leaves a torn frame on the lost connection; the peer
// sees it whole on the next one.
//
// Before writing, Send checks whether the peer has already closed the
// connection (peerGone). Without that check, the first write after the
// peer left still succeeds locally (the kernel takes the bytes; the peer
// answers with RST): its events would wait for an acknowledgement that
// never comes. With it, the batch is not written at all: every event is
// OutcomeRetry and Send answers ErrDisconnected.
//
// What TCP cannot tell a writer, and so this sink cannot guarantee: "OK"
// means the peer's kernel received the bytes, not that the peer
// application read them. Bytes are still lost when the peer closes (or
// crashes) with unread bytes in its receive buffer. Only an
// acknowledgement from the peer's application could close that gap; a
// plain byte stream has none. Waiting for the acknowledgement costs one
// round trip per batch.
func (c *client) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	n := b.Len()
	if c.conn == nil {
		for i := range outcomes {
			outcomes[i] = pdk.OutcomeRetry
		}
		return fmt.Errorf("not connected to %s: %w", c.addr, pdk.ErrDisconnected)
	}
	bufs, idx := c.bufs[:0], c.idx[:0]
	for i := 0; i < n; i++ {
		if b.Structured(i) {
			continue // cannot happen for a bytes connector; stays FAILED
		}
		bufs = append(bufs, b.Payload(i))
		idx = append(idx, i)
	}
	c.idx = idx
	if err := c.peerGone(); err != nil {
		clear(bufs)
		c.bufs = bufs[:0]
		for _, i := range idx {
			outcomes[i] = pdk.OutcomeRetry
		}
		c.conn.Close()
		c.conn, c.raw = nil, nil
		c.host.Warnf("connection to %s closed by the peer (%v); the batch of %d events is not written and will be sent again after reconnecting", c.addr, err, len(idx))
		return fmt.Errorf("peer %s closed the connection: %v: %w", c.addr, err, pdk.ErrDisconnected)
	}
	deadline := time.Now().Add(c.writeTimeout)
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		return c.lost(err, 0, 0, outcomes)
	}
	nb := net.Buffers(bufs)
	written, err := nb.WriteTo(c.conn)
	clear(bufs) // drop the references into the host's memory
	c.bufs = bufs[:0]
	if err == nil {
		err = c.waitAcked(deadline)
	}
	// Every earlier batch was acknowledged in full (or its connection
	// dropped), so what is still queued belongs to this batch.
	queued, qerr := c.unacked()
	if qerr != nil && err == nil {
		err = qerr
	}
	acked := max(written-queued, 0)
	if qerr != nil {
		acked = 0 // unknown: claim nothing
	}
	// Mark what the peer acknowledged, in order.
	left := acked
	for _, i := range idx {
		l := int64(len(b.Payload(i)))
		if left < l {
			break
		}
		left -= l
		outcomes[i] = pdk.OutcomeOK
	}
	if err != nil {
		return c.lost(err, written, acked, outcomes)
	}
	return nil
}

// errNotAcked is why a connection is dropped when the peer's TCP did not
// acknowledge what was written within the write timeout.
var errNotAcked = errors.New("the peer did not acknowledge the bytes written within write_timeout_ms (it stopped reading?)")

// waitAcked waits until the send queue is empty (every byte written was
// acknowledged by the peer's TCP), or the deadline passes.
func (c *client) waitAcked(deadline time.Time) error {
	pause := 20 * time.Microsecond
	for {
		q, err := c.unacked()
		if err != nil || q == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return errNotAcked
		}
		time.Sleep(pause)
		pause = min(2*pause, 2*time.Millisecond)
	}
}

// unacked returns the bytes in the socket's send queue: written, but not
// yet acknowledged by the peer's TCP (Linux SIOCOUTQ).
func (c *client) unacked() (int64, error) {
	var n int32
	var errno syscall.Errno
	if err := c.raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("SIOCOUTQ: %w", errno)
	}
	return int64(n), nil
}

// lost aborts the connection after a failed or unacknowledged write: every
// event not marked OK is to be sent again after reconnecting. The abort
// (SO_LINGER 0: RST) discards what is still queued, so that no byte of an
// event counted undelivered reaches the peer later.
func (c *client) lost(err error, written, acked int64, outcomes []pdk.Outcome) error {
	retry := 0
	for _, i := range c.idx {
		if outcomes[i] != pdk.OutcomeOK {
			outcomes[i] = pdk.OutcomeRetry
			retry++
		}
	}
	if tc, ok := c.conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.conn.Close()
	c.conn, c.raw = nil, nil
	c.host.Warnf("connection to %s dropped: %v; %d bytes of a batch written, %d acknowledged by the peer; %d events will be sent again after reconnecting", c.addr, err, written, acked, retry)
	return fmt.Errorf("write to %s: %v: %w", c.addr, err, pdk.ErrDisconnected)
}

func (c *client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.raw = nil, nil
	c.host.Infof("closed connection to %s", c.addr)
	return err
}
