package processor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// LengthPrefixed is the "length-prefixed" pre-processor: each frame is a
// 4-byte big-endian length followed by that many bytes (zero-length frames
// are emitted as empty frames). Partial headers and frames are kept per
// stream until the rest arrives.
//
// A frame announcing more than MaxLength bytes is dropped: its announced
// length is skipped (counted, never buffered) and framing resumes after it;
// the call that read its header returns a *FrameError. Finish reports a
// *FrameError if a partial frame is pending, since a truncated frame cannot
// be emitted.
//
// Config key: max_length (default 1 MiB, at most 2^32-1).
type LengthPrefixed struct {
	maxLen int
	s      streams
}

// NewLengthPrefixed returns a length-prefixed pre-processor; maxLength <= 0
// means DefaultMaxLength.
func NewLengthPrefixed(maxLength int) *LengthPrefixed {
	if maxLength <= 0 {
		maxLength = DefaultMaxLength
	}
	if uint64(maxLength) > math.MaxUint32 {
		maxLength = math.MaxUint32
	}
	return &LengthPrefixed{maxLen: maxLength}
}

func (*LengthPrefixed) Name() string { return "length-prefixed" }

// MaxLength is the longest frame emitted.
func (p *LengthPrefixed) MaxLength() int { return p.maxLen }

func (p *LengthPrefixed) tooBig(fe *frameErrs, stream uint64, n uint64) {
	fe.add("length-prefixed", stream, func() string {
		return "frame of " + strconv.FormatUint(n, 10) + " bytes is over max_length (" + strconv.Itoa(p.maxLen) + " bytes); skipped"
	})
}

func (p *LengthPrefixed) Process(stream uint64, data []byte, emit Emit) error {
	var fe frameErrs
	st := p.s.get(stream)
	i := 0
	if st != nil {
		// Finish what the previous chunks left: a skip, then a partial
		// header or frame in buf.
		for st.skip > 0 || len(st.buf) > 0 {
			if st.skip > 0 {
				if i == len(data) {
					break
				}
				i = skipPending(st, data, i)
				continue
			}
			if len(st.buf) < 4 {
				take := min(4-len(st.buf), len(data)-i)
				st.buf = append(st.buf, data[i:i+take]...)
				i += take
				if len(st.buf) < 4 {
					break
				}
				if n := binary.BigEndian.Uint32(st.buf); uint64(n) > uint64(p.maxLen) {
					p.skipBuffered(&fe, stream, st, n)
					continue
				}
			}
			total := 4 + int(binary.BigEndian.Uint32(st.buf))
			take := min(total-len(st.buf), len(data)-i)
			st.buf = append(st.buf, data[i:i+take]...)
			i += take
			if len(st.buf) < total {
				break
			}
			frame := st.buf[4:]
			st.emitted()
			if err := emit(frame); err != nil {
				p.s.drop(stream)
				return fe.result(err)
			}
		}
		if st.skip > 0 || len(st.buf) > 0 {
			return fe.result(nil) // data used up
		}
	}
	// Whole frames inside data: emitted in place.
	for len(data)-i >= 4 {
		n := binary.BigEndian.Uint32(data[i:])
		if uint64(n) > uint64(p.maxLen) {
			var rest uint64
			if i, rest = p.skipOversized(&fe, stream, data, i, n); rest > 0 {
				if st == nil {
					st = p.s.create(stream)
				}
				st.skip = rest
				return fe.result(nil)
			}
			continue
		}
		if len(data)-i-4 < int(n) {
			break
		}
		frame := data[i+4 : i+4+int(n)]
		i += 4 + int(n)
		if err := emit(frame); err != nil {
			p.s.drop(stream)
			return fe.result(err)
		}
	}
	if rest := data[i:]; len(rest) > 0 {
		if st == nil {
			st = p.s.create(stream)
		}
		st.buf = append(st.buf[:0], rest...)
	}
	return fe.result(nil)
}

// skipPending skips what data holds, from i on, of the bytes an oversized
// frame of an earlier chunk still has, and returns where data goes on.
func skipPending(st *streamState, data []byte, i int) int {
	n := min(st.skip, uint64(len(data)-i))
	st.skip -= n
	return i + int(n)
}

// skipBuffered reports the oversized frame of n bytes whose header was
// completed in st.buf and sets the stream to skip its bytes.
func (p *LengthPrefixed) skipBuffered(fe *frameErrs, stream uint64, st *streamState, n uint32) {
	p.tooBig(fe, stream, uint64(n))
	st.skip = uint64(n)
	st.buf = st.buf[:0]
}

// skipOversized reports the oversized frame of n bytes whose header is at
// data[i] and skips what data holds of it. It returns where data goes on
// and how many of the frame's bytes later chunks must still skip.
func (p *LengthPrefixed) skipOversized(fe *frameErrs, stream uint64, data []byte, i int, n uint32) (next int, rest uint64) {
	p.tooBig(fe, stream, uint64(n))
	i += 4
	skip := min(uint64(n), uint64(len(data)-i))
	return i + int(skip), uint64(n) - skip
}

func (p *LengthPrefixed) Finish(stream uint64, emit Emit) error {
	st := p.s.get(stream)
	if st == nil {
		return nil
	}
	var fe frameErrs
	switch {
	case len(st.buf) > 0:
		have := len(st.buf)
		fe.add("length-prefixed", stream, func() string {
			if have < 4 {
				return "stream ended inside a frame header (" + strconv.Itoa(have) + " of 4 bytes)"
			}
			return "stream ended inside a frame (" + strconv.Itoa(have-4) + " of " + strconv.FormatUint(uint64(binary.BigEndian.Uint32(st.buf)), 10) + " bytes)"
		})
	case st.skip > 0:
		// The oversized frame was already reported.
	}
	p.s.drop(stream)
	return fe.result(nil)
}

func (p *LengthPrefixed) Forget(stream uint64) { p.s.drop(stream) }

func (p *LengthPrefixed) Pending(stream uint64) Hold { return p.s.hold(stream) }

func (p *LengthPrefixed) Discard(stream uint64) {
	st := p.s.get(stream)
	switch {
	case st == nil || len(st.buf) == 0:
	case len(st.buf) < 4:
		// The frame's length is not known, so neither is where the next
		// one starts: the rest of the stream is discarded.
		st.skip = math.MaxUint64
		st.buf = st.buf[:0]
	default:
		st.skip = uint64(4 + int(binary.BigEndian.Uint32(st.buf)) - len(st.buf))
		st.buf = st.buf[:0]
	}
}

// LengthPrefixedPost is the "length-prefixed" post-processor: it writes the
// frame's length as 4 bytes big-endian, then the frame. Frames longer than
// MaxLength (0 means 2^32-1) are an error.
type LengthPrefixedPost struct {
	MaxLength int
}

// ErrFrameTooLong is wrapped by post-processor errors for frames over the
// size limit.
var ErrFrameTooLong = errors.New("frame too long")

func (LengthPrefixedPost) Name() string { return "length-prefixed" }

func (p LengthPrefixedPost) Append(dst, frame []byte) ([]byte, error) {
	max := uint64(p.MaxLength)
	if max == 0 || max > math.MaxUint32 {
		max = math.MaxUint32
	}
	if uint64(len(frame)) > max {
		return dst, fmt.Errorf("length-prefixed post-processor: %w: frame of %d bytes is over max_length (%d bytes)", ErrFrameTooLong, len(frame), max)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(frame)))
	return append(dst, frame...), nil
}
