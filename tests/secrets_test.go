package tests

// Secrets and untrusted input, through build/bin/tremorctl as a
// subprocess: values substituted into a flow (${VAR}, ${file:PATH}) never
// reach a message or a log of validate, run or serve, even when they hold
// a newline, a quote or a backslash; a flow posted to the admin API may not
// read the host's files; flow files and ${file:} targets are bounded
// regular files; the API token file must be private; comments are not
// expanded.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secretParts are pieces of the secrets below: none may be shown.
var secretParts = []string{"hunter2-SuperSecretToken", "line1-Secret", "line2-Secret", "quote-Secret", "env-Secret"}

// assertNoSecret checks that out shows no part of a secret, and that it
// does show that something was redacted.
func assertNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range secretParts {
		assert.NotContains(t, out, s, "%s shows a secret:\n%s", what, lastLines(out, 20))
	}
	assert.Contains(t, out, "<redacted>", "%s:\n%s", what, lastLines(out, 20))
}

// validate and run hide substituted values in their messages and logs as
// serve does: from a file or from the environment, one line or several,
// with quotes and backslashes, in a plugin's error (a bad mode) and in the
// flow's own (a link to no node).
func TestSecretsRedactedByValidateAndRun(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("hunter2-SuperSecretToken\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "multi.txt"), []byte("line1-Secret\nline2-Secret\"quote-Secret\\x"), 0o600))
	t.Setenv("TREMOR_TEST_SECRET", "env-Secret\nsecond \"quote-Secret\" \\ end")
	out := filepath.Join(dir, "out.jsonl")

	for _, ref := range []string{"${file:plain.txt}", "${file:multi.txt}", "${TREMOR_TEST_SECRET}"} {
		badMode := strings.Replace(tickFlow("m", 1, 2, out), `mode = "write"`, `mode = "`+ref+`"`, 1)
		badLink := strings.Replace(tickFlow("l", 1, 2, out), `to = "out"`, `to = "`+ref+`"`, 1)
		for name, text := range map[string]string{"mode.toml": badMode, "link.toml": badLink} {
			file := writeFlow(t, dir, name, text)
			for _, args := range [][]string{
				{"validate", file},
				{"run", file},
				{"--log-level", "debug", "run", file},
				{"--log-format", "text", "--log-level", "debug", "run", file},
			} {
				code, stdout, stderr := ctl(t, args...)
				what := strings.Join(args, " ") + " with " + ref + " in " + name
				assert.Equal(t, 1, code, "%s: stderr:\n%s", what, lastLines(stderr, 10))
				assertNoSecret(t, what, stdout+stderr)
				noCrash(t, stderr)
				if name == "mode.toml" {
					assert.Contains(t, stderr, `config field `+"`mode`"+` must be one of "read", "write", "append", not "<redacted>"`, what)
				} else {
					assert.Contains(t, stderr, `link[1].to: no connector or pipeline has id "<redacted>"`, what)
				}
			}
		}
	}
}

