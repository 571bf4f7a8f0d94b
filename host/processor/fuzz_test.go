package processor

import (
	"math/rand/v2"
	"testing"
)

// randomChunks cuts data into chunks of 0..2*avg bytes chosen by seed.
func randomChunks(data []byte, seed uint64, avg int) []string {
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	var out []string
	s := string(data)
	for len(s) > 0 {
		n := min(rng.IntN(2*avg+1), len(s))
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// interleave feeds the same input to two streams of one pre-processor with
// different chunkings, alternating calls, and returns both results.
func interleave(t *testing.T, p Preprocessor, a, b []string) (feedResult, feedResult) {
	var ra, rb feedResult
	add := func(r *feedResult, x feedResult) {
		r.frames = append(r.frames, x.frames...)
		r.dropped += x.dropped
		if x.other != nil {
			t.Fatalf("unexpected error %v", x.other)
		}
	}
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			add(&ra, feed(t, p, 1, a[i:i+1], false))
		}
		if i < len(b) {
			add(&rb, feed(t, p, 2, b[i:i+1], false))
		}
	}
	add(&ra, feed(t, p, 1, nil, true))
	add(&rb, feed(t, p, 2, nil, true))
	return ra, rb
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), uint64(1), uint8(3), false)
	f.Add([]byte("\r\n\r\n\n\r"), uint64(2), uint8(0), true)
	f.Add([]byte("0123456789\nab\n0123456789"), uint64(3), uint8(4), false)
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, max uint8, skipEmpty bool) {
		maxLen := int(max) + 1
		p := NewLines(maxLen, skipEmpty)
		ra, rb := interleave(t, p, randomChunks(data, seed, 4), randomChunks(data, seed+1, 9))
		want, wantDropped := refLines(string(data), maxLen, skipEmpty)
		for _, r := range []feedResult{ra, rb} {
			if !equalStrings(want, r.frames) || r.dropped != wantDropped {
				t.Fatalf("got %q (%d dropped), want %q (%d dropped)", r.frames, r.dropped, want, wantDropped)
			}
		}
		if p.s.len() != 0 {
			t.Fatal("streams left after Finish")
		}
	})
}

func FuzzLengthPrefixed(f *testing.F) {
	f.Add([]byte(lp("abc", "", "de")), uint64(1), uint8(3))
	f.Add([]byte(lp("0123456789", "x")+"\x00\x00"), uint64(2), uint8(4))
	f.Add([]byte(hdr(0xffffffff)+"abc"), uint64(3), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64, max uint8) {
		maxLen := int(max) + 1
		p := NewLengthPrefixed(maxLen)
		ra, rb := interleave(t, p, randomChunks(data, seed, 3), randomChunks(data, seed+1, 11))
		want, wantDropped := refLengthPrefixed(string(data), maxLen)
		for _, r := range []feedResult{ra, rb} {
			if !equalStrings(want, r.frames) || r.dropped != wantDropped {
				t.Fatalf("got %q (%d dropped), want %q (%d dropped)", r.frames, r.dropped, want, wantDropped)
			}
		}
		if p.s.len() != 0 {
			t.Fatal("streams left after Finish")
		}
	})
}
