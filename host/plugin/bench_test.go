package plugin_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/edge"
)

func endlessEcho(t testing.TB) *edge.Instance {
	return create(t, connector(t, "fixture_echo"), "bench", map[string]any{"count": uint64(1) << 62}, nil)
}

func sinkTypes(t testing.TB) *edge.Instance {
	return create(t, connector(t, "fixture_types"), "bench", map[string]any{"host": "h"}, nil)
}

func fill(t testing.TB, n int) *edge.Batch {
	b := newBatch(t, edge.Caps{Events: n, Values: 2 * n, Bytes: 128 * n})
	payload := make([]byte, 100)
	for k := 0; k < n; k++ {
		require.NoError(t, b.Append(&edge.Event{ID: uint64(k), Payload: payload}))
	}
	return b
}

func TestPullAndSendDoNotAllocate(t *testing.T) {
	src := endlessEcho(t)
	b := newBatch(t, edge.Caps{Events: 64, Values: 128, Bytes: 4096})
	allocs := testing.AllocsPerRun(200, func() {
		if err := src.Pull(b, 0); err != nil || b.Len() == 0 {
			t.Fatal(err, b.Len())
		}
	})
	assert.Zero(t, allocs, "allocations per Pull")

	sink := sinkTypes(t)
	sb := fill(t, 64)
	outcomes := make([]uint8, 64)
	allocs = testing.AllocsPerRun(200, func() {
		if err := sink.Send(sb, outcomes); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations per Send")

	allocs = testing.AllocsPerRun(200, func() {
		if err := src.Drain(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations per lifecycle step")

	allocs = testing.AllocsPerRun(200, func() {
		sb.Reset()
		for k := 0; k < 8; k++ {
			if err := sb.Append(&edge.Event{ID: uint64(k), Payload: payload8, Meta: meta}); err != nil {
				t.Fatal(err)
			}
		}
	})
	assert.Zero(t, allocs, "allocations per Batch.Append with metadata")
}

var (
	payload8 = []byte("12345678")
	meta     = map[string]any{"topic": "t", "partition": int64(3)}
)

func BenchmarkPull(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			src := endlessEcho(b)
			batch := newBatch(b, edge.Caps{Events: n, Values: 2 * n, Bytes: 64 * n})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := src.Pull(batch, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

func BenchmarkSend(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			sink := sinkTypes(b)
			batch := fill(b, n)
			outcomes := make([]uint8, n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := sink.Send(batch, outcomes); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkStep is the bare cost of one hook call through the host
// (lock, error-buffer reset, purego.SyscallN, result mapping).
func BenchmarkStep(b *testing.B) {
	sink := sinkTypes(b) // fixture_types has no on_start: measured without a C call
	echo := endlessEcho(b)
	b.Run("null-hook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = sink.Start()
		}
	})
	b.Run("c-hook", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = echo.Drain()
		}
	})
}
