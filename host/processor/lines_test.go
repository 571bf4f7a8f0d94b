package processor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLines(t *testing.T) {
	long := strings.Repeat("x", 10)
	tests := []struct {
		name      string
		max       int
		skipEmpty bool
		chunks    []string
		finish    bool
		want      []string
		dropped   int
	}{
		{name: "simple", chunks: []string{"a\nb\n"}, want: []string{"a", "b"}},
		{name: "crlf", chunks: []string{"a\r\nb\r\n"}, want: []string{"a", "b"}},
		{name: "crlf split across chunks", chunks: []string{"a\r", "\nb\r", "\n"}, want: []string{"a", "b"}},
		{name: "crlf split, then more", chunks: []string{"ab\r", "\ncd\r\nef"}, finish: true, want: []string{"ab", "cd", "ef"}},
		{name: "only one cr stripped", chunks: []string{"a\r\r\n\r\n"}, want: []string{"a\r", ""}},
		{name: "lone cr kept", chunks: []string{"a\rb\n"}, want: []string{"a\rb"}},
		{name: "empty lines", chunks: []string{"\n\na\n\n"}, want: []string{"", "", "a", ""}},
		{name: "empty lines skipped", skipEmpty: true, chunks: []string{"\n\r\na\n\n"}, want: []string{"a"}},
		{name: "partial kept without finish", chunks: []string{"a\nbc"}, want: []string{"a"}},
		{name: "partial flushed by finish", chunks: []string{"a\nb", "c"}, finish: true, want: []string{"a", "bc"}},
		{name: "finish strips cr", chunks: []string{"abc\r"}, finish: true, want: []string{"abc"}},
		{name: "finish with nothing pending", chunks: []string{"abc\n"}, finish: true, want: []string{"abc"}},
		{name: "empty chunks", chunks: []string{"", "a", "", "\n", ""}, want: []string{"a"}},
		{name: "one byte at a time", chunks: chunksOf("ab\r\ncd\n\nef", 1), finish: true, want: []string{"ab", "cd", "", "ef"}},
		{name: "exactly max", max: 3, chunks: []string{"abc\nabc\r\n"}, want: []string{"abc", "abc"}},
		{name: "exactly max across chunks", max: 3, chunks: []string{"ab", "c\r", "\nab", "c", "\n"}, want: []string{"abc", "abc"}},
		{name: "exactly max at finish", max: 3, chunks: []string{"ab", "c\r"}, finish: true, want: []string{"abc"}},
		{name: "max+1 dropped", max: 3, chunks: []string{"abcd\nok\n"}, want: []string{"ok"}, dropped: 1},
		{name: "max+1 across chunks dropped", max: 3, chunks: []string{"ab", "cd", "\nok\n"}, want: []string{"ok"}, dropped: 1},
		{name: "max+1 at finish dropped", max: 3, chunks: []string{"ok\nabcd"}, finish: true, want: []string{"ok"}, dropped: 1},
		{name: "over-long recovery", max: 4, chunks: []string{"a\n" + long + "\nb\n"}, want: []string{"a", "b"}, dropped: 1},
		{name: "over-long over many chunks", max: 4, chunks: append(chunksOf("x\n"+long+long, 3), "yy\nz\n"), want: []string{"x", "z"}, dropped: 1},
		{name: "over-long at end of chunk then resync", max: 4, chunks: []string{"xy\n" + long, long + "\nz\n"}, want: []string{"xy", "z"}, dropped: 1},
		{name: "over-long at finish", max: 4, chunks: []string{"xy\n" + long}, finish: true, want: []string{"xy"}, dropped: 1},
		{name: "two over-long in one chunk", max: 4, chunks: []string{long + "\n" + long + "\nok\n"}, want: []string{"ok"}, dropped: 2},
		{name: "over-long pending then over-long in data", max: 4, chunks: []string{"abc", "defgh\n" + long + "\nok"}, finish: true, want: []string{"ok"}, dropped: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewLines(tt.max, tt.skipEmpty)
			got := feed(t, p, 7, tt.chunks, tt.finish)
			requireFrames(t, tt.want, got)
			require.Equal(t, tt.dropped, got.dropped, "dropped frames")
			// and the reference agrees
			max := tt.max
			if max == 0 {
				max = DefaultMaxLength
			}
			all := strings.Join(tt.chunks, "")
			if !tt.finish {
				all = all[:strings.LastIndexByte(all, '\n')+1]
			}
			ref, refDropped := refLines(all, max, tt.skipEmpty)
			require.Equal(t, ref, got.frames)
			require.Equal(t, refDropped, got.dropped)
			if tt.finish {
				require.Zero(t, p.s.len(), "Finish forgets the stream")
			}
		})
	}
}

