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
