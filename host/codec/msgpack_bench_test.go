package codec

//	go test -run='^$' -bench=BenchmarkMsgpack -benchmem ./host/codec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkMsgpack decodes and encodes benchEvent as msgpack: fix and
// sized strings, a 19-digit uint, a float, bools and a nested array.
func BenchmarkMsgpack(b *testing.B) {
	v, err := decodeJSONExact(benchEvent)
	require.NoError(b, err)
	v.(map[string]any)["ratio"] = 0.25
	v.(map[string]any)["neg"] = int64(-70000)
	var c msgpackCodec
	data, err := c.Encode(nil, v)
	require.NoError(b, err)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := c.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 512)
		for b.Loop() {
			if buf, err = c.Encode(buf[:0], v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