func TestLinesFrameErrorMessage(t *testing.T) {
	p := NewLines(4, false)
	err := p.Process(3, []byte("0123456789\nok\n"), func([]byte) error { return nil })
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, uint64(3), fe.Stream)
	require.Equal(t, 1, fe.Dropped)
	require.Equal(t, "lines pre-processor: stream 3: line longer than max_length (4 bytes) dropped up to the next newline", err.Error())
}

func TestLinesPendingBounded(t *testing.T) {
	p := NewLines(16, false)
	for i := range 100 {
		err := p.Process(1, []byte("0123456789"), func([]byte) error { return nil })
		if i == 1 {
			require.Error(t, err, "reported once, when the line passes max_length")
		} else {
			require.NoError(t, err)
		}
		require.LessOrEqual(t, cap(p.s.get(1).buf), 64, "an over-long line must not be buffered")
	}
}

func TestLinesEmitErrorStops(t *testing.T) {
	p := NewLines(0, false)
	boom := errors.New("boom")
	var got []string
	err := p.Process(1, []byte("a\nb\nc\nd"), func(f []byte) error {
		got = append(got, string(f))
		if string(f) == "b" {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, []string{"a", "b"}, got)
	require.Zero(t, p.s.len(), "stream state discarded after an emit error")
}

func TestLinesEmitErrorJoinedWithDropped(t *testing.T) {
	p := NewLines(2, false)
	boom := errors.New("boom")
	err := p.Process(1, []byte("long\nb\n"), func(f []byte) error { return boom })
	require.ErrorIs(t, err, boom)
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, 1, fe.Dropped)
}

func TestLinesForget(t *testing.T) {
	p := NewLines(0, false)
	got := feed(t, p, 1, []string{"abc"}, false)
	require.Empty(t, got.frames)
	p.Forget(1)
	p.Forget(99) // unknown streams are fine
	got = feed(t, p, 1, []string{"def\n"}, true)
	require.Equal(t, []string{"def"}, got.frames)
}

// Many streams interleaved, chunked at random: each stream's frames are
// exactly what the reference gives for its bytes.
func TestLinesManyStreamsInterleaved(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const streams = 50
	const max = 20
	inputs := make([]string, streams)
	for s := range inputs {
		var b strings.Builder
		for range 40 {
			n := rng.IntN(30) // some over max
			for range n {
				b.WriteByte("ab\r c"[rng.IntN(5)])
			}
			if rng.IntN(3) == 0 {
				b.WriteByte('\r')
			}
			b.WriteByte('\n')
		}
		b.WriteString("tail")
		inputs[s] = b.String()
	}
	p := NewLines(max, false)
	got := make([][]string, streams)
	dropped := make([]int, streams)
	offs := make([]int, streams)
	for active := streams; active > 0; {
		s := rng.IntN(streams)
		if offs[s] > len(inputs[s]) {
			continue
		}
		stream := uint64(s) * 1000003
		if offs[s] == len(inputs[s]) {
			r := feed(t, p, stream, nil, true)
			got[s] = append(got[s], r.frames...)
			dropped[s] += r.dropped
			offs[s]++
			active--
			continue
		}
		n := min(1+rng.IntN(25), len(inputs[s])-offs[s])
		r := feed(t, p, stream, []string{inputs[s][offs[s] : offs[s]+n]}, false)
		offs[s] += n
		got[s] = append(got[s], r.frames...)
		dropped[s] += r.dropped
	}
	for s := range inputs {
		want, wantDropped := refLines(inputs[s], max, false)
		require.Equal(t, want, got[s], "stream %d", s)
		require.Equal(t, wantDropped, dropped[s], "stream %d", s)
		require.NotZero(t, wantDropped, "the test should exercise over-long lines")
	}
	require.Zero(t, p.s.len())
}

func TestLinesPost(t *testing.T) {
	var post Postprocessor = LinesPost{}
	dst, err := post.Append([]byte("x\n"), []byte("abc"))
	require.NoError(t, err)
	require.Equal(t, "x\nabc\n", string(dst))
	dst, err = post.Append(dst[:0], nil)
	require.NoError(t, err)
	require.Equal(t, "\n", string(dst))
}

func TestLinesRoundTripThroughPost(t *testing.T) {
	frames := []string{"a", "", "unicode ✓", strings.Repeat("z", 1000)}
	var buf []byte
	for _, f := range frames {
		buf, _ = LinesPost{}.Append(buf, []byte(f))
	}
	for _, size := range []int{1, 2, 3, 7, 100, len(buf)} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			got := feed(t, NewLines(0, false), 1, chunksOf(string(buf), size), true)
			require.Equal(t, frames, got.frames)
		})
	}
}
