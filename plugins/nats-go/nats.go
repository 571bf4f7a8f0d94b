package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tremorhost/pdk-go"
)

// dial connects to url and returns its JetStream context.
func dial(url string, host pdk.Host) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Name("tremorhost "+host.Alias()), nats.Timeout(5*time.Second),
		nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return nil, nil, fmt.Errorf("no NATS server at url = %q answers (is it running, with JetStream? retrying): %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

type source struct {
	host                      pdk.Host
	url, stream, durable, sub string
	ackWait                   time.Duration
	maxPending                int

	nc   *nats.Conn
	cons jetstream.Consumer

	mu     sync.Mutex
	ids    map[uint64]jetstream.Msg
	nextID uint64
	held   jetstream.Msg    // fetched, did not fit the last room
	freed  chan struct{}    // an ack or fail made room under maxPending
	meta   pdk.ValueBuilder // the event being pushed's meta, reused
	hdr    []string         // scratch of writeMeta
}

func newSource(cfg pdk.Config, host pdk.Host) (*source, error) {
	stream, err := cfg.RequireString("stream")
	if err != nil {
		return nil, err
	}
	durable, err := cfg.RequireString("durable")
	if err != nil {
		return nil, err
	}
	if stream == "" || durable == "" {
		return nil, pdk.ConfigError("stream and durable must not be empty")
	}
	ackWait := time.Duration(cfg.UintOr("ack_wait_ms", 30000)) * time.Millisecond
	if ackWait < time.Second {
		return nil, pdk.ConfigError("ack_wait_ms %d must be at least 1000", ackWait.Milliseconds())
	}
	maxPending := cfg.UintOr("max_ack_pending", 8192)
	if maxPending < 1 || maxPending > 1<<20 {
		return nil, pdk.ConfigError("max_ack_pending %d must be between 1 and 1048576", maxPending)
	}
	return &source{host: host, url: cfg.StringOr("url", nats.DefaultURL), stream: stream, durable: durable,
		sub: cfg.StringOr("filter_subject", ""), ackWait: ackWait, maxPending: int(maxPending),
		ids: map[uint64]jetstream.Msg{}, nextID: 1, freed: make(chan struct{}, 1)}, nil
}

// Connect dials and binds the durable consumer, creating it when missing.
func (s *source) Connect(attempt int) error {
	if s.cons != nil {
		return nil
	}
	nc, js, err := dial(s.url, s.host)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, s.stream, jetstream.ConsumerConfig{
		Durable: s.durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: s.ackWait,
		FilterSubject: s.sub, DeliverPolicy: jetstream.DeliverAllPolicy, MaxAckPending: s.maxPending,
	})
	if err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %q does not exist on %s: create it (nats stream add) or fix stream: %w", s.stream, s.url, err)
		}
		return fmt.Errorf("durable consumer %q of stream %q: %w", s.durable, s.stream, err)
	}
	s.nc, s.cons = nc, cons
	return nil
}

func (s *source) Pull(room *pdk.Room, wait time.Duration) error {
	if s.held != nil {
		if err := s.push(room, s.held); err != nil {
			return nil
		}
		s.held = nil
	}
	if wait < time.Millisecond {
		wait = time.Millisecond
	}
	n := s.fetchSize(room)
	if n <= 0 {
		s.awaitFreed(wait)
		return nil
	}
	batch, err := s.cons.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		if s.nc.IsClosed() || !s.nc.IsConnected() {
			return fmt.Errorf("fetch: %v: %w", err, pdk.ErrDisconnected)
		}
		s.host.Warnf("fetch: %v", err)
		return nil
	}
	for m := range batch.Messages() {
		if s.held != nil { // no room left: the rest go back to JetStream
			_ = m.Nak()
			continue
		}
		if err := s.push(room, m); err != nil {
			s.held = m
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		s.host.Debugf("fetch: %v", err)
	}
	return nil
}

// fetchSize is how many messages to ask for: what the room and
// max_ack_pending leave. JetStream delivers no more than max_ack_pending
// unacked messages, so a larger fetch would only end at its timeout.
func (s *source) fetchSize(room *pdk.Room) int {
	free, _ := room.Free()
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(free, 1024, s.maxPending-len(s.ids))
}

// awaitFreed waits up to wait for an ack or fail.
func (s *source) awaitFreed(wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-s.freed:
	case <-t.C:
	}
}

func (s *source) push(room *pdk.Room, m jetstream.Msg) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	md, mdErr := m.Metadata()
	if mdErr != nil {
		md = nil
	}
	writeMeta(&s.meta, &s.hdr, m.Subject(), md, m.Headers())
	id := s.nextID
	if err := room.Push(pdk.Event{ID: id, Payload: m.Data(), Meta: &s.meta}); err != nil {
		return err
	}
	s.nextID++
	s.ids[id] = m
	return nil
}

