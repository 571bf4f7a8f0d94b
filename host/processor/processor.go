// Package processor holds pre-processors, which cut the byte stream a
// connector delivers into frames, and post-processors, which wrap encoded
// frames for a sink.
//
// # Pre-processors
//
// A connector delivers a stream's bytes in arbitrary chunks (a TCP read may
// end mid-line), so pre-processors keep state per stream: the partial frame
// at the end of one chunk waits for the next. Streams are identified by the
// runtime's uint64 stream id; any number may be interleaved.
//
//	err := p.Process(stream, chunk, func(frame []byte) error {
//		v, err := c.Decode(frame) // or copy frame into the batch arena
//		...
//	})
//
// Frames are handed to emit without allocation or copy where possible: a
// frame aliases either the chunk passed in or the stream's internal buffer.
// A frame is valid until the next call to Process, Finish or Forget on the
// same Preprocessor (for any stream); emit must copy what it keeps longer.
// The data passed to Process is not retained after it returns (what must
// wait is copied).
//
// Bad input (a line or frame over the size limit) does not stop processing:
// the offending frame is dropped, processing resynchronises (at the next
// newline, or after the frame's announced length), the remaining frames are
// emitted, and Process returns a *FrameError saying how many frames were
// dropped and why, for the runtime to count and route to the err port.
//
// If emit returns an error, Process stops at once and returns it (joined
// with a *FrameError if frames were also dropped); the rest of the chunk is
// not processed and the stream's pending state is discarded, as by Forget,
// since its framing position is lost.
//
// Finish(stream) is called at the end of a stream: it flushes what is
// pending (the last line without a newline) and forgets the stream. Forget
// drops a stream's state without emitting anything.
//
// Pending(stream) says what a stream's state holds after a call: nothing,
// bytes of a frame not complete yet (HoldPartial), or the rest of a dropped
// frame still being discarded (HoldDiscard). The runtime uses it to know
// which of a source's events have bytes in a frame still to come, so that
// it acknowledges an event only once every frame made from it was
// delivered. Discard(stream) drops a partial frame the runtime gives up on
// (it spans too many events) as if it were over max_length.
//
// A Preprocessor is not safe for concurrent use; the runtime owns one per
// source and calls it from one goroutine at a time.
//
// # Post-processors
//
// A Postprocessor appends the framed form of one encoded frame to dst, so a
// batch can be written into one reused buffer. Post-processors here are
// stateless and safe for concurrent use.
package processor

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Emit receives one frame; see the package documentation for how long the
// frame stays valid. A non-nil error stops processing.
type Emit func(frame []byte) error

// Preprocessor cuts per-stream byte streams into frames.
type Preprocessor interface {
	// Name is the name the pre-processor is registered under.
	Name() string
	// Process consumes the next chunk of stream's bytes, calling emit for
	// every frame completed by it.
	Process(stream uint64, data []byte, emit Emit) error
	// Finish ends stream: it emits what is pending, if it forms a frame,
	// and forgets the stream.
	Finish(stream uint64, emit Emit) error
	// Forget drops stream's state without emitting anything.
	Forget(stream uint64)
	// Pending says what stream's state holds between calls.
	Pending(stream uint64) Hold
	// Discard drops the partial frame held for stream and discards the
	// rest of it as it arrives, like a frame over max_length (nothing is
	// reported). When the frame's end cannot be known (a length-prefixed
	// header not complete yet), the rest of the stream is discarded.
	Discard(stream uint64)
}

// Hold is what a pre-processor keeps of a stream between calls.
type Hold uint8

const (
	// HoldNone: every byte seen was emitted in a frame or dropped.
	HoldNone Hold = iota
	// HoldPartial: bytes of a frame not complete yet wait for more.
	HoldPartial
	// HoldDiscard: a dropped frame (already reported) is still being
	// discarded; the bytes that come next belong to it until the
	// pre-processor resynchronises.
	HoldDiscard
)

