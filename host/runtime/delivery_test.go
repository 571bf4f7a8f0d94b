package runtime_test

// Delivery through pre-processors and codecs: a source event is acked only
// once every frame made from its bytes was delivered; frames that are
// dropped or cannot be decoded fail their events back (or go to the err
// port). Also the source's pull loop: pull errors, the wait it gives a
// pull, and the counting of acks and fails the plugin refused.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/codec"
	"tremorhost/host/edge"
	"tremorhost/host/flow"
	"tremorhost/host/runtime"
)

// ---- a bytes source and sink the tests script ----

// fragEvent is one event the frag source hands over.
type fragEvent struct {
	stream  uint64
	payload []byte
	end     bool // TREMOR_EVENT_END_STREAM
}

// frags is a catalog with a bytes source ("frag_source") that hands over
// events (id = index) and a bytes sink ("frag_sink") that records what it
// delivers per connector, both recording what the runtime did.
type frags struct {
	events []fragEvent

	// Optional behaviour, each called with the 1-based call number.
	pullErr  func(call int) error // a pull that fails with this error
	ackErr   func(call int) error // an on_ack that fails
	failErr  func(call int) error // an on_fail that fails
	sinkFail func(payload []byte) bool
	// linger: after the last event, pull returns nothing until every
	// event was acked or failed, then ends.
	linger bool

	mu        sync.Mutex
	acked     map[uint64]int
	failed    map[uint64]int
	got       map[string][][]byte // connector id -> payloads delivered
	pulls     []pullCall
	ackCalls  int
	failCalls int
}

// pullCall is one pull as the source saw it.
type pullCall struct {
	at        time.Time
	wait      time.Duration
	unsettled int // events handed over and not yet acked or failed
}

func newFrags(events []fragEvent) *frags {
	return &frags{events: events, acked: map[uint64]int{}, failed: map[uint64]int{}, got: map[string][][]byte{}}
}

func (f *frags) Type(name string) (runtime.Type, bool) {
	switch name {
	case "frag_source", "frag_sink":
		return fakeType{name: name, source: name == "frag_source", sink: name == "frag_sink",
			create: func(alias string) runtime.Instance { return &fragInst{f: f, alias: alias} }}, true
	}
	return nil, false
}
func (f *frags) Names() []string { return []string{"frag_source", "frag_sink"} }

type fragInst struct {
	quietHooks
	f     *frags
	alias string
	next  int
	calls int
}

func (i *fragInst) Pull(b *edge.Batch, wait time.Duration) error {
	f := i.f
	b.Reset()
	i.calls++
	f.mu.Lock()
	f.pulls = append(f.pulls, pullCall{at: time.Now(), wait: wait, unsettled: i.next - len(f.acked) - len(f.failed)})
	f.mu.Unlock()
	if f.pullErr != nil {
		if err := f.pullErr(i.calls); err != nil {
			return err
		}
	}
	for i.next < len(f.events) {
		ev := f.events[i.next]
		if err := b.Append(&edge.Event{ID: uint64(i.next), Stream: ev.stream, Payload: ev.payload}); err != nil {
			if b.Len() == 0 {
				return err
			}
			return nil
		}
		if ev.end {
			b.Event(b.Len() - 1).Flags |= abi.EventEndStream
		}
		i.next++
	}
	if f.linger {
		f.mu.Lock()
		settled := len(f.acked)+len(f.failed) == i.next
		f.mu.Unlock()
		if !settled || b.Len() > 0 {
			return nil
		}
	}
	return edge.ErrEnd
}

func (i *fragInst) Ack(ids []uint64) error {
	f := i.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ackCalls++
	if f.ackErr != nil {
		if err := f.ackErr(f.ackCalls); err != nil {
			return err
		}
	}
	for _, id := range ids {
		f.acked[id]++
	}
	return nil
}

func (i *fragInst) Fail(ids []uint64) error {
	f := i.f
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failCalls++
	if f.failErr != nil {
		if err := f.failErr(f.failCalls); err != nil {
			return err
		}
	}
	for _, id := range ids {
		f.failed[id]++
	}
	return nil
}

func (i *fragInst) Send(b *edge.Batch, outcomes []uint8) error {
	f := i.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := 0; k < b.Len(); k++ {
		p := b.Payload(k)
		if f.sinkFail != nil && f.sinkFail(p) {
			outcomes[k] = abi.OutcomeFailed
			continue
		}
		outcomes[k] = abi.OutcomeOK
		f.got[i.alias] = append(f.got[i.alias], bytes.Clone(p))
	}
	return nil
}

