package codec

// Fuzz targets: decoders must never panic, errors must be *Error, and where
// the format allows it decode -> encode -> decode gives the same value and
// encoding is canonical (encode(decode(encode(v))) == encode(v)).
//
//	go test -run='^$' -fuzz=FuzzJSONDecode -fuzztime=10s ./host/codec

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

func requireCodecError(t *testing.T, c Codec, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) || ce.Codec != c.Name() || ce.Msg == "" {
		t.Fatalf("%s: error %v (%T) is not a well-formed *Error", c.Name(), err, err)
	}
}

// roundTrip checks decode -> encode -> decode and canonical encoding.
func roundTrip(t *testing.T, c Codec, v any) []byte {
	t.Helper()
	out, err := c.Encode(nil, v)
	if err != nil {
		t.Fatalf("%s: cannot encode decoded value %#v: %v", c.Name(), v, err)
	}
	back, err := c.Decode(out)
	if err != nil {
		t.Fatalf("%s: cannot decode own output %q: %v", c.Name(), out, err)
	}
	if isNaNFree(v) && !reflect.DeepEqual(v, back) {
		t.Fatalf("%s: round trip changed %#v to %#v (via %q)", c.Name(), v, back, out)
	}
	again, err := c.Encode(nil, back)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("%s: encoding not canonical: %q then %q (%v)", c.Name(), out, again, err)
	}
	return out
}

// isNaNFree reports whether v holds no NaN (NaN != NaN defeats DeepEqual).
func isNaNFree(v any) bool {
	switch x := v.(type) {
	case float64:
		return x == x
	case []any:
		for _, e := range x {
			if !isNaNFree(e) {
				return false
			}
		}
	case map[string]any:
		for _, e := range x {
			if !isNaNFree(e) {
				return false
			}
		}
	}
	return true
}

// checkModel fails if v holds a type outside the value model.
func checkModel(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case nil, bool, int64, uint64, float64, string, []byte:
		if u, ok := x.(uint64); ok && u <= 1<<63-1 {
			t.Fatalf("uint64 %d fits int64", u)
		}
	case []any:
		for _, e := range x {
			checkModel(t, e)
		}
	case map[string]any:
		for _, e := range x {
			checkModel(t, e)
		}
	default:
		t.Fatalf("value of type %T outside the model", v)
	}
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}`, `18446744073709551615`, `-9223372036854775809`,
		`"\ud83d\ude00"`, "\"\xff\"", `[1e400]`, `[[[[]]]]`, `{"a":1}{}`, ``, `1.0`, `-0`, `"\u0000"`,
		string(benchEvent),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := JSON.Decode(data)
		if err != nil {
			requireCodecError(t, JSON, err)
			return
		}
		checkModel(t, v)
		// the fast path (sonic UseInt64) and the exact path (json.Number)
		// must agree whenever the fast path is taken
		if exact, err := sonicDecodeNumber(data); err != nil || (isNaNFree(v) && !reflect.DeepEqual(v, exact)) {
			t.Fatalf("fast path %#v, exact path %#v (%v)", v, exact, err)
		}
		if !stdjson.Valid(data) {
			t.Fatalf("accepted input that encoding/json calls invalid: %q", data)
		}
		out := roundTrip(t, JSON, v)
		if !stdjson.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("encoded invalid JSON %q", out)
		}
	})
}

func FuzzMsgpackDecode(f *testing.F) {
	seed, _ := Msgpack.Encode(nil, richValue())
	for _, s := range [][]byte{
		seed, {0xc0}, {0x93, 0x01, 0xa1, 'x', 0xc4, 0x01, 0xff}, {0xdd, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xa1, 'k', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, {0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, {0xca, 0x7f, 0xc0, 0, 0},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Msgpack.Decode(data)
		if err != nil {
			requireCodecError(t, Msgpack, err)
			return
		}
		checkModel(t, v)
		roundTrip(t, Msgpack, v)
	})
}

func FuzzCSVDecode(f *testing.F) {
	for _, s := range []string{"a,b,c", `"a,b","c""d"`, "", "\"x\ny\"\r\n", `a"b`, ",,", `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := CSV.Decode(data)
		if err != nil {
			requireCodecError(t, CSV, err)
			return
		}
		checkModel(t, v)
		roundTrip(t, CSV, v)
	})
}

func FuzzStringDecode(f *testing.F) {
	for _, s := range []string{"", "héllo", "\xff", "a\xe2\x9c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := String.Decode(data)
		if err != nil {
			requireCodecError(t, String, err)
			if utf8.Valid(data) {
				t.Fatal("rejected valid UTF-8")
			}
			ce := err.(*Error)
			if ce.Offset < 0 || ce.Offset >= len(data) || !utf8.Valid(data[:ce.Offset]) {
				t.Fatalf("bad offset %d for %q", ce.Offset, data)
			}
			return
		}
		roundTrip(t, String, v)
	})
}

func FuzzBinaryDecode(f *testing.F) {
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Binary.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v.([]byte), data) {
			t.Fatal("binary decode changed the bytes")
		}
		roundTrip(t, Binary, v)
	})
}
