package plugin_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/edge"
)

// A payload written in place at Tail is taken without a copy; one that
// outgrew the room is copied like Append would, or refused as full.
func TestAppendTailAndReserve(t *testing.T) {
	b := newBatch(t, edge.Caps{Events: 4, Values: 8, Bytes: 64})
	p := append(b.Tail(), "hello"...)
	require.NoError(t, b.AppendTail(&edge.Event{ID: 1}, p))
	r, err := b.AppendReserve(&edge.Event{ID: 2, Meta: map[string]any{"k": "v"}}, 3)
	require.NoError(t, err)
	copy(r, "abc")
	// Not at Tail (a Go buffer): copied.
	require.NoError(t, b.AppendTail(&edge.Event{ID: 3}, []byte("xyz")))
	require.Equal(t, 3, b.Len())
	assert.Equal(t, "hello", string(b.Payload(0)))
	assert.Equal(t, "abc", string(b.Payload(1)))
	assert.Equal(t, "xyz", string(b.Payload(2)))
	meta, err := b.Meta(1)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"k": "v"}, meta)

	// Outgrows the room: append moves it to the heap; AppendTail refuses
	// it as full and leaves the batch as it was.
	big := append(b.Tail(), bytes.Repeat([]byte("z"), 100)...)
	assert.ErrorIs(t, b.AppendTail(&edge.Event{ID: 4}, big), edge.ErrBatchFull)
	_, err = b.AppendReserve(&edge.Event{ID: 4}, 100)
	assert.ErrorIs(t, err, edge.ErrBatchFull)
	assert.Equal(t, 3, b.Len())
	assert.Equal(t, "xyz", string(b.Payload(2)))

	// An empty payload is fine anywhere.
	require.NoError(t, b.AppendTail(&edge.Event{ID: 5}, nil))
	assert.Equal(t, 0, len(b.Payload(3)))
	_, err = b.AppendReserve(&edge.Event{ID: 6}, 1)
	assert.ErrorIs(t, err, edge.ErrBatchFull, "events_cap reached")

	b.Free()
	assert.Equal(t, 0, cap(b.Tail()), "a freed batch offers no room")
}

func TestAppendTailDoesNotAllocate(t *testing.T) {
	b := newBatch(t, edge.Caps{Events: 64, Values: 0, Bytes: 64 * 100})
	ev := &edge.Event{}
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		for k := 0; k < 64; k++ {
			p := append(b.Tail(), "0123456789012345678901234567890123456789"...)
			if err := b.AppendTail(ev, p); err != nil {
				t.Fatal(err)
			}
		}
	})
	assert.Zero(t, allocs)
}
