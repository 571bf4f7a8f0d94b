package codec

import (
	stdjson "encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestJSONDecodeTypes(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{` false `, false},
		{`0`, int64(0)},
		{`-0`, int64(0)},
		{`-1`, int64(-1)},
		{`9007199254740993`, int64(9007199254740993)}, // 2^53+1
		{`1732690000123456789`, int64(1732690000123456789)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775808`, uint64(1 << 63)},
		{`18446744073709551615`, uint64(math.MaxUint64)},
		{`18446744073709551616`, 18446744073709551616.0},
		{`-9223372036854775809`, -9223372036854775809.0},
		{`123456789012345678901234567890`, 123456789012345678901234567890.0},
		{`1.0`, 1.0},
		{`1e3`, 1000.0},
		{`-2.5E-3`, -0.0025},
		{`"é✓😀"`, "é✓😀"},
		{`"\u00e9\ud83d\ude00\n\"\\\/"`, "é😀\n\"\\/"},
		{"\"bad \xff utf8\"", "bad \ufffd utf8"},
		{`"\ud800"`, "\ufffd"},
		{`"digits 99999999999999999999 in a string"`, "digits 99999999999999999999 in a string"},
		{`[1,"a",[],{}]`, []any{int64(1), "a", []any{}, map[string]any{}}},
		{`{"a":1,"a":2}`, map[string]any{"a": int64(2)}},
		{`{"n":{"big":18446744073709551615,"l":[9223372036854775808,1.5,7]}}`,
			map[string]any{"n": map[string]any{"big": uint64(math.MaxUint64), "l": []any{uint64(1 << 63), 1.5, int64(7)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := JSON.Decode([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
			// the exact path (the only one where sonic falls back to
			// encoding/json) gives the same
			v, err = decodeJSONExact([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
		})
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{``, "json codec: decode: empty input at offset 0"},
		{" \n", "json codec: decode: empty input at offset 2"},
		{`{"a":}`, "json codec: decode: syntax error: invalid char at offset 5"},
		{`[1,2`, "json codec: decode: syntax error: eof at offset 4"},
		{`{"a":1} x`, "json codec: decode: syntax error: invalid char at offset 8"},
		{`{"a":1}{}`, "json codec: decode: syntax error: invalid char at offset 7"},
		{"\"a\x01b\"", "json codec: decode: syntax error: control character 0x01 at offset 2"},
		{"[1,\x00]", "json codec: decode: syntax error: control character 0x00 at offset 3"},
		{`1e400`, "json codec: decode: syntax error: float number is infinity at offset 5"},
		{`NaN`, "json codec: decode: syntax error: invalid char at offset 0"},
		{strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "json codec: decode: syntax error: recursion exceeded max depth at offset 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 20)], func(t *testing.T) {
			_, err := JSON.Decode([]byte(tt.in))
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestJSONEncode(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	tests := []struct {
		name    string
		in      any
		want    string
		wantErr string
	}{
		{name: "scalars", in: []any{nil, true, false, int64(-3), uint64(math.MaxUint64)}, want: `[null,true,false,-3,18446744073709551615]`},
		{name: "sorted keys", in: map[string]any{"b": int64(1), "a": int64(2), "c": map[string]any{"z": nil, "y": nil}}, want: `{"a":2,"b":1,"c":{"y":null,"z":null}}`},
		{name: "many keys sorted", in: func() map[string]any {
			m := map[string]any{}
			for _, k := range strings.Split("q w e r t y u i o p a s d f g h j k l z x c v b n m", " ") {
				m[k] = nil
			}
			return m
		}(), want: `{"a":null,"b":null,"c":null,"d":null,"e":null,"f":null,"g":null,"h":null,"i":null,"j":null,"k":null,"l":null,"m":null,"n":null,"o":null,"p":null,"q":null,"r":null,"s":null,"t":null,"u":null,"v":null,"w":null,"x":null,"y":null,"z":null}`},
		{name: "floats", in: []any{3.0, 3.25, -0.0 * -1, math.Copysign(0, -1), 1e21, 1e20, 1e-7, 1.5e-6, 123456.789, float32(0.1)},
			want: `[3.0,3.25,0.0,-0.0,1e+21,100000000000000000000.0,1e-7,0.0000015,123456.789,0.1]`},
		{name: "strings", in: "q\" b\\ \n\r\t\b\f \x01\x1f \x7f é ✓ \u2028 <>&", want: `"q\" b\\ \n\r\t\b\f \u0001\u001f ` + "\x7f é ✓ \u2028 <>&\""},
		{name: "invalid utf8", in: "a\xffb\xc3", want: `"a\ufffdb\ufffd"`},
		{name: "bytes as base64", in: []byte{0, 1, 2, 0xff}, want: `"AAEC/w=="`},
		{name: "go int kinds", in: []any{int(1), int8(-2), int16(3), int32(-4), uint(5), uint8(6), uint16(7), uint32(8)}, want: `[1,-2,3,-4,5,6,7,8]`},
		{name: "nan", in: map[string]any{"a": []any{1.0, math.NaN()}}, wantErr: `json codec: encode: unsupported float value NaN (JSON has no NaN or Inf) at $."a"[1]`},
		{name: "inf", in: math.Inf(-1), wantErr: `json codec: encode: unsupported float value -Inf (JSON has no NaN or Inf) at $`},
		{name: "unsupported", in: map[string]any{"x": map[string]any{"y z": struct{}{}}}, wantErr: `json codec: encode: cannot encode a Go struct {} at $."x"."y z"`},
		{name: "cyclic", in: cyclic, wantErr: `json codec: encode: value nested deeper than 4096 levels (cyclic?) at $` + strings.Repeat(`."self"`, 4096)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := JSON.Encode([]byte("keep"), tt.in)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				require.Equal(t, "keep", string(out))
				return
			}
			require.NoError(t, err)
			require.Equal(t, "keep"+tt.want, string(out))
			require.True(t, stdjson.Valid(out[4:]), "output is valid JSON")
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	v := richValue()
	out, err := JSON.Encode(nil, v)
	require.NoError(t, err)
	back, err := JSON.Decode(out)
	require.NoError(t, err)
	require.Equal(t, any(v), back)
	// deterministic
	for range 20 {
		again, err := JSON.Encode(nil, back)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
	}
	// encoding/json agrees on the content
	var std any
	d := stdjson.NewDecoder(strings.NewReader(string(out)))
	d.UseNumber()
	require.NoError(t, d.Decode(&std))
	fixed, err := fixNumbers(std)
	require.NoError(t, err)
	require.Equal(t, back, fixed)
}

func TestJSONMayOverflowInt64(t *testing.T) {
	for in, want := range map[string]bool{
		`1`: false, `9223372036854775807`: false, `[9223372036854775807]`: false, `-9223372036854775808`: true,
		`9223372036854775808`: true, `[18446744073709551615,1]`: true, `12345678901234567890`: true,
		`1.2345678901234567890`: false, `"0000000000000000000"`: false, `0.9999999999999999999`: true,
	} {
		require.Equal(t, want, mayOverflowInt64([]byte(in)), in)
	}
}
