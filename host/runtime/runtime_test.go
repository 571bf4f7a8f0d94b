package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/flow"
	"tremorhost/host/inproc"
	"tremorhost/host/runtime"
)

func statsOf(t *testing.T, stats []runtime.Stats, id string) runtime.Stats {
	for _, s := range stats {
		if s.Connector == id {
			return s
		}
	}
	t.Fatalf("no stats for %q", id)
	return runtime.Stats{}
}

func mustFlow(t *testing.T, src string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse("test.toml", []byte(src))
	require.NoError(t, err)
	return f
}

func TestInprocBenchFlowDeliversEverything(t *testing.T) {
	f := mustFlow(t, `
[flow]
batch_size = 64
[[connector]]
id = "gen"
type = "inproc_bench_source"
codec = "json"
preprocessors = ["lines"]
config = { count = 10000, size = 100 }
[[connector]]
id = "sink"
type = "inproc_bench_sink"
codec = "json"
postprocessors = ["lines"]
[[pipeline]]
id = "p"
[[pipeline.route]]
field = "seq"
op = "lt"
value = 100
discard = true
[[link]]
from = "gen"
to = "p"
[[link]]
from = "p"
to = "sink"
`)
	r, err := runtime.New(f, inproc.Catalog{}, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	stats, err := r.Run(context.Background())
	require.NoError(t, err)
	gen, sink := statsOf(t, stats, "gen"), statsOf(t, stats, "sink")
	assert.Equal(t, uint64(10000), gen.In)
	assert.Equal(t, uint64(10000), gen.Acks, "discarded and delivered events are all acked")
	assert.Equal(t, uint64(0), gen.Fails)
	assert.Equal(t, uint64(100), gen.Discarded)
	assert.Equal(t, uint64(9900), sink.In)
	assert.Equal(t, uint64(9900), sink.Out)
}

// ---- fault-injecting in-process connectors ----

// script is a test connector catalog: a counting source and a sink whose
// behaviour the test controls, each recording what the runtime did.
type script struct {
	mu      sync.Mutex
	acked   map[uint64]int
	failed  map[uint64]int
	got     []int64 // values of "n" the sink delivered
	count   int
	sendFn  func(call int, n int) (outcomes []uint8, err error)
	calls   int
	connect func(attempt uint32) error
	steps   []string
	pulled  uint64
	// pipelined: the sink is a sendPipeliner (a plugin in another
	// process) whose sends take sendDelay; begun counts its BeginSends.
	pipelined bool
	sendDelay time.Duration
	begun     int
}

func newScript(count int) *script {
	return &script{acked: map[uint64]int{}, failed: map[uint64]int{}, count: count}
}

func (s *script) Type(name string) (runtime.Type, bool) {
	switch name {
	case "count_source", "script_sink":
		source := name == "count_source"
		return fakeType{name: name, source: source, sink: name == "script_sink", structured: true,
			create: func(string) runtime.Instance {
				if !source && s.pipelined {
					return &pipeInst{scriptInst: &scriptInst{s: s}}
				}
				return &scriptInst{s: s, source: source}
			}}, true
	}
	return nil, false
}
func (s *script) Names() []string { return []string{"count_source", "script_sink"} }

type scriptInst struct {
	s      *script
	source bool
	next   uint64
}

func (i *scriptInst) step(name string) error {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	role := "sink"
	if i.source {
		role = "source"
	}
	i.s.steps = append(i.s.steps, role+":"+name)
	return nil
}
func (i *scriptInst) Connect(a uint32) error {
	if !i.source && i.s.connect != nil {
		if err := i.s.connect(a); err != nil {
			return err
		}
	}
	return i.step("connect")
}
func (i *scriptInst) Start() error  { return i.step("start") }
func (i *scriptInst) Pause() error  { return nil }
func (i *scriptInst) Resume() error { return nil }
func (i *scriptInst) Drain() error  { return i.step("drain") }
func (i *scriptInst) Stop() error   { return i.step("stop") }
func (i *scriptInst) Destroy()      { i.step("destroy") }

func (i *scriptInst) Pull(b *edge.Batch, _ time.Duration) error {
	b.Reset()
	for i.next < uint64(i.s.count) {
		if err := b.Append(&edge.Event{ID: i.next, Structured: true, Value: map[string]any{"n": int64(i.next)}}); err != nil {
			return nil
		}
		i.next++
		i.s.mu.Lock()
		i.s.pulled++
		i.s.mu.Unlock()
	}
	return edge.ErrEnd
}

func (i *scriptInst) Ack(ids []uint64) error {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	for _, id := range ids {
		i.s.acked[id]++
	}
	return nil
}

func (i *scriptInst) Fail(ids []uint64) error {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	for _, id := range ids {
		i.s.failed[id]++
	}
	return nil
}

func (i *scriptInst) Send(b *edge.Batch, outcomes []uint8) error {
	time.Sleep(i.s.sendDelay)
	return i.deliver(b, outcomes)
}

// deliver is the sink's send once the plugin's time is spent: sendFn's
// outcomes, and the delivered events recorded.
func (i *scriptInst) deliver(b *edge.Batch, outcomes []uint8) error {
	i.s.mu.Lock()
	i.s.calls++
	call := i.s.calls
	fn := i.s.sendFn
	i.s.mu.Unlock()
	out, err := []uint8(nil), error(nil)
	if fn != nil {
		out, err = fn(call, b.Len())
	}
	for k := 0; k < b.Len(); k++ {
		o := uint8(abi.OutcomeOK)
		if out != nil {
			o = out[k]
		}
		outcomes[k] = o
		if o == abi.OutcomeOK {
			v, err := b.Value(k)
			if err != nil {
				return err
			}
			i.s.mu.Lock()
			i.s.got = append(i.s.got, v.(map[string]any)["n"].(int64))
			i.s.mu.Unlock()
		}
	}
	return err
}

// pipeInst is a script sink that can leave a send under way, as a plugin
// in another process does (the runtime's sendPipeliner): the send happens
// when it is ended, sendDelay after it began at the earliest.
type pipeInst struct {
	*scriptInst
	b     *edge.Batch
	begun time.Time
}

func (i *pipeInst) Pipelines() bool { return true }

func (i *pipeInst) BeginSend(b *edge.Batch) error {
	if i.b != nil {
		return fmt.Errorf("BeginSend while a send is under way")
	}
	i.s.mu.Lock()
	i.s.begun++
	i.s.mu.Unlock()
	i.b, i.begun = b, time.Now()
	return nil
}

func (i *pipeInst) EndSend(b *edge.Batch, outcomes []uint8) error {
	if i.b != b {
		return fmt.Errorf("EndSend of another batch than the one begun")
	}
	i.b = nil
	time.Sleep(time.Until(i.begun.Add(i.s.sendDelay)))
	return i.deliver(b, outcomes)
}

const scriptFlow = `
[flow]
batch_size = 16
[[connector]]
id = "src"
type = "count_source"
[[connector]]
id = "dst"
type = "script_sink"
[connector.reconnect]
initial_ms = 1
max_ms = 5
%s
[[pipeline]]
id = "p"
[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "dst"
`

func runScript(t *testing.T, s *script, extra string, ctx context.Context, opts runtime.Options) ([]runtime.Stats, error) {
	t.Helper()
	r, err := runtime.New(mustFlow(t, fmt.Sprintf(scriptFlow, extra)), s, opts)
	require.NoError(t, err)
	return r.Run(ctx)
}

// every checks that each of the n events was settled exactly once, either
// way, and returns how many were acked.
func (s *script) every(t *testing.T, n int) (acked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := uint64(0); id < uint64(n); id++ {
		a, f := s.acked[id], s.failed[id]
		require.Equal(t, 1, a+f, "event %d: acked %d times, failed %d times", id, a, f)
		acked += a
	}
	assert.Len(t, s.acked, acked, "no ids beyond the ones produced")
	return acked
}

func TestSinkReconnectsAndRetriesWithoutLoss(t *testing.T) {
	s := newScript(500)
	s.sendFn = func(call, n int) ([]uint8, error) {
		switch call {
		case 3: // connection lost after delivering the first half
			out := make([]uint8, n)
			for k := n / 2; k < n; k++ {
				out[k] = abi.OutcomeFailed
			}
			return out, &edge.Error{Op: "send", Code: abi.ResultErrDisconnected, Message: "peer went away"}
		case 5: // "busy, try again"
			out := make([]uint8, n)
			for k := range out {
				out[k] = abi.OutcomeRetry
			}
			return out, nil
		}
		return nil, nil
	}
	attempts := 0
	s.connect = func(a uint32) error {
		attempts++
		if attempts == 2 || attempts == 3 { // the restarted peer is not up at once
			return edge.ErrRetry
		}
		return nil
	}
	stats, err := runScript(t, s, "", context.Background(), runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	assert.Equal(t, 500, s.every(t, 500), "every event is delivered after reconnecting")
	assert.Len(t, s.got, 500, "each delivered once")
	assert.Equal(t, uint64(500), statsOf(t, stats, "dst").Out)
	assert.Equal(t, 4, attempts, "connect, then after the loss: retry, retry, ok")
}

// A slow sink in another process has its next batch encoded while it
// sends (pipelined); a lost connection and a RETRY on the way still leave
// every event delivered once, in order.
func TestSlowSinkPipelinesInOrder(t *testing.T) {
	const n = 2000
	s := newScript(n)
	s.pipelined, s.sendDelay = true, 300*time.Microsecond
	s.sendFn = func(call, k int) ([]uint8, error) {
		out := make([]uint8, k)
		switch call {
		case 30: // connection lost after delivering the first half
			for j := k / 2; j < k; j++ {
				out[j] = abi.OutcomeFailed
			}
			return out, &edge.Error{Op: "send", Code: abi.ResultErrDisconnected, Message: "peer went away"}
		case 50, 51: // "busy, try again", twice
			for j := range out {
				out[j] = abi.OutcomeRetry
			}
		case 70: // the last event of this batch is refused
			out[k-1] = abi.OutcomeFailed
		}
		return out, nil
	}
	stats, err := runScript(t, s, "", context.Background(), runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	acked := s.every(t, n)
	assert.Equal(t, n-1, acked, "every event but the refused one is delivered")
	s.mu.Lock()
	defer s.mu.Unlock()
	for j := 1; j < len(s.got); j++ {
		require.Less(t, s.got[j-1], s.got[j], "delivered in order, each once (at %d)", j)
	}
	assert.Len(t, s.got, n-1)
	assert.Greater(t, s.begun, s.calls/2, "most sends were pipelined")
	assert.Less(t, s.begun, s.calls, "some went alone (the first, and each remeasure)")
	assert.Equal(t, uint64(n-1), statsOf(t, stats, "dst").Out)
}

func TestFailedOutcomesFailBackToTheSource(t *testing.T) {
	s := newScript(100)
	s.sendFn = func(call, n int) ([]uint8, error) {
		out := make([]uint8, n)
		out[0] = abi.OutcomeFailed // the first event of each batch
		return out, nil
	}
	stats, err := runScript(t, s, "", context.Background(), runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	acked := s.every(t, 100)
	src := statsOf(t, stats, "src")
	assert.Equal(t, uint64(acked), src.Acks)
	assert.Equal(t, uint64(100-acked), src.Fails)
	assert.Greater(t, src.Fails, uint64(0))
}

func TestShutdownWithSinkDownFailsBackInFlightEvents(t *testing.T) {
	s := newScript(1 << 30) // endless, in effect
	down := errors.New("sink down")
	var once sync.Once
	started := make(chan struct{})
	s.sendFn = func(call, n int) ([]uint8, error) {
		if call > 2 {
			once.Do(func() { close(started) })
			out := make([]uint8, n)
			for k := range out {
				out[k] = abi.OutcomeFailed
			}
			return out, &edge.Error{Op: "send", Code: abi.ResultErrDisconnected, Message: down.Error()}
		}
		return nil, nil
	}
	s.connect = func(a uint32) error {
		if a > 1 {
			return edge.ErrRetry // never comes back
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	stats, err := runScript(t, s, "", ctx, runtime.Options{Log: zerolog.Nop(), DrainTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	src := statsOf(t, stats, "src")
	produced := int(src.In)
	require.Greater(t, produced, 32)
	acked := s.every(t, produced)
	assert.Equal(t, 32, acked, "the two batches sent before the sink went down")
	assert.Equal(t, uint64(produced-32), src.Fails, "everything else in flight was failed back")
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Contains(t, s.steps, "source:drain")
	// Both are destroyed, each after everything else it was called for
	// (instances are stopped and destroyed concurrently, so the two
	// roles' last steps come in either order).
	for _, role := range []string{"source:", "sink:"} {
		last := ""
		for _, step := range s.steps {
			if strings.HasPrefix(step, role) {
				last = step
			}
		}
		assert.Equal(t, role+"destroy", last)
	}
}

func TestBackPressureBoundsInFlightEvents(t *testing.T) {
	s := newScript(3000)
	maxInFlight := 0
	s.sendFn = func(call, n int) ([]uint8, error) {
		time.Sleep(200 * time.Microsecond) // a slow sink
		s.mu.Lock()
		defer s.mu.Unlock()
		inFlight := int(s.pulled) - len(s.acked) - len(s.failed)
		maxInFlight = max(maxInFlight, inFlight)
		return nil, nil
	}
	const window = 64
	stats, err := runScript(t, s, "", context.Background(), runtime.Options{Log: zerolog.Nop(), Window: window})
	require.NoError(t, err)
	assert.Equal(t, 3000, s.every(t, 3000))
	assert.Equal(t, uint64(3000), statsOf(t, stats, "dst").Out)
	assert.LessOrEqual(t, maxInFlight, window, "the source never has more unsettled events than its window")
	assert.Greater(t, maxInFlight, 16, "the window was used, not just one batch")
}