// settledOnce checks that every event was acked or failed exactly once and
// returns which were acked.
func (f *frags) settledOnce(t *testing.T) map[uint64]bool {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	acked := map[uint64]bool{}
	for id := range f.events {
		a, x := f.acked[uint64(id)], f.failed[uint64(id)]
		require.Equal(t, 1, a+x, "event %d: acked %d times, failed %d times", id, a, x)
		acked[uint64(id)] = a == 1
	}
	require.Equal(t, len(f.events), len(f.acked)+len(f.failed), "no ids beyond the ones handed over")
	return acked
}

// fragFlow is a flow from a frag source to a frag sink "dst"; errSink
// links the source's err port to a second sink, "errs" (json).
func fragFlow(batch int, codecName, pre, extra string, errSink bool) string {
	src := fmt.Sprintf(`
[flow]
batch_size = %d
[[connector]]
id = "src"
type = "frag_source"
codec = %q
preprocessors = [%s]
%s
[[connector]]
id = "dst"
type = "frag_sink"
codec = %q
[[pipeline]]
id = "p"
[[link]]
from = "src"
to = "p"
[[link]]
from = "p"
to = "dst"
`, batch, codecName, pre, extra, codecName)
	if errSink {
		src += `
[[connector]]
id = "errs"
type = "frag_sink"
codec = "json"
[[pipeline]]
id = "e"
[[link]]
from = "src/err"
to = "e"
[[link]]
from = "e"
to = "errs"
`
	}
	return src
}

func runFrags(t *testing.T, f *frags, src string, opts runtime.Options) ([]runtime.Stats, error) {
	t.Helper()
	r, err := runtime.New(mustFlow(t, src), f, opts)
	require.NoError(t, err)
	done := make(chan struct{})
	var stats []runtime.Stats
	go func() { defer close(done); stats, err = r.Run(context.Background()) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the flow did not end within 30 s; stats %+v", r.Stats())
	}
	return stats, err
}

// ---- property: random chunkings through each pre-processor and codec ----

// frameSpec is one frame of a generated stream and what must become of it.
type frameSpec struct {
	start, end int    // its bytes in the stream, framing included
	content    []byte // what the pre-processor emits for it
	deliver    bool   // fits max_length, decodes, and the sink takes it
}

const propMaxLen = 48

// genStream makes the bytes of one stream of n frames for pre-processor
// pre: most frames are good, some are over max_length, some cannot be
// decoded by codecName, some the sink fails (they contain "FAIL").
func genStream(rng *rand.Rand, stream uint64, n int, pre, codecName string) ([]byte, []frameSpec) {
	var data []byte
	var frames []frameSpec
	clean := rng.IntN(3) == 0 // a stream of good frames only
	for i := range n {
		kind := rng.IntN(10)
		if clean {
			kind = 9
		}
		var content []byte
		deliver := true
		good := fmt.Sprintf(`{"s":%d,"i":%d,"p":"%s"}`, stream, i, strings.Repeat("x", rng.IntN(12)))
		switch {
		case kind == 0: // over max_length
			content = []byte(fmt.Sprintf(`{"s":%d,"i":%d,"p":"%s"}`, stream, i, strings.Repeat("o", propMaxLen+rng.IntN(60))))
			deliver = false
		case kind == 1 && codecName == "json":
			content = []byte(fmt.Sprintf(`{"s":%d,"i":%d,`, stream, i))
			deliver = false
		case kind == 1 && codecName == "string":
			content = []byte(fmt.Sprintf("s%d i%d \xff\xfe", stream, i))
			deliver = false
		case kind == 2:
			content = []byte(fmt.Sprintf(`{"s":%d,"i":%d,"p":"FAIL"}`, stream, i))
			deliver = false
		default:
			content = []byte(good)
		}
		f := frameSpec{start: len(data), content: content, deliver: deliver}
		switch pre {
		case "lines":
			data = append(data, content...)
			if i < n-1 || rng.IntN(2) == 0 { // the last line may end without a newline
				data = append(data, '\n')
			}
		case "length-prefixed":
			data = binary.BigEndian.AppendUint32(data, uint32(len(content)))
			data = append(data, content...)
		}
		f.end = len(data)
		frames = append(frames, f)
	}
	return data, frames
}

