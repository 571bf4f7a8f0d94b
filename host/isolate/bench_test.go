package isolate_test

import (
	"testing"

	"tremorhost/host/edge"
	"tremorhost/host/isolate"
	"tremorhost/tests/testenv"
)

// BenchmarkRoundTrip is one empty pull: the cost of a hook call through
// the child process (socket round trip), against the same call in-process.
func BenchmarkRoundTrip(b *testing.B) {
	c := loadConnector(b, testenv.Fixture(b, "fixture"), "fixture_echo")
	batch := newBatch(b, edge.DefaultCaps)
	b.Run("in-process", func(b *testing.B) {
		i, err := c.Create("rt", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer i.Destroy()
		b.ReportAllocs()
		for b.Loop() {
			if err := i.Pull(batch, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("isolated", func(b *testing.B) {
		x, err := isolate.New(c, "rt", nil, (&logBuf{}).logger(), opts(b))
		if err != nil {
			b.Fatal(err)
		}
		defer x.Destroy()
		b.ReportAllocs()
		for b.Loop() {
			if err := x.Pull(batch, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
