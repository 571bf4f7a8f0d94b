package flow

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cr\"et\n"), 0o600))
	env := map[string]string{"HOST": "example.org", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	file := filepath.Join(dir, "f.toml")
	tests := []struct {
		in, want, err string
	}{
		{in: `a = "${HOST}"`, want: `a = "example.org"`},
		{in: `a = "${MISSING:-dflt}"`, want: `a = "dflt"`},
		{in: `a = "${EMPTY:-dflt}"`, want: `a = "dflt"`},
		{in: `a = "$$HOST $x"`, want: `a = "$HOST $x"`},
		{in: `a = "${file:pw}"`, want: `a = "s3cr\"et"`},
		{in: "# ${MISSING}\nb = 1", want: "# ${MISSING}\nb = 1"},
		// A # outside a string starts a comment, which is not expanded; a #
		// inside a string is text.
		{in: `name = "ok" # ${NOPE_UNSET}`, want: `name = "ok" # ${NOPE_UNSET}`},
		{in: `name = "${HOST}"# ${NOPE_UNSET} "${ALSO}"`, want: `name = "example.org"# ${NOPE_UNSET} "${ALSO}"`},
		{in: `a = "a#${HOST}" # ${NOPE_UNSET}`, want: `a = "a#example.org" # ${NOPE_UNSET}`},
		{in: `a = "q\"#${HOST}" # ${NOPE_UNSET}`, want: `a = "q\"#example.org" # ${NOPE_UNSET}`},
		{in: `a = "back\\" # ${NOPE_UNSET}`, want: `a = "back\\" # ${NOPE_UNSET}`},
		{in: `a = 'lit#"' # ${NOPE_UNSET}`, want: `a = 'lit#"' # ${NOPE_UNSET}`},
		{in: `a = ["x#", '#', "${HOST}"] # ${NOPE_UNSET}`, want: `a = ["x#", '#', "example.org"] # ${NOPE_UNSET}`},
		{in: "a = \"\"\"\n# ${HOST} \"\n\"\"\" # ${NOPE_UNSET}\nb = 1 # ${NOPE_UNSET}", want: "a = \"\"\"\n# example.org \"\n\"\"\" # ${NOPE_UNSET}\nb = 1 # ${NOPE_UNSET}"},
		{in: "a = '''\n#' ${HOST}\n''' # ${NOPE_UNSET}", want: "a = '''\n#' example.org\n''' # ${NOPE_UNSET}"},
		{in: `a = "${HOST}" # ${NOPE_UNSET` + "\nb = \"${HOST}\"", want: `a = "example.org" # ${NOPE_UNSET` + "\nb = \"example.org\""},
		{in: `a = "x" # ${NOPE_UNSET}` + "\nb = \"${NOPE_UNSET}\"", err: "f.toml:2: ${NOPE_UNSET}: environment variable NOPE_UNSET is not set"},
		{in: "x = 1\na = \"${MISSING}\"", err: "f.toml:2: ${MISSING}: environment variable MISSING is not set"},
		{in: `a = "${file:nope}"`, err: "f.toml:1: ${file:" + filepath.Join(dir, "nope") + "}: no such file"},
		{in: "a = \"${MISSING}\"\nb = 1\nc = \"${ALSO_MISSING}\"", err: "f.toml:1: ${MISSING}: environment variable MISSING is not set; set it, or give a default with ${MISSING:-default}; line 3: ${ALSO_MISSING}: environment variable ALSO_MISSING is not set"},
		{in: `a = "${HOST"`, err: "has no closing }"},
		{in: `a = "${1x}"`, err: "is not a variable name"},
	}
	for _, tc := range tests {
		got, err := expand(file, []byte(tc.in), lookup)
		if tc.err != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.err)
			assert.Equal(t, 1, strings.Count(err.Error(), file), "the file is named once: %s", err)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, string(got))
	}
	assert.Equal(t, "pw=<redacted>", Redact("pw=s3cr\"et"))
	assert.Equal(t, map[string]any{"n": map[string]any{"h": "<redacted>:1"}, "p": 1}, RedactConfig(map[string]any{"n": map[string]any{"h": "example.org:1"}, "p": 1}))
}

// A value with a quote or newline stays inside its string: the flow's
// structure and line numbers do not change.
func TestExpandKeepsStructure(t *testing.T) {
	t.Setenv("TRICKY", "a\"\nname = \"evil")
	data, err := expand("t.toml", []byte("[flow]\nname = \"${TRICKY}\"\nx = 1\n"), os.LookupEnv)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(data), "\n"))
	var doc map[string]map[string]any
	_, err = toml.Decode(string(data), &doc)
	require.NoError(t, err)
	assert.Equal(t, "a\"\nname = \"evil", doc["flow"]["name"])
}