// Postprocessor frames encoded events for a sink.
type Postprocessor interface {
	// Name is the name the post-processor is registered under.
	Name() string
	// Append appends the framed form of frame to dst and returns the
	// extended slice. On error dst is returned unchanged.
	Append(dst, frame []byte) ([]byte, error)
}

// NewlineFramer is a post-processor whose Append is exactly
// append(dst, frame..., '\n') and never fails: a sink may write the frame
// in place and add the newline itself.
type NewlineFramer interface {
	Postprocessor
	// FramesWithNewline marks the capability; it does nothing.
	FramesWithNewline()
}

// FramesWithNewline reports whether p is a NewlineFramer.
func FramesWithNewline(p Postprocessor) bool {
	_, ok := p.(NewlineFramer)
	return ok
}

// FrameError reports the frames a pre-processor dropped during one call.
type FrameError struct {
	Processor string // e.g. "lines"
	Stream    uint64
	Dropped   int    // frames dropped in this call
	Reason    string // why the first of them was dropped
}

func (e *FrameError) Error() string {
	s := e.Processor + " pre-processor: stream " + strconv.FormatUint(e.Stream, 10) + ": " + e.Reason
	if e.Dropped > 1 {
		s += " (" + strconv.Itoa(e.Dropped) + " frames dropped)"
	}
	return s
}

// frameErrs accumulates dropped frames during one call without allocating
// until the first one.
type frameErrs struct {
	err *FrameError
}

func (f *frameErrs) add(proc string, stream uint64, reason func() string) {
	if f.err == nil {
		f.err = &FrameError{Processor: proc, Stream: stream, Reason: reason()}
	}
	f.err.Dropped++
}

// result combines the dropped-frame report with an emit error.
func (f *frameErrs) result(emitErr error) error {
	switch {
	case f.err == nil:
		return emitErr
	case emitErr == nil:
		return f.err
	}
	return errors.Join(f.err, emitErr)
}

// DefaultMaxLength is the default maximum frame length (1 MiB) of every
// processor here.
const DefaultMaxLength = 1 << 20

// PreFactory builds a pre-processor from its configuration (nil for
// defaults).
type PreFactory func(config map[string]any) (Preprocessor, error)

// PostFactory builds a post-processor from its configuration (nil for
// defaults).
type PostFactory func(config map[string]any) (Postprocessor, error)

var (
	regMu sync.RWMutex
	pres  = map[string]PreFactory{}
	posts = map[string]PostFactory{}
)

// RegisterPre makes a pre-processor available under name; it panics on an
// empty or duplicate name.
func RegisterPre(name string, f PreFactory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := pres[name]; dup || name == "" || f == nil {
		panic("processor: bad or duplicate RegisterPre " + name)
	}
	pres[name] = f
}

// RegisterPost makes a post-processor available under name; it panics on an
// empty or duplicate name.
func RegisterPost(name string, f PostFactory) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := posts[name]; dup || name == "" || f == nil {
		panic("processor: bad or duplicate RegisterPost " + name)
	}
	posts[name] = f
}

func sortedNames[F any](m map[string]F) []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Sorted(maps.Keys(m))
}

// PreNames lists the registered pre-processors, sorted.
func PreNames() []string { return sortedNames(pres) }

// PostNames lists the registered post-processors, sorted.
func PostNames() []string { return sortedNames(posts) }

// ErrUnknown is wrapped by the error NewPre and NewPost return for an
// unknown name.
var ErrUnknown = errors.New("unknown processor")

// NewPre builds the pre-processor registered under name. Each call returns
// a new instance with its own per-stream state.
func NewPre(name string, config map[string]any) (Preprocessor, error) {
	return build("pre-processor", pres, name, config)
}

// NewPost builds the post-processor registered under name.
func NewPost(name string, config map[string]any) (Postprocessor, error) {
	return build("post-processor", posts, name, config)
}

