package flow

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Substitution in flow files, before the TOML is parsed:
//
//	${VAR}            the environment variable VAR; an error when it is not set
//	${VAR:-default}   VAR, or default when VAR is unset or empty
//	${file:PATH}      the contents of PATH (relative to the flow file), less
//	                  one trailing newline: for secrets kept in files. PATH
//	                  must be a regular file of at most MaxFileRef bytes. A
//	                  flow posted to the admin API (ParsePosted) may not use
//	                  it: the poster would read the host's files.
//	$$                a literal $
//
// Values are escaped for a TOML basic string ("..."), so a quote or a
// newline in a value cannot change the flow's structure, and lines keep
// their numbers. Comments (from a # outside a string to the end of the
// line) are left alone. Every substituted value is a secret: Redact hides
// it wherever the host logs or reports.

// MaxFlowFile bounds a flow file; MaxFileRef bounds the file of a
// ${file:PATH} reference (a secret, not a data set).
const (
	MaxFlowFile = 16 << 20
	MaxFileRef  = 1 << 20
)

// ReadFile reads a flow file: a regular file (not a FIFO or a device,
// which could block or never end) of at most MaxFlowFile bytes.
func ReadFile(path string) ([]byte, error) {
	return ReadRegular(path, MaxFlowFile, "a flow file", "give the path of a flow file (FLOW.toml)", "split the flow, or keep data out of it", nil)
}

// ReadRegular reads path, which must be a regular file of at most max
// bytes; what names the file's role in the messages, notRegular and tooBig
// say what to do; check, when not nil, vets the open file (its mode, say)
// before it is read. The errors name the path, never the contents.
func ReadRegular(path string, max int64, what, notRegular, tooBig string, check func(os.FileInfo) error) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO does not wait for a writer (it is refused
	// below); it changes nothing for a regular file.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &fileError{fmt.Sprintf("%s is not a regular file (%s): %s must be a regular file; %s", path, fileKind(st.Mode()), what, notRegular)}
	}
	if check != nil {
		if err := check(st); err != nil {
			return nil, err
		}
	}
	big := &fileError{fmt.Sprintf("%s is larger than %s, the most %s may hold; %s", path, sizeText(max), what, tooBig)}
	if st.Size() > max {
		return nil, big
	}
	data, err := io.ReadAll(io.LimitReader(fh, max+1)) // the file may grow while read
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, big
	}
	return data, nil
}

// fileError is a file refused by ReadRegular; its message says what to do.
type fileError struct{ msg string }

func (e *fileError) Error() string { return e.msg }

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "mode " + m.String()
}