// A flow posted to the API may not read the host's files: ${file:PATH} is
// refused, naming the line, and nothing of the file reaches the message.
func TestParsePostedRefusesFileRefs(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "posted-secret")
	require.NoError(t, os.WriteFile(secret, []byte("posted-SECRET-contents\n"), 0o600))
	text := strings.Replace(validFlow, `path = "/tmp/out.json"`, `path = "${file:`+secret+`}"`, 1)
	line := 1 + strings.Count(text[:strings.Index(text, "${file:")], "\n")

	_, err := ParsePosted("(POST /api/flows)", []byte(text))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("(POST /api/flows):%d: ${file:%s}: a flow posted to the admin API may not read files of the host", line, secret))
	assert.Contains(t, err.Error(), "deploy it as a flow file instead")
	assert.Contains(t, err.Error(), "environment variable")
	assert.NotContains(t, err.Error(), "posted-SECRET")
	assert.NotContains(t, Redact("posted-SECRET-contents"), Redacted, "the file was never read")

	// The same flow read from a file reads it.
	f, err := Parse(filepath.Join(dir, "f.toml"), []byte(text))
	require.NoError(t, err)
	assert.Equal(t, "posted-SECRET-contents", f.Connectors[1].Config["path"])
	// A comment is not a reference.
	_, err = ParsePosted("(POST /api/flows)", []byte(validFlow+"# ${file:/etc/shadow}\n"))
	require.NoError(t, err)
}

// Flow files and ${file:} targets are regular files of bounded size: a
// device, a FIFO or a huge file is refused at once, saying why.
func TestReadLimits(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxFileRef+1), 0o600))
	ok := filepath.Join(dir, "ok")
	require.NoError(t, os.WriteFile(ok, make([]byte, MaxFileRef), 0o600))

	for _, tc := range []struct{ path, err string }{
		{"/dev/zero", "/dev/zero is not a regular file (a character device): a flow file must be a regular file"},
		{fifo, fifo + " is not a regular file (a FIFO)"},
		{dir, dir + " is not a regular file (a directory)"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(tc.path); done <- err }()
		select {
		case err := <-done:
			require.Error(t, err, tc.path)
			assert.Contains(t, err.Error(), tc.err)
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) did not return", tc.path)
		}
	}
	huge := filepath.Join(dir, "huge.toml")
	require.NoError(t, os.Truncate(createEmpty(t, huge), MaxFlowFile+1))
	_, err := Load(huge)
	require.Error(t, err)
	assert.Contains(t, err.Error(), huge+" is larger than 16 MiB, the most a flow file may hold")

	lookup := func(string) (string, bool) { return "", false }
	for _, tc := range []struct{ ref, err string }{
		{"/dev/zero", "${file:/dev/zero}: /dev/zero is not a regular file (a character device): a ${file:} secret must be a regular file"},
		{fifo, fifo + " is not a regular file (a FIFO)"},
		{big, "${file:" + big + "}: " + big + " is larger than 1 MiB, the most a ${file:} secret may hold"},
	} {
		_, err := expand(filepath.Join(dir, "f.toml"), []byte(`a = "${file:`+tc.ref+`}"`), lookup)
		require.Error(t, err, tc.ref)
		assert.Contains(t, err.Error(), tc.err)
	}
	got, err := expand(filepath.Join(dir, "f.toml"), []byte(`a = "${file:ok}"`), lookup)
	require.NoError(t, err, "a file of exactly MaxFileRef bytes is read")
	assert.Len(t, got, len(`a = ""`)+6*MaxFileRef) // each NUL escaped as \u0000
}

func createEmpty(t *testing.T, path string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	return path
}

// A secret is hidden also where a message shows it escaped: quoted by Go
// (%q), in JSON (a log line), quoted and then in JSON, or TOML-escaped.
func TestRedactEscapedForms(t *testing.T) {
	const v = "line1-Secret\nline2-Secret\"quote\\back\ttab-é"
	t.Setenv("TRICKY_SECRET", v)
	_, err := expand("t.toml", []byte(`a = "${TRICKY_SECRET}"`), os.LookupEnv)
	require.NoError(t, err)

	quoted := fmt.Sprintf("not %q", v)
	asciiQuoted := fmt.Sprintf("not %+q", v)
	js, err := json.Marshal(map[string]string{"error": quoted, "raw": v})
	require.NoError(t, err)
	for _, msg := range []string{"plain " + v, quoted, asciiQuoted, string(js), escapeBasic(v)} {
		got := Redact(msg)
		assert.Contains(t, got, Redacted, msg)
		for _, part := range []string{"line1-Secret", "line2-Secret", "quote", "tab-"} {
			assert.NotContains(t, got, part, "from %s", msg)
		}
	}
	assert.Equal(t, `not "<redacted>"`, Redact(quoted))
	assert.Equal(t, `{"error":"not \"<redacted>\"","raw":"<redacted>"}`, Redact(string(js)))

	var b strings.Builder
	w := RedactWriter(&b)
	n, err := w.Write(js)
	require.NoError(t, err)
	assert.Equal(t, len(js), n, "the writer reports what it was given")
	assert.Equal(t, Redact(string(js)), b.String())
}

// A secret that holds another is hidden whole, not left in pieces.
func TestRedactLongestFirst(t *testing.T) {
	t.Setenv("SHORT_SECRET", "abcd-1234")
	t.Setenv("LONG_SECRET", "xx-abcd-1234-yy")
	_, err := expand("t.toml", []byte("a = \"${SHORT_SECRET}\"\nb = \"${LONG_SECRET}\""), os.LookupEnv)
	require.NoError(t, err)
	assert.Equal(t, "<redacted> and <redacted>", Redact("xx-abcd-1234-yy and abcd-1234"))
}
