package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goruntime "runtime"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/inproc"
	"tremorhost/host/runtime"
)

// twoSinks is a catalog with a lines source and two recording sinks: "fast"
// takes everything, "slow" answers RETRY to every other batch first, so
// its events stay pending while the source goes on routing (and reusing
// the arenas of batches that have settled) behind them.
type twoSinks struct {
	lines []string
	mu    sync.Mutex
	got   map[string][][]byte
}

func (c *twoSinks) Type(name string) (runtime.Type, bool) {
	switch name {
	case "lines_source":
		return fakeType{name: name, source: true, create: func(string) runtime.Instance { return &linesInst{c: c} }}, true
	case "fast", "slow":
		return fakeType{name: name, sink: true, create: func(string) runtime.Instance { return &linesInst{c: c, sink: name} }}, true
	}
	return nil, false
}
func (c *twoSinks) Names() []string { return []string{"lines_source", "fast", "slow"} }

type linesInst struct {
	quietHooks
	c     *twoSinks
	sink  string
	next  int
	calls int
}

// Pull hands out up to 50 lines per batch (the flow's batch is smaller, so
// the lines pre-processor makes several events of some).
func (i *linesInst) Pull(b *edge.Batch, _ time.Duration) error {
	b.Reset()
	if i.next == len(i.c.lines) {
		return edge.ErrEnd
	}
	end := min(i.next+50, len(i.c.lines))
	chunk := strings.Join(i.c.lines[i.next:end], "\n") + "\n"
	if err := b.Append(&edge.Event{ID: uint64(i.next), Payload: []byte(chunk)}); err != nil {
		return err
	}
	i.next = end
	return nil
}

func (i *linesInst) Send(b *edge.Batch, outcomes []uint8) error {
	i.calls++
	retry := i.sink == "slow" && i.calls%2 == 1
	i.c.mu.Lock()
	defer i.c.mu.Unlock()
	for k := 0; k < b.Len(); k++ {
		if retry {
			outcomes[k] = abi.OutcomeRetry
			continue
		}
		i.c.got[i.sink] = append(i.c.got[i.sink], bytes.Clone(b.Payload(k)))
		outcomes[k] = abi.OutcomeOK
	}
	return nil
}

// Values decoded into reused arenas reach every sink intact: a batch's
// arena is reused only once all its events settled with every sink, even
// when one sink keeps events pending through retries while many later
// batches are routed.
func TestReusedValueArenasKeepPendingEventsIntact(t *testing.T) {
	for _, codecName := range []string{"json", "string"} {
		t.Run(codecName, func(t *testing.T) {
			c := &twoSinks{got: map[string][][]byte{}}
			for i := range 4000 {
				c.lines = append(c.lines, fmt.Sprintf(`{"pad":"%s","seq":%d,"tags":["t%d",%d.5]}`, strings.Repeat("p", i%97), i, i%7, i))
			}
			f := mustFlow(t, fmt.Sprintf(`
[flow]
batch_size = 16
[[connector]]
id = "src"
type = "lines_source"
codec = %[1]q
preprocessors = ["lines"]
[[connector]]
id = "fast"
type = "fast"
codec = %[1]q
[[connector]]
id = "slow"
type = "slow"
codec = %[1]q
[connector.reconnect]
initial_ms = 1
max_ms = 1
[[pipeline]]
id = "p"
[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "fast"
[[link]]
from = "p"
to = "slow"
`, codecName))
			r, err := runtime.New(f, c, runtime.Options{Log: zerolog.Nop()})
			require.NoError(t, err)
			stats, err := r.Run(context.Background())
			require.NoError(t, err)
			for _, sink := range []string{"fast", "slow"} {
				got := c.got[sink]
				require.Len(t, got, len(c.lines), sink)
				for i, line := range c.lines {
					if string(got[i]) != line {
						t.Fatalf("%s: event %d is %q, want %q", sink, i, got[i], line)
					}
				}
				require.Equal(t, uint64(len(c.lines)), statsOf(t, stats, sink).Out)
			}
		})
	}
}

// A steady flow allocates nothing per event in the host, JSON included, and
// no memory either:
// values are decoded into the pulled batch's arena, routed and encoded
// from it, and the arenas are reused once their events settle. (Counted
// over the whole process: a handful of allocations per batch, for the
// runtime's own bookkeeping and the Go runtime's, stays far below one per
// event.)
func TestFlowAllocatesNothingPerEvent(t *testing.T) {
	for _, codecName := range []string{"binary", "string", "json"} {
		t.Run(codecName, func(t *testing.T) {
			const events = 1000000 // the arenas' first round is spread thin
			f := mustFlow(t, fmt.Sprintf(`
[[connector]]
id = "gen"
type = "inproc_bench_source"
codec = %[1]q
preprocessors = ["lines"]
config = { count = %[2]d, size = 100 }
[[connector]]
id = "sink"
type = "inproc_bench_sink"
codec = %[1]q
postprocessors = ["lines"]
[[pipeline]]
id = "p"
[[pipeline.route]]
field = "seq"
op = "lt"
value = 0
discard = true
[[link]]
from = "gen"
to = "p"
[[link]]
from = "p"
to = "sink"
`, codecName, events))
			r, err := runtime.New(f, inproc.Catalog{}, runtime.Options{Log: zerolog.Nop()})
			require.NoError(t, err)
			var before, after goruntime.MemStats
			goruntime.ReadMemStats(&before)
			stats, err := r.Run(context.Background())
			goruntime.ReadMemStats(&after)
			require.NoError(t, err)
			require.Equal(t, uint64(events), statsOf(t, stats, "sink").Out)
			allocs := float64(after.Mallocs-before.Mallocs) / events
			bytes := float64(after.TotalAlloc-before.TotalAlloc) / events
			t.Logf("%.4f allocations, %.1f bytes per event", allocs, bytes)
			require.Less(t, allocs, 0.05, "allocations per event")
			require.Less(t, bytes, 16.0, "bytes allocated per event (a 100-byte event's value alone is more)")
		})
	}
}
