package codec

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"tremorhost/abi"
)

// DocDecoder is a codec that can also decode a frame straight into a flat
// abi.Doc, built in an arena the caller keeps: no Go allocation per frame.
type DocDecoder interface {
	Codec
	// DecodeDoc decodes data into a Doc built in a. ok is false when the
	// frame is one DecodeDoc leaves to Decode (a syntax error, or a rarer
	// shape such as invalid UTF-8): the caller then calls Decode, which
	// decides exactly as it always does, errors included. Either way the
	// Doc's value is the one Decode returns.
	DecodeDoc(data []byte, a *abi.DocArena) (d *abi.Doc, ok bool)
}

// DecodeDoc implements DocDecoder. It takes plain RFC 8259 JSON: anything
// else (invalid UTF-8, which Decode replaces by U+FFFD; a lone surrogate
// escape; nesting deeper than abi.MaxDepth; a number out of float64's
// range) goes to Decode.
func (jsonCodec) DecodeDoc(data []byte, a *abi.DocArena) (*abi.Doc, bool) {
	p := jsonParser{data: data, a: a}
	a.Begin()
	p.skipSpace()
	if p.pos == len(data) || !p.value(0, 0, 0) {
		a.Abort()
		return nil, false
	}
	if p.skipSpace(); p.pos != len(data) {
		a.Abort()
		return nil, false
	}
	return a.End(), true
}

// jsonParser decodes one JSON text into nodes. Its methods return false on
// anything DecodeDoc leaves to Decode; the position is then meaningless.
type jsonParser struct {
	data []byte
	pos  int
	a    *abi.DocArena
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses the value at pos (no leading space) as one node (and its
// subtree) with the given key.
func (p *jsonParser) value(keyOff uint64, keyLen uint32, depth int) bool {
	if p.pos >= len(p.data) {
		return false
	}
	n := abi.Value{KeyOffset: keyOff, KeyLen: keyLen}
	switch c := p.data[p.pos]; {
	case c == '{' || c == '[':
		if depth >= abi.MaxDepth {
			return false
		}
		return p.container(n, depth)
	case c == '"':
		off, size, ok := p.str()
		if !ok {
			return false
		}
		n.Kind, n.As, n.Len = abi.ValueString, off, uint64(size)
	case c == '-' || c-'0' <= 9:
		if !p.number(&n) {
			return false
		}
	case c == 't':
		if !p.literal("true") {
			return false
		}
		n.Kind, n.As = abi.ValueBool, 1
	case c == 'f':
		if !p.literal("false") {
			return false
		}
		n.Kind = abi.ValueBool
	case c == 'n':
		if !p.literal("null") {
			return false
		}
		n.Kind = abi.ValueNull
	default:
		return false
	}
	p.a.Push(n)
	return true
}

func (p *jsonParser) literal(word string) bool {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return false
	}
	p.pos += len(word)
	return true
}

// container parses an object or array at pos.
func (p *jsonParser) container(n abi.Value, depth int) bool {
	object := p.data[p.pos] == '{'
	closing := byte(']')
	n.Kind = abi.ValueArray
	if object {
		n.Kind, closing = abi.ValueObject, '}'
	}
	idx := p.a.Push(n)
	p.pos++
	p.skipSpace()
	children := uint64(0)
	if p.pos < len(p.data) && p.data[p.pos] == closing {
		p.pos++
	} else {
		for {
			var keyOff uint64
			var keyLen int
			if object {
				if p.pos >= len(p.data) || p.data[p.pos] != '"' {
					return false
				}
				var ok bool
				if keyOff, keyLen, ok = p.str(); !ok || keyLen > math.MaxUint32 {
					return false
				}
				p.skipSpace()
				if p.pos >= len(p.data) || p.data[p.pos] != ':' {
					return false
				}
				p.pos++
				p.skipSpace()
			}
			if !p.value(keyOff, uint32(keyLen), depth+1) {
				return false
			}
			children++
			p.skipSpace()
			if p.pos >= len(p.data) {
				return false
			}
			c := p.data[p.pos]
			p.pos++
			if c == closing {
				break
			}
			if c != ',' {
				return false
			}
			p.skipSpace()
		}
	}
	node := p.a.Node(idx)
	node.Len, node.As = children, uint64(p.a.Len()-idx-1)
	return true
}

// str parses the string at pos (at its opening quote) into the Doc's bytes
// and returns where it put them.
func (p *jsonParser) str() (off uint64, size int, ok bool) {
	p.pos++
	start := p.pos
	ascii := true
	// Fast path: no escapes, the bytes are copied once.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			seg := p.data[start:p.pos]
			if !ascii && !utf8.Valid(seg) {
				return 0, 0, false
			}
			p.pos++
			return p.a.AppendBytes(seg), len(seg), true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return 0, 0, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		p.pos++
	}
	if p.pos >= len(p.data) {
		return 0, 0, false
	}
	// Escapes: what came before them, then the rest piece by piece.
	if !ascii && !utf8.Valid(p.data[start:p.pos]) {
		return 0, 0, false
	}
	off = p.a.AppendBytes(p.data[start:p.pos])
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return off, p.a.BytesLen() - int(off), true
		case c == '\\':
			if !p.escape() {
				return 0, 0, false
			}
		case c < 0x20:
			return 0, 0, false
		case c < utf8.RuneSelf:
			p.a.AppendByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false
			}
			p.a.AppendBytes(p.data[p.pos : p.pos+size])
			p.pos += size
		}
	}
	return 0, 0, false
}