// A flow posted to the admin API may not use ${file:PATH}: whoever can post
// would read every file the service can. The answer names the line and
// says what to do instead; nothing of the file is read. The same flow as a
// file of serve's directory reads its ${file:}.
func TestSecretsAPIRefusesFileRefs(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	require.NoError(t, os.WriteFile(secret, []byte("hunter2-SuperSecretToken\n"), 0o600))
	out := filepath.Join(dir, "out.jsonl")
	flows := filepath.Join(dir, "flows")
	require.NoError(t, os.Mkdir(flows, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(flows, "out-path"), []byte(out+"\n"), 0o600))
	fromFile := strings.Replace(tickFlow("fromfile", 5, 0, ""), `path = ""`, `path = "${file:out-path}"`, 1)
	writeFlow(t, flows, "fromfile.toml", fromFile)

	s := startServe(t, flows)
	f, ok := s.flow("fromfile")
	require.True(t, ok, "the flow file of the directory uses ${file:}")
	assert.Equal(t, "running", f.State)

	for _, tc := range []struct{ ref, query string }{
		{"${file:" + secret + "}", ""},
		{"${file:/etc/passwd}", ""},
		{"${file:secret.txt}", "?file=" + filepath.Join(dir, "posted.toml")},
		{"${file:secret.txt}", ""},
	} {
		text := strings.Replace(tickFlow("posted", 5, 0, filepath.Join(dir, "posted.jsonl")), `to = "out"`, `to = "`+tc.ref+`"`, 1)
		line := 1 + strings.Count(text[:strings.Index(text, "${file:")], "\n")
		code, body := s.do("POST", "/api/flows"+tc.query, []byte(text))
		assert.Equal(t, http.StatusBadRequest, code, "%s", body)
		var ans struct {
			Error  string   `json:"error"`
			Errors []string `json:"errors"`
		}
		require.NoError(t, json.Unmarshal(body, &ans), "%s", body)
		require.Len(t, ans.Errors, 1, "%s", body)
		name := "(POST /api/flows)"
		if tc.query != "" {
			name = filepath.Join(dir, "posted.toml")
		}
		assert.Equal(t, name+":"+itoa(line)+": "+tc.ref+": a flow posted to the admin API may not read files of the host; "+
			"deploy it as a flow file instead (tremorctl serve DIR, then POST /api/reload or SIGHUP), "+
			"or pass the value through an environment variable of serve (${VAR})", ans.Errors[0])
		assert.NotContains(t, string(body), "hunter2")
		assert.NotContains(t, string(body), "root:", "nothing of /etc/passwd")
		assert.NotContains(t, string(body), "no such file", "the path was not even looked up")
		_, deployed := s.flow("posted")
		assert.False(t, deployed)
	}
	assert.NotContains(t, s.stderr.String(), "hunter2")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A flow file, and the file of a ${file:} reference, must be a regular file
// of bounded size: /dev/zero, a FIFO or a huge file is refused at once,
// saying why, instead of reading for ever.
func TestFlowFileMustBeBoundedRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	huge := filepath.Join(dir, "huge.toml")
	require.NoError(t, os.WriteFile(huge, nil, 0o644))
	require.NoError(t, os.Truncate(huge, 16<<20+1))
	big := filepath.Join(dir, "big.txt")
	require.NoError(t, os.WriteFile(big, make([]byte, 1<<20+1), 0o600))
	out := filepath.Join(dir, "out.jsonl")
	devZeroRef := writeFlow(t, dir, "zero.toml", strings.Replace(tickFlow("z", 1, 2, out), `mode = "write"`, `mode = "${file:/dev/zero}"`, 1))
	fifoRef := writeFlow(t, dir, "fiforef.toml", strings.Replace(tickFlow("f", 1, 2, out), `mode = "write"`, `mode = "${file:fifo.toml}"`, 1))
	bigRef := writeFlow(t, dir, "bigref.toml", strings.Replace(tickFlow("b", 1, 2, out), `mode = "write"`, `mode = "${file:big.txt}"`, 1))

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"validate", "/dev/zero"}, "tremorctl: reading flow: /dev/zero is not a regular file (a character device): a flow file must be a regular file; give the path of a flow file (FLOW.toml)"},
		{[]string{"run", "/dev/zero"}, "tremorctl: reading flow: /dev/zero is not a regular file (a character device)"},
		{[]string{"validate", fifo}, "tremorctl: reading flow: " + fifo + " is not a regular file (a FIFO): a flow file must be a regular file"},
		{[]string{"run", fifo}, "tremorctl: reading flow: " + fifo + " is not a regular file (a FIFO)"},
		{[]string{"validate", huge}, "tremorctl: reading flow: " + huge + " is larger than 16 MiB, the most a flow file may hold; split the flow, or keep data out of it"},
		{[]string{"validate", devZeroRef}, "tremorctl: " + devZeroRef + ":15: ${file:/dev/zero}: /dev/zero is not a regular file (a character device): a ${file:} secret must be a regular file; name the file that holds the secret"},
		{[]string{"run", devZeroRef}, "${file:/dev/zero}: /dev/zero is not a regular file (a character device)"},
		{[]string{"validate", fifoRef}, "${file:" + fifo + "}: " + fifo + " is not a regular file (a FIFO)"},
		{[]string{"validate", bigRef}, "tremorctl: " + bigRef + ":15: ${file:" + big + "}: " + big + " is larger than 1 MiB, the most a ${file:} secret may hold; keep only the secret in the file"},
		{[]string{"serve", "--api", freeAddr(t), dir}, fifo + " is not a regular file (a FIFO)"},
	} {
		start := time.Now()
		code, stdout, stderr := ctl(t, tc.args...)
		what := strings.Join(tc.args, " ")
		assert.Less(t, time.Since(start), 20*time.Second, "%s returns at once", what)
		assert.Equal(t, 1, code, "%s: stderr:\n%s", what, lastLines(stderr, 10))
		assert.Empty(t, stdout, what)
		assert.Contains(t, stderr, tc.msg, what)
		noCrash(t, stderr)
	}
	assert.NoFileExists(t, out, "no flow ran")
}

