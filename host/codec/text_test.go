package codec

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	for _, in := range []string{"", "plain", "héllo ✓ 😀", "\x00\r\n"} {
		v, err := String.Decode([]byte(in))
		require.NoError(t, err)
		require.Equal(t, in, v)
		out, err := String.Encode(nil, v)
		require.NoError(t, err)
		require.Equal(t, in, string(out))
	}
	_, err := String.Decode([]byte("ok é \xe9 bad"))
	require.EqualError(t, err, "string codec: decode: invalid UTF-8 at offset 6")
	_, err = String.Decode([]byte("truncated \xe2\x9c"))
	require.EqualError(t, err, "string codec: decode: invalid UTF-8 at offset 10")

	for _, tt := range []struct {
		in   any
		want string
	}{
		{[]byte("raw"), "raw"}, {nil, "null"}, {true, "true"}, {int64(-5), "-5"}, {uint64(math.MaxUint64), "18446744073709551615"},
		{2.5, "2.5"}, {2.0, "2.0"}, {int32(7), "7"}, {uint16(8), "8"},
	} {
		out, err := String.Encode([]byte(">"), tt.in)
		require.NoError(t, err)
		require.Equal(t, ">"+tt.want, string(out))
	}
	_, err = String.Encode(nil, []any{"x"})
	require.EqualError(t, err, "string codec: encode: cannot encode an array as text (only a scalar can be) at $")
	_, err = String.Encode(nil, math.NaN())
	require.EqualError(t, err, "string codec: encode: unsupported float value NaN (JSON has no NaN or Inf) at $")
}

func TestBinary(t *testing.T) {
	in := []byte{0, 1, 0xff, 'a'}
	v, err := Binary.Decode(in)
	require.NoError(t, err)
	require.Equal(t, []byte{0, 1, 0xff, 'a'}, v)
	in[0] = 9
	require.Equal(t, []byte{0, 1, 0xff, 'a'}, v, "decode copies")
	v, err = Binary.Decode(nil)
	require.NoError(t, err)
	require.Equal(t, []byte{}, v)

	out, err := Binary.Encode([]byte("x"), []byte{1, 2})
	require.NoError(t, err)
	require.Equal(t, []byte{'x', 1, 2}, out)
	out, err = Binary.Encode(nil, "str")
	require.NoError(t, err)
	require.Equal(t, "str", string(out))
	_, err = Binary.Encode(nil, int64(1))
	require.EqualError(t, err, "binary codec: encode: cannot encode a number (the binary codec takes bytes or a string) at $")
}

func TestCSVDecode(t *testing.T) {
	tests := []struct {
		in   string
		want []any
	}{
		{"", []any{}},
		{"\n", []any{}},
		{"a", []any{"a"}},
		{"a,b,c", []any{"a", "b", "c"}},
		{"a,b,c\n", []any{"a", "b", "c"}},
		{"a,b,c\r\n", []any{"a", "b", "c"}},
		{",,", []any{"", "", ""}},
		{`""`, []any{""}},
		{`"a,b","say ""hi""",c`, []any{"a,b", `say "hi"`, "c"}},
		{"\"multi\nline\r\n\",x", []any{"multi\nline\r\n", "x"}},
		{`"",""`, []any{"", ""}},
		{" spaced , kept ", []any{" spaced ", " kept "}},
		{"ünï,cödé", []any{"ünï", "cödé"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := CSV.Decode([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
		})
	}
}

func TestCSVDecodeErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`a,"b`, "csv codec: decode: quoted field is not terminated at offset 2"},
		{`"a"b`, `csv codec: decode: unexpected 'b' after closing quote at offset 3`},
		{`a"b`, `csv codec: decode: bare " in unquoted field at offset 1`},
		{"a\nb", "csv codec: decode: line break outside quotes: a frame must hold exactly one record at offset 1"},
		{"a\n\n", "csv codec: decode: line break outside quotes: a frame must hold exactly one record at offset 1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := CSV.Decode([]byte(tt.in))
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestCSVEncode(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{[]any{}, ""},
		{[]any{""}, `""`},
		{[]any{nil}, `""`},
		{[]any{"", ""}, ","},
		{[]any{"a", "b,c", `q"q`, "l\nl", " lead", "trail "}, `a,"b,c","q""q","l` + "\n" + `l"," lead",trail `},
		{[]any{int64(1), 2.5, true, nil, []byte("raw"), uint64(math.MaxUint64)}, "1,2.5,true,,raw,18446744073709551615"},
		{[]string{"x", "y,z"}, `x,"y,z"`},
	}
	for _, tt := range tests {
		out, err := CSV.Encode([]byte(">"), tt.in)
		require.NoError(t, err)
		require.Equal(t, ">"+tt.want, string(out))
	}
	_, err := CSV.Encode([]byte(">"), []any{"a", map[string]any{}})
	require.EqualError(t, err, "csv codec: encode: cannot encode an object as a csv field (a field is a scalar) at $[1]")
	out, err := CSV.Encode([]byte(">"), "not a row")
	require.EqualError(t, err, "csv codec: encode: cannot encode a string as a csv record (a record is an array of scalars) at $")
	require.Equal(t, ">", string(out))
}

func TestCSVRoundTrip(t *testing.T) {
	semi, err := NewCSV(';')
	require.NoError(t, err)
	rows := [][]any{
		{}, {""}, {"", ""}, {"a"}, {"a,b", "c;d", `"`, "\r\n", " x", "é✓"},
	}
	for _, c := range []Codec{CSV, semi} {
		for _, row := range rows {
			out, err := c.Encode(nil, row)
			require.NoError(t, err)
			back, err := c.Decode(out)
			require.NoError(t, err, "%q", out)
			require.Equal(t, row, back, "%q", out)
		}
	}
}
