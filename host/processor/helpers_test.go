package processor

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// feedResult is what feeding chunks to a pre-processor produced.
type feedResult struct {
	frames  []string
	dropped int   // frames reported in *FrameError
	calls   int   // calls that returned a *FrameError
	other   error // any other error
}

// feed runs chunks through p on one stream (and Finish if finish is set)
// checking the buffer contract as it goes:
//   - every frame emitted during a call is still intact when the call
//     returns (frames are valid until the next call),
//   - p keeps no reference to data: the chunk is scribbled over after each
//     call.
func feed(t testing.TB, p Preprocessor, stream uint64, chunks []string, finish bool) feedResult {
	t.Helper()
	var res feedResult
	var raw [][]byte
	var copies []string
	emit := func(frame []byte) error {
		raw = append(raw, frame)
		copies = append(copies, string(frame))
		return nil
	}
	check := func(err error) {
		for i := range raw {
			if string(raw[i]) != copies[i] {
				t.Fatalf("frame %q changed to %q before the call returned", copies[i], raw[i])
			}
		}
		res.frames = append(res.frames, copies...)
		raw, copies = raw[:0], copies[:0]
		if err != nil {
			var fe *FrameError
			if errors.As(err, &fe) {
				res.dropped += fe.Dropped
				res.calls++
				if fe.Stream != stream || fe.Processor != p.Name() || fe.Reason == "" {
					t.Fatalf("bad FrameError %+v", fe)
				}
			} else {
				res.other = err
			}
		}
	}
	scratch := make([]byte, 0, 64)
	for _, c := range chunks {
		scratch = append(scratch[:0], c...)
		err := p.Process(stream, scratch, emit)
		check(err)
		for i := range scratch {
			scratch[i] = '#'
		}
	}
	if finish {
		check(p.Finish(stream, emit))
	}
	return res
}

// chunksOf splits s into pieces of n bytes.
func chunksOf(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// splitAt cuts s at the given (sorted, in-range) offsets.
func splitAt(s string, cuts []int) []string {
	var out []string
	prev := 0
	for _, c := range cuts {
		out = append(out, s[prev:c])
		prev = c
	}
	return append(out, s[prev:])
}

// refLines is the obvious, whole-input implementation of the lines
// pre-processor used as the reference in tests and fuzzing.
func refLines(data string, max int, skipEmpty bool) (frames []string, dropped int) {
	parts := bytes.Split([]byte(data), []byte("\n"))
	last := len(parts) - 1
	for i, p := range parts {
		if i == last && len(p) == 0 {
			break // data ended with '\n' (or was empty)
		}
		p = trimCR(p)
		switch {
		case len(p) > max:
			dropped++
		case len(p) == 0 && skipEmpty:
		default:
			frames = append(frames, string(p))
		}
	}
	return frames, dropped
}

func requireFrames(t *testing.T, want []string, got feedResult) {
	t.Helper()
	require.NoError(t, got.other)
	if len(want) == 0 {
		require.Empty(t, got.frames)
		return
	}
	require.Equal(t, want, got.frames)
}
