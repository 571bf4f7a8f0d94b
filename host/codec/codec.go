// Package codec turns frames (byte slices cut by a pre-processor) into
// structured values and back.
//
// # Values
//
// Every codec decodes into, and encodes from, the host's plain value model:
//
//	nil, bool, int64, uint64, float64, string, []byte, []any, map[string]any
//
// An *abi.Doc (the same value kept flat as tremor_value nodes, see
// DocDecoder) is accepted by every Encode and encodes exactly as the plain
// value it holds (Doc.Any).
//
// Integers are int64 whenever they fit, uint64 only for positive values above
// math.MaxInt64, and float64 only for numbers that are not integers in the
// source format. Decoders never produce any other Go type (no json.Number, no
// int8, no map[any]any). Encoders accept that model and, for convenience,
// also the other Go integer and float kinds (int, int32, uint8, float32, ...).
//
// # Buffers
//
// Decode never retains data and never returns values that alias it: the frame
// passed in may be a pre-processor's internal buffer that is overwritten by
// the next call. Encode appends to dst and returns the extended slice, so a
// caller encoding a batch can reuse one buffer for all events.
//
// Every codec in this package is safe for concurrent use.
package codec

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Codec converts between frames and values. See the package documentation
// for the value model and the buffer rules.
type Codec interface {
	// Name is the name the codec is registered under ("json", "msgpack", ...).
	Name() string
	// Decode turns one frame into a value. It does not retain data and the
	// result does not alias it.
	Decode(data []byte) (any, error)
	// Encode appends the encoding of v to dst and returns the extended slice.
	// On error the returned slice is dst truncated to its original length.
	Encode(dst []byte, v any) ([]byte, error)
}

// Error is the error every codec returns. It names the codec and the
// operation, and says where the problem is when the codec knows.
type Error struct {
	Codec string // codec name, e.g. "json"
	Op    string // "decode" or "encode"
	// Offset is the byte offset into the decoded frame where the problem
	// was found, or -1 when it does not apply (encoding, or unknown).
	Offset int
	// Path locates the offending value when encoding (e.g. `$.tags[2]`),
	// or is empty.
	Path string
	Msg  string // what was wrong
	Err  error  // underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Codec)
	b.WriteString(" codec: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " at offset %d", e.Offset)
	}
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func decodeError(codec string, offset int, msg string, err error) *Error {
	return &Error{Codec: codec, Op: "decode", Offset: offset, Msg: msg, Err: err}
}

func encodeError(codec string, path string, msg string, err error) *Error {
	return &Error{Codec: codec, Op: "encode", Offset: -1, Path: path, Msg: msg, Err: err}
}

// Factory builds a codec from its configuration (which may be nil). It must
// reject keys it does not know with an error naming the key.
type Factory func(config map[string]any) (Codec, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Factory{}
)

// Register makes a codec available under name. It panics if name is empty or
// already registered, as that is a programming error.
func Register(name string, f Factory) {
	if name == "" || f == nil {
		panic("codec: Register with empty name or nil factory")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("codec: Register called twice for " + name)
	}
	registry[name] = f
}

// Names returns the registered codec names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Sorted(maps.Keys(registry))
}

// ErrUnknownCodec is wrapped by the error New returns for an unknown name.
var ErrUnknownCodec = errors.New("unknown codec")

// New builds the codec registered under name with the given configuration
// (nil for defaults).
func New(name string, config map[string]any) (Codec, error) {
	regMu.RLock()
	f, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (known codecs: %s)", ErrUnknownCodec, name, strings.Join(Names(), ", "))
	}
	c, err := f(config)
	if err != nil {
		return nil, fmt.Errorf("codec %q: %w", name, err)
	}
	return c, nil
}

// noConfig is a Factory helper for codecs without options.
func noConfig(c Codec) Factory {
	return func(config map[string]any) (Codec, error) {
		for k := range config {
			return nil, fmt.Errorf("unknown config key %q (this codec takes no options)", k)
		}
		return c, nil
	}
}

func init() {
	Register("json", noConfig(JSON))
	Register("string", noConfig(String))
	Register("binary", noConfig(Binary))
	Register("msgpack", noConfig(Msgpack))
	Register("csv", newCSVFromConfig)
}
