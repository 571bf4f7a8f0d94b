// JSON codec.
//
// MEASUREMENTS, 2026-11-27, 2 cores (AMD EPYC VM), Go 1.26.8, one 117-byte
// event, decode to the host's value model (integers exact) + encode with
// sorted keys; min ns per op over two runs (BENCHMARKS.md has medians, the
// event and the command:
// go test -run='^$' -bench=BenchmarkJSON -benchmem -count=10 ./host/codec):
//
//	                                decode        encode       decode+encode
//	encoding/json (UseNumber)       1517 ns 34 a   928 ns 16 a  2698 ns 50 allocs
//	goccy/go-json v0.12.0           1243 ns 36 a   331 ns  1 a  1779 ns 37 allocs
//	sonic v1.15.5 UseNumber          752 ns 16 a   328 ns  3 a  1311 ns 19 allocs
//	sonic v1.15.5 UseInt64           731 ns 14 a   341 ns  3 a  1242 ns 17 allocs
//	sonic, encoder unsorted          689 ns 14 a   315 ns  3 a  1151 ns 17 allocs
//	chosen: sonic + own encoder      707 ns 14 a   227 ns  0 a  1057 ns 14 allocs
//
// Sorting keys costs sonic <10% (within noise); in our encoder collecting and
// sorting the 7 keys is 92 of its 227 ns. Choice: sonic to decode (2x faster,
// half the allocations of the others), our own append-only encoder (fastest
// even against unsorted library output, 0 allocations, writes into the
// caller's buffer, keeps 3.0 a float).

package codec

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"tremorhost/abi"

	"github.com/bytedance/sonic"
	sonicdec "github.com/bytedance/sonic/decoder"
)

// JSON is the json codec. Decoding uses bytedance/sonic; encoding is a small
// append-only encoder for the host's value model that writes object keys in
// sorted order, so equal values always encode to equal bytes.
//
// Numbers: a literal without '.', 'e' or 'E' decodes to int64, or to uint64
// when positive and above math.MaxInt64; anything else (including integer
// literals outside both ranges) decodes to float64. The encoder writes a
// float64 that happens to be integral with a ".0" suffix ("3.0"), so a
// decode/encode round trip keeps every number's type.
//
// Strings: invalid UTF-8 in input strings becomes U+FFFD (as encoding/json
// does); raw control characters in strings are an error. The encoder writes
// invalid UTF-8 in Go strings as \ufffd, so its output is always valid JSON.
// []byte values encode as base64 strings (they decode back as strings).
// NaN and ±Inf cannot be encoded.
var JSON Codec = jsonCodec{}

type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }

// MaxDepth bounds the nesting of arrays and objects that codecs decode and
// encode (a cyclic value fails at this depth instead of overflowing the stack).
const MaxDepth = 4096

// sonicNative is false where sonic falls back to encoding/json (Go versions
// it does not support yet, other architectures); the fallback ignores
// UseInt64, so only the exact path is used there.
const sonicNative = sonic.APIKind == sonic.UseSonicJSON

var (
	// Fast path: integers come back as int64 straight from sonic (which
	// would turn an integer above math.MaxInt64 into a float64). Frames
	// that may hold such an integer take the exact path (see Decode).
	sonicInt64 = sonic.Config{UseInt64: true, ValidateString: true}.Froze()
	// Exact path: numbers come back as json.Number and are converted by
	// fixNumbers.
	sonicNumber = sonic.Config{UseNumber: true, ValidateString: true}.Froze()
)

func (jsonCodec) Decode(data []byte) (any, error) {
	if isBlank(data) {
		return nil, decodeError("json", len(data), "empty input", nil)
	}
	// sonic.Unmarshal copies data into a string once; decoded strings alias
	// that copy, never data.
	var v any
	if sonicNative && !mayOverflowInt64(data) {
		if err := sonicInt64.Unmarshal(data, &v); err != nil {
			return nil, jsonDecodeError(err)
		}
		return v, nil
	}
	return decodeJSONExact(data)
}

// decodeJSONExact decodes numbers as json.Number and converts them.
func decodeJSONExact(data []byte) (any, error) {
	var v any
	if err := sonicNumber.Unmarshal(data, &v); err != nil {
		return nil, jsonDecodeError(err)
	}
	return fixNumbers(v)
}

func isBlank(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// mayOverflowInt64 reports whether data holds a run of ASCII digits that,
// read as an integer, is above math.MaxInt64: the only way a JSON integer
// literal can fall outside int64. False positives (digits inside a string,
// -9223372036854775808) only cost the slower exact path.
func mayOverflowInt64(data []byte) bool {
	run := 0
	for i, c := range data {
		if c-'0' <= 9 {
			run++
			continue
		}
		if run >= 19 && digitRunOverflows(data[i-run:i]) {
			return true
		}
		run = 0
	}
	return run >= 19 && digitRunOverflows(data[len(data)-run:])
}

func digitRunOverflows(run []byte) bool {
	const maxInt64 = "9223372036854775807"
	return len(run) > len(maxInt64) || string(run) > maxInt64
}

func jsonDecodeError(err error) error {
	var se sonicdec.SyntaxError
	if errors.As(err, &se) {
		// sonic reports a raw control character in a string at the end of
		// the string; point at the character itself. Parsing is left to
		// right, so the first one before the error position is the culprit.
		src := se.Src
		for i := 0; i < len(src) && i <= se.Pos; i++ {
			if c := src[i]; c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				return decodeError("json", i, "syntax error: control character "+hexByte(c), err)
			}
		}
		return decodeError("json", se.Pos, "syntax error: "+se.Message(), err)
	}
	var std *json.SyntaxError // sonic's encoding/json fallback
	if errors.As(err, &std) {
		msg := std.Error()
		if msg == "" {
			msg = "invalid character after top-level value"
		}
		return decodeError("json", int(std.Offset), "syntax error: "+msg, err)
	}
	return decodeError("json", -1, err.Error(), err)
}

