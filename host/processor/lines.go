package processor

import (
	"bytes"
	"strconv"
)

// Lines is the "lines" pre-processor: frames are the bytes between '\n'
// separators, with one '\r' before the '\n' removed. The partial last line
// of a chunk is kept per stream until the next chunk, or until Finish, which
// emits it as the stream's last frame (also without a trailing '\r').
//
// A line longer than MaxLength bytes (not counting "\r\n") is dropped: its
// bytes are discarded up to the next '\n', where splitting resumes, and the
// call that noticed it returns a *FrameError. Pending data never grows past
// MaxLength+1 bytes. Empty lines are emitted as empty frames unless
// SkipEmpty is set.
//
// Config keys: max_length (default 1 MiB), skip_empty (default false).
type Lines struct {
	maxLen    int
	skipEmpty bool
	s         streams
}

// NewLines returns a lines pre-processor; maxLength <= 0 means
// DefaultMaxLength.
func NewLines(maxLength int, skipEmpty bool) *Lines {
	if maxLength <= 0 {
		maxLength = DefaultMaxLength
	}
	return &Lines{maxLen: maxLength, skipEmpty: skipEmpty}
}

func (*Lines) Name() string { return "lines" }

// MaxLength is the longest line emitted.
func (l *Lines) MaxLength() int { return l.maxLen }

func (l *Lines) overLong(fe *frameErrs, stream uint64) {
	fe.add("lines", stream, func() string {
		return "line longer than max_length (" + strconv.Itoa(l.maxLen) + " bytes) dropped up to the next newline"
	})
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// line checks and emits one complete line (its '\n' already removed).
func (l *Lines) line(fe *frameErrs, stream uint64, line []byte, emit Emit) error {
	line = trimCR(line)
	if len(line) > l.maxLen {
		l.overLong(fe, stream)
		return nil
	}
	if len(line) == 0 && l.skipEmpty {
		return nil
	}
	return emit(line)
}

func (l *Lines) Process(stream uint64, data []byte, emit Emit) error {
	var fe frameErrs
	st := l.s.get(stream)
	i := 0
	if st != nil && (st.skipping || len(st.buf) > 0) {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			// Still no end of line.
			if st.skipping {
				return nil
			}
			if len(st.buf)+len(data) > l.maxLen+1 {
				l.overLong(&fe, stream)
				st.buf = st.buf[:0]
				st.skipping = true
				return fe.result(nil)
			}
			st.buf = append(st.buf, data...)
			return nil
		}
		i = j + 1
		switch {
		case st.skipping:
			st.skipping = false // resynchronised
		case len(st.buf)+j > l.maxLen+1:
			l.overLong(&fe, stream)
			st.buf = st.buf[:0]
		default:
			st.buf = append(st.buf, data[:j]...)
			frame := st.buf
			st.emitted()
			if err := l.line(&fe, stream, frame, emit); err != nil {
				l.s.drop(stream)
				return fe.result(err)
			}
		}
	}
	// Whole lines inside data: emitted in place.
	for {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			break
		}
		frame := data[i : i+j]
		i += j + 1
		if err := l.line(&fe, stream, frame, emit); err != nil {
			l.s.drop(stream)
			return fe.result(err)
		}
	}
	if rest := data[i:]; len(rest) > 0 {
		if st == nil {
			st = l.s.create(stream)
		}
		if len(rest) > l.maxLen+1 {
			l.overLong(&fe, stream)
			st.skipping = true
		} else {
			st.buf = append(st.buf[:0], rest...)
		}
	}
	return fe.result(nil)
}

func (l *Lines) Finish(stream uint64, emit Emit) error {
	st := l.s.get(stream)
	if st == nil {
		return nil
	}
	var fe frameErrs
	var err error
	if !st.skipping && len(st.buf) > 0 {
		err = l.line(&fe, stream, st.buf, emit)
	}
	l.s.drop(stream) // the frame stays valid: buffers are reused in later calls only
	return fe.result(err)
}

func (l *Lines) Forget(stream uint64) { l.s.drop(stream) }

func (l *Lines) Pending(stream uint64) Hold { return l.s.hold(stream) }

func (l *Lines) Discard(stream uint64) {
	if st := l.s.get(stream); st != nil && len(st.buf) > 0 {
		st.buf = st.buf[:0]
		st.skipping = true
	}
}

// LinesPost is the "lines" post-processor: it appends the frame and a '\n'.
// It does not check the frame for newlines of its own.
type LinesPost struct{}

func (LinesPost) Name() string { return "lines" }

// FramesWithNewline implements NewlineFramer.
func (LinesPost) FramesWithNewline() {}

func (LinesPost) Append(dst, frame []byte) ([]byte, error) {
	dst = append(dst, frame...)
	return append(dst, '\n'), nil
}
