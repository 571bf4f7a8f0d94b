package codec

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"tremorhost/abi"
)

// requireSameAsDecode checks that DecodeDoc of data, when it takes the
// frame, gives Decode's value and that both encode to the same bytes; it
// returns whether DecodeDoc took the frame.
func requireSameAsDecode(t *testing.T, c Codec, data []byte) bool {
	t.Helper()
	var a abi.DocArena
	d, ok := c.(DocDecoder).DecodeDoc(data, &a)
	v, err := c.Decode(data)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("%s: DecodeDoc took %q, which Decode refuses: %v", c.Name(), data, err)
	}
	if got := d.Any(); isNaNFree(v) && !reflect.DeepEqual(got, v) {
		t.Fatalf("%s: DecodeDoc(%q) = %#v, Decode = %#v", c.Name(), data, got, v)
	}
	fromDoc, errDoc := c.Encode([]byte("prefix"), d)
	fromValue, errValue := c.Encode([]byte("prefix"), v)
	if (errDoc == nil) != (errValue == nil) || !bytes.Equal(fromDoc, fromValue) {
		t.Fatalf("%s: %q encodes from the Doc as %q (%v), from the value as %q (%v)", c.Name(), data, fromDoc, errDoc, fromValue, errValue)
	}
	return true
}

func TestJSONDecodeDocIsDecode(t *testing.T) {
	flat := []string{
		`null`, `true`, ` false `, `0`, `-0`, `-1`, `9007199254740993`, `1732690000123456789`,
		`9223372036854775807`, `-9223372036854775808`, `9223372036854775808`, `18446744073709551615`,
		`18446744073709551616`, `-9223372036854775809`, `123456789012345678901234567890`,
		`1.0`, `-0.0`, `1e3`, `-2.5E-3`, `1E+2`, `0.1`, `5e-324`, `1.7976931348623157e308`,
		`"é✓😀"`, `"\u00e9\ud83d\ude00\n\"\\\/\b\f\r\t"`, `"\u0000\u001f"`, `"a\u00e9b"`, `""`,
		`"digits 99999999999999999999 in a string"`, `[1,"a",[],{}]`, `{"a":1,"a":2}`,
		`{"b":1,"a":2,"c":{"z":[],"y":{}},"a":3}`, `{"": 1, "\u0000": 2}`,
		`{"n":{"big":18446744073709551615,"l":[9223372036854775808,1.5,7]}}`,
		"\t[ 1 ,\n2 ]\r\n", string(benchEvent),
		`{"k00":0,"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k18":18,"k19":19,"k20":20,"k21":21,"k22":22,"k23":23,"k24":24,"k25":25,"k26":26,"k27":27,"k28":28,"k29":29,"k30":30,"k31":31,"k32":32,"k07":"again"}`,
		strings.Repeat("[", abi.MaxDepth) + strings.Repeat("]", abi.MaxDepth),
	}
	for _, in := range flat {
		t.Run(in, func(t *testing.T) {
			require.True(t, requireSameAsDecode(t, JSON, []byte(in)), "DecodeDoc left %q to Decode", in)
		})
	}
	// Left to Decode: its errors, and the shapes it repairs or refuses.
	toDecode := []string{
		``, ` `, `nul`, `[1,]`, `{"a"}`, `{"a":1,}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `[1 2]`, `{"a":1}{}`,
		`"unterminated`, "\"tab\there\"", `"\x"`, `"\u12"`, "\"bad \xff utf8\"", `"\ud800"`, `"\udc00"`,
		`"\ud800\u0041"`, `[1e400]`, `NaN`, `[` + `]`[:0],
		strings.Repeat("[", abi.MaxDepth+1) + strings.Repeat("]", abi.MaxDepth+1),
	}
	for _, in := range toDecode {
		t.Run("decode "+in, func(t *testing.T) {
			require.False(t, requireSameAsDecode(t, JSON, []byte(in)), "DecodeDoc took %q", in)
		})
	}
}

func TestTextDecodeDocIsDecode(t *testing.T) {
	for _, in := range []string{``, `plain`, `{"json": "is text here"}`, "é✓😀\n\t"} {
		require.True(t, requireSameAsDecode(t, String, []byte(in)), "%q", in)
		require.True(t, requireSameAsDecode(t, Binary, []byte(in)), "%q", in)
	}
	require.False(t, requireSameAsDecode(t, String, []byte("bad \xff")))
	require.True(t, requireSameAsDecode(t, Binary, []byte("bad \xff")))
}

