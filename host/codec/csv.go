package codec

import (
	"fmt"
	"strconv"
	"tremorhost/abi"
	"unicode/utf8"
)

// CSV is the csv codec with the default delimiter ','. Each frame is one
// record (RFC 4180 quoting: a field that starts with '"' is quoted, "" inside
// it is a literal quote, and it may hold the delimiter and newlines). One
// trailing "\n" or "\r\n" is ignored. Decoding yields []any of strings; an
// empty frame is a record with no fields ([]any{}).
//
// Encoding takes a row ([]any or []string) of scalars (strings and []byte as
// is, numbers and booleans as in JSON, nil as an empty field) and writes one
// record without a line terminator (the lines post-processor adds it). Fields
// holding the delimiter, a quote, '\r' or '\n', or starting with a space or
// tab, are quoted; so is a single empty field, so it is not read back as an
// empty record.
var CSV Codec = &csvCodec{delim: ','}

type csvCodec struct {
	delim byte
}

// NewCSV returns a csv codec splitting fields on delim, which must be one
// ASCII character other than '"', '\r' and '\n'.
func NewCSV(delim rune) (Codec, error) {
	if delim <= 0 || delim >= utf8.RuneSelf || delim == '"' || delim == '\r' || delim == '\n' {
		return nil, fmt.Errorf("invalid csv delimiter %q: must be one ASCII character other than '\"', '\\r' and '\\n'", delim)
	}
	return &csvCodec{delim: byte(delim)}, nil
}

func newCSVFromConfig(config map[string]any) (Codec, error) {
	delim := ','
	for k, v := range config {
		switch k {
		case "delimiter":
			s, ok := v.(string)
			if !ok || utf8.RuneCountInString(s) != 1 {
				return nil, fmt.Errorf("config key %q: want a one-character string, got %#v", k, v)
			}
			r, _ := utf8.DecodeRuneInString(s)
			delim = r
		default:
			return nil, fmt.Errorf("unknown config key %q (known: delimiter)", k)
		}
	}
	c, err := NewCSV(delim)
	if err != nil {
		return nil, fmt.Errorf("config key \"delimiter\": %w", err)
	}
	return c, nil
}

func (*csvCodec) Name() string { return "csv" }

func (c *csvCodec) Decode(data []byte) (any, error) {
	end := len(data)
	// One trailing line terminator is allowed (checked below that it is
	// outside quotes: a terminator inside an unterminated quote is an error
	// either way).
	if end > 0 && data[end-1] == '\n' {
		end--
		if end > 0 && data[end-1] == '\r' {
			end--
		}
	}
	rec := make([]any, 0, 8)
	if end == 0 {
		return rec, nil
	}
	var all string // lazy copy of data; unescaped fields slice into it
	field := func(a, b int) string {
		if all == "" {
			all = string(data)
		}
		return all[a:b]
	}
	i := 0
	for {
		// start of a field
		if i < end && data[i] == '"' {
			start := i
			i++
			var buf []byte // only used once a "" escape is seen
			segStart := i
			for {
				if i >= end {
					return nil, decodeError("csv", start, "quoted field is not terminated", nil)
				}
				if data[i] == '"' {
					if i+1 < end && data[i+1] == '"' {
						buf = append(buf, data[segStart:i+1]...)
						i += 2
						segStart = i
						continue
					}
					break
				}
				i++
			}
			if buf == nil {
				rec = append(rec, field(segStart, i))
			} else {
				rec = append(rec, string(append(buf, data[segStart:i]...)))
			}
			i++ // closing quote
			if i < end && data[i] != c.delim {
				return nil, decodeError("csv", i, fmt.Sprintf("unexpected %q after closing quote", data[i]), nil)
			}
		} else {
			start := i
			for i < end && data[i] != c.delim {
				switch data[i] {
				case '"':
					return nil, decodeError("csv", i, `bare " in unquoted field`, nil)
				case '\n', '\r':
					return nil, decodeError("csv", i, "line break outside quotes: a frame must hold exactly one record", nil)
				}
				i++
			}
			rec = append(rec, field(start, i))
		}
		if i >= end {
			return rec, nil
		}
		i++ // delimiter
	}
}

func (c *csvCodec) Encode(dst []byte, v any) ([]byte, error) {
	if d, ok := v.(*abi.Doc); ok {
		v = d.Any()
	}
	n := len(dst)
	switch row := v.(type) {
	case []any:
		for i, f := range row {
			if i > 0 {
				dst = append(dst, c.delim)
			}
			var err error
			if dst, err = c.appendField(dst, f, len(row) == 1); err != nil {
				if e, ok := err.(*Error); ok {
					e.Path = "$[" + strconv.Itoa(i) + "]"
				}
				return dst[:n], err
			}
		}
		return dst, nil
	case []string:
		for i, f := range row {
			if i > 0 {
				dst = append(dst, c.delim)
			}
			dst = c.appendQuoted(dst, f, len(row) == 1)
		}
		return dst, nil
	}
	return dst, encodeError("csv", "$", "cannot encode "+kindOf(v)+" as a csv record (a record is an array of scalars)", nil)
}

func (c *csvCodec) appendField(dst []byte, f any, only bool) ([]byte, error) {
	switch x := f.(type) {
	case string:
		return c.appendQuoted(dst, x, only), nil
	case []byte:
		return c.appendQuoted(dst, string(x), only), nil
	case nil:
		if only {
			return append(dst, '"', '"'), nil
		}
		return dst, nil
	case []any, map[string]any:
		return dst, encodeError("csv", "", "cannot encode "+kindOf(f)+" as a csv field (a field is a scalar)", nil)
	}
	return appendScalarText(dst, f, "csv")
}

func (c *csvCodec) needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case c.delim, '"', '\r', '\n':
			return true
		}
	}
	return false
}

func (c *csvCodec) appendQuoted(dst []byte, s string, only bool) []byte {
	if s == "" && only {
		return append(dst, '"', '"')
	}
	if !c.needsQuotes(s) {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}
