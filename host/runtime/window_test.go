package runtime

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outcome is one event a window reported settled.
type outcome struct {
	id     uint64
	failed bool
}

// recorded returns a window of size whose settled events are appended to
// the returned slice.
func recorded(size int) (*window, *[]outcome) {
	var got []outcome
	return newWindow(size, func(id uint64, failed bool) { got = append(got, outcome{id, failed}) }), &got
}

// take returns what was reported since the last call.
func take(got *[]outcome) []outcome {
	out := *got
	*got = nil
	return out
}

func TestWindowSettlesOutOfOrder(t *testing.T) {
	w, got := recorded(3)
	a := w.open(100)
	b := w.open(200)
	c := w.open(300)
	assert.True(t, w.full())
	w.add(a, 2) // fanned out to two sinks
	w.add(b, 1)
	w.add(c, 1)
	for _, tok := range []uint64{a, b, c} {
		w.release(tok)
	}
	assert.Empty(t, take(got), "routing hold alone must not settle an event with deliveries")

	w.settle(b, false)
	assert.Equal(t, []outcome{{200, false}}, take(got))
	assert.True(t, w.full(), "the oldest slot is still busy, so the ring cannot advance")

	w.settle(a, true)
	assert.Empty(t, take(got), "one of a's two deliveries is still pending")
	w.settle(a, false)
	assert.Equal(t, []outcome{{100, true}}, take(got), "one failed copy fails the event")
	assert.Equal(t, 2, w.free(), "a and b settled, head advanced past both")

	w.settle(a, false)
	assert.Empty(t, take(got), "a stale token is ignored")
	assert.Equal(t, 1, w.unsettled())

	internal := w.openInternal()
	w.failAll()
	assert.Equal(t, []outcome{{300, true}}, take(got), "internal slots are not reported")
	assert.Equal(t, 0, w.unsettled())
	assert.Equal(t, 3, w.free())
	w.settle(internal, false)
	assert.Empty(t, take(got), "settlements after failAll are stale")
}

func TestWindowEventWithNoDeliveries(t *testing.T) {
	// A chunk that produced no frames and left nothing held settles as
	// delivered when routing finishes.
	w, got := recorded(1)
	tok := w.open(7)
	w.release(tok)
	assert.Equal(t, []outcome{{7, false}}, take(got))
	assert.False(t, w.full())
}

func TestWindowInternalSlotIsNeverReported(t *testing.T) {
	w, got := recorded(2)
	tok := w.openInternal()
	w.add(tok, 1)
	w.release(tok)
	w.settle(tok, false)
	assert.Empty(t, take(got))
	assert.Equal(t, 0, w.unsettled())
	assert.Equal(t, 2, w.free())
}

func TestWindowWrapsAround(t *testing.T) {
	w, got := recorded(2)
	for i := uint64(0); i < 10; i++ {
		require.False(t, w.full())
		tok := w.open(i)
		w.release(tok)
		require.Equal(t, []outcome{{i, false}}, take(got))
	}
	assert.Equal(t, 0, w.unsettled())
}

// held opens an event with n deliveries and bytes held in c's partial
// frame, and ends its routing.
func held(w *window, c *chain, id uint64, n int32) uint64 {
	tok := w.open(id)
	w.add(tok, n)
	w.hold(c, tok)
	w.release(tok)
	return tok
}

func TestWindowHeldEventsSettleWithTheFrameThatCompletesThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed bool
	}{{"delivered", false}, {"failed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w, got := recorded(8)
			var c chain
			held(w, &c, 1, 0) // a partial frame: its start,
			held(w, &c, 2, 0) // its middle,
			end := w.open(3)  // and the event that completes it
			w.resolve(&c, end)
			w.add(end, 1) // the frame's delivery
			w.release(end)
			assert.Empty(t, take(got), "nothing settles before the frame is delivered")
			assert.Equal(t, 3, w.unsettled())

			w.settle(end, tc.failed)
			assert.Equal(t, []outcome{{1, tc.failed}, {2, tc.failed}, {3, tc.failed}}, take(got),
				"the held events settle with the frame's outcome")
			assert.Equal(t, 0, w.unsettled())
			assert.Equal(t, 8, w.free())
			assert.Equal(t, chain{}, c)
		})
	}
}

// An event that completes one frame and starts the next settles when
// both are done, while the events of the first frame do not wait for the
// second: a stream whose chunks never end on a frame boundary keeps
// settling.
func TestWindowFramesOverlappingEvents(t *testing.T) {
	w, got := recorded(4)
	var c chain
	held(w, &c, 1, 0)
	for id := uint64(2); id < 100; id++ {
		e := w.open(id)
		w.resolve(&c, e)
		w.add(e, 1)   // the frame completed by e
		w.hold(&c, e) // e's tail starts the next frame
		w.release(e)
		w.settle(e, id == 50)
		// 49's frame is the one 50 completed, 50's own frame failed too
		want := []outcome{{id - 1, id == 50 || id == 51}}
		require.Equal(t, want, take(got), "event %d", id-1)
		require.Equal(t, 1, w.unsettled(), "only the last event waits")
	}
}

func TestWindowHeldEventKeepsItsOwnFailure(t *testing.T) {
	w, got := recorded(4)
	var c chain
	a := held(w, &c, 1, 1) // a frame sent, and the start of the next one held
	b := w.open(2)
	w.resolve(&c, b)
	w.settle(a, true) // a's own frame failed
	assert.Empty(t, take(got))
	w.release(b) // b completed the held frame without deliveries of its own
	assert.ElementsMatch(t, []outcome{{2, false}, {1, true}}, take(got))
}

func TestWindowSeveralChainsOnOneInternalEvent(t *testing.T) {
	// At the end of a source, the events held by several streams wait for
	// the internal event that flushes them.
	w, got := recorded(8)
	var x, y chain
	held(w, &x, 1, 0)
	held(w, &y, 2, 0)
	held(w, &x, 3, 0)
	end := w.openInternal()
	w.resolve(&x, end)
	w.resolve(&y, end)
	w.add(end, 2)
	w.release(end)
	w.settle(end, false)
	assert.Empty(t, take(got))
	w.settle(end, true)
	assert.ElementsMatch(t, []outcome{{1, true}, {2, true}, {3, true}}, take(got))
	assert.Equal(t, 0, w.unsettled())
}

func TestWindowResolveOnSettledEventFails(t *testing.T) {
	w, got := recorded(4)
	var c chain
	held(w, &c, 1, 0)
	b := w.open(2)
	w.release(b)
	assert.Equal(t, []outcome{{2, false}}, take(got))
	w.resolve(&c, b)
	assert.Equal(t, []outcome{{1, true}}, take(got), "an outcome no longer known is taken as failed")
}

func TestWindowFailAllFailsHeldEvents(t *testing.T) {
	w, got := recorded(4)
	var c chain
	held(w, &c, 1, 0)
	w.failAll()
	assert.Equal(t, []outcome{{1, true}}, take(got))
	assert.Equal(t, 0, w.unsettled())
}