// writeMeta builds a message's meta in b, members in key order (the layout
// a map of them would have); keys is scratch for the header order. Each
// header gives its first value: a string when UTF-8, bytes otherwise.
func writeMeta(b *pdk.ValueBuilder, keys *[]string, subject string, md *jetstream.MsgMetadata, h nats.Header) {
	b.Reset()
	b.Object("")
	b.Object("nats")
	if md != nil {
		b.Uint("delivered", md.NumDelivered)
	}
	if len(h) > 0 {
		ks := (*keys)[:0]
		for k, v := range h {
			if len(v) > 0 {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		b.Object("headers")
		for _, k := range ks {
			if v := h[k][0]; utf8.ValidString(v) {
				b.String(k, v)
			} else {
				b.Bytes(k, []byte(v))
			}
		}
		b.End()
		*keys = ks
	}
	if md != nil {
		b.Uint("stream_seq", md.Sequence.Stream)
	}
	b.String("subject", subject)
	if md != nil {
		b.Int("timestamp_ms", md.Timestamp.UnixMilli())
	}
	b.End()
	b.End()
}

func (s *source) settle(ids []uint64, ack bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		m, ok := s.ids[id]
		if !ok {
			continue
		}
		delete(s.ids, id)
		var err error
		if ack {
			err = m.Ack()
		} else {
			err = m.Nak()
		}
		if err != nil && len(errs) < 3 {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// JetStream delivers it again after ack_wait: at least once
		s.host.Warnf("ack/nak not sent: %v", errors.Join(errs...))
	}
	select {
	case s.freed <- struct{}{}:
	default:
	}
	return nil
}

func (s *source) Ack(ids []uint64) error  { return s.settle(ids, true) }
func (s *source) Fail(ids []uint64) error { return s.settle(ids, false) }

func (s *source) Close() error {
	if s.nc != nil {
		_ = s.nc.Drain()
		s.nc = nil
	}
	return nil
}

type sink struct {
	host         pdk.Host
	url, subject string
	timeout      time.Duration
	nc           *nats.Conn
	js           jetstream.JetStream
}

func newSink(cfg pdk.Config, host pdk.Host) (*sink, error) {
	subject, err := cfg.RequireString("subject")
	if err != nil {
		return nil, err
	}
	if subject == "" {
		return nil, pdk.ConfigError("subject must not be empty")
	}
	timeout := time.Duration(cfg.UintOr("send_timeout_ms", 5000)) * time.Millisecond
	if timeout < 100*time.Millisecond || timeout > 8*time.Second {
		return nil, pdk.ConfigError("send_timeout_ms %d must be between 100 and 8000", timeout.Milliseconds())
	}
	return &sink{host: host, url: cfg.StringOr("url", nats.DefaultURL), subject: subject, timeout: timeout}, nil
}

func (s *sink) Connect(attempt int) error {
	if s.js != nil {
		return nil
	}
	nc, js, err := dial(s.url, s.host)
	if err != nil {
		return err
	}
	s.nc, s.js = nc, js
	return nil
}

// Send publishes every event and waits for each publish ack: stored is OK;
// no stream for the subject is FAILED; a timeout or a lost connection is
// RETRY.
func (s *sink) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	futures := make([]jetstream.PubAckFuture, b.Len())
	for i := range futures {
		f, err := s.js.PublishMsgAsync(&nats.Msg{Subject: s.subject, Data: append([]byte(nil), b.Payload(i)...)})
		if err != nil {
			outcomes[i] = pdk.OutcomeRetry
			continue
		}
		futures[i] = f
	}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	expired := false
	var firstErr error
	for i, f := range futures {
		if f == nil {
			continue
		}
		if expired { // take what has come, without waiting
			select {
			case <-f.Ok():
				outcomes[i] = pdk.OutcomeOK
			default:
				outcomes[i] = pdk.OutcomeRetry
			}
			continue
		}
		select {
		case <-f.Ok():
			outcomes[i] = pdk.OutcomeOK
		case err := <-f.Err():
			outcomes[i] = pdk.OutcomeRetry
			if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
				outcomes[i] = pdk.OutcomeFailed
			}
			if firstErr == nil {
				firstErr = err
			}
		case <-timer.C:
			expired = true
			outcomes[i] = pdk.OutcomeRetry
			if firstErr == nil {
				firstErr = fmt.Errorf("no publish ack within %s", s.timeout)
			}
		}
	}
	if firstErr != nil {
		s.host.Warnf("publish to %s: %v", s.subject, firstErr)
	}
	return nil
}

func (s *sink) Close() error {
	if s.nc != nil {
		_ = s.nc.Drain()
		s.nc = nil
	}
	return nil
}
