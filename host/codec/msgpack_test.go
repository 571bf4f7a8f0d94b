package codec

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// normalize turns what vmihailenco/msgpack's DecodeInterface produces into
// the host's value model, for comparing.
func normalize(t *testing.T, v any) any {
	switch x := v.(type) {
	case int8, int16, int32, int64:
		i, _ := asInt64(x)
		if i64, ok := x.(int64); ok {
			i = i64
		}
		return i
	case uint8, uint16, uint32:
		u, _ := asUint64(x)
		return int64(u)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	case []any:
		for i := range x {
			x[i] = normalize(t, x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalize(t, x[k])
		}
	}
	return v
}

func TestMsgpackRoundTrip(t *testing.T) {
	v := richValue()
	v["bin"] = []byte{0, 1, 2, 0xff}
	v["emptybin"] = []byte{}
	v["long"] = strings.Repeat("s", 70000)
	v["longlist"] = make([]any, 70000)
	out, err := Msgpack.Encode(nil, v)
	require.NoError(t, err)
	back, err := Msgpack.Decode(out)
	require.NoError(t, err)
	require.Equal(t, any(v), back)
	again, err := Msgpack.Encode(nil, back)
	require.NoError(t, err)
	require.Equal(t, out, again, "deterministic")
}

func TestMsgpackIntegers(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -32, -33, -128, -129, math.MinInt16, math.MinInt16 - 1, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, i := range ints {
		out, err := Msgpack.Encode(nil, i)
		require.NoError(t, err)
		back, err := Msgpack.Decode(out)
		require.NoError(t, err)
		require.Equal(t, i, back)
		// the reference library reads the same number
		var ref int64
		require.NoError(t, msgpack.Unmarshal(out, &ref))
		require.Equal(t, i, ref)
	}
	for _, u := range []uint64{1 << 63, math.MaxUint64} {
		out, err := Msgpack.Encode(nil, u)
		require.NoError(t, err)
		back, err := Msgpack.Decode(out)
		require.NoError(t, err)
		require.Equal(t, u, back)
	}
	// small unsigned values decode as int64
	back, err := Msgpack.Decode([]byte{0xcf, 0, 0, 0, 0, 0, 0, 0, 5})
	require.NoError(t, err)
	require.Equal(t, int64(5), back)
	// float32 widens
	back, err = Msgpack.Decode([]byte{0xca, 0x3f, 0xc0, 0, 0})
	require.NoError(t, err)
	require.Equal(t, 1.5, back)
}

// Interoperability with github.com/vmihailenco/msgpack/v5 both ways.
func TestMsgpackInterop(t *testing.T) {
	v := richValue()
	v["bin"] = []byte{9, 8, 7}

	// theirs -> ours
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	enc.UseCompactInts(true)
	require.NoError(t, enc.Encode(v))
	ours, err := Msgpack.Decode(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, any(v), ours)
	// with their default (non-compact) integers too
	plain, err := msgpack.Marshal(v)
	require.NoError(t, err)
	ours, err = Msgpack.Decode(plain)
	require.NoError(t, err)
	require.Equal(t, any(v), ours)

	// ours -> theirs
	out, err := Msgpack.Encode(nil, v)
	require.NoError(t, err)
	dec := msgpack.NewDecoder(bytes.NewReader(out))
	theirs, err := dec.DecodeInterface()
	require.NoError(t, err)
	require.Equal(t, any(v), normalize(t, theirs))
}

func TestMsgpackDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "msgpack codec: decode: empty input at offset 0"},
		{"never used", []byte{0xc1}, "msgpack codec: decode: invalid format byte 0xc1 at offset 0"},
		{"truncated str", []byte{0xa5, 'a', 'b'}, "msgpack codec: decode: truncated string: need 5 bytes, have 2 at offset 1"},
		{"truncated len", []byte{0x92, 0x01, 0xda, 0x00}, "msgpack codec: decode: truncated string length: need 2 bytes, have 1 at offset 3"},
		{"truncated float", []byte{0xcb, 0, 0}, "msgpack codec: decode: truncated float64: need 8 bytes, have 2 at offset 1"},
		{"array bomb", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, "msgpack codec: decode: array of 4294967295 elements is longer than the 0 bytes left at offset 0"},
		{"map bomb", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa0, 0xc0}, "msgpack codec: decode: map of 4294967295 entries is longer than the 2 bytes left at offset 0"},
		{"bin bomb", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}, "msgpack codec: decode: truncated binary: need 4294967295 bytes, have 0 at offset 5"},
		{"int key", []byte{0x81, 0x01, 0xc0}, "msgpack codec: decode: map key must be a string (format byte 0x01) at offset 1"},
		{"ext", []byte{0xd4, 0x01, 0x00}, "msgpack codec: decode: ext types are not supported (format byte 0xd4) at offset 0"},
		{"timestamp ext", []byte{0xd6, 0xff, 0, 0, 0, 1}, "msgpack codec: decode: ext types are not supported (format byte 0xd6) at offset 0"},
		{"trailing", []byte{0xc0, 0xc0}, "msgpack codec: decode: 1 bytes of trailing data after the value at offset 1"},
		{"too deep", bytes.Repeat([]byte{0x91}, MaxDepth+1), "msgpack codec: decode: nesting deeper than 4096 at offset 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Msgpack.Decode(tt.in)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestMsgpackBinKeysAndNil(t *testing.T) {
	v, err := Msgpack.Decode([]byte{0x81, 0xc4, 0x01, 'k', 0xc0})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"k": nil}, v)
}

func TestMsgpackEncodeErrors(t *testing.T) {
	_, err := Msgpack.Encode(nil, map[string]any{"a": []any{int64(1), struct{}{}}})
	require.EqualError(t, err, `msgpack codec: encode: cannot encode a Go struct {} at $."a"[1]`)
}
