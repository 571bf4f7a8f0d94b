package plugin_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/plugin"
)

// A secret field's value is never quoted by a config error, even where the
// error for a field that is not secret shows the value it could not convert.
func TestCheckConfigNeverQuotesSecretValues(t *testing.T) {
	c := &plugin.Connector{Name: "vault", Fields: []plugin.Field{
		{Name: "pin", Type: abi.ValueUint, Secret: true},
		{Name: "ratio", Type: abi.ValueFloat, Secret: true},
		{Name: "count", Type: abi.ValueUint},
	}}
	tests := []struct {
		name, field string
		value       any
		want        string
	}{
		{"negative", "pin", json.Number("-73519"), `config field "pin": expected uint, got number (the value is not shown: the field is secret)`},
		{"fraction", "pin", 73519.5, `config field "pin": expected uint, got float (the value is not shown`},
		{"inexact float", "ratio", int64(1)<<53 + 73519, `config field "ratio": expected float, got int (the value is not shown`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CheckConfig(map[string]any{tt.field: tt.value})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "73519")
		})
	}
	// the same mistake in a field that is not secret is shown, for comparison
	_, err := c.CheckConfig(map[string]any{"count": json.Number("-73519")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-73519")

	red := c.Redacted(map[string]any{"pin": 1234, "count": 5})
	assert.Equal(t, map[string]any{"pin": "<redacted>", "count": 5}, red)
}

// Array and object values come out in the plain value set whatever Go
// types they were written with: ints widened, JSON numbers as int, uint or
// float, nested tables normalized, and too deep a nesting refused.
func TestCheckConfigNormalizesArraysAndObjects(t *testing.T) {
	c := &plugin.Connector{Name: "shapes", Fields: []plugin.Field{
		{Name: "list", Type: abi.ValueArray},
		{Name: "table", Type: abi.ValueObject},
	}}
	deep := any(map[string]any{})
	for range abi.MaxDepth + 1 {
		deep = map[string]any{"d": deep}
	}
	tests := []struct {
		name      string
		list, tab any
		want      map[string]any
		err       string
	}{
		{name: "ints widen", list: []int{1, 2}, tab: map[string]any{"n": int8(-3), "u": uint16(4)},
			want: map[string]any{"list": []any{int64(1), int64(2)}, "table": map[string]any{"n": int64(-3), "u": uint64(4)}}},
		{name: "json numbers", list: []any{json.Number("5"), json.Number("18446744073709551615"), json.Number("0.5")}, tab: map[string]any{},
			want: map[string]any{"list": []any{int64(5), uint64(18446744073709551615), 0.5}, "table": map[string]any{}}},
		{name: "nested", list: []map[string]any{{"a": []string{"x"}}}, tab: map[string]any{"b": []bool{true}, "f": float32(1.5)},
			want: map[string]any{"list": []any{map[string]any{"a": []any{"x"}}}, "table": map[string]any{"b": []any{true}, "f": 1.5}}},
		{name: "not a config value", list: []any{}, tab: map[string]any{"ch": make(chan int)},
			err: `config field "table": expected object, member "ch": holds a Go chan int, which a config value cannot be`},
		{name: "too deep", list: []any{}, tab: deep, err: "nests deeper than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.CheckConfig(map[string]any{"list": tt.list, "table": tt.tab})
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
