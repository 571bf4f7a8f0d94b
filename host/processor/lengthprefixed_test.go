package processor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// lp builds a length-prefixed stream of the given frames.
func lp(frames ...string) string {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return string(b)
}

// hdr is a bare header announcing n bytes.
func hdr(n uint32) string { return string(binary.BigEndian.AppendUint32(nil, n)) }

// refLengthPrefixed is the whole-input reference implementation.
func refLengthPrefixed(data string, max int) (frames []string, dropped int) {
	for len(data) >= 4 {
		n := int(binary.BigEndian.Uint32([]byte(data)))
		data = data[4:]
		if n > max {
			dropped++
			data = data[min(n, len(data)):]
			continue
		}
		if n > len(data) {
			return frames, dropped + 1 // truncated at the end
		}
		frames = append(frames, data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		dropped++ // partial header at the end
	}
	return frames, dropped
}

func TestLengthPrefixed(t *testing.T) {
	three := lp("abc", "", "de")
	tests := []struct {
		name    string
		max     int
		chunks  []string
		finish  bool
		want    []string
		dropped int
	}{
		{name: "frames in one chunk", chunks: []string{three}, want: []string{"abc", "", "de"}},
		{name: "zero-length frames only", chunks: []string{lp("", "", "")}, want: []string{"", "", ""}},
		{name: "zero-length frame completed at chunk end", chunks: []string{hdr(0)[:2], hdr(0)[2:]}, want: []string{""}},
		{name: "one byte at a time", chunks: chunksOf(three, 1), finish: true, want: []string{"abc", "", "de"}},
		{name: "header split", chunks: []string{three[:2], three[2:]}, want: []string{"abc", "", "de"}},
		{name: "body split many times", chunks: chunksOf(lp(strings.Repeat("q", 100), "z"), 7), want: []string{strings.Repeat("q", 100), "z"}},
		{name: "partial kept", chunks: []string{lp("abc") + hdr(5) + "ab"}, want: []string{"abc"}},
		{name: "exactly max", max: 3, chunks: []string{lp("abc", "xyz")}, want: []string{"abc", "xyz"}},
		{name: "exactly max split", max: 3, chunks: chunksOf(lp("abc", "xyz"), 3), want: []string{"abc", "xyz"}},
		{name: "over max skipped", max: 3, chunks: []string{lp("abcd", "ok")}, want: []string{"ok"}, dropped: 1},
		{name: "over max skipped across chunks", max: 3, chunks: chunksOf(lp(strings.Repeat("x", 50), "ok", "abcdef", "k2"), 5), want: []string{"ok", "k2"}, dropped: 2},
		{name: "over max header split", max: 3, chunks: []string{hdr(10)[:3], hdr(10)[3:] + "0123", "456789" + lp("ok")}, want: []string{"ok"}, dropped: 1},
		{name: "finish with partial header", chunks: []string{lp("a") + "\x00\x00"}, finish: true, want: []string{"a"}, dropped: 1},
		{name: "finish with partial body", chunks: []string{lp("a") + hdr(4) + "ab"}, finish: true, want: []string{"a"}, dropped: 1},
		{name: "finish mid-skip", max: 2, chunks: []string{hdr(9) + "abc"}, finish: true, dropped: 1},
		{name: "finish clean", chunks: []string{lp("a")}, finish: true, want: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewLengthPrefixed(tt.max)
			got := feed(t, p, 9, tt.chunks, tt.finish)
			requireFrames(t, tt.want, got)
			require.Equal(t, tt.dropped, got.dropped, "dropped frames")
			if tt.finish {
				max := p.MaxLength()
				ref, refDropped := refLengthPrefixed(strings.Join(tt.chunks, ""), max)
				require.Equal(t, ref, got.frames)
				require.Equal(t, refDropped, got.dropped)
				require.Zero(t, p.s.len())
			}
		})
	}
}

func TestLengthPrefixedMessages(t *testing.T) {
	p := NewLengthPrefixed(4)
	err := p.Process(2, []byte(lp("0123456789")), func([]byte) error { return nil })
	require.EqualError(t, err, "length-prefixed pre-processor: stream 2: frame of 10 bytes is over max_length (4 bytes); skipped")
	require.NoError(t, p.Process(2, []byte(hdr(3)+"a"), func([]byte) error { return nil }))
	err = p.Finish(2, func([]byte) error { return nil })
	require.EqualError(t, err, "length-prefixed pre-processor: stream 2: stream ended inside a frame (1 of 3 bytes)")
}

func TestLengthPrefixedEmitError(t *testing.T) {
	p := NewLengthPrefixed(0)
	boom := errors.New("boom")
	n := 0
	err := p.Process(1, []byte(lp("a", "b", "c")), func([]byte) error {
		n++
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, 1, n)
	require.Zero(t, p.s.len())
}

func TestLengthPrefixedManyStreamsInterleaved(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const streams = 40
	const max = 30
	inputs := make([]string, streams)
	for s := range inputs {
		var frames []string
		for range 30 {
			frames = append(frames, strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(40)))
		}
		inputs[s] = lp(frames...)
	}
	p := NewLengthPrefixed(max)
	got := make([][]string, streams)
	dropped := make([]int, streams)
	offs := make([]int, streams)
	for active := streams; active > 0; {
		s := rng.IntN(streams)
		if offs[s] > len(inputs[s]) {
			continue
		}
		stream := uint64(s) << 40
		if offs[s] == len(inputs[s]) {
			r := feed(t, p, stream, nil, true)
			got[s] = append(got[s], r.frames...)
			dropped[s] += r.dropped
			offs[s]++
			active--
			continue
		}
		n := min(1+rng.IntN(30), len(inputs[s])-offs[s])
		r := feed(t, p, stream, []string{inputs[s][offs[s] : offs[s]+n]}, false)
		offs[s] += n
		got[s] = append(got[s], r.frames...)
		dropped[s] += r.dropped
	}
	for s := range inputs {
		want, wantDropped := refLengthPrefixed(inputs[s], max)
		require.Equal(t, want, got[s], "stream %d", s)
		require.Equal(t, wantDropped, dropped[s], "stream %d", s)
	}
	require.Zero(t, p.s.len())
}

func TestLengthPrefixedPost(t *testing.T) {
	post := LengthPrefixedPost{MaxLength: 3}
	dst, err := post.Append([]byte("x"), []byte("abc"))
	require.NoError(t, err)
	require.Equal(t, "x"+lp("abc"), string(dst))
	dst, err = post.Append(dst, nil)
	require.NoError(t, err)
	require.Equal(t, "x"+lp("abc", ""), string(dst))
	out, err := post.Append(dst, []byte("abcd"))
	require.ErrorIs(t, err, ErrFrameTooLong)
	require.Equal(t, dst, out)
	require.EqualError(t, err, "length-prefixed post-processor: frame too long: frame of 4 bytes is over max_length (3 bytes)")
}

func TestLengthPrefixedRoundTripThroughPost(t *testing.T) {
	frames := []string{"a", "", "\x00\x01\x02\xff", strings.Repeat("z", 1000), "\n"}
	var buf []byte
	post := LengthPrefixedPost{}
	for _, f := range frames {
		var err error
		buf, err = post.Append(buf, []byte(f))
		require.NoError(t, err)
	}
	for _, size := range []int{1, 2, 3, 4, 5, 7, 100, len(buf)} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			got := feed(t, NewLengthPrefixed(0), 1, chunksOf(string(buf), size), true)
			require.Equal(t, frames, got.frames)
			require.Zero(t, got.dropped)
		})
	}
}