// fixNumbers replaces the json.Number values sonic produced with int64,
// uint64 or float64, in place.
func fixNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		return parseJSONNumber(string(x))
	case []any:
		for i, e := range x {
			switch e.(type) {
			case json.Number, []any, map[string]any:
				n, err := fixNumbers(e)
				if err != nil {
					return nil, err
				}
				x[i] = n
			}
		}
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case json.Number, []any, map[string]any:
				n, err := fixNumbers(e)
				if err != nil {
					return nil, err
				}
				x[k] = n
			}
		}
	}
	return v, nil
}

func parseJSONNumber(s string) (any, error) {
	isInt := true
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', 'e', 'E':
			isInt = false
		}
	}
	if isInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if s[0] != '-' {
			if u, err := strconv.ParseUint(s, 10, 64); err == nil {
				return u, nil
			}
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, decodeError("json", -1, "number "+s+" is out of range", err)
	}
	return f, nil
}

func (jsonCodec) Encode(dst []byte, v any) ([]byte, error) {
	if d, ok := v.(*abi.Doc); ok {
		return encodeJSONDoc(dst, d)
	}
	n := len(dst)
	out, err := appendJSON(dst, v, 0)
	if err != nil {
		return dst[:n], err
	}
	return out, nil
}

// pathErr carries an encode error up the recursion, collecting the path.
type pathErr struct {
	path []string // innermost segment first
	msg  string
}

func (p *pathErr) at(seg string) *pathErr { p.path = append(p.path, seg); return p }

func (p *pathErr) toError(codec string) *Error {
	path := "$"
	for i := len(p.path) - 1; i >= 0; i-- {
		path += p.path[i]
	}
	return encodeError(codec, path, p.msg, nil)
}

func keySeg(k string) string { return "." + strconv.Quote(k) }
func idxSeg(i int) string    { return "[" + strconv.Itoa(i) + "]" }

func appendJSON(dst []byte, v any, depth int) ([]byte, error) {
	b, pe := appendJSONValue(dst, v, depth)
	if pe != nil {
		return dst, pe.toError("json")
	}
	return b, nil
}

func appendJSONValue(b []byte, v any, depth int) ([]byte, *pathErr) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case float64:
		return appendJSONFloat(b, x, 64)
	case string:
		return appendJSONString(b, x), nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	case []any:
		if depth >= MaxDepth {
			return b, &pathErr{msg: "value nested deeper than " + strconv.Itoa(MaxDepth) + " levels (cyclic?)"}
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var pe *pathErr
			if b, pe = appendJSONValue(b, e, depth+1); pe != nil {
				return b, pe.at(idxSeg(i))
			}
		}
		return append(b, ']'), nil
	case *abi.Doc:
		return appendJSONValue(b, x.Any(), depth)
	case map[string]any:
		if depth >= MaxDepth {
			return b, &pathErr{msg: "value nested deeper than " + strconv.Itoa(MaxDepth) + " levels (cyclic?)"}
		}
		var kbuf [16]string
		keys := sortedKeys(kbuf[:0], x)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var pe *pathErr
			if b, pe = appendJSONValue(b, x[k], depth+1); pe != nil {
				return b, pe.at(keySeg(k))
			}
		}
		return append(b, '}'), nil
	}
	// Other Go scalar kinds, accepted for convenience.
	if i, ok := asInt64(v); ok {
		return strconv.AppendInt(b, i, 10), nil
	}
	if u, ok := asUint64(v); ok {
		return strconv.AppendUint(b, u, 10), nil
	}
	if f, ok := v.(float32); ok {
		return appendJSONFloat(b, float64(f), 32)
	}
	return b, &pathErr{msg: "cannot encode " + kindOf(v)}
}

func sortedKeys(keys []string, m map[string]any) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendJSONFloat formats like encoding/json, but keeps a ".0" on integral
// values so they decode back as floats.
func appendJSONFloat(b []byte, f float64, bits int) ([]byte, *pathErr) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, &pathErr{msg: "unsupported float value " + strconv.FormatFloat(f, 'g', -1, 64) + " (JSON has no NaN or Inf)"}
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b, nil
	}
	for _, c := range b[start:] {
		if c == '.' {
			return b, nil
		}
	}
	return append(b, '.', '0'), nil
}

// jsonSafe[c] is true for ASCII bytes that need no escaping in a JSON string.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return
}()

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendJSONEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONEscape writes the escape of an ASCII byte jsonSafe refuses.
func appendJSONEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}
