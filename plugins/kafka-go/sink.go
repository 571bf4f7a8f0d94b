package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"tremorhost/pdk-go"
)

type sink struct {
	host    pdk.Host
	opts    []kgo.Opt
	brokers string
	topic   string
	timeout time.Duration
	cl      *kgo.Client
}

func newSink(cfg pdk.Config, host pdk.Host) (*sink, error) {
	brokers, err := brokerList(cfg)
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(cfg.UintOr("send_timeout_ms", 5000)) * time.Millisecond
	// on_send must return within the host's hook timeout (10 s).
	if timeout < 100*time.Millisecond || timeout > 8*time.Second {
		return nil, pdk.ConfigError("send_timeout_ms %d must be between 100 and 8000", timeout.Milliseconds())
	}
	s := &sink{host: host, brokers: strings.Join(brokers, ","), topic: cfg.StringOr("topic", ""), timeout: timeout}
	s.opts = []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("tremorhost"),
		kgo.RecordPartitioner(keyOrRoundRobin{}),
		kgo.RecordDeliveryTimeout(timeout),
		kgo.ProducerLinger(0),
		kgo.AllowAutoTopicCreation(), // where the broker allows it
		// the idempotent producer (franz-go's default) needs acks=all
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
	return s, nil
}

func (s *sink) Connect(attempt int) error {
	if s.cl != nil {
		return nil
	}
	cl, err := dial(s.opts, s.brokers)
	if err != nil {
		return err
	}
	s.cl = cl
	return nil
}

// Send produces every event and waits for each one's result: success is
// OK, a retriable Kafka error or a timeout RETRY, anything else FAILED.
// Records still on their way when send_timeout_ms (plus a margin) is up are
// RETRY: they may land twice (at least once).
func (s *sink) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	n := b.Len()
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := make([]bool, n)
	var firstErr error
	retry, failed := 0, 0
	for i := 0; i < n; i++ {
		rec, err := s.record(b, i)
		if err != nil {
			s.host.Errorf("event %d: %v", b.ID(i), err)
			outcomes[i] = pdk.OutcomeFailed
			done[i] = true
			continue
		}
		wg.Add(1)
		s.cl.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
			defer wg.Done()
			o := outcome(err)
			mu.Lock()
			outcomes[i], done[i] = o, true
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("topic %s: %w", rec.Topic, err)
				}
				if o == pdk.OutcomeRetry {
					retry++
				} else {
					failed++
				}
			}
			mu.Unlock()
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(s.timeout + time.Second):
		mu.Lock()
		late := 0
		for i := range done {
			if !done[i] {
				outcomes[i], done[i] = pdk.OutcomeRetry, true
				late++
			}
		}
		mu.Unlock()
		s.host.Warnf("%d of %d records unconfirmed after %s: sent again (they may land twice)", late, n, s.timeout+time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		s.host.Warnf("produce: %d of %d records to retry, %d failed; first error: %v", retry, n, failed, firstErr)
	}
	return nil
}

// outcome maps a produce result: a Kafka error the broker marks as
// permanent (a record too large, an invalid topic, no authorization) is
// FAILED; everything else (retriable Kafka errors, a broker that cannot be
// dialled, timeouts) is RETRY, since it may pass once the broker is back.
func outcome(err error) pdk.Outcome {
	if err == nil {
		return pdk.OutcomeOK
	}
	if ke, ok := errors.AsType[*kerr.Error](err); ok && !ke.Retriable {
		return pdk.OutcomeFailed
	}
	return pdk.OutcomeRetry
}

// record builds the record of event i: topic from the config, else from
// the event's meta kafka.topic; key and headers from meta kafka.key and
// kafka.headers.
func (s *sink) record(b *pdk.Batch, i int) (*kgo.Record, error) {
	rec := &kgo.Record{Topic: s.topic, Value: append([]byte(nil), b.Payload(i)...)}
	meta, err := b.Meta(i)
	if err != nil {
		return nil, fmt.Errorf("reading its metadata: %w", err)
	}
	m, _ := meta.(map[string]any)
	k, _ := m["kafka"].(map[string]any)
	if rec.Topic == "" {
		rec.Topic, _ = k["topic"].(string)
		if rec.Topic == "" {
			return nil, errors.New("no topic: set the sink's topic, or give the event a meta kafka.topic")
		}
	}
	switch key := k["key"].(type) {
	case string:
		rec.Key = []byte(key)
	case []byte:
		rec.Key = append([]byte(nil), key...)
	}
	if h, ok := k["headers"].(map[string]any); ok {
		for name, v := range h {
			switch v := v.(type) {
			case string:
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: name, Value: []byte(v)})
			case []byte:
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: name, Value: append([]byte(nil), v...)})
			}
		}
	}
	return rec, nil
}

// Drain waits for what is still buffered.
func (s *sink) Drain() error {
	if s.cl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return s.cl.Flush(ctx)
}

func (s *sink) Close() error {
	if s.cl != nil {
		s.cl.Close()
		s.cl = nil
	}
	return nil
}

// keyOrRoundRobin puts keyed records where Kafka's own clients do (murmur2
// of the key) and spreads key-less ones over every partition in turn
// (franz-go's default sticks to one partition per batch).
type keyOrRoundRobin struct{}

func (keyOrRoundRobin) ForTopic(t string) kgo.TopicPartitioner {
	return &topicRR{keyed: kgo.StickyKeyPartitioner(nil).ForTopic(t)}
}

type topicRR struct {
	keyed kgo.TopicPartitioner
	next  int
}

func (p *topicRR) RequiresConsistency(r *kgo.Record) bool { return r.Key != nil }

func (p *topicRR) Partition(r *kgo.Record, n int) int {
	if r.Key != nil {
		return p.keyed.Partition(r, n)
	}
	p.next++
	return p.next % n
}
