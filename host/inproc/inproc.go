// Package inproc holds connectors written in Go that run inside the host,
// without crossing the plugin boundary. They mirror the bundled benchmark
// plugins (plugins/bench-c, plugins/bench_go-go) so that benchmarks can set the
// same flow through plugins side by side with this in-process baseline, over
// the same runtime path (batches, codecs, pipelines, delivery tracking).
package inproc

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"tremorhost/host/edge"
	"tremorhost/host/runtime"
)

// Catalog serves the in-process connector types:
//
//	inproc_bench_source  SOURCE: count (default 1000000) JSON lines of size
//	                     (default 100) bytes: {"seq":N,"pad":"xx..."}\n
//	inproc_bench_sink    SINK: counts events and bytes, delivers all
type Catalog struct{}

var types = map[string]runtime.Type{
	"inproc_bench_source": benchType{name: "inproc_bench_source", source: true},
	"inproc_bench_sink":   benchType{name: "inproc_bench_sink"},
}

// Type implements runtime.Catalog.
func (Catalog) Type(name string) (runtime.Type, bool) { t, ok := types[name]; return t, ok }

// Names implements runtime.Catalog.
func (Catalog) Names() []string {
	var names []string
	for n := range types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

type benchType struct {
	name   string
	source bool
}

func (t benchType) Name() string     { return t.name }
func (t benchType) IsSource() bool   { return t.source }
func (t benchType) IsSink() bool     { return !t.source }
func (t benchType) Structured() bool { return false }
func (t benchType) Origin() string   { return "in-process (host/inproc)" }

func (t benchType) CheckConfig(cfg map[string]any) (map[string]any, error) {
	out := map[string]any{}
	allowed := []string{}
	if t.source {
		out["count"], out["size"] = uint64(1000000), uint64(100)
		allowed = []string{"count", "size"}
	}
	for k, v := range cfg {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown config field %q (known: %v)", k, allowed)
		}
		n, ok := v.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("config field %q: expected a non-negative integer, got %v", k, v)
		}
		out[k] = uint64(n)
	}
	if t.source {
		count, size := out["count"].(uint64), out["size"].(uint64)
		if minSize := uint64(len(lineHead) + len(lineMid) + len(lineTail) + len(strconv.FormatUint(max(count, 1)-1, 10))); size < minSize {
			return nil, fmt.Errorf("config field \"size\": must be at least %d for count %d, got %d", minSize, count, size)
		}
	}
	return out, nil
}

// Place implements runtime.Type: in the host.
func (t benchType) Place(p runtime.Policy) (runtime.Placement, error) { return runtime.InHost(t, p) }

func (t benchType) Create(alias string, cfg map[string]any, _ runtime.Placement, log zerolog.Logger) (runtime.Instance, error) {
	if t.source {
		return &benchSource{count: cfg["count"].(uint64), size: int(cfg["size"].(uint64))}, nil
	}
	return &benchSink{log: log}, nil
}

const (
	lineHead = `{"seq":`
	lineMid  = `,"pad":"`
	lineTail = "\"}\n"
)

// lifecycle gives the optional hooks their no-op default.
type lifecycle struct{}

func (lifecycle) Connect(uint32) error { return nil }
func (lifecycle) Start() error         { return nil }
func (lifecycle) Pause() error         { return nil }
func (lifecycle) Resume() error        { return nil }
func (lifecycle) Drain() error         { return nil }
func (lifecycle) Stop() error          { return nil }
func (lifecycle) Destroy()             {}

var errNotSource = errors.New("not a source")
var errNotSink = errors.New("not a sink")

type benchSource struct {
	lifecycle
	count, seq uint64
	size       int
	digits     []byte
	pad        []byte // size 'x' bytes, copied from (memmove beats a byte loop)
}

// Pull writes the same lines as plugins/bench-c: {"seq":N,"pad":"xx..."}\n,
// each exactly size bytes, and the same way: straight into the batch's
// arena (Batch.AppendReserve, as tremor_batch_reserve_bytes), so that the
// baseline does the work the C plugin does and no more.
func (s *benchSource) Pull(b *edge.Batch, _ time.Duration) error {
	b.Reset()
	for s.seq < s.count {
		p, err := b.AppendReserve(&edge.Event{ID: s.seq}, s.size)
		if err != nil {
			if errors.Is(err, edge.ErrBatchFull) {
				return nil
			}
			return err
		}
		s.digits = strconv.AppendUint(s.digits[:0], s.seq, 10)
		n := copy(p, lineHead)
		n += copy(p[n:], s.digits)
		n += copy(p[n:], lineMid)
		if len(s.pad) != s.size {
			s.pad = bytes.Repeat([]byte{'x'}, s.size)
		}
		copy(p[n:len(p)-len(lineTail)], s.pad)
		copy(p[len(p)-len(lineTail):], lineTail)
		s.seq++
	}
	return edge.ErrEnd
}

func (s *benchSource) Ack([]uint64) error              { return nil }
func (s *benchSource) Fail([]uint64) error             { return nil }
func (s *benchSource) Send(*edge.Batch, []uint8) error { return errNotSink }

type benchSink struct {
	lifecycle
	log           zerolog.Logger
	events, bytes uint64
}

func (k *benchSink) Pull(*edge.Batch, time.Duration) error { return errNotSource }
func (k *benchSink) Ack([]uint64) error                    { return errNotSource }
func (k *benchSink) Fail([]uint64) error                   { return errNotSource }

func (k *benchSink) Send(b *edge.Batch, outcomes []uint8) error {
	for i := 0; i < b.Len(); i++ {
		k.bytes += uint64(len(b.Payload(i)))
		outcomes[i] = 0 // TREMOR_OUTCOME_OK
	}
	k.events += uint64(b.Len())
	return nil
}

func (k *benchSink) Stop() error {
	k.log.Info().Uint64("events", k.events).Uint64("bytes", k.bytes).Msg("inproc_bench_sink totals")
	return nil
}
