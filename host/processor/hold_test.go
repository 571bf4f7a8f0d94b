package processor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Pending says, after each chunk, whether the stream holds the start of a
// frame, is discarding the rest of a dropped one, or holds nothing.
func TestPendingAfterEachChunk(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Preprocessor
		chunks []string
		want   []Hold
	}{
		{"lines", NewLines(8, false),
			[]string{"ab\ncd", "e", "f\n", "0123456789", "xx", "x\nok\n", "", "tail"},
			[]Hold{HoldPartial, HoldPartial, HoldNone, HoldDiscard, HoldDiscard, HoldNone, HoldNone, HoldPartial}},
		{"lines over max_length across chunks", NewLines(4, false),
			[]string{"abc", "def", "g\n"},
			[]Hold{HoldPartial, HoldDiscard, HoldNone}},
		{"length-prefixed", NewLengthPrefixed(8),
			[]string{lp("ab")[:2], lp("ab")[2:5], lp("ab")[5:] + lp("c"), lp("0123456789")[:7], lp("0123456789")[7:], lp("")},
			[]Hold{HoldPartial, HoldPartial, HoldNone, HoldDiscard, HoldNone, HoldNone}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Len(t, tc.want, len(tc.chunks))
			emit := func([]byte) error { return nil }
			for i, c := range tc.chunks {
				_ = tc.p.Process(1, []byte(c), emit)
				assert.Equal(t, tc.want[i], tc.p.Pending(1), "after chunk %d %q", i, c)
				assert.Equal(t, HoldNone, tc.p.Pending(2), "another stream")
			}
			require.NoError(t, tc.p.Finish(1, emit))
			assert.Equal(t, HoldNone, tc.p.Pending(1), "after Finish")
		})
	}
}

// Discard drops a held partial frame and the rest of it as it comes;
// framing resumes after it, and the frames after it are exact.
func TestDiscardDropsTheHeldFrame(t *testing.T) {
	for _, tc := range []struct {
		name         string
		p            Preprocessor
		before, rest []string
		want         []string
	}{
		{"lines", NewLines(100, false), []string{"one\ntw"}, []string{"o and", " more\nthree\n"}, []string{"one", "three"}},
		{"length-prefixed", NewLengthPrefixed(100), []string{lp("one") + lp("two")[:5]}, []string{lp("two")[5:6], lp("two")[6:] + lp("three")}, []string{"one", "three"}},
		// A header not complete yet: where the next frame starts is
		// unknown, so the rest of the stream is dropped.
		{"length-prefixed header", NewLengthPrefixed(100), []string{lp("one") + lp("two")[:2]}, []string{lp("two")[2:] + lp("three")}, []string{"one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			emit := func(f []byte) error { got = append(got, string(f)); return nil }
			for _, c := range tc.before {
				require.NoError(t, tc.p.Process(1, []byte(c), emit))
			}
			require.Equal(t, HoldPartial, tc.p.Pending(1))
			tc.p.Discard(1)
			assert.Equal(t, HoldDiscard, tc.p.Pending(1))
			for _, c := range tc.rest {
				require.NoError(t, tc.p.Process(1, []byte(c), emit), "nothing more is reported")
			}
			require.NoError(t, tc.p.Finish(1, emit))
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDiscardWithNothingHeldChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		p     Preprocessor
		input string
	}{{NewLines(10, false), "x\n"}, {NewLengthPrefixed(10), lp("x")}} {
		tc.p.Discard(1)
		assert.Equal(t, HoldNone, tc.p.Pending(1), tc.p.Name())
		var got []string
		require.NoError(t, tc.p.Process(1, []byte(tc.input), func(f []byte) error { got = append(got, string(f)); return nil }))
		assert.Equal(t, []string{"x"}, got, tc.p.Name())
	}
}