// escape decodes the escape sequence at pos (at its backslash).
func (p *jsonParser) escape() bool {
	if p.pos+1 >= len(p.data) {
		return false
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		p.a.AppendByte(c)
	case 'b':
		p.a.AppendByte('\b')
	case 'f':
		p.a.AppendByte('\f')
	case 'n':
		p.a.AppendByte('\n')
	case 'r':
		p.a.AppendByte('\r')
	case 't':
		p.a.AppendByte('\t')
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return false
		}
		if utf8.ValidRune(r) {
			var buf [utf8.UTFMax]byte
			p.a.AppendBytes(buf[:utf8.EncodeRune(buf[:], r)])
			return true
		}
		// A surrogate: only a high one followed by a low one is a rune.
		if r >= 0xDC00 || len(p.data)-p.pos < 6 || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
			return false
		}
		p.pos += 2
		lo, ok := p.hex4()
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return false
		}
		var buf [utf8.UTFMax]byte
		p.a.AppendBytes(buf[:utf8.EncodeRune(buf[:], 0x10000+(r-0xD800)<<10+(lo-0xDC00))])
	default:
		return false
	}
	return true
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		switch {
		case c-'0' <= 9:
			r = r<<4 | rune(c-'0')
		case c|0x20-'a' <= 5:
			r = r<<4 | rune(c|0x20-'a'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// number parses the number at pos into n with Decode's rules: an integer
// literal is int64, or uint64 above math.MaxInt64; anything else float64.
func (p *jsonParser) number(n *abi.Value) bool {
	start := p.pos
	d := p.data
	neg := d[p.pos] == '-'
	if neg {
		p.pos++
	}
	digits := p.pos
	if p.pos < len(d) && d[p.pos] == '0' {
		p.pos++
	} else {
		for p.pos < len(d) && d[p.pos]-'0' <= 9 {
			p.pos++
		}
	}
	if p.pos == digits {
		return false
	}
	intEnd := p.pos
	isInt := true
	if p.pos < len(d) && d[p.pos] == '.' {
		isInt = false
		p.pos++
		frac := p.pos
		for p.pos < len(d) && d[p.pos]-'0' <= 9 {
			p.pos++
		}
		if p.pos == frac {
			return false
		}
	}
	if p.pos < len(d) && d[p.pos]|0x20 == 'e' {
		isInt = false
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		exp := p.pos
		for p.pos < len(d) && d[p.pos]-'0' <= 9 {
			p.pos++
		}
		if p.pos == exp {
			return false
		}
	}
	if isInt && intEnd-digits <= 20 {
		var u uint64
		overflow := false
		for _, c := range d[digits:intEnd] {
			next := u*10 + uint64(c-'0')
			if u > math.MaxUint64/10 || next < u*10 {
				overflow = true
				break
			}
			u = next
		}
		switch {
		case overflow:
		case !neg && u <= math.MaxInt64:
			n.Kind, n.As = abi.ValueInt, u
			return true
		case !neg:
			n.Kind, n.As = abi.ValueUint, u
			return true
		case u <= 1<<63:
			n.Kind, n.As = abi.ValueInt, -u
			return true
		}
	}
	f, err := strconv.ParseFloat(string(d[start:p.pos]), 64)
	if err != nil {
		return false
	}
	n.Kind, n.As = abi.ValueFloat, math.Float64bits(f)
	return true
}

// encodeJSONDoc is the json codec's Encode of a Doc: the same bytes as
// encoding d.Any(), without building it.
func encodeJSONDoc(dst []byte, d *abi.Doc) ([]byte, error) {
	if len(d.Nodes) == 0 {
		return append(dst, "null"...), nil
	}
	if b, ok := appendDocJSON(dst, d, 0); ok {
		return b, nil
	}
	// Something JSON cannot hold (NaN, Inf): the value path says what and
	// where.
	return JSON.Encode(dst, d.Any())
}

// appendDocJSON writes node i. It returns false for a float JSON cannot
// hold.
func appendDocJSON(b []byte, d *abi.Doc, i int) ([]byte, bool) {
	n := &d.Nodes[i]
	switch n.Kind {
	case abi.ValueNull:
		return append(b, "null"...), true
	case abi.ValueBool:
		if n.As == 1 {
			return append(b, "true"...), true
		}
		return append(b, "false"...), true
	case abi.ValueInt:
		return strconv.AppendInt(b, int64(n.As), 10), true
	case abi.ValueUint:
		return strconv.AppendUint(b, n.As, 10), true
	case abi.ValueFloat:
		b, pe := appendJSONFloat(b, math.Float64frombits(n.As), 64)
		return b, pe == nil
	case abi.ValueString:
		return appendJSONValidString(b, d.Data(i)), true
	case abi.ValueBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, d.Data(i))
		return append(b, '"'), true
	case abi.ValueArray:
		b = append(b, '[')
		j := i + 1
		for c := uint64(0); c < n.Len; c++ {
			if c > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendDocJSON(b, d, j); !ok {
				return b, false
			}
			j = d.Next(j)
		}
		return append(b, ']'), true
	case abi.ValueObject:
		return appendDocJSONObject(b, d, i)
	}
	return b, false
}

// appendDocJSONObject writes object node i with its members in key order,
// as the value path does (a repeated key: the last one, as a map keeps).
func appendDocJSONObject(b []byte, d *abi.Doc, i int) ([]byte, bool) {
	n := &d.Nodes[i]
	var small [32]int32
	members := small[:0]
	if n.Len > uint64(len(small)) {
		members = make([]int32, 0, n.Len)
	}
	j := i + 1
	for c := uint64(0); c < n.Len; c++ {
		members = append(members, int32(j))
		j = d.Next(j)
	}
	sortMembers(d, members)
	b = append(b, '{')
	first := true
	for k, m := range members {
		key := d.Key(int(m))
		if k+1 < len(members) && string(key) == string(d.Key(int(members[k+1]))) {
			continue // a later member has the same key
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONValidString(b, key)
		b = append(b, ':')
		var ok bool
		if b, ok = appendDocJSON(b, d, int(m)); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// sortMembers sorts member nodes by key, stably (equal keys keep their
// order, so the last of a run is the last in the document). An object of
// up to 32 members (nearly every event) is sorted by insertion on each
// key's first 8 bytes as a big-endian integer, which orders like the bytes
// themselves, and compares whole keys only when those are equal: most
// keys differ early, and an integer compare costs a fraction of a string
// compare's call.
func sortMembers(d *abi.Doc, members []int32) {
	less := func(x, y int32) bool { return string(d.Key(int(x))) < string(d.Key(int(y))) }
	if len(members) > 32 {
		slices.SortStableFunc(members, func(x, y int32) int {
			switch {
			case less(x, y):
				return -1
			case less(y, x):
				return 1
			}
			return 0
		})
		return
	}
	var prefix [32]uint64
	for k, m := range members {
		prefix[k] = keyPrefix(d.Key(int(m)))
	}
	for k := 1; k < len(members); k++ {
		for m := k; m > 0; m-- {
			p, q := prefix[m], prefix[m-1]
			if p > q || p == q && !less(members[m], members[m-1]) {
				break
			}
			members[m], members[m-1] = members[m-1], members[m]
			prefix[m], prefix[m-1] = q, p
		}
	}
}

// keyPrefix is the first 8 bytes of key as a big-endian integer, zero
// padded: a < b for two prefixes means the keys are in that order too. A
// short key whose slice has room reads the 8 bytes at once and masks off
// what follows it.
func keyPrefix(key []byte) uint64 {
	switch n := len(key); {
	case n >= 8:
		return binary.BigEndian.Uint64(key)
	case n == 0:
		return 0
	case cap(key) >= 8:
		return binary.BigEndian.Uint64(key[:8]) &^ (1<<(8*(8-n)) - 1)
	}
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// appendJSONValidString writes s, known to be valid UTF-8, as a JSON
// string: appendJSONString's output for it.
func appendJSONValidString(b []byte, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i, c := range s {
		if c >= utf8.RuneSelf || jsonSafe[c] {
			continue
		}
		b = append(b, s[start:i]...)
		b = appendJSONEscape(b, c)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
