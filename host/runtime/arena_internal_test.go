package runtime

import (
	"bytes"
	"fmt"
	goruntime "runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/codec"
)

// byteArena.copy gives the value codec.Binary's Decode gives: a []byte
// equal to the frame, not aliasing it, with len == cap so that appending
// to one value never writes into the next; and the values stay intact
// across collections.
func TestByteArenaCopiesLikeBinaryDecode(t *testing.T) {
	var a byteArena
	first := a.copy(nil).([]byte)
	assert.NotNil(t, first, "like Decode: empty, not nil")
	frame := make([]byte, 0, 64<<10)
	var vals []any
	var want [][]byte
	for i := range 2000 {
		frame = fmt.Appendf(frame[:0], "frame %d %s", i, bytes.Repeat([]byte{'a' + byte(i%26)}, i%300))
		if i%400 == 5 {
			frame = append(frame, bytes.Repeat([]byte("big"), 10<<10)...) // a chunk of its own
		}
		v := a.copy(frame)
		dv, err := codec.Binary.Decode(frame)
		require.NoError(t, err)
		require.IsType(t, dv, v)
		b := v.([]byte)
		require.Equal(t, dv, b)
		require.Equal(t, len(b), cap(b))
		vals = append(vals, v)
		want = append(want, bytes.Clone(frame))
		frame[0] = '!' // the value does not alias the frame
	}
	empty := a.copy(nil).([]byte)
	assert.NotNil(t, empty)
	assert.Empty(t, empty)
	_ = append(vals[0].([]byte), "appended"...) // reallocates: neighbours untouched
	goruntime.GC()
	for i, v := range vals {
		require.Equal(t, want[i], v.([]byte), "value %d", i)
	}
}
