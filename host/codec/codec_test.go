package codec

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// richValue exercises every type of the value model.
func richValue() map[string]any {
	return map[string]any{
		"null":    nil,
		"t":       true,
		"f":       false,
		"small":   int64(42),
		"neg":     int64(-7),
		"big":     int64(1<<53 + 1), // not representable as float64
		"min":     int64(math.MinInt64),
		"max":     int64(math.MaxInt64),
		"umax":    uint64(math.MaxUint64),
		"ubig":    uint64(1<<63 + 12345),
		"float":   3.25,
		"whole":   3.0,
		"tiny":    1e-9,
		"huge":    1.5e300,
		"negzero": math.Copysign(0, -1),
		"unicode": "héllo ✓ 😀 \u2028 日本",
		"escapes": "quote\" backslash\\ nl\n tab\t ctl\x01 del\x7f",
		"empty":   "",
		"nested": map[string]any{
			"list":  []any{int64(1), "two", []any{}, map[string]any{}, nil, 2.5},
			"deep":  map[string]any{"a": map[string]any{"b": []any{[]any{"c"}}}},
			"émoji": "🙂",
		},
	}
}

func TestRegistry(t *testing.T) {
	require.Equal(t, []string{"binary", "csv", "json", "msgpack", "string"}, Names())
	for _, name := range Names() {
		c, err := New(name, nil)
		require.NoError(t, err)
		require.Equal(t, name, c.Name())
	}
	_, err := New("yaml", nil)
	require.ErrorIs(t, err, ErrUnknownCodec)
	require.EqualError(t, err, `unknown codec "yaml" (known codecs: binary, csv, json, msgpack, string)`)

	_, err = New("json", map[string]any{"pretty": true})
	require.EqualError(t, err, `codec "json": unknown config key "pretty" (this codec takes no options)`)
	c, err := New("csv", map[string]any{"delimiter": ";"})
	require.NoError(t, err)
	out, err := c.Encode(nil, []any{"a", "b;c"})
	require.NoError(t, err)
	require.Equal(t, `a;"b;c"`, string(out))
	_, err = New("csv", map[string]any{"delimiter": ";;"})
	require.EqualError(t, err, `codec "csv": config key "delimiter": want a one-character string, got ";;"`)
	_, err = New("csv", map[string]any{"delimiter": `"`})
	require.EqualError(t, err, `codec "csv": config key "delimiter": invalid csv delimiter '"': must be one ASCII character other than '"', '\r' and '\n'`)
	_, err = New("csv", map[string]any{"sep": ","})
	require.EqualError(t, err, `codec "csv": unknown config key "sep" (known: delimiter)`)
}

func TestErrorType(t *testing.T) {
	_, err := JSON.Decode([]byte(`{"a":}`))
	var ce *Error
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "json", ce.Codec)
	require.Equal(t, "decode", ce.Op)
	require.Equal(t, 5, ce.Offset)
	require.NotNil(t, errors.Unwrap(err))
}

func TestDecodeDoesNotAliasInput(t *testing.T) {
	inputs := map[Codec]string{
		JSON:    `{"k":"value","l":["x"]}`,
		String:  "value",
		Binary:  "value",
		CSV:     "a,b,c",
		Msgpack: "\x82\xa1k\xa5value\xa1b\xc4\x03bin",
	}
	for c, in := range inputs {
		t.Run(c.Name(), func(t *testing.T) {
			buf := []byte(in)
			v, err := c.Decode(buf)
			require.NoError(t, err)
			want, err := c.Decode([]byte(in))
			require.NoError(t, err)
			for i := range buf {
				buf[i] = 'X'
			}
			require.Equal(t, want, v, "decoded value changed when the frame buffer was reused")
		})
	}
}

func TestEncodeAppendsAndKeepsDstOnError(t *testing.T) {
	bad := map[string]any{"ch": make(chan int)}
	for _, c := range []Codec{JSON, Msgpack, String, Binary, CSV} {
		t.Run(c.Name(), func(t *testing.T) {
			dst := []byte("prefix")
			out, err := c.Encode(dst, bad)
			require.Error(t, err)
			require.Equal(t, "prefix", string(out))
			var ce *Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, c.Name(), ce.Codec)
			require.Equal(t, "encode", ce.Op)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	v := richValue()
	for _, c := range []Codec{JSON, Msgpack} {
		want, err := c.Encode(nil, v)
		require.NoError(t, err)
		done := make(chan error, 4)
		for range 4 {
			go func() {
				var buf []byte
				for range 200 {
					d, err := c.Decode(want)
					if err != nil {
						done <- err
						return
					}
					if buf, err = c.Encode(buf[:0], d); err != nil {
						done <- err
						return
					}
					if string(buf) != string(want) {
						done <- errors.New(c.Name() + ": concurrent round trip differs")
						return
					}
				}
				done <- nil
			}()
		}
		for range 4 {
			require.NoError(t, <-done)
		}
	}
}
