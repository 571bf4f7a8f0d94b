package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"tremorhost/pdk-go"
)

type client struct {
	host         pdk.Host
	addr         string
	dialTimeout  time.Duration
	writeTimeout time.Duration
	conn         net.Conn
	bufs         [][]byte // reused for every batch (one writev per batch)
	idx          []int    // bufs[j] is the payload of event idx[j]
}

func newClient(cfg pdk.Config, host pdk.Host) (pdk.Connector, error) {
	addr, err := hostPort(cfg)
	if err != nil {
		return nil, err
	}
	return &client{
		host: host, addr: addr,
		dialTimeout:  time.Duration(cfg.UintOr("connect_timeout_ms", 1000)) * time.Millisecond,
		writeTimeout: time.Duration(cfg.UintOr("write_timeout_ms", 2000)) * time.Millisecond,
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
	c.conn = conn
	c.host.Infof("connected to %s from %s", conn.RemoteAddr(), conn.LocalAddr())
	return nil
}

// Send writes the batch's payloads, in order, with one writev. Events fully
// written are OutcomeOK. When the write fails the connection is closed,
// the events not (or only partly) written are OutcomeRetry and Send
// answers ErrDisconnected: the host reconnects and sends them again. A
// partly written event leaves a torn frame on the lost connection; the
// peer sees it whole on the next one.
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
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return c.lost(err, 0, outcomes)
	}
	nb := net.Buffers(bufs)
	written, err := nb.WriteTo(c.conn)
	clear(bufs) // drop the references into the host's memory
	c.bufs = bufs[:0]
	// Mark what made it out, in order.
	left := written
	for _, i := range idx {
		l := int64(len(b.Payload(i)))
		if left < l {
			break
		}
		left -= l
		outcomes[i] = pdk.OutcomeOK
	}
	if err != nil {
		return c.lost(err, written, outcomes)
	}
	return nil
}

// lost closes the connection after a failed write: every event not marked
// OK is to be sent again after reconnecting.
func (c *client) lost(err error, written int64, outcomes []pdk.Outcome) error {
	for _, i := range c.idx {
		if outcomes[i] != pdk.OutcomeOK {
			outcomes[i] = pdk.OutcomeRetry
		}
	}
	c.conn.Close()
	c.conn = nil
	c.host.Warnf("connection to %s lost after %d bytes of a batch: %v", c.addr, written, err)
	return fmt.Errorf("write to %s: %v: %w", c.addr, err, pdk.ErrDisconnected)
}

func (c *client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	c.host.Infof("closed connection to %s", c.addr)
	return err
}
