package codec

import (
	"strconv"

	"tremorhost/abi"
	"unicode/utf8"
)

// String is the string codec: a frame of UTF-8 text decodes to a string
// (invalid UTF-8 is an error giving the offset of the first bad byte).
// Encoding writes a string as is; []byte is written as is too; other scalars
// are written in their JSON spelling (nil as "null"), so a structured event
// can still be sent to a text sink. Arrays and objects are an error.
var String Codec = stringCodec{}

type stringCodec struct{}

func (stringCodec) Name() string { return "string" }

func (stringCodec) Decode(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, decodeError("string", firstInvalidUTF8(data), "invalid UTF-8", nil)
	}
	return string(data), nil
}

// firstInvalidUTF8 returns the offset of the first byte that does not start
// a valid UTF-8 sequence (len(data) if there is none).
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// DecodeDoc implements DocDecoder: a Doc of one string node (invalid UTF-8
// is left to Decode, which reports it).
func (stringCodec) DecodeDoc(data []byte, a *abi.DocArena) (*abi.Doc, bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	a.Begin()
	off := a.AppendBytes(data)
	a.Push(abi.Value{Kind: abi.ValueString, As: off, Len: uint64(len(data))})
	return a.End(), true
}

func (stringCodec) Encode(dst []byte, v any) ([]byte, error) {
	return appendScalarText(dst, v, "string")
}

// appendScalarText writes a scalar as plain text (strings and bytes raw,
// numbers and booleans as in JSON, nil as "null").
func appendScalarText(dst []byte, v any, codec string) ([]byte, error) {
	if d, ok := v.(*abi.Doc); ok {
		if p, ok := docText(d); ok {
			return append(dst, p...), nil
		}
		v = d.Any()
	}
	switch x := v.(type) {
	case string:
		return append(dst, x...), nil
	case []byte:
		return append(dst, x...), nil
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), nil
	case float64, float32:
		b, pe := appendJSONValue(dst, x, 0)
		if pe != nil {
			return dst, pe.toError(codec)
		}
		return b, nil
	case []any, map[string]any:
		return dst, encodeError(codec, "$", "cannot encode "+kindOf(v)+" as text (only a scalar can be)", nil)
	}
	if i, ok := asInt64(v); ok {
		return strconv.AppendInt(dst, i, 10), nil
	}
	if u, ok := asUint64(v); ok {
		return strconv.AppendUint(dst, u, 10), nil
	}
	return dst, encodeError(codec, "$", "cannot encode "+kindOf(v), nil)
}

// docText is the data of a Doc that is one string or byte string.
func docText(d *abi.Doc) ([]byte, bool) {
	if len(d.Nodes) == 1 && (d.Nodes[0].Kind == abi.ValueString || d.Nodes[0].Kind == abi.ValueBytes) {
		return d.Data(0), true
	}
	return nil, false
}

// Binary is the binary codec: a frame decodes to a copy of its bytes
// ([]byte). Encoding accepts []byte and string and writes them as is.
var Binary Codec = binaryCodec{}

type binaryCodec struct{}

func (binaryCodec) Name() string { return "binary" }

// DecodeDoc implements DocDecoder: a Doc of one byte-string node.
func (binaryCodec) DecodeDoc(data []byte, a *abi.DocArena) (*abi.Doc, bool) {
	a.Begin()
	off := a.AppendBytes(data)
	a.Push(abi.Value{Kind: abi.ValueBytes, As: off, Len: uint64(len(data))})
	return a.End(), true
}

func (binaryCodec) Decode(data []byte) (any, error) {
	// Copy: data may be a pre-processor's buffer that is reused.
	out := make([]byte, len(data))
	copy(out, data)
	return out, nil
}

func (binaryCodec) Encode(dst []byte, v any) ([]byte, error) {
	if d, ok := v.(*abi.Doc); ok {
		if p, ok := docText(d); ok {
			return append(dst, p...), nil
		}
		v = d.Any()
	}
	switch x := v.(type) {
	case []byte:
		return append(dst, x...), nil
	case string:
		return append(dst, x...), nil
	}
	return dst, encodeError("binary", "$", "cannot encode "+kindOf(v)+" (the binary codec takes bytes or a string)", nil)
}
