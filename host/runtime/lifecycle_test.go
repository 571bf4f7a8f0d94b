package runtime_test

// Tests of a flow's lifecycle around what plugins do wrong: an instance
// that cannot be created, a sink that never connects, a hook that never
// returns, a sink that says OK without writing outcomes or asks to retry
// for ever. They use the scripted connectors of runtime_test.go.

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/runtime"
)

// deadline bounds every wait here: far above what each flow needs, so
// that only a hung flow reaches it.
const deadline = 30 * time.Second

// syncBuf is a log destination written from any goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), substr)
}

func (s *syncBuf) logger() zerolog.Logger { return zerolog.New(s) }

// runBounded runs the script flow and fails the test when Run does not
// return within deadline.
func runBounded(t *testing.T, s *script, extra string, ctx context.Context, opts runtime.Options) ([]runtime.Stats, error) {
	t.Helper()
	type result struct {
		stats []runtime.Stats
		err   error
	}
	done := make(chan result, 1)
	go func() {
		stats, err := runScript(t, s, extra, ctx, opts)
		done <- result{stats, err}
	}()
	select {
	case r := <-done:
		return r.stats, r.err
	case <-time.After(deadline):
		t.Fatalf("Run did not return within %s", deadline)
		return nil, nil
	}
}

// failingCreate is the script catalog with a sink type whose Create fails
// the way a plugin's does: a typed nil instance and an error.
type failingCreate struct{ *script }

func (c failingCreate) Type(name string) (runtime.Type, bool) {
	t, ok := c.script.Type(name)
	if ok && name == "script_sink" {
		return failingType{t}, true
	}
	return t, ok
}

type failingType struct{ runtime.Type }

func (failingType) Create(string, map[string]any, runtime.Placement, zerolog.Logger) (runtime.Instance, error) {
	var inst *edge.Instance // what a plugin connector's Create returns on error
	return inst, &edge.Error{Op: "create", Code: abi.ResultErrConfig, Message: `url "x" is not host:port`}
}

// allFailing is the script catalog with both types failing in Create.
type allFailing struct{ *script }

func (c allFailing) Type(name string) (runtime.Type, bool) {
	t, ok := c.script.Type(name)
	return failingType{t}, ok
}

// Instances are created concurrently, but the error a user sees is the
// first failing connector's in flow order, every time.
func TestCreateFailureReportsTheFirstConnectorInFlowOrder(t *testing.T) {
	for range 20 {
		r, err := runtime.New(mustFlow(t, scriptFlowWith("")), allFailing{newScript(100)}, runtime.Options{Log: zerolog.Nop()})
		require.NoError(t, err)
		_, err = r.Run(context.Background())
		require.Error(t, err)
		require.Contains(t, err.Error(), `connector "src" (type count_source): could not be created: `)
	}
}

