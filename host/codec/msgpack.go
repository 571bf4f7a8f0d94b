package codec

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"tremorhost/abi"
)

// Msgpack is the msgpack codec, implemented here for the host's value model
// rather than with a general library: github.com/vmihailenco/msgpack/v5 (used
// in the tests as a reference for interoperability) preallocates containers
// from the length the input claims, so a 5-byte frame can ask for gigabytes,
// and it decodes to int8/uint16/float32/... that would need a second pass.
//
// Decoding: str -> string, bin -> []byte, all integer formats -> int64
// (uint64 only above math.MaxInt64), float32/float64 -> float64, maps must
// have str (or bin) keys -> map[string]any. Ext types (including the
// timestamp extension) are rejected. Lengths are checked against the bytes
// left before anything is allocated, nesting is bounded by MaxDepth, and
// trailing bytes after the value are an error. str payloads are not checked
// for UTF-8 (many producers put arbitrary bytes there).
//
// Encoding: integers in their smallest format (non-negative ones as
// unsigned), float64 always as float64 (so floats stay floats), map keys
// sorted, so equal values encode to equal bytes.
var Msgpack Codec = msgpackCodec{}

type msgpackCodec struct{}

func (msgpackCodec) Name() string { return "msgpack" }

type mpDecoder struct {
	data []byte
	pos  int
	copy string // lazily made copy of data that decoded strings slice into
}

func (msgpackCodec) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, decodeError("msgpack", 0, "empty input", nil)
	}
	d := mpDecoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(data) {
		return nil, decodeError("msgpack", d.pos, strconv.Itoa(len(data)-d.pos)+" bytes of trailing data after the value", nil)
	}
	return v, nil
}

func (d *mpDecoder) fail(at int, msg string) error {
	return decodeError("msgpack", at, msg, nil)
}

// need makes sure n more bytes are available.
func (d *mpDecoder) need(n int, what string) error {
	if n < 0 || len(d.data)-d.pos < n {
		return d.fail(d.pos, "truncated "+what+": need "+strconv.Itoa(n)+" bytes, have "+strconv.Itoa(len(d.data)-d.pos))
	}
	return nil
}

func (d *mpDecoder) uint(n int, what string) (uint64, error) {
	if err := d.need(n, what); err != nil {
		return 0, err
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	switch n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	default:
		return binary.BigEndian.Uint64(b), nil
	}
}

func (d *mpDecoder) str(n int) (string, error) {
	if err := d.need(n, "string"); err != nil {
		return "", err
	}
	if n == 0 {
		return "", nil
	}
	if d.copy == "" {
		d.copy = string(d.data)
	}
	s := d.copy[d.pos : d.pos+n]
	d.pos += n
	return s, nil
}

func (d *mpDecoder) bin(n int) ([]byte, error) {
	if err := d.need(n, "binary"); err != nil {
		return nil, err
	}
	out := make([]byte, n)
	copy(out, d.data[d.pos:])
	d.pos += n
	return out, nil
}

// length reads an n-byte length prefix.
func (d *mpDecoder) length(n int, what string) (int, error) {
	u, err := d.uint(n, what+" length")
	if err != nil {
		return 0, err
	}
	return int(u), nil // at most 2^32-1: fits int on 64-bit
}

func (d *mpDecoder) value(depth int) (any, error) {
	if err := d.need(1, "value"); err != nil {
		return nil, err
	}
	start := d.pos
	c := d.data[d.pos]
	d.pos++
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c <= 0x8f:
		return d.mapBody(int(c&0x0f), start, depth)
	case c <= 0x9f:
		return d.arrayBody(int(c&0x0f), start, depth)
	case c <= 0xbf:
		return d.str(int(c & 0x1f))
	case c == 0xc0:
		return nil, nil
	case c == 0xc2:
		return false, nil
	case c == 0xc3:
		return true, nil
	case c >= 0xca && c <= 0xd3:
		return d.number(c)
	}
	return d.sized(c, start, depth)
}