// chunked is a generated source input: events and, per event, its bytes'
// range in its stream.
type chunked struct {
	events []fragEvent
	ranges [][2]int
	frames map[uint64][]frameSpec
}

func genInput(rng *rand.Rand, pre, codecName string) chunked {
	in := chunked{frames: map[uint64][]frameSpec{}}
	type pending struct {
		stream uint64
		data   []byte
		off    int
		end    bool
	}
	var streams []*pending
	for s := range uint64(1 + rng.IntN(3)) {
		data, frames := genStream(rng, s, 5+rng.IntN(30), pre, codecName)
		in.frames[s] = frames
		streams = append(streams, &pending{stream: s, data: data, end: rng.IntN(2) == 0})
	}
	maxChunk := 1 + rng.IntN(80)
	for len(streams) > 0 {
		k := rng.IntN(len(streams))
		p := streams[k]
		n := min(rng.IntN(maxChunk+1), len(p.data)-p.off)
		ev := fragEvent{stream: p.stream, payload: p.data[p.off : p.off+n]}
		in.ranges = append(in.ranges, [2]int{p.off, p.off + n})
		p.off += n
		if p.off == len(p.data) && (n == 0 || rng.IntN(3) > 0) {
			ev.end = p.end
			streams = append(streams[:k], streams[k+1:]...)
		}
		in.events = append(in.events, ev)
	}
	return in
}

// expected is what the sink receives for a frame that is delivered: the
// codec's encoding of its decoded value.
func expected(t *testing.T, codecName string, content []byte) string {
	t.Helper()
	c, err := codec.New(codecName, nil)
	require.NoError(t, err)
	v, err := c.Decode(content)
	require.NoError(t, err)
	out, err := c.Encode(nil, v)
	require.NoError(t, err)
	return string(out)
}

func TestDeliveryPropertyRandomChunkings(t *testing.T) {
	for _, pre := range []string{"lines", "length-prefixed"} {
		for _, codecName := range []string{"json", "string", "binary"} {
			for _, tc := range []struct {
				name   string
				window int
				batch  int
			}{
				{"roomy", 4096, 7},
				{"batch1", 256, 1},
				{"tight", 24, 4}, // frames over 10 events are dropped
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", pre, codecName, tc.name), func(t *testing.T) {
					spanDrops := 0
					for seed := range uint64(25) {
						got, want := checkRandomChunking(t, seed, pre, codecName, tc.window, tc.batch)
						if t.Failed() {
							t.Fatalf("seed %d", seed)
						}
						spanDrops += want - got
					}
					if tc.name == "tight" {
						assert.Positive(t, spanDrops, "some frames spanned too many events and were dropped")
					}
				})
			}
		}
	}
}

// checkRandomChunking runs one generated input and checks the delivery
// rule; it returns how many frames were delivered, and how many were good.
func checkRandomChunking(t *testing.T, seed uint64, pre, codecName string, window, batch int) (delivered, good int) {
	rng := rand.New(rand.NewPCG(seed, uint64(len(pre)+len(codecName)+window)))
	in := genInput(rng, pre, codecName)
	f := newFrags(in.events)
	f.sinkFail = func(p []byte) bool { return bytes.Contains(p, []byte("FAIL")) }
	src := fragFlow(batch, codecName, fmt.Sprintf(`{ name = %q, max_length = %d }`, pre, propMaxLen), "", false)
	stats, err := runFrags(t, f, src, runtime.Options{Window: window, Log: zerolog.Nop()})
	require.NoError(t, err)

	acked := f.settledOnce(t)
	got := map[string]int{}
	for _, p := range f.got["dst"] {
		got[string(p)]++
	}
	// Every delivered frame is one the input holds, whole, once.
	want := map[string]bool{}
	for _, frames := range in.frames {
		for _, fr := range frames {
			if fr.deliver {
				want[expected(t, codecName, fr.content)] = true
			}
		}
	}
	for p, n := range got {
		require.True(t, want[p], "delivered a frame the input does not hold: %.100q", p)
		require.Equal(t, 1, n, "delivered twice: %.100q", p)
	}
	if window/2 >= 2048 { // no frame spans that many events here
		require.Len(t, got, len(want), "every good frame is delivered")
	}
	// An event is acked only if every frame holding any of its bytes was
	// delivered; with a roomy window it is failed only if one was not.
	for id, ev := range in.events {
		r := in.ranges[id]
		if r[0] == r[1] {
			continue // no bytes (an end-of-stream marker settles with the stream's last frame)
		}
		allDelivered, clean := true, true
		for _, fr := range in.frames[ev.stream] {
			delivered := fr.deliver && got[expected(t, codecName, fr.content)] == 1
			clean = clean && delivered
			if fr.start < r[1] && r[0] < fr.end && !delivered {
				allDelivered = false
			}
		}
		if acked[uint64(id)] {
			require.True(t, allDelivered, "event %d (stream %d, bytes %v) acked, but a frame made from its bytes was not delivered", id, ev.stream, r)
		} else {
			// Failing is conservative (an event settles with every frame
			// completed by it, not only those holding its bytes), but a
			// stream whose frames were all delivered fails nothing.
			require.False(t, clean, "event %d (stream %d, bytes %v) failed, but its stream's frames were all delivered", id, ev.stream, r)
		}
	}
	s := statsOf(t, stats, "src")
	assert.Equal(t, uint64(len(in.events)), s.In)
	assert.Equal(t, uint64(len(in.events)), s.Acks+s.Fails)
	f.mu.Lock()
	assert.Equal(t, uint64(len(f.acked)), s.Acks)
	f.mu.Unlock()
	assert.Equal(t, uint64(len(f.got["dst"])), statsOf(t, stats, "dst").Out)
	return len(got), len(want)
}