func TestCreateFailureNamesTheConnectorAndRunsNothing(t *testing.T) {
	s := newScript(100)
	r, err := runtime.New(mustFlow(t, scriptFlowWith("")), failingCreate{s}, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	stats, err := r.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connector "dst" (type script_sink): could not be created: `)
	assert.Contains(t, err.Error(), `url "x" is not host:port`)
	assert.Contains(t, err.Error(), `flow "t" (test.toml)`)
	assert.Equal(t, runtime.Stats{Connector: "src"}, statsOf(t, stats, "src"), "nothing was pulled")
	assert.Equal(t, runtime.Stats{Connector: "dst"}, statsOf(t, stats, "dst"))
	s.mu.Lock()
	assert.Equal(t, []string{"source:destroy"}, s.steps, "the source created first is destroyed, never connected")
	s.mu.Unlock()

	// Check (tremorctl validate) goes the same way.
	s = newScript(100)
	r, err = runtime.New(mustFlow(t, scriptFlowWith("")), failingCreate{s}, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	err = r.Check()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connector "dst" (type script_sink): could not be created: `)

	s = newScript(100)
	r, err = runtime.New(mustFlow(t, scriptFlowWith("")), s, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	require.NoError(t, r.Check())
	s.mu.Lock()
	assert.Equal(t, []string{"sink:destroy", "source:destroy"}, s.steps, "Check creates and destroys, nothing else")
	s.mu.Unlock()
}

// scriptFlowWith is scriptFlow named "t", with extra lines in the sink's
// table.
func scriptFlowWith(extra string) string {
	return strings.Replace(strings.Replace(scriptFlow, "%s", extra, 1), "[flow]\n", "[flow]\nname = \"t\"\n", 1)
}

// Sinks connect when the flow starts, not at their first event: a sink
// that cannot connect fails the flow even when no event ever reaches it.
func TestSinkConnectsAtStart(t *testing.T) {
	s := newScript(0)
	s.connect = func(uint32) error {
		return &edge.Error{Op: "connect", Code: abi.ResultErrConfig, Message: "no such host"}
	}
	_, err := runBounded(t, s, "", context.Background(), runtime.Options{Log: zerolog.Nop()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connector "dst" (type script_sink): `)
	assert.Contains(t, err.Error(), "no such host")
}

// A finite flow whose sink never connects ends after the drain timeout:
// its events are failed back, and the sink is named as never connected.
func TestDrainTimeoutAppliesAtNaturalEnd(t *testing.T) {
	s := newScript(50)
	s.connect = func(uint32) error { return edge.ErrRetry }
	stats, err := runBounded(t, s, "", context.Background(), runtime.Options{Log: zerolog.Nop(), DrainTimeout: 200 * time.Millisecond})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connector "dst" (type script_sink): never connected`)
	assert.Equal(t, 0, s.every(t, 50), "every event failed back, none acked")
	src, dst := statsOf(t, stats, "src"), statsOf(t, stats, "dst")
	assert.Equal(t, uint64(50), src.In)
	assert.Equal(t, uint64(50), src.Fails)
	assert.Equal(t, uint64(0), dst.Out)
	assert.Equal(t, dst.In, dst.Fails, "what reached the sink's queue is counted failed on the sink too")
}

// A send that never returns: after the drain timeout and a short grace Run
// returns an error naming the hook, the hung instance is neither stopped
// nor destroyed, and the source's events are all settled.
func TestHungHookIsNamedAndAbandoned(t *testing.T) {
	defer runtime.SetIntervals(100*time.Millisecond, time.Second, time.Second)()
	for _, how := range []string{"natural end", "cancelled"} {
		t.Run(how, func(t *testing.T) {
			s := newScript(100)
			release := make(chan struct{})
			defer close(release) // let the abandoned goroutine go when the test ends
			hung := make(chan struct{})
			s.sendFn = func(call, n int) ([]uint8, error) {
				if call == 2 {
					close(hung)
					<-release
				}
				return nil, nil
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if how == "cancelled" {
				s.count = 1 << 30 // endless, in effect
				go func() { <-hung; cancel() }()
			}
			stats, err := runBounded(t, s, "", ctx, runtime.Options{Log: zerolog.Nop(), DrainTimeout: 100 * time.Millisecond})
			require.Error(t, err)
			assert.Regexp(t, `connector "dst" \(type script_sink\): on_send has not returned for \d+m?s`, err.Error())
			src := statsOf(t, stats, "src")
			assert.Equal(t, 16, s.every(t, int(src.In)), "the first batch was delivered, every other event failed back")
			assert.Equal(t, src.In-16, src.Fails)
			s.mu.Lock()
			defer s.mu.Unlock()
			assert.Contains(t, s.steps, "source:destroy", "the source, which finished, is stopped and destroyed")
			assert.NotContains(t, s.steps, "sink:stop", "never stop an instance whose hook is running")
			assert.NotContains(t, s.steps, "sink:destroy")
		})
	}
}

// A sink that returns OK without writing outcomes fails every event (the
// outcomes start FAILED): counted on the sink's row too, and said once.
func TestSinkOKWithoutOutcomesIsCountedAndLoggedOnce(t *testing.T) {
	s := newScript(100)
	s.sendFn = func(call, n int) ([]uint8, error) {
		out := make([]uint8, n)
		for k := range out {
			out[k] = abi.OutcomeFailed
		}
		return out, nil
	}
	logs := &syncBuf{}
	stats, err := runBounded(t, s, "", context.Background(), runtime.Options{Log: logs.logger()})
	require.NoError(t, err, "failed events are not an error of Run")
	assert.Equal(t, 0, s.every(t, 100))
	assert.Equal(t, uint64(100), statsOf(t, stats, "src").Fails)
	dst := statsOf(t, stats, "dst")
	assert.Equal(t, uint64(100), dst.Fails, "the sink's row counts the events it failed")
	assert.Equal(t, uint64(0), dst.Out)
	assert.Equal(t, 1, logs.count(`sink \"dst\" returned OK but left 16 of 16 outcomes FAILED; those events are failed back`), "logged once for the sink, not per batch")
}

// A sink answering RETRY again and again is logged with counts, at most
// once per interval.
func TestSinkRetryingForeverIsLoggedAtABoundedRate(t *testing.T) {
	const every = 50 * time.Millisecond
	defer runtime.SetIntervals(time.Second, time.Second, every)()
	logs := &syncBuf{}
	const warning = `sink \"dst\" asked to retry 16 events `
	s := newScript(32)
	start := time.Now()
	var elapsed time.Duration
	s.sendFn = func(call, n int) ([]uint8, error) {
		out := make([]uint8, n)
		if logs.count(warning) < 3 {
			for k := range out {
				out[k] = abi.OutcomeRetry
			}
		} else if elapsed == 0 {
			elapsed = time.Since(start)
		}
		return out, nil
	}
	stats, err := runBounded(t, s, "", context.Background(), runtime.Options{Log: logs.logger()})
	require.NoError(t, err)
	assert.Equal(t, 32, s.every(t, 32), "delivered once the sink stopped asking")
	assert.Equal(t, uint64(32), statsOf(t, stats, "dst").Out)
	n := logs.count(warning)
	assert.Equal(t, 3, n)
	assert.LessOrEqual(t, time.Duration(n-1)*every, elapsed, "no more than one line per interval")
	assert.Equal(t, n, logs.count(" times in the last "))
}

// An on_start that fails stops the connector with an error naming it; the
// source's events are failed back.
func TestStartFailureIsAnError(t *testing.T) {
	s := newScript(40)
	failStart := errors.New("fault: told to fail at start")
	r, err := runtime.New(mustFlow(t, scriptFlowWith("")), startFails{s, failStart}, runtime.Options{Log: zerolog.Nop(), DrainTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	stats, err := r.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connector "dst" (type script_sink): start: fault: told to fail at start`)
	// The sink gave up, which stops the flow: the source produced at most
	// its 40 events, each failed back once.
	src := statsOf(t, stats, "src")
	assert.LessOrEqual(t, src.In, uint64(40))
	assert.Equal(t, 0, s.every(t, int(src.In)))
	assert.Equal(t, src.In, src.Fails)
	assert.Equal(t, uint64(1), statsOf(t, stats, "dst").Errors)
}

// A sink that gives up stops the flow by itself, however much its source
// has left to give: pulling on would only fail every event back.
func TestSinkGivingUpStopsTheFlow(t *testing.T) {
	const endless = 50_000_000
	s := newScript(endless)
	r, err := runtime.New(mustFlow(t, scriptFlowWith("")), startFails{s, errors.New("fault: told to fail at start")}, runtime.Options{Log: zerolog.Nop(), DrainTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stats, err := r.Run(ctx)
	require.NoError(t, ctx.Err(), "the flow ran until the test gave up on it")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `connector "dst" (type script_sink): start: fault: told to fail at start`)
	src := statsOf(t, stats, "src")
	assert.Less(t, src.In, uint64(endless))
	assert.Equal(t, src.In, src.Fails, "each event it produced was failed back")
	assert.Equal(t, 0, s.every(t, int(src.In)))
}

// startFails is the script catalog whose sink's on_start fails.
type startFails struct {
	*script
	err error
}

func (c startFails) Type(name string) (runtime.Type, bool) {
	t, ok := c.script.Type(name)
	if ok && name == "script_sink" {
		return startFailsType{t, c.err}, true
	}
	return t, ok
}

type startFailsType struct {
	runtime.Type
	err error
}

func (t startFailsType) Create(alias string, cfg map[string]any, pl runtime.Placement, log zerolog.Logger) (runtime.Instance, error) {
	inst, err := t.Type.Create(alias, cfg, pl, log)
	return startFailsInst{inst, t.err}, err
}

type startFailsInst struct {
	runtime.Instance
	err error
}

func (i startFailsInst) Start() error { return i.err }

// A flow without a source cannot come out of flow.Parse (a pipeline
// without input is refused there), but runtime.New checks it too.
func TestNewRefusesAFlowWithoutSource(t *testing.T) {
	f := mustFlow(t, scriptFlowWith(""))
	f.Connectors = f.Connectors[1:] // drop "src" and its link
	f.Links = f.Links[1:]
	_, err := runtime.New(f, newScript(1), runtime.Options{Log: zerolog.Nop()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "test.toml")
	assert.Contains(t, err.Error(), "the flow has no source: link a source connector to a pipeline")
}

// A stop that never returns at the end of a run is named, and Run returns.
func TestHungStopIsNamed(t *testing.T) {
	defer runtime.SetIntervals(time.Second, 100*time.Millisecond, time.Second)()
	s := newScript(20)
	release := make(chan struct{})
	defer close(release)
	r, err := runtime.New(mustFlow(t, scriptFlowWith("")), stopHangs{s, release}, runtime.Options{Log: zerolog.Nop()})
	require.NoError(t, err)
	done := make(chan error, 1)
	var stats []runtime.Stats
	go func() {
		var err error
		stats, err = r.Run(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Regexp(t, `connector "dst" \(type script_sink\): on_stop has not returned for \d+m?s`, err.Error())
		assert.Equal(t, 20, s.every(t, 20), "every event was delivered before")
		assert.Equal(t, uint64(20), statsOf(t, stats, "dst").Out)
	case <-time.After(deadline):
		t.Fatalf("Run did not return within %s", deadline)
	}
}

// stopHangs is the script catalog whose sink's on_stop blocks until
// release closes.
type stopHangs struct {
	*script
	release chan struct{}
}

func (c stopHangs) Type(name string) (runtime.Type, bool) {
	t, ok := c.script.Type(name)
	if ok && name == "script_sink" {
		return stopHangsType{t, c.release}, true
	}
	return t, ok
}

type stopHangsType struct {
	runtime.Type
	release chan struct{}
}

func (t stopHangsType) Create(alias string, cfg map[string]any, pl runtime.Placement, log zerolog.Logger) (runtime.Instance, error) {
	inst, err := t.Type.Create(alias, cfg, pl, log)
	return stopHangsInst{inst, t.release}, err
}

type stopHangsInst struct {
	runtime.Instance
	release chan struct{}
}

func (i stopHangsInst) Stop() error {
	<-i.release
	return nil
}
