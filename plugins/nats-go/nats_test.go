package main

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		{"no ack pending", false, map[string]any{"stream": "S", "durable": "d", "max_ack_pending": 0}, "max_ack_pending 0 must be between 1 and 1048576"},
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

// Each event's meta has the documented shape: subject, stream_seq,
// delivered, timestamp_ms (when the message has JetStream metadata) and
// headers, the first value of each, a string when UTF-8 and bytes otherwise.
func TestMessageMeta(t *testing.T) {
	md := &jetstream.MsgMetadata{NumDelivered: 2, Timestamp: time.UnixMilli(1700000000123)}
	md.Sequence.Stream = 9
	tests := []struct {
		name string
		md   *jetstream.MsgMetadata
		h    nats.Header
		want map[string]any
	}{
		{"no metadata", nil, nil, map[string]any{"subject": "s.1"}},
		{"metadata", md, nil, map[string]any{"subject": "s.1", "stream_seq": uint64(9), "delivered": uint64(2), "timestamp_ms": int64(1700000000123)}},
		{"headers", nil, nats.Header{"Z": {"1", "2"}, "A": {"\xfe"}, "Empty": {}},
			map[string]any{"subject": "s.1", "headers": map[string]any{"Z": "1", "A": []byte{0xfe}}}},
	}
	var b pdk.ValueBuilder
	var keys []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeMeta(&b, &keys, "s.1", tc.md, tc.h)
			got, err := b.Decode()
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"nats": tc.want}, got)
		})
	}
}
