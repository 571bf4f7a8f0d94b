// Command bench_go-go is the Go benchmark plugin "bench_go", built as a
// c-shared library (libtremor_bench_go.so):
//
//   - bench_go_source emits `count` events of exactly `size` bytes, each a
//     JSON line {"seq":N,"pad":"xxx..."}\n, filling every room as full as
//     it can and ending with TREMOR_END;
//   - bench_go_sink counts events and bytes, checks that payloads carry
//     consecutive seq numbers, answers OK for every event and logs the
//     totals when it is closed.
//
// Neither allocates per event: the source writes each payload in place in
// the host's arena (Room.Reserve), the sink reads the host's arena.
package main

import (
	"fmt"
	"time"

	"tremorhost/pdk-go"
)

func init() {
	pdk.Register(pdk.Plugin{
		Name:        "bench_go",
		Version:     "0.1.0",
		Description: "Benchmark source and sink written with pdk-go",
		License:     "Apache-2.0",
		Connectors: []pdk.ConnectorType{
			{
				Name:        "bench_go_source",
				Description: "emits count JSON lines of size bytes, as fast as the host pulls",
				Kinds:       pdk.Source,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					pdk.UintField("count", pdk.Default("1000000"), pdk.Doc("events to emit")),
					pdk.UintField("size", pdk.Default("100"), pdk.Doc("bytes per event, newline included")),
				},
				New: pdk.New(newSource),
			},
			{
				Name:        "bench_go_sink",
				Description: "counts events and bytes, checks seq numbers, logs totals on stop",
				Kinds:       pdk.Sink,
				Payload:     pdk.Bytes,
				Fields: []pdk.Field{
					pdk.BoolField("check", pdk.Default("true"), pdk.Doc("check that payloads carry consecutive seq numbers")),
				},
				New: pdk.New(newSink),
			},
		},
	})
}

func main() {}

const (
	prefix = `{"seq":`
	middle = `,"pad":"`
	suffix = "\"}\n"
	// overhead is the size of an event with an empty pad, without digits.
	overhead = len(prefix) + len(middle) + len(suffix)
)

func digits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// putUint writes n in decimal at the start of dst and returns its length.
func putUint(dst []byte, n uint64) int {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return copy(dst, buf[i:])
}

type source struct {
	host        pdk.Host
	count, size uint64
	seq         uint64
	pad         []byte // size 'x' bytes, copied from for each event
	started     time.Time
}

func newSource(cfg pdk.Config, host pdk.Host) (*source, error) {
	count, err := cfg.OptionalUint("count", 1000000)
	if err != nil {
		return nil, err
	}
	size, err := cfg.OptionalUint("size", 100)
	if err != nil {
		return nil, err
	}
	s := &source{host: host, count: count, size: size}
	if s.count > 0 {
		if min := uint64(overhead + digits(s.count-1)); s.size < min {
			return nil, pdk.ConfigError("size %d is too small: %d events need at least %d bytes each", s.size, s.count, min)
		}
	}
	if s.size > 64<<20 {
		return nil, pdk.ConfigError("size %d is larger than 64 MiB", s.size)
	}
	s.pad = make([]byte, s.size)
	for i := range s.pad {
		s.pad[i] = 'x'
	}
	return s, nil
}

func (s *source) Connect(int) error { return nil }

func (s *source) Start() error {
	s.started = time.Now()
	s.host.Infof("emitting %d events of %d bytes", s.count, s.size)
	return nil
}

// fill writes event seq into dst (len(dst) == size).
func (s *source) fill(dst []byte, seq uint64) {
	n := copy(dst, prefix)
	n += putUint(dst[n:], seq)
	n += copy(dst[n:], middle)
	end := len(dst) - len(suffix)
	copy(dst[n:end], s.pad)
	copy(dst[end:], suffix)
}

func (s *source) Pull(room *pdk.Room, _ time.Duration) error {
	for s.seq < s.count {
		dst, err := room.Reserve(s.seq, int(s.size))
		if err != nil {
			return err // ErrNoRoom: this seq waits for the next pull
		}
		s.fill(dst, s.seq)
		s.seq++
	}
	return pdk.ErrEnd
}

func (s *source) Close() error {
	if !s.started.IsZero() {
		s.host.Infof("emitted %d of %d events in %s", s.seq, s.count, time.Since(s.started).Round(time.Millisecond))
	}
	return nil
}

type sink struct {
	host       pdk.Host
	check      bool
	events     uint64
	bytes      uint64
	bad        uint64 // payloads without a leading {"seq":N
	outOfOrder uint64 // seq not one more than the previous one
	next       uint64 // the seq expected next
	first      time.Time
	last       time.Time
}

func newSink(cfg pdk.Config, host pdk.Host) (pdk.Connector, error) {
	check, err := cfg.OptionalBool("check", true)
	if err != nil {
		return nil, err
	}
	return &sink{host: host, check: check}, nil
}

func (k *sink) Connect(int) error { return nil }

// seqOf parses the seq number at the start of a bench payload.
func seqOf(p []byte) (uint64, bool) {
	if len(p) <= len(prefix) || string(p[:len(prefix)]) != prefix {
		return 0, false
	}
	var n uint64
	i := len(prefix)
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9' && i < len(prefix)+20; i++ {
		n = n*10 + uint64(p[i]-'0')
	}
	return n, i > len(prefix) && i < len(p) && p[i] == ','
}

func (k *sink) Send(b *pdk.Batch, outcomes []pdk.Outcome) error {
	if k.events == 0 {
		k.first = time.Now()
	}
	for i := 0; i < b.Len(); i++ {
		p := b.Payload(i)
		k.events++
		k.bytes += uint64(len(p))
		if k.check {
			if seq, ok := seqOf(p); !ok {
				k.bad++
			} else {
				if seq != k.next {
					k.outOfOrder++
				}
				k.next = seq + 1
			}
		}
		outcomes[i] = pdk.OutcomeOK
	}
	k.last = time.Now()
	return nil
}

// Stats formats the totals the sink logs when it is closed.
func (k *sink) stats() string {
	el := k.last.Sub(k.first)
	rate := 0.0
	if el > 0 {
		rate = float64(k.events) / el.Seconds()
	}
	return fmt.Sprintf("totals: events=%d bytes=%d bad=%d out_of_order=%d elapsed=%s rate=%.0f ev/s",
		k.events, k.bytes, k.bad, k.outOfOrder, el.Round(time.Microsecond), rate)
}

func (k *sink) Close() error {
	k.host.Infof("%s", k.stats())
	return nil
}
