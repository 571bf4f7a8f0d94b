package flow

import (
	"bufio"
	"bytes"
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

func indexKeyLines(src []byte) keyLines {
	lines := keyLines{}
	counts := map[string]int{} // array-of-tables path -> entries seen
	var table []string         // current table path, with indexes
	inMultiline := ""          // closing delimiter of an open multi-line string

	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
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
			table = append(strings.Split(arr, "."), strconv.Itoa(idx))
			record(lines, table, n)
		case strings.HasPrefix(line, "["):
			name := splitKey(strings.SplitN(line[1:], "]", 2)[0])
			table = resolve(name, counts)
			record(lines, table, n)
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
	return lines
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
