package runtime

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWindowSettlesOutOfOrder(t *testing.T) {
	w := newWindow(3)
	a := w.open(100)
	b := w.open(200)
	c := w.open(300)
	assert.True(t, w.full())
	w.add(a, 2) // fanned out to two sinks
	w.add(b, 1)
	w.add(c, 1)
	for _, tok := range []uint64{a, b, c} {
		_, _, done := w.release(tok)
		assert.False(t, done, "routing hold alone must not settle an event with deliveries")
	}

	id, failed, done := w.settle(b, false)
	assert.Equal(t, []any{uint64(200), false, true}, []any{id, failed, done})
	assert.True(t, w.full(), "the oldest slot is still busy, so the ring cannot advance")

	_, _, done = w.settle(a, true)
	assert.False(t, done, "one of a's two deliveries is still pending")
	id, failed, done = w.settle(a, false)
	assert.Equal(t, []any{uint64(100), true, true}, []any{id, failed, done}, "one failed copy fails the event")
	assert.Equal(t, 2, w.free(), "a and b settled, head advanced past both")

	_, _, done = w.settle(a, false)
	assert.False(t, done, "a stale token is ignored")
	assert.Equal(t, 1, w.unsettled())

	internal := w.openInternal()
	var seen []uint64
	w.failAll(func(id uint64) { seen = append(seen, id) })
	assert.Equal(t, []uint64{300}, seen, "internal slots are not reported")
	assert.Equal(t, 0, w.unsettled())
	assert.Equal(t, 3, w.free())
	_, _, done = w.settle(internal, false)
	assert.False(t, done, "settlements after failAll are stale")
}

func TestWindowEventWithNoDeliveries(t *testing.T) {
	// A chunk whose bytes were all buffered by a pre-processor produces no
	// frames: it settles as delivered when routing finishes.
	w := newWindow(1)
	tok := w.open(7)
	id, failed, done := w.release(tok)
	require.True(t, done)
	assert.Equal(t, uint64(7), id)
	assert.False(t, failed)
	assert.False(t, w.full())
}

func TestWindowInternalSlotIsNeverReported(t *testing.T) {
	w := newWindow(2)
	tok := w.openInternal()
	w.add(tok, 1)
	w.release(tok)
	_, _, done := w.settle(tok, false)
	assert.False(t, done)
	assert.Equal(t, 0, w.unsettled())
	assert.Equal(t, 2, w.free())
}

func TestWindowWrapsAround(t *testing.T) {
	w := newWindow(2)
	for i := uint64(0); i < 10; i++ {
		require.False(t, w.full())
		tok := w.open(i)
		id, _, done := w.release(tok)
		require.True(t, done)
		require.Equal(t, i, id)
	}
	assert.Equal(t, 0, w.unsettled())
}
