package flow

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// keyLines maps a dotted key path, with array-of-table indexes spelled as
// numbers ("connector.1.config.port"), to the 1-based line where the key is
// written. BurntSushi/toml keeps key positions private, so this small scanner
// recovers them for error messages. It understands table headers, arrays of
// tables, dotted keys and multi-line strings; keys inside inline tables get
// the line of the key that holds the inline table.
type keyLines map[string]int

// lineTables holds, for each line (1-based), the path of the table in
// effect there, with indexes ("connector.1"): it puts the indexes back into
// the keys of the TOML decoder's errors.
type lineTables []string

func indexKeyLines(src []byte) (keyLines, lineTables) {
	lines := keyLines{}
	tables := lineTables{""}
	counts := map[string]int{} // array-of-tables path -> entries seen
	var table []string         // current table path, with indexes
	inMultiline := ""          // closing delimiter of an open multi-line string

	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		tables = append(tables, strings.Join(table, "."))
		line := strings.TrimSpace(sc.Text())
		if inMultiline != "" {
			if strings.Contains(line, inMultiline) {
				inMultiline = ""
			}
			continue
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[["):
			name := splitKey(strings.SplitN(line[2:], "]]", 2)[0])
			parent := resolve(name[:len(name)-1], counts)
			arr := strings.Join(append(parent, name[len(name)-1]), ".")
			idx := counts[arr]
			counts[arr] = idx + 1
			record(lines, strings.Split(arr, "."), n)
			table = append(strings.Split(arr, "."), strconv.Itoa(idx))
			record(lines, table, n)
			tables[n] = strings.Join(table, ".")
		case strings.HasPrefix(line, "["):
			name := splitKey(strings.SplitN(line[1:], "]", 2)[0])
			table = resolve(name, counts)
			record(lines, table, n)
			tables[n] = strings.Join(table, ".")
		default:
			eq := strings.IndexByte(line, '=')
			if eq <= 0 {
				continue
			}
			key := append(append([]string{}, table...), splitKey(line[:eq])...)
			record(lines, key, n)
			rest := strings.TrimSpace(line[eq+1:])
			for _, delim := range []string{`"""`, `'''`} {
				if strings.HasPrefix(rest, delim) && !strings.Contains(rest[3:], delim) {
					inMultiline = delim
				}
			}
		}
	}
	return lines, tables
}

// indexed spells a key of the TOML decoder ("connector.config.port", no
// indexes) as the flow's errors do, with the indexes of the tables in
// effect at line: "connector[1].config.port".
func (lt lineTables) indexed(line int, key string) string {
	if key == "" {
		return ""
	}
	var table []string
	if line > 0 && line < len(lt) && lt[line] != "" {
		table = strings.Split(lt[line], ".")
	}
	var path []any
	t := 0
	for _, seg := range strings.Split(key, ".") {
		path = append(path, seg)
		if t < len(table) && table[t] == seg {
			t++
			if t < len(table) {
				if i, err := strconv.Atoi(table[t]); err == nil {
					path = append(path, i)
					t++
				}
			}
		} else {
			t = len(table)
		}
	}
	return shownKey(path...)
}

// Bounds on how deep a flow may nest: far beyond what a flow needs, and
// low enough that decoding stays linear in the file's size (the TOML
// decoder's work per value grows with the depth of its key path).
const (
	maxNesting  = 32 // inline tables and arrays inside one another
	maxKeyParts = 32 // parts of one dotted key or table header
)

// nestingError scans src once and reports the first line that nests
// inline tables and arrays deeper than maxNesting, or writes a dotted key
// of more than maxKeyParts parts; msg is "" when there is none. It knows
// strings and comments, so brackets and dots inside them do not count;
// anything else odd is left to the TOML decoder.
func nestingError(src []byte) (line int, msg string) {
	line = 1
	var stack []byte // open brackets: '{' or '['
	keyPos := true   // reading a key (a line's start, or after '{' or ',' in an inline table)
	parts := 1
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\n':
			line++
			if len(stack) == 0 {
				keyPos, parts = true, 1
			}
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			i-- // the newline is counted above
		case c == '"' || c == '\'':
			end, nl := skipString(src, i)
			i, line = end, line+nl
		case c == '{' || c == '[':
			if c == '[' && keyPos && len(stack) == 0 {
				// A table header: its name is a key.
				for i+1 < len(src) && src[i+1] == '[' {
					i++
				}
				continue
			}
			stack = append(stack, c)
			if len(stack) > maxNesting {
				return line, fmt.Sprintf("nested deeper than %d levels of inline tables and arrays; a flow never needs that: flatten it", maxNesting)
			}
			keyPos, parts = c == '{', 1
		case c == '}' || c == ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			keyPos = false
		case c == ',':
			keyPos, parts = len(stack) > 0 && stack[len(stack)-1] == '{', 1
		case c == '=':
			keyPos = false
		case c == '.' && keyPos:
			parts++
			if parts > maxKeyParts {
				return line, fmt.Sprintf("a dotted key with more than %d parts; a flow never needs that: shorten it", maxKeyParts)
			}
		}
	}
	return 0, ""
}

// skipString returns the index of the last byte of the string starting at
// src[i] (basic or literal, single- or multi-line) and how many newlines
// it holds. An unterminated string ends at the end of its line (single) or
// of the input (multi-line); the decoder reports it.
func skipString(src []byte, i int) (end, newlines int) {
	q := src[i]
	multi := i+2 < len(src) && src[i+1] == q && src[i+2] == q
	if multi {
		i += 3
	} else {
		i++
	}
	for ; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '\\' && q == '"':
			if i+1 < len(src) && src[i+1] == '\n' {
				newlines++
			}
			i++
		case c == '\n':
			if !multi {
				return i - 1, 0
			}
			newlines++
		case c == q:
			if !multi {
				return i, newlines
			}
			if i+2 < len(src) && src[i+1] == q && src[i+2] == q {
				// Up to two more quotes may belong to the string: """a"""""
				i += 2
				for i+1 < len(src) && src[i+1] == q {
					i++
				}
				return i, newlines
			}
		}
	}
	return len(src) - 1, newlines
}

// resolve turns a header path into an indexed path: a segment that names an
// array of tables refers to its latest entry, as in TOML itself.
func resolve(name []string, counts map[string]int) []string {
	var out []string
	for _, seg := range name {
		out = append(out, seg)
		if c, ok := counts[strings.Join(out, ".")]; ok {
			out = append(out, strconv.Itoa(c-1))
		}
	}
	return out
}

func record(lines keyLines, path []string, n int) {
	k := strings.Join(path, ".")
	if _, seen := lines[k]; !seen {
		lines[k] = n
	}
}

// splitKey splits a (possibly dotted, possibly quoted) TOML key.
func splitKey(s string) []string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		p = strings.Trim(p, `"'`)
		parts = append(parts, p)
	}
	return parts
}

// line returns the line of the most specific known prefix of path.
func (kl keyLines) line(path ...string) int {
	for i := len(path); i > 0; i-- {
		if n, ok := kl[strings.Join(path[:i], ".")]; ok {
			return n
		}
	}
	return 0
}
