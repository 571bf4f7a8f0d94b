package flow

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Substitution in flow files, before the TOML is parsed:
//
//	${VAR}            the environment variable VAR; an error when it is not set
//	${VAR:-default}   VAR, or default when VAR is unset or empty
//	${file:PATH}      the contents of PATH (relative to the flow file), less
//	                  one trailing newline: for secrets kept in files
//	$$                a literal $
//
// Values are escaped for a TOML basic string ("..."), so a quote or a
// newline in a value cannot change the flow's structure, and lines keep
// their numbers. Comment lines are left alone. Every substituted value is
// a secret: Redact hides it wherever the host logs or reports.

// expand substitutes the variables of data, a flow read from file.
func expand(file string, data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	if !strings.Contains(string(data), "$") {
		return data, nil
	}
	var out strings.Builder
	var first *Error // located at the first line that fails; the others follow in Msg
	for i, line := range strings.SplitAfter(string(data), "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") || !strings.Contains(line, "$") {
			out.WriteString(line)
			continue
		}
		got, err := expandLine(file, line, lookup)
		switch {
		case err != nil && first == nil:
			first = &Error{File: file, Line: i + 1, Msg: err.Error()}
		case err != nil:
			first.Msg += fmt.Sprintf("; line %d: %v", i+1, err)
		}
		out.WriteString(got)
	}
	if first != nil {
		return nil, first
	}
	return []byte(out.String()), nil
}

func expandLine(file, line string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(line, '$')
		if i < 0 || i == len(line)-1 {
			b.WriteString(line)
			return b.String(), nil
		}
		b.WriteString(line[:i])
		switch line[i+1] {
		case '$':
			b.WriteByte('$')
			line = line[i+2:]
			continue
		case '{':
		default:
			b.WriteByte('$')
			line = line[i+1:]
			continue
		}
		end := strings.IndexByte(line[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q has no closing }; write $$ for a literal $", line[i:])
		}
		ref := line[i+2 : i+end]
		line = line[i+end+1:]
		v, err := resolveRef(file, ref, lookup)
		if err != nil {
			return "", err
		}
		markSecret(v)
		b.WriteString(escapeBasic(v))
	}
}

// resolveRef is the value of one ${...} reference.
func resolveRef(file, ref string, lookup func(string) (string, bool)) (string, error) {
	if path, ok := strings.CutPrefix(ref, "file:"); ok {
		if path == "" {
			return "", fmt.Errorf("${file:} names no file; write ${file:/path/to/secret}")
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(file), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			// The error names the path, never the contents.
			return "", fmt.Errorf("${file:%s}: %v; create the file or fix the path", path, unwrapPath(err))
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"), nil
	}
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validVar(name) {
		return "", fmt.Errorf("${%s}: %q is not a variable name (letters, digits and _; or file:PATH)", ref, name)
	}
	v, ok := lookup(name)
	if hasDef && v == "" {
		return def, nil
	}
	if !ok {
		return "", fmt.Errorf("${%s}: environment variable %s is not set; set it, or give a default with ${%s:-default}", name, name, name)
	}
	return v, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func validVar(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// escapeBasic escapes s for the inside of a TOML basic string.
func escapeBasic(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// secrets holds every value substituted into a flow in this process.
var secrets struct {
	sync.RWMutex
	values map[string]struct{}
}

// markSecret remembers v for Redact. Values shorter than 4 bytes are not
// hidden: replacing "1" or "on" everywhere would garble every message.
func markSecret(v string) {
	if len(v) < 4 {
		return
	}
	secrets.Lock()
	defer secrets.Unlock()
	if secrets.values == nil {
		secrets.values = map[string]struct{}{}
	}
	secrets.values[v] = struct{}{}
}

// Redacted is what Redact writes in place of a secret.
const Redacted = "<redacted>"

// Redact hides, in s, every value that came from the environment or a
// file through ${...}.
func Redact(s string) string {
	secrets.RLock()
	defer secrets.RUnlock()
	for v := range secrets.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// RedactConfig returns cfg with every string holding a secret (see Redact)
// redacted, for logging; cfg itself is not changed.
func RedactConfig(cfg map[string]any) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch v := v.(type) {
	case string:
		return Redact(v)
	case map[string]any:
		return RedactConfig(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactValue(e)
		}
		return out
	}
	return v
}