// A Doc encodes like its value with every codec, those that decode into
// Docs and those that do not.
func TestEncodeDocEveryCodec(t *testing.T) {
	var a abi.DocArena
	obj, ok := JSON.(DocDecoder).DecodeDoc([]byte(`{"b":[1,2.5,"x"],"a":null,"c":true}`), &a)
	require.True(t, ok)
	text, ok := String.(DocDecoder).DecodeDoc([]byte("hello"), &a)
	require.True(t, ok)
	csvCodec, err := New("csv", nil)
	require.NoError(t, err)
	for _, c := range []Codec{JSON, Msgpack, String, Binary, csvCodec} {
		for _, d := range []*abi.Doc{obj, text} {
			fromDoc, errDoc := c.Encode(nil, d)
			fromValue, errValue := c.Encode(nil, d.Any())
			require.Equal(t, fromValue, fromDoc, "%s", c.Name())
			if errValue != nil {
				require.EqualError(t, errDoc, errValue.Error(), "%s", c.Name())
			} else {
				require.NoError(t, errDoc, "%s", c.Name())
			}
		}
	}
}

// A Doc JSON cannot hold (a plugin's NaN) fails with the value path's
// error, path included.
func TestJSONEncodeDocNaN(t *testing.T) {
	e := abi.Encoder{}
	_, err := e.Encode(map[string]any{"x": []any{1.0, math.NaN()}})
	require.NoError(t, err)
	d := &abi.Doc{Nodes: e.Nodes, Bytes: e.Bytes}
	_, errDoc := JSON.Encode(nil, d)
	_, errValue := JSON.Encode(nil, d.Any())
	require.Error(t, errValue)
	require.EqualError(t, errDoc, errValue.Error())
}

// Decoding into a reused arena and encoding from it allocates nothing per
// event (the arena's chunks are shared by hundreds of events).
func TestDocPathAllocations(t *testing.T) {
	for _, c := range []Codec{JSON, String, Binary} {
		var a abi.DocArena
		buf := make([]byte, 0, 512)
		allocs := testing.AllocsPerRun(2000, func() {
			d, ok := c.(DocDecoder).DecodeDoc(benchEvent, &a)
			if !ok {
				t.Fatal("not decoded")
			}
			var err error
			if buf, err = c.Encode(buf[:0], d); err != nil {
				t.Fatal(err)
			}
		})
		require.Less(t, allocs, 0.05, "%s: allocations per event", c.Name())
	}
}

func FuzzJSONDecodeDoc(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}`, `18446744073709551615`, `-9223372036854775809`,
		`"\ud83d\ude00"`, "\"\xff\"", `[1e400]`, `[[[[]]]]`, `{"a":1}{}`, ``, `1.0`, `-0`, `"\u0000"`,
		`{"a":1,"a":2,"b":{"a":3}}`, `0.1e-7`, `1E22`, string(benchEvent),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		requireSameAsDecode(t, JSON, data)
	})
}

// Keys that tie on their first 8 bytes, that are prefixes of one another,
// hold NUL bytes or are empty come out in the value path's order (the
// Doc path sorts on 8-byte prefixes first).
func TestJSONDocKeyOrder(t *testing.T) {
	for _, s := range []string{
		`{"msg":1,"ms":2,"m":3,"":4}`,
		`{"longkey_b":1,"longkey_a":2,"longkey":3,"longke":4}`,
		`{"a\u0000":1,"a":2,"a\u0000\u0000":3,"\u0000":4}`,
		`{"b":1,"a":2,"b":3,"a":4}`,
		`{"\u00e9t\u00e9":1,"zz":2,"\uffff":3}`,
		`{"z":{"y":1,"x":2},"y":[{"b":1,"a":2}]}`,
	} {
		require.True(t, requireSameAsDecode(t, JSON, []byte(s)), s)
	}
}

// BenchmarkJSONDocEncode prices the sink's side alone: a decoded event
// written back as JSON (keys in order).
func BenchmarkJSONDocEncode(b *testing.B) {
	var a abi.DocArena
	d, ok := JSON.(DocDecoder).DecodeDoc(benchEvent, &a)
	if !ok {
		b.Fatal("decode")
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		buf, _ = JSON.Encode(buf[:0], d)
	}
}

func BenchmarkJSONDoc(b *testing.B) {
	var a abi.DocArena
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		d, _ := JSON.(DocDecoder).DecodeDoc(benchEvent, &a)
		buf, _ = JSON.Encode(buf[:0], d)
	}
}
