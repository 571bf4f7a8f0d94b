package codec

// Library comparison behind the json codec's choice (see BENCHMARKS.md):
//
//	go test -run='^$' -bench=BenchmarkJSONLibs -benchmem -count=5 ./host/codec
//
// Every candidate decodes to the host's value model exactly (integers stay
// int64/uint64) and encodes with sorted object keys; TestJSONLibsCorrect
// checks that before anyone trusts the numbers.

import (
	"bytes"
	stdjson "encoding/json"
	"io"
	"testing"

	sonicenc "github.com/bytedance/sonic/encoder"
	goccy "github.com/goccy/go-json"
	"github.com/stretchr/testify/require"
)

// benchEvent is a ~100-byte log event with a nanosecond timestamp (19 digits,
// above 2^53: a float64 would corrupt it).
var benchEvent = []byte(`{"ts":1732690000123456789,"host":"web-01","level":"info","msg":"GET /api 200","bytes":5123,"ok":true,"tags":["a","b"]}`)

type jsonCandidate struct {
	name   string
	decode func([]byte) (any, error)
	encode func([]byte, any) ([]byte, error)
}

func stdDecodeNumber(data []byte) (any, error) {
	d := stdjson.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, io.ErrUnexpectedEOF // trailing data
	}
	return fixNumbers(v)
}

func goccyDecodeNumber(data []byte) (any, error) {
	d := goccy.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return fixNumbers(v)
}

func sonicDecodeNumber(data []byte) (any, error) { return decodeJSONExact(data) }

func stdEncode(dst []byte, v any) ([]byte, error) {
	b, err := stdjson.Marshal(v) // sorts map keys
	return append(dst, b...), err
}

func goccyEncode(dst []byte, v any) ([]byte, error) {
	b, err := goccy.MarshalNoEscape(v) // sorts map keys unless UnorderedMap
	return append(dst, b...), err
}

func sonicEncodeSorted(dst []byte, v any) ([]byte, error) {
	err := sonicenc.EncodeInto(&dst, v, sonicenc.SortMapKeys|sonicenc.ValidateString)
	return dst, err
}

func sonicEncodeUnsorted(dst []byte, v any) ([]byte, error) {
	err := sonicenc.EncodeInto(&dst, v, sonicenc.ValidateString)
	return dst, err
}

var jsonCandidates = []jsonCandidate{
	{"std", stdDecodeNumber, stdEncode},
	{"goccy", goccyDecodeNumber, goccyEncode},
	{"sonic-number", sonicDecodeNumber, sonicEncodeSorted},
	{"sonic-int64", JSON.Decode, sonicEncodeSorted},
	{"sonic-unsorted", JSON.Decode, sonicEncodeUnsorted}, // NOT deterministic: only to price sorting
	{"chosen", JSON.Decode, JSON.Encode},                 // sonic-int64 decode + own sorted encoder
}

func TestJSONLibsCorrect(t *testing.T) {
	want := map[string]any{
		"ts": int64(1732690000123456789), "host": "web-01", "level": "info", "msg": "GET /api 200",
		"bytes": int64(5123), "ok": true, "tags": []any{"a", "b"},
	}
	big := []byte(`{"u":18446744073709551615,"i":-9223372036854775808,"f":1.5,"g":1e3}`)
	wantBig := map[string]any{"u": uint64(18446744073709551615), "i": int64(-9223372036854775808), "f": 1.5, "g": 1000.0}
	for _, c := range jsonCandidates {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.decode(benchEvent)
			require.NoError(t, err)
			require.Equal(t, want, v)
			v, err = c.decode(big)
			require.NoError(t, err)
			require.Equal(t, wantBig, v)
			out, err := c.encode(nil, want)
			require.NoError(t, err)
			if c.name != "sonic-unsorted" {
				require.Equal(t, `{"bytes":5123,"host":"web-01","level":"info","msg":"GET /api 200","ok":true,"tags":["a","b"],"ts":1732690000123456789}`, string(out))
			}
		})
	}
}

func BenchmarkJSONLibs(b *testing.B) {
	for _, c := range jsonCandidates {
		v, err := c.decode(benchEvent)
		require.NoError(b, err)
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchEvent)))
			for b.Loop() {
				if _, err := c.decode(benchEvent); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 512)
			for b.Loop() {
				var err error
				if buf, err = c.encode(buf[:0], v); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/roundtrip", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchEvent)))
			buf := make([]byte, 0, 512)
			for b.Loop() {
				v, err := c.decode(benchEvent)
				if err != nil {
					b.Fatal(err)
				}
				if buf, err = c.encode(buf[:0], v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJSONSortKeys prices the deterministic key order inside the chosen
// encoder: collecting and sorting the event's 7 keys, which the encoder does
// for every object (compare with chosen/encode).
func BenchmarkJSONSortKeys(b *testing.B) {
	v, err := JSON.Decode(benchEvent)
	require.NoError(b, err)
	m := v.(map[string]any)
	b.ReportAllocs()
	for b.Loop() {
		var kbuf [16]string
		keys := sortedKeys(kbuf[:0], m)
		if len(keys) != len(m) {
			b.Fatal("keys")
		}
	}
}