func sizeText(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// expander substitutes the variables of one flow.
type expander struct {
	file    string // the flow file, for messages and relative ${file:} paths
	lookup  func(string) (string, bool)
	noFiles bool // ${file:} is refused: the flow was posted, not read from a file
}

// lexState is where a line of TOML starts: in plain TOML or inside a
// multi-line string.
type lexState int

const (
	lexPlain lexState = iota
	lexMultiBasic
	lexMultiLiteral
)

// expand substitutes the variables of data, a flow read from file.
func expand(file string, data []byte, lookup func(string) (string, bool)) ([]byte, error) {
	return expander{file: file, lookup: lookup}.expand(data)
}

func (x expander) expand(data []byte) ([]byte, error) {
	if !strings.Contains(string(data), "$") {
		return data, nil
	}
	var out strings.Builder
	var first *Error // located at the first line that fails; the others follow in Msg
	state := lexPlain
	for i, line := range strings.SplitAfter(string(data), "\n") {
		got, next, err := x.expandLine(line, state)
		state = next
		switch {
		case err != nil && first == nil:
			first = &Error{File: x.file, Line: i + 1, Msg: err.Error()}
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

// expandLine substitutes the references of one line that starts in state
// and returns the state the next line starts in. The line is scanned as
// TOML is: a # outside a string starts a comment, which is left as it is;
// a # inside a string (basic or literal, one-line or multi-line) is text.
func (x expander) expandLine(line string, state lexState) (string, lexState, error) {
	const (
		plain = iota
		basic
		literal
		multiBasic
		multiLiteral
	)
	in := plain
	switch state {
	case lexMultiBasic:
		in = multiBasic
	case lexMultiLiteral:
		in = multiLiteral
	}
	var b strings.Builder
	var firstErr error
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == '$' && i+1 < len(line) && line[i+1] == '$':
			b.WriteByte('$')
			i += 2
			continue
		case c == '$' && i+1 < len(line) && line[i+1] == '{':
			end := strings.IndexByte(line[i:], '}')
			if end < 0 {
				if firstErr == nil {
					firstErr = fmt.Errorf("%q has no closing }; write $$ for a literal $", strings.TrimRight(line[i:], "\r\n"))
				}
				b.WriteString(line[i:])
				i = len(line)
				continue
			}
			ref := line[i+2 : i+end]
			i += end + 1
			v, err := x.resolveRef(ref)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			markSecret(v)
			b.WriteString(escapeBasic(v))
			continue
		}
		n := 1 // bytes of line taken as they are
		switch in {
		case plain:
			switch {
			case c == '#':
				b.WriteString(line[i:]) // a comment: left alone
				return b.String(), lexPlain, firstErr
			case strings.HasPrefix(line[i:], `"""`):
				in, n = multiBasic, 3
			case strings.HasPrefix(line[i:], "'''"):
				in, n = multiLiteral, 3
			case c == '"':
				in = basic
			case c == '\'':
				in = literal
			}
		case basic, multiBasic:
			switch {
			case c == '\\' && i+1 < len(line) && line[i+1] != '$':
				n = 2 // an escape: \" is not the end of the string
			case in == basic && c == '"':
				in = plain
			case in == multiBasic && strings.HasPrefix(line[i:], `"""`):
				in, n = plain, 3
			}
		case literal:
			if c == '\'' {
				in = plain
			}
		case multiLiteral:
			if strings.HasPrefix(line[i:], "'''") {
				in, n = plain, 3
			}
		}
		b.WriteString(line[i : i+n])
		i += n
	}
	// A one-line string left open is a TOML error, reported by the parser;
	// only a multi-line string goes on at the next line.
	next := lexPlain
	switch in {
	case multiBasic:
		next = lexMultiBasic
	case multiLiteral:
		next = lexMultiLiteral
	}
	return b.String(), next, firstErr
}

// resolveRef is the value of one ${...} reference.
func (x expander) resolveRef(ref string) (string, error) {
	if path, ok := strings.CutPrefix(ref, "file:"); ok {
		if x.noFiles {
			// Nothing is read, or even looked up: the poster learns nothing
			// of the host's files.
			return "", fmt.Errorf("${%s}: a flow posted to the admin API may not read files of the host; "+
				"deploy it as a flow file instead (tremorctl serve DIR, then POST /api/reload or SIGHUP), "+
				"or pass the value through an environment variable of serve (${VAR})", ref)
		}
		if path == "" {
			return "", fmt.Errorf("${file:} names no file; write ${file:/path/to/secret}")
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(x.file), path)
		}
		data, err := ReadRegular(path, MaxFileRef, "a ${file:} secret",
			"name the file that holds the secret", "keep only the secret in the file", nil)
		if fe, ok := err.(*fileError); ok {
			return "", fmt.Errorf("${file:%s}: %v", path, fe)
		}
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
	v, ok := x.lookup(name)
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

// secrets holds every value substituted into a flow in this process, and
// the forms each takes in messages.
var secrets struct {
	sync.RWMutex
	values map[string]struct{}
	forms  []string // every value and its escaped forms, longest first
}

// markSecret remembers v for Redact. Values shorter than 4 bytes are not
// hidden: replacing "1" or "on" everywhere would garble every message.
func markSecret(v string) {
	if len(v) < 4 {
		return
	}
	secrets.Lock()
	defer secrets.Unlock()
	if _, ok := secrets.values[v]; ok {
		return
	}
	if secrets.values == nil {
		secrets.values = map[string]struct{}{}
	}
	secrets.values[v] = struct{}{}
	for _, f := range secretForms(v) {
		if !slices.Contains(secrets.forms, f) {
			secrets.forms = append(secrets.forms, f)
		}
	}
	// Longest first: a secret that holds another, or an escaped form that
	// holds the plain one, is hidden whole.
	sort.SliceStable(secrets.forms, func(i, j int) bool { return len(secrets.forms[i]) > len(secrets.forms[j]) })
}

// secretForms is v as messages may show it: as it is, quoted by Go (%q,
// %+q: an error of a plugin or of the host), escaped for JSON (a log line,
// an API answer), for a TOML basic string, and a quoted form inside JSON
// (an error with a %q value, logged as JSON). Quotes around each are left
// out: the value is replaced, not the string holding it.
func secretForms(v string) []string {
	quoted := inner(strconv.Quote(v))
	forms := []string{v, quoted, inner(strconv.QuoteToASCII(v)), escapeBasic(v), jsonEscape(v), jsonEscape(quoted)}
	slices.Sort(forms)
	return slices.Compact(forms)
}

func inner(q string) string { return q[1 : len(q)-1] }

// jsonEscape is v as encoding/json (without HTML escaping) and zerolog
// write it inside a JSON string.
func jsonEscape(v string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return inner(strings.TrimSuffix(b.String(), "\n"))
}

// Redacted is what Redact writes in place of a secret.
const Redacted = "<redacted>"

// Redact hides, in s, every value that came from the environment or a
// file through ${...}, also where s shows it escaped (see secretForms).
// It is the one redaction of the host: serve's errors and answers,
// validate's and run's messages, and every log line (RedactWriter).
func Redact(s string) string {
	secrets.RLock()
	defer secrets.RUnlock()
	for _, v := range secrets.forms {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// RedactWriter is w with Redact applied to each write: for a log, whose
// every line (a zerolog event) is one write.
func RedactWriter(w io.Writer) io.Writer { return redactWriter{w} }

type redactWriter struct{ w io.Writer }

func (r redactWriter) Write(p []byte) (int, error) {
	s := Redact(string(p))
	if len(s) == len(p) && s == string(p) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
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