// number reads the payload of a float, uint or int format byte c
// (0xca-0xd3).
func (d *mpDecoder) number(c byte) (any, error) {
	switch c {
	case 0xca:
		u, err := d.uint(4, "float32")
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(uint32(u))), nil
	case 0xcb:
		u, err := d.uint(8, "float64")
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(u), nil
	case 0xcc, 0xcd, 0xce, 0xcf:
		u, err := d.uint(1<<(c-0xcc), "uint")
		if err != nil {
			return nil, err
		}
		if u <= math.MaxInt64 {
			return int64(u), nil
		}
		return u, nil
	}
	n := 1 << (c - 0xd0)
	u, err := d.uint(n, "int")
	if err != nil {
		return nil, err
	}
	shift := 64 - 8*n
	return int64(u<<shift) >> shift, nil // sign-extend
}

// sized reads a value whose format byte c is followed by its length:
// binary, string, array or map. Other format bytes left are ext types,
// which are refused, or invalid.
func (d *mpDecoder) sized(c byte, start, depth int) (any, error) {
	switch c {
	case 0xc4, 0xc5, 0xc6:
		n, err := d.length(1<<(c-0xc4), "binary")
		if err != nil {
			return nil, err
		}
		return d.bin(n)
	case 0xd9, 0xda, 0xdb:
		n, err := d.length(1<<(c-0xd9), "string")
		if err != nil {
			return nil, err
		}
		return d.str(n)
	case 0xdc, 0xdd:
		n, err := d.length(2<<(c-0xdc), "array")
		if err != nil {
			return nil, err
		}
		return d.arrayBody(n, start, depth)
	case 0xde, 0xdf:
		n, err := d.length(2<<(c-0xde), "map")
		if err != nil {
			return nil, err
		}
		return d.mapBody(n, start, depth)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return nil, d.fail(start, "ext types are not supported (format byte "+hexByte(c)+")")
	}
	return nil, d.fail(start, "invalid format byte "+hexByte(c))
}

func (d *mpDecoder) arrayBody(n, start, depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, d.fail(start, "nesting deeper than "+strconv.Itoa(MaxDepth))
	}
	// Every element takes at least one byte.
	if n > len(d.data)-d.pos {
		return nil, d.fail(start, "array of "+strconv.Itoa(n)+" elements is longer than the "+strconv.Itoa(len(d.data)-d.pos)+" bytes left")
	}
	out := make([]any, n)
	for i := range out {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (d *mpDecoder) mapBody(n, start, depth int) (any, error) {
	if depth >= MaxDepth {
		return nil, d.fail(start, "nesting deeper than "+strconv.Itoa(MaxDepth))
	}
	// Every entry takes at least two bytes.
	if n > (len(d.data)-d.pos)/2 {
		return nil, d.fail(start, "map of "+strconv.Itoa(n)+" entries is longer than the "+strconv.Itoa(len(d.data)-d.pos)+" bytes left")
	}
	out := make(map[string]any, n)
	for i := 0; i < n; i++ {
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func (d *mpDecoder) key() (string, error) {
	if err := d.need(1, "map key"); err != nil {
		return "", err
	}
	start := d.pos
	c := d.data[d.pos]
	d.pos++
	var n int
	var err error
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c >= 0xd9 && c <= 0xdb:
		n, err = d.length(1<<(c-0xd9), "string")
	case c >= 0xc4 && c <= 0xc6:
		n, err = d.length(1<<(c-0xc4), "binary")
	default:
		return "", d.fail(start, "map key must be a string (format byte "+hexByte(c)+")")
	}
	if err != nil {
		return "", err
	}
	return d.str(n)
}

func hexByte(c byte) string { return "0x" + string(hexDigits[c>>4]) + string(hexDigits[c&0xf]) }

func (msgpackCodec) Encode(dst []byte, v any) ([]byte, error) {
	if d, ok := v.(*abi.Doc); ok {
		v = d.Any()
	}
	n := len(dst)
	b, pe := appendMsgpack(dst, v, 0)
	if pe != nil {
		return dst[:n], pe.toError("msgpack")
	}
	return b, nil
}

func appendMsgpackUint(b []byte, u uint64) []byte {
	switch {
	case u <= 0x7f:
		return append(b, byte(u))
	case u <= math.MaxUint8:
		return append(b, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), u)
}

func appendMsgpackInt(b []byte, i int64) []byte {
	switch {
	case i >= 0:
		return appendMsgpackUint(b, uint64(i))
	case i >= -32:
		return append(b, byte(i))
	case i >= math.MinInt8:
		return append(b, 0xd0, byte(i))
	case i >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(i))
	case i >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(i))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(i))
}