// ---- frames that cannot be decoded or are dropped: the err port ----

// A frame that cannot be decoded, or that a pre-processor drops, goes to
// the err port as an error event when it is linked (and its event is
// acked once that is delivered), and otherwise fails its event back.
func TestRejectedFramesGoToTheErrPortOrFailBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pre    string
		events []string // one event each
		bad    []int    // the events holding bytes of the rejected frame
		errs   int      // error events (one per event the frame was rejected in)
		reason string   // in the error event
		data   string   // the error event's data ("" when none)
	}{
		{"undecodable", "", []string{`{"n":1}`, `{"n":2,`, `{"n":3}`}, []int{1}, 1, "json", `{"n":2,`},
		{"overlong line", `{ name = "lines", max_length = 8 }`, []string{"{\"n\":1}\n", "{\"n\":2,\"long\":1}\n", "{\"n\":3}\n"}, []int{1}, 1, "longer than max_length", ""},
		// Noticed in event 1 (which event 0's held bytes settle with);
		// event 2 holds its newline.
		{"overlong line across events", `{ name = "lines", max_length = 8 }`, []string{"{\"n\":1}\n{\"n\":", "2,\"long\":1}", "\n{\"n\":3}\n"}, []int{0, 1, 2}, 2, "max_length", ""},
	} {
		for _, linked := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/err linked=%v", tc.name, linked), func(t *testing.T) {
				var evs []fragEvent
				for _, p := range tc.events {
					evs = append(evs, fragEvent{payload: []byte(p)})
				}
				f := newFrags(evs)
				stats, err := runFrags(t, f, fragFlow(16, "json", tc.pre, "", linked), runtime.Options{Log: zerolog.Nop()})
				require.NoError(t, err)
				acked := f.settledOnce(t)
				assert.Equal(t, []string{`{"n":1}`, `{"n":3}`}, strs(f.got["dst"]))
				src := statsOf(t, stats, "src")
				assert.Equal(t, uint64(3), src.In)
				badEvents := map[int]bool{}
				for _, id := range tc.bad {
					badEvents[id] = true
				}
				if linked {
					require.Len(t, f.got["errs"], tc.errs, "error events")
					e := string(f.got["errs"][0])
					assert.Contains(t, e, `"connector":"src"`)
					assert.Contains(t, e, tc.reason)
					if tc.data != "" {
						assert.Contains(t, e, fmt.Sprintf(`"data":%q`, tc.data))
					} else {
						assert.NotContains(t, e, `"data"`)
					}
					assert.Equal(t, map[uint64]bool{0: true, 1: true, 2: true}, acked, "every event acked: the error was delivered")
					assert.Equal(t, runtime.Stats{Connector: "src", In: 3, Out: uint64(2 + tc.errs), Errors: uint64(tc.errs), Acks: 3}, src)
					return
				}
				assert.Empty(t, f.got["errs"])
				for id := range 3 {
					assert.Equal(t, !badEvents[id], acked[uint64(id)], "event %d", id)
				}
				assert.Equal(t, uint64(len(badEvents)), src.Fails)
				assert.Equal(t, uint64(3-len(badEvents)), src.Acks)
				assert.Equal(t, uint64(tc.errs), src.Errors)
			})
		}
	}
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// ---- the pull loop ----

