package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"tremorhost/pdk-go"
)

// Configs that can never work are refused at create time, saying why.
func TestConfigErrors(t *testing.T) {
	host := pdk.NewHost("n", func(pdk.Level, string) {})
	for _, c := range []struct {
		name string
		sink bool
		cfg  map[string]any
		msg  string
	}{
		{"empty stream", false, map[string]any{"stream": "", "durable": "d"}, "stream and durable must not be empty"},
		{"short ack wait", false, map[string]any{"stream": "S", "durable": "d", "ack_wait_ms": 10}, "ack_wait_ms 10 must be at least 1000"},
		{"empty subject", true, map[string]any{"subject": ""}, "subject must not be empty"},
		{"long send timeout", true, map[string]any{"subject": "x", "send_timeout_ms": 9000}, "send_timeout_ms 9000 must be between 100 and 8000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.sink {
				_, err = newSink(pdk.NewConfig(c.cfg), host)
			} else {
				_, err = newSource(pdk.NewConfig(c.cfg), host)
			}
			assert.True(t, pdk.IsConfigError(err), "%v", err)
			assert.ErrorContains(t, err, c.msg)
		})
	}
}