// appendMsgpackLen writes a length header; fix is the fix-format base (0 if
// none), max its limit, codes the 8/16/32-bit codes (0 if absent).
func appendMsgpackLen(b []byte, n int, fix byte, fixMax int, c8, c16, c32 byte) ([]byte, *pathErr) {
	switch {
	case fix != 0 && n <= fixMax:
		return append(b, fix|byte(n)), nil
	case c8 != 0 && n <= math.MaxUint8:
		return append(b, c8, byte(n)), nil
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, c16), uint16(n)), nil
	case uint64(n) <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, c32), uint32(n)), nil
	}
	return b, &pathErr{msg: "length " + strconv.Itoa(n) + " exceeds msgpack's 2^32-1"}
}

func appendMsgpackStr(b []byte, s string) ([]byte, *pathErr) {
	b, pe := appendMsgpackLen(b, len(s), 0xa0, 31, 0xd9, 0xda, 0xdb)
	if pe != nil {
		return b, pe
	}
	return append(b, s...), nil
}

func appendMsgpack(b []byte, v any, depth int) ([]byte, *pathErr) {
	var pe *pathErr
	switch x := v.(type) {
	case nil:
		return append(b, 0xc0), nil
	case bool:
		if x {
			return append(b, 0xc3), nil
		}
		return append(b, 0xc2), nil
	case int64:
		return appendMsgpackInt(b, x), nil
	case uint64:
		return appendMsgpackUint(b, x), nil
	case float64:
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(x)), nil
	case float32:
		return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(x)), nil
	case string:
		return appendMsgpackStr(b, x)
	case []byte:
		if b, pe = appendMsgpackLen(b, len(x), 0, 0, 0xc4, 0xc5, 0xc6); pe != nil {
			return b, pe
		}
		return append(b, x...), nil
	case []any:
		if depth >= MaxDepth {
			return b, &pathErr{msg: "value nested deeper than " + strconv.Itoa(MaxDepth) + " levels (cyclic?)"}
		}
		if b, pe = appendMsgpackLen(b, len(x), 0x90, 15, 0, 0xdc, 0xdd); pe != nil {
			return b, pe
		}
		for i, e := range x {
			if b, pe = appendMsgpack(b, e, depth+1); pe != nil {
				return b, pe.at(idxSeg(i))
			}
		}
		return b, nil
	case map[string]any:
		if depth >= MaxDepth {
			return b, &pathErr{msg: "value nested deeper than " + strconv.Itoa(MaxDepth) + " levels (cyclic?)"}
		}
		if b, pe = appendMsgpackLen(b, len(x), 0x80, 15, 0, 0xde, 0xdf); pe != nil {
			return b, pe
		}
		var kbuf [16]string
		keys := kbuf[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if b, pe = appendMsgpackStr(b, k); pe != nil {
				return b, pe.at(keySeg(k))
			}
			if b, pe = appendMsgpack(b, x[k], depth+1); pe != nil {
				return b, pe.at(keySeg(k))
			}
		}
		return b, nil
	}
	if i, ok := asInt64(v); ok {
		return appendMsgpackInt(b, i), nil
	}
	if u, ok := asUint64(v); ok {
		return appendMsgpackUint(b, u), nil
	}
	return b, &pathErr{msg: "cannot encode " + kindOf(v)}
}