// build looks name up in one of the registries and builds it; kind names
// that registry in errors.
func build[P any, F ~func(map[string]any) (P, error)](kind string, reg map[string]F, name string, config map[string]any) (P, error) {
	regMu.RLock()
	f, ok := reg[name]
	regMu.RUnlock()
	var zero P
	if !ok {
		return zero, fmt.Errorf("%w: no %s %q (known %ss: %s)", ErrUnknown, kind, name, kind, strings.Join(sortedNames(reg), ", "))
	}
	p, err := f(config)
	if err != nil {
		return zero, fmt.Errorf("%s %q: %w", kind, name, err)
	}
	return p, nil
}

// config reads typed options out of a map[string]any, remembering which keys
// were used so unknown ones can be reported.
type config struct {
	m    map[string]any
	used map[string]bool
	err  error
}

func newConfig(m map[string]any) *config { return &config{m: m, used: map[string]bool{}} }

func (c *config) fail(key string, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("config key %q: "+format, append([]any{key}, args...)...)
	}
}

// positiveInt reads key as an integer in [1, max]; numbers of any Go kind
// are accepted as long as they are integral (config decoded from JSON or
// TOML gives float64 or int64).
func (c *config) positiveInt(key string, def, max int64) int64 {
	v, ok := c.m[key]
	if !ok {
		return def
	}
	c.used[key] = true
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint:
		n = clampU(uint64(x))
	case uint32:
		n = int64(x)
	case uint64:
		n = clampU(x)
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) {
			c.fail(key, "want a whole number, got %v", x)
			return def
		}
		if x > math.MaxInt64 {
			n = math.MaxInt64
		} else {
			n = int64(x)
		}
	default:
		c.fail(key, "want a positive integer, got %#v (%T)", v, v)
		return def
	}
	if n < 1 || n > max {
		c.fail(key, "want an integer from 1 to %d, got %v", max, v)
		return def
	}
	return n
}

func clampU(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

func (c *config) bool(key string, def bool) bool {
	v, ok := c.m[key]
	if !ok {
		return def
	}
	c.used[key] = true
	b, ok := v.(bool)
	if !ok {
		c.fail(key, "want true or false, got %#v (%T)", v, v)
		return def
	}
	return b
}

// done reports the first bad value, or else the first unknown key.
func (c *config) done(known ...string) error {
	if c.err != nil {
		return c.err
	}
	var unknown []string
	for k := range c.m {
		if !c.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		if len(known) == 0 {
			return fmt.Errorf("unknown config key %q (this processor takes no options)", unknown[0])
		}
		return fmt.Errorf("unknown config key %q (known keys: %s)", unknown[0], strings.Join(known, ", "))
	}
	return nil
}

func init() {
	RegisterPre("lines", func(m map[string]any) (Preprocessor, error) {
		c := newConfig(m)
		max := c.positiveInt("max_length", DefaultMaxLength, math.MaxInt32)
		skip := c.bool("skip_empty", false)
		if err := c.done("max_length", "skip_empty"); err != nil {
			return nil, err
		}
		return NewLines(int(max), skip), nil
	})
	RegisterPost("lines", func(m map[string]any) (Postprocessor, error) {
		if err := newConfig(m).done(); err != nil {
			return nil, err
		}
		return LinesPost{}, nil
	})
	RegisterPre("length-prefixed", func(m map[string]any) (Preprocessor, error) {
		c := newConfig(m)
		max := c.positiveInt("max_length", DefaultMaxLength, math.MaxUint32)
		if err := c.done("max_length"); err != nil {
			return nil, err
		}
		return NewLengthPrefixed(int(max)), nil
	})
	RegisterPost("length-prefixed", func(m map[string]any) (Postprocessor, error) {
		c := newConfig(m)
		max := c.positiveInt("max_length", DefaultMaxLength, math.MaxUint32)
		if err := c.done("max_length"); err != nil {
			return nil, err
		}
		return LengthPrefixedPost{MaxLength: int(max)}, nil
	})
}