// A pull that fails (neither a lost connection nor a broken instance) is
// counted, logged, and retried after the connector's reconnect backoff;
// the events before and after it are delivered.
func TestPullErrorIsCountedAndRetriedAfterBackoff(t *testing.T) {
	evs := []fragEvent{{payload: []byte(`{"n":1}`)}, {payload: []byte(`{"n":2}`)}}
	f := newFrags(evs)
	f.pullErr = func(call int) error {
		if call >= 2 && call <= 4 {
			return &edge.Error{Op: "pull", Code: abi.ResultErrFailed, Message: "disk hiccup"}
		}
		return nil
	}
	f.linger = true // hands over both events on the first pull, ends once they settled
	logs := &syncBuf{}
	const initial = 40 * time.Millisecond
	stats, err := runFrags(t, f, fragFlow(16, "json", "", "[connector.reconnect]\ninitial_ms = 40\nmax_ms = 40", false), runtime.Options{Log: logs.logger()})
	require.NoError(t, err)
	assert.Len(t, f.settledOnce(t), 2)
	assert.Equal(t, []string{`{"n":1}`, `{"n":2}`}, strs(f.got["dst"]))
	src := statsOf(t, stats, "src")
	assert.Equal(t, uint64(3), src.Errors, "each failed pull counted")
	assert.Equal(t, uint64(2), src.Acks)
	assert.Equal(t, 3, logs.count("pull failed"))
	assert.Equal(t, 3, logs.count("disk hiccup"))
	f.mu.Lock()
	defer f.mu.Unlock()
	require.GreaterOrEqual(t, len(f.pulls), 5)
	for call := 2; call <= 4; call++ { // pulls are 1-based, f.pulls 0-based
		gap := f.pulls[call].at.Sub(f.pulls[call-1].at)
		assert.GreaterOrEqual(t, gap, initial, "pull %d came %v after the failed pull %d: no backoff", call+1, gap, call)
	}
}

// A pull that breaks the instance (a panic, a contract violation) stops
// the source with an error naming the connector; what it handed over
// before is still delivered and acked, and it is not pulled again.
func TestFatalPullStopsTheSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"panic", &edge.Error{Op: "pull", Code: abi.ResultErrPanic, Message: "index out of range"}},
		{"violation", &edge.Error{Op: "pull", Code: abi.ResultErrInvalid, Violation: true, Message: "event 0: payload span out of the arena"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFrags([]fragEvent{{payload: []byte(`{"n":1}`)}, {payload: []byte(`{"n":2}`)}})
			f.linger = true
			f.pullErr = func(call int) error {
				if call >= 2 {
					return tc.err
				}
				return nil
			}
			stats, err := runFrags(t, f, fragFlow(16, "json", "", "", false), runtime.Options{Log: zerolog.Nop()})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `connector "src"`)
			assert.ErrorIs(t, err, tc.err)
			assert.Len(t, f.settledOnce(t), 2)
			assert.Equal(t, []string{`{"n":1}`, `{"n":2}`}, strs(f.got["dst"]))
			src := statsOf(t, stats, "src")
			assert.Equal(t, runtime.Stats{Connector: "src", In: 2, Out: 2, Errors: 1, Acks: 2}, src)
			f.mu.Lock()
			defer f.mu.Unlock()
			assert.Len(t, f.pulls, 2, "not pulled again after the fatal error")
		})
	}
}