// The API token file must be readable and writable by its owner only:
// anyone else could use the token, or change it. A shared one is refused,
// naming the file and the fix; a private one works.
func TestAPITokenFileMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	const token = "4f1d2c3b-private-token-value"
	flowFile := writeFlow(t, dir, "f.toml", tickFlow("f", 5, 0, filepath.Join(dir, "f.jsonl")))
	for _, mode := range []os.FileMode{0o666, 0o644, 0o640, 0o620, 0o602} {
		tokenFile := filepath.Join(dir, "token")
		require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
		require.NoError(t, os.Chmod(tokenFile, mode))
		for _, args := range [][]string{
			{"serve", "--api", freeAddr(t), "--api-token-file", tokenFile, flowFile},
			{"run", "--api", freeAddr(t), "--api-token-file", tokenFile, flowFile},
			{"upgrade", "--api", freeAddr(t), "--api-token-file", tokenFile},
		} {
			code, stdout, stderr := ctl(t, args...)
			what := args[0] + " with a token file of mode " + mode.String()
			assert.Equal(t, 1, code, "%s: stderr:\n%s", what, lastLines(stderr, 10))
			assert.Empty(t, stdout, what)
			assert.Contains(t, stderr, "tremorctl: --api-token-file: refusing "+tokenFile+": it is readable or writable by group or others", what)
			assert.Contains(t, stderr, "fix with: chmod 600 "+tokenFile, what)
			assert.NotContains(t, stderr, token, what)
			noCrash(t, stderr)
		}
	}
	assert.NoFileExists(t, filepath.Join(dir, "f.jsonl"), "no flow ran")

	fifo := filepath.Join(dir, "fifo-token")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	code, _, stderr := ctl(t, "serve", "--api", freeAddr(t), "--api-token-file", fifo, flowFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--api-token-file: "+fifo+" is not a regular file")

	tokenFile := filepath.Join(dir, "private-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	s := startServe(t, "--api-token-file", tokenFile)
	s.token = token
	code, body := s.do("POST", "/api/flows", []byte(tickFlow("t", 5, 0, filepath.Join(dir, "t.jsonl"))))
	assert.Equal(t, http.StatusCreated, code, "%s", body)
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// A ${VAR} in a comment, whole-line or trailing, is left alone; a # inside
// a string is not a comment.
func TestFlowCommentsNotExpanded(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out#1.jsonl")
	text := strings.Replace(tickFlow("c", 1, 2, out), `id = "ticks"`, `id = "ticks" # ${TREMOR_TEST_NOPE_UNSET}`, 1)
	text = "# ${TREMOR_TEST_NOPE_UNSET}\n" + text
	file := writeFlow(t, dir, "c.toml", text)
	code, stdout, stderr := ctl(t, "validate", file)
	assert.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.Contains(t, stdout, "c.toml: ok")

	// The same reference outside the comment is expanded (and fails).
	bad := writeFlow(t, dir, "bad.toml", strings.Replace(text, `"ticks" # ${TREMOR_TEST_NOPE_UNSET}`, `"ticks${TREMOR_TEST_NOPE_UNSET}"`, 1))
	code, _, stderr = ctl(t, "validate", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "${TREMOR_TEST_NOPE_UNSET}: environment variable TREMOR_TEST_NOPE_UNSET is not set")
}

// A value substituted into a flow (${VAR}) is redacted in the API's
// answers, in /metrics and in the log, even where it is part of the
// flow's name.
func TestAPIRedactsSubstitutedValues(t *testing.T) {
	t.Setenv("TREMOR_TEST_NAME_SECRET", "s3cretPart")
	dir := t.TempDir()
	s := startServe(t)
	text := strings.Replace(tickFlow("x", 5, 0, filepath.Join(dir, "x.jsonl")), `name = "x"`, `name = "${TREMOR_TEST_NAME_SECRET}x"`, 1)
	code, body := s.do("POST", "/api/flows", []byte(text))
	require.Equal(t, http.StatusCreated, code, "%s", body)
	assert.NotContains(t, string(body), "s3cretPart")
	assert.Contains(t, string(body), `"name": "<redacted>x"`)
	code, body = s.do("GET", "/api/flows", nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, string(body), "s3cretPart", "reads need no token")
	code, body = s.do("GET", "/metrics", nil)
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, string(body), "s3cretPart", "/metrics needs no token either")
	assert.Contains(t, string(body), `tremor_connector_events_total{connector="out",direction="out",flow="<redacted>x"}`)
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	assert.NotContains(t, s.stderr.String(), "s3cretPart")
}
