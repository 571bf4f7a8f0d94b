package processor

// go test -run='^$' -bench=. -benchmem ./host/processor
//
// Each op processes a whole input (chunks cut at arbitrary points, so frames
// straddle chunk boundaries); ns/frame is the cost per emitted frame.

import (
	"fmt"
	"strings"
	"testing"
)

const benchLine = `{"ts":1732690000123456789,"host":"web-01","level":"info","msg":"GET /api 200","ok":true}`

func benchInput(frames int, frame func(i int) string) string {
	var b strings.Builder
	for i := range frames {
		b.WriteString(frame(i))
	}
	return b.String()
}

func runPreBench(b *testing.B, p Preprocessor, input string, chunk int, streams int, wantFrames int) {
	chunks := chunksOf(input, chunk)
	bufs := make([][]byte, len(chunks))
	for i, c := range chunks {
		bufs[i] = []byte(c)
	}
	n := 0
	emit := func(frame []byte) error { n++; return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(input) * streams))
	for b.Loop() {
		n = 0
		for _, c := range bufs {
			for s := range streams {
				if err := p.Process(uint64(s), c, emit); err != nil {
					b.Fatal(err)
				}
			}
		}
		for s := range streams {
			if err := p.Finish(uint64(s), emit); err != nil {
				b.Fatal(err)
			}
		}
		if n != wantFrames*streams {
			b.Fatalf("got %d frames, want %d", n, wantFrames*streams)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*wantFrames*streams), "ns/frame")
}

func BenchmarkLines(b *testing.B) {
	const frames = 1000
	input := benchInput(frames, func(int) string { return benchLine + "\n" })
	for _, tc := range []struct{ chunk, streams int }{{65536, 1}, {4096, 1}, {1500, 16}, {64, 1}} {
		b.Run(fmt.Sprintf("chunk=%d/streams=%d", tc.chunk, tc.streams), func(b *testing.B) {
			runPreBench(b, NewLines(0, false), input, tc.chunk, tc.streams, frames)
		})
	}
}

func BenchmarkLengthPrefixed(b *testing.B) {
	const frames = 1000
	input := lp(strings.Split(strings.Repeat(benchLine+"\n", frames), "\n")[:frames]...)
	for _, tc := range []struct{ chunk, streams int }{{65536, 1}, {4096, 1}, {1500, 16}, {64, 1}} {
		b.Run(fmt.Sprintf("chunk=%d/streams=%d", tc.chunk, tc.streams), func(b *testing.B) {
			runPreBench(b, NewLengthPrefixed(0), input, tc.chunk, tc.streams, frames)
		})
	}
}

func BenchmarkPost(b *testing.B) {
	frame := []byte(benchLine)
	for _, p := range []Postprocessor{LinesPost{}, LengthPrefixedPost{}} {
		b.Run(p.Name(), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64<<10)
			for b.Loop() {
				buf = buf[:0]
				for range 100 {
					buf, _ = p.Append(buf, frame)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/frame")
		})
	}
}