// While events are unsettled a pull waits at most settleWait (2 ms), so
// that acks reach the plugin soon; with nothing unsettled it may wait the
// full PullWait.
func TestPullWaitsLessWhileEventsAreUnsettled(t *testing.T) {
	f := newFrags([]fragEvent{{payload: []byte(`{"n":1}`)}})
	f.linger = true
	release := make(chan struct{})
	var once sync.Once
	f.pullErr = func(call int) error {
		f.mu.Lock()
		unsettled := f.pulls[len(f.pulls)-1].unsettled
		f.mu.Unlock()
		if unsettled > 0 && call >= 5 {
			once.Do(func() { close(release) }) // seen a few pulls with the event in flight
		}
		return nil
	}
	f.sinkFail = func([]byte) bool {
		select {
		case <-release:
		case <-time.After(deadline):
		}
		return false
	}
	const pullWait = time.Hour // the fake never waits; only what it is given matters
	_, err := runFrags(t, f, fragFlow(16, "json", "", "", false), runtime.Options{Log: zerolog.Nop(), PullWait: pullWait})
	require.NoError(t, err)
	assert.Len(t, f.settledOnce(t), 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	var during int
	for i, p := range f.pulls {
		if p.unsettled > 0 {
			during++
			assert.LessOrEqual(t, p.wait, 2*time.Millisecond, "pull %d, with an event in flight, may wait %v", i+1, p.wait)
		} else {
			assert.Equal(t, pullWait, p.wait, "pull %d, with nothing in flight", i+1)
		}
	}
	assert.GreaterOrEqual(t, during, 4, "pulls happened while the event was in flight")
	assert.Equal(t, 0, f.pulls[0].unsettled)
}

// ---- counting what the plugin confirmed ----

// Acks and Fails count the events whose outcome the plugin took; an
// on_ack or on_fail that fails counts as one error each, with a warning
// at most once a second.
func TestRefusedAcksAndFailsAreErrorsNotAcks(t *testing.T) {
	const n = 60
	var evs []fragEvent
	for i := range n {
		p := fmt.Sprintf(`{"n":%d}`, i)
		if i%3 == 0 {
			p = fmt.Sprintf(`{"n":%d,"FAIL":1}`, i)
		}
		evs = append(evs, fragEvent{payload: []byte(p)})
	}
	f := newFrags(evs)
	f.sinkFail = func(p []byte) bool { return bytes.Contains(p, []byte("FAIL")) }
	refused := errors.New("state file is read-only")
	f.ackErr = func(call int) error {
		if call%2 == 0 {
			return refused
		}
		return nil
	}
	f.failErr = func(call int) error {
		if call%2 == 1 {
			return refused
		}
		return nil
	}
	logs := &syncBuf{}
	start := time.Now()
	stats, err := runFrags(t, f, fragFlow(1, "json", "", "", false), runtime.Options{Log: logs.logger()})
	elapsed := time.Since(start)
	require.NoError(t, err)
	f.mu.Lock()
	defer f.mu.Unlock()
	refusedCalls := f.ackCalls/2 + (f.failCalls+1)/2
	require.Positive(t, f.ackCalls/2, "some on_ack calls failed")
	require.Positive(t, (f.failCalls+1)/2, "some on_fail calls failed")
	src := statsOf(t, stats, "src")
	assert.Equal(t, uint64(len(f.acked)), src.Acks, "acks the plugin took")
	assert.Equal(t, uint64(len(f.failed)), src.Fails, "fails the plugin took")
	assert.Less(t, len(f.acked)+len(f.failed), n, "the refused ones are in neither")
	assert.Equal(t, uint64(refusedCalls), src.Errors, "one error per refused call")
	warnings := logs.count("the plugin was not told the outcome of these events")
	assert.GreaterOrEqual(t, warnings, 1)
	assert.LessOrEqual(t, warnings, 2*(1+int(elapsed/time.Second)), "at most one warning a second for each of ack and fail")
}

// BenchmarkLinesAcrossEvents moves JSON lines cut at random points (most
// events end inside a line, whose start the next event completes) through
// the lines pre-processor and the binary codec: the path of held frames.
func BenchmarkLinesAcrossEvents(b *testing.B) {
	var text []byte
	for i := range 20000 {
		text = fmt.Appendf(text, "{\"n\":%d,\"pad\":\"%s\"}\n", i, strings.Repeat("x", i%90))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var evs []fragEvent
	for off := 0; off < len(text); {
		n := min(len(text)-off, 1+rng.IntN(300))
		evs = append(evs, fragEvent{payload: text[off : off+n]})
		off += n
	}
	b.ReportAllocs()
	for b.Loop() {
		f := newFrags(evs)
		fl, err := flow.Parse("bench.toml", []byte(fragFlow(256, "binary", `"lines"`, "", false)))
		if err != nil {
			b.Fatal(err)
		}
		r, err := runtime.New(fl, f, runtime.Options{Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}
