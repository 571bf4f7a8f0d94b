package tests

// What an operator of `tremorctl serve` sees when things go wrong: a flow
// that fails by itself (tremorctl status and GET /api/flows), serve
// refusing to start, SIGHUP reloads that are refused while the running
// flows keep going, and tremorctl status given a bad --interval or an
// address that is not a tremorctl API. Each case checks the exit status,
// the message and what kept (or never started) running.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A flow whose source fails at start ends "failed" by itself (nobody
// drained it) next to a flow that keeps running. GET /api/flows shows the
// state and the error; tremorctl status shows "failed" in the state column,
// keeps every column aligned (the error used to be a table cell, which
// widened the state column for every row), and prints the error on a line
// of its own below the table.
func TestServeErrStatusShowsFailedFlow(t *testing.T) {
	dir := t.TempDir()
	plugins := faultPluginDir(t)
	crashFile := faultFlowFile(t, `, fail_at = "start"`, "", "") // flow "crash"
	tickFile := writeFlow(t, dir, "steady.toml", tickFlow("steady-ticker", 5, 0, filepath.Join(dir, "steady.jsonl")))
	s := startServe(t, "--plugin-path", plugins, crashFile, tickFile)
	addr := strings.TrimPrefix(s.base, "http://")
	waitUntil(t, "flow crash failed and steady-ticker delivers", func() bool {
		c, _ := s.flow("crash")
		st, _ := s.flow("steady-ticker")
		return c.State == "failed" && st.conn(t, "out")[1] > 0
	})

	code, body := s.do("GET", "/api/flows", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var flows []apiFlow
	require.NoError(t, json.Unmarshal(body, &flows), "%s", body)
	require.Len(t, flows, 2, "%s", body)
	crash, steady := flows[0], flows[1] // sorted by name
	require.Equal(t, "crash", crash.Name)
	assert.Equal(t, "failed", crash.State)
	assert.Contains(t, crash.Error, fmt.Sprintf(`flow "crash" (%s): connector "src" (type fault)`, crashFile))
	assert.Contains(t, crash.Error, "fault: told to fail at start", "the plugin's own message")
	assert.Equal(t, "running", steady.State)
	assert.Empty(t, steady.Error)

	code, stdout, stderr := ctl(t, "status", "--api", addr)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	noCrash(t, stderr)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	require.Len(t, lines, 6, "a header, one row per connector (2 flows x 2), then the error:\n%s", stdout)
	header, rows, below := lines[0], lines[1:5], lines[5]
	cols := serveErrColumnStarts(header)
	require.Len(t, cols, 14, header)
	for i, r := range rows {
		f := strings.Fields(r)
		require.Len(t, f, 14, "row %d: %q", i, r)
		want := map[string]string{"crash": "failed", "steady-ticker": "running"}[f[0]]
		assert.Equal(t, want, f[1], "row %d: state of flow %s: %q", i, f[0], r)
		assert.NotContains(t, r, "told to fail", "row %d: the error is not a table cell", i)
		// Each value starts where its header's name does.
		for c, at := range cols {
			require.Greater(t, len(r), at, "row %d is shorter than the header:\n%s\n%s", i, header, r)
			assert.True(t, r[at] != ' ' && (at == 0 || r[at-1] == ' '),
				"row %d, column %q: its value does not start at offset %d:\n%s\n%s", i, strings.Fields(header)[c], at, header, r)
		}
	}
	assert.Equal(t, "crash", strings.Fields(rows[0])[0])
	assert.Equal(t, "steady-ticker", strings.Fields(rows[3])[0])
	// The state column is as wide as its longest state ("running") plus the
	// padding, not as wide as an error message.
	assert.Equal(t, len("running")+2, cols[2]-cols[1], "the state column's width:\n%s", header)
	require.True(t, strings.HasPrefix(crash.Error, `flow "crash" (`), "the error names the flow: %s", crash.Error)
	assert.Equal(t, crash.Error, below, "the error, below the table, its flow named once")

	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
	assert.Contains(t, s.stderr.String(), fmt.Sprintf("flow %q (%s): failed", "crash", crashFile), "the summary keeps the failed state")
	noCrash(t, s.stderr.String())
}

// serveErrColumnStarts is the offset of each column name in a status
// table's header.
func serveErrColumnStarts(header string) []int {
	var starts []int
	for i := range header {
		if header[i] != ' ' && (i == 0 || header[i-1] == ' ') {
			starts = append(starts, i)
		}
	}
	return starts
}

// serve refuses to start, exit status 1 and one "tremorctl: " line saying
// what is wrong and what to do, when its API address is taken or
// malformed, a flow path is missing, two flow files share a name, the
// drain timeout is negative or the token file is empty. No flow runs (the
// API is bound, and every flow checked, before any starts) and no Go trace.
func TestServeErrStartupRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "ran.jsonl")
	flowFile := writeFlow(t, dir, "f.toml", tickFlow("f", 5, 0, out))

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() })
	takenAddr := taken.Addr().String()

	dups := filepath.Join(dir, "dups")
	require.NoError(t, os.Mkdir(dups, 0o755))
	dupA := writeFlow(t, dups, "a.toml", tickFlow("same", 5, 0, filepath.Join(dir, "dup-a.jsonl")))
	dupB := writeFlow(t, dups, "b.toml", tickFlow("same", 5, 0, filepath.Join(dir, "dup-b.jsonl")))
	dupMsg := fmt.Sprintf(`tremorctl: %s: flow name "same" is also used by %s; flow names must be unique: rename one ([flow] name)`, dupB, dupA)

	// A token file as the docs want it (private to its owner), but empty,
	// or holding only blanks.
	emptyToken := filepath.Join(dir, "empty-token")
	require.NoError(t, os.WriteFile(emptyToken, nil, 0o600))
	blankToken := filepath.Join(dir, "blank-token")
	require.NoError(t, os.WriteFile(blankToken, []byte(" \n\n"), 0o600))

	for _, tc := range []struct {
		name string
		args []string // after serve; --api is a free port unless given
		want []string
	}{
		{"api port in use", []string{"--api", takenAddr, flowFile},
			[]string{fmt.Sprintf("tremorctl: --api %s: listen tcp %s: bind: address already in use; pick a free port with --api HOST:PORT", takenAddr, takenAddr)}},
		{"missing directory", []string{"/nonexistent/tremor-flows", flowFile},
			[]string{"tremorctl: flow path /nonexistent/tremor-flows: stat /nonexistent/tremor-flows: no such file or directory"}},
		{"missing file", []string{flowFile, "/nonexistent/flow.toml"},
			[]string{"tremorctl: flow path /nonexistent/flow.toml: stat /nonexistent/flow.toml: no such file or directory"}},
		{"two flows of one name in a directory", []string{dups, flowFile}, []string{dupMsg}},
		{"two flows of one name as files", []string{dupA, dupB, flowFile}, []string{dupMsg}},
		{"negative drain timeout", []string{"--drain-timeout", "-1s", flowFile},
			[]string{"tremorctl: --drain-timeout -1s: use a positive duration, or 0 to wait for ever"}},
		{"api without a port", []string{"--api", "nonsense", flowFile},
			[]string{`tremorctl: --api "nonsense": address nonsense: missing port in address; write HOST:PORT, e.g. 127.0.0.1:9898`}},
		{"api host alone", []string{"--api", "127.0.0.1", flowFile},
			[]string{`tremorctl: --api "127.0.0.1": address 127.0.0.1: missing port in address; write HOST:PORT`}},
		{"api port out of range", []string{"--api", "127.0.0.1:99999", flowFile},
			[]string{"tremorctl: --api 127.0.0.1:99999: ", "invalid port", "--api HOST:PORT"}},
		{"api port not a number", []string{"--api", "127.0.0.1:abc", flowFile},
			[]string{"tremorctl: --api 127.0.0.1:abc: ", "--api HOST:PORT"}},
		{"empty token file", []string{"--api-token-file", emptyToken, flowFile},
			[]string{fmt.Sprintf("tremorctl: --api-token-file %s is empty: write a long random token in it (e.g. openssl rand -hex 32)", emptyToken)}},
		{"blank token file", []string{"--api-token-file", blankToken, flowFile},
			[]string{fmt.Sprintf("tremorctl: --api-token-file %s is empty", blankToken)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] != "--api" {
				args = append([]string{"--api", freeAddr(t)}, args...)
			}
			code, stdout, stderr := ctl(t, append([]string{"serve"}, args...)...)
			assert.Equal(t, 1, code, "stderr:\n%s", stderr)
			assert.Empty(t, stdout)
			for _, w := range tc.want {
				assert.Contains(t, stderr, w)
			}
			assert.NotContains(t, stderr, `"message":"flow deployed"`, "no flow started")
			noCrash(t, stderr)
			assert.NoFileExists(t, out, "no flow ran")
		})
	}

	// "HOST:" with no port is not HOST:PORT (tremorctl status refuses it
	// so), yet serve would listen on a port the kernel picks, where no
	// status or Prometheus configured with an address finds it.
	t.Run("api with an empty port", func(t *testing.T) {
		p := startCtl(t, "serve", "--api", "127.0.0.1:")
		var listening []map[string]any
		waitUntil(t, "serve exits or listens", func() bool {
			select {
			case <-p.done:
				return true
			default:
			}
			listening = serveErrLogLines(p.stderr.String(), "admin API listening")
			return len(listening) > 0
		})
		if len(listening) > 0 {
			p.signal(syscall.SIGTERM)
			p.wait()
			t.Fatalf("tremorctl serve --api 127.0.0.1: (empty port) listens on %v, a port the kernel picked, instead of refusing it as tremorctl status --api 127.0.0.1: does", listening[0]["addr"])
		}
		assert.Equal(t, 1, p.code, "stderr:\n%s", p.stderr.String())
		assert.Contains(t, p.stderr.String(), `--api "127.0.0.1:"`)
		assert.Contains(t, p.stderr.String(), "HOST:PORT")
		noCrash(t, p.stderr.String())
	})
}

// Reloads refused on SIGHUP leave the running flows as they are: a flow
// file that no longer validates (the log names the file and line), a new
// file whose [flow] name is taken, and the flow directory removed. Each
// time the running flow keeps delivering, is never redeployed, and nothing
// of the refused file runs.
func TestServeErrSIGHUPReloadRefusals(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	require.NoError(t, os.Mkdir(flows, 0o755))
	aOut := filepath.Join(dir, "a.jsonl")
	good := tickFlow("a", 5, 0, aOut)
	aFile := writeFlow(t, flows, "a.toml", good)
	s := startServe(t, flows)
	delivered := func() uint64 {
		f, ok := s.flow("a")
		require.True(t, ok, "flow a is listed")
		assert.Equal(t, "running", f.State)
		return f.conn(t, "out")[1]
	}
	keepsRunning := func(why string) {
		t.Helper()
		before := delivered()
		waitUntil(t, "flow a keeps delivering "+why, func() bool { return delivered() > before+5 })
	}
	keepsRunning("at start")

	// (a) a.toml broken: refused with file:line, the running a untouched.
	require.NoError(t, os.WriteFile(aFile, []byte(strings.Replace(good, "count = 0", "count = -", 1)), 0o644))
	s.signal(syscall.SIGHUP)
	refusal := serveErrWaitRefusal(t, s, aFile+":9: connector[0].config.count")
	assert.Contains(t, refusal, "expected a digit", "the parser says what is wrong")
	var named bool
	for _, l := range serveErrLogLines(s.stderr.String(), "reload: flow refused; the running version (if any) keeps going") {
		named = named || l["file"] == aFile
	}
	assert.True(t, named, "the manager's line has the file as a field")
	keepsRunning("after the broken file was refused")

	// (b) a.toml restored (unchanged for the reload), and b.toml also named
	// "a": refused naming both files; b never runs.
	bOut := filepath.Join(dir, "b.jsonl")
	require.NoError(t, os.WriteFile(aFile, []byte(good), 0o644))
	bFile := writeFlow(t, flows, "b.toml", tickFlow("a", 5, 0, bOut))
	s.signal(syscall.SIGHUP)
	serveErrWaitRefusal(t, s, fmt.Sprintf(`%s: flow name "a" is already used by %s; rename one ([flow] name)`, bFile, aFile))
	reloads := serveErrLogLines(s.stderr.String(), "reloaded the flow files")
	require.NotEmpty(t, reloads)
	last := reloads[len(reloads)-1]
	assert.Equal(t, []any{}, last["redeployed"])
	assert.Equal(t, []any{}, last["started"])
	assert.EqualValues(t, 1, last["unchanged"], "a, as it was")
	assert.EqualValues(t, 1, last["refused"], "b")
	keepsRunning("after the clashing file was refused")
	code, body := s.do("GET", "/api/flows", nil)
	require.Equal(t, http.StatusOK, code)
	var listed []apiFlow
	require.NoError(t, json.Unmarshal(body, &listed), "%s", body)
	require.Len(t, listed, 1, "%s", body)
	assert.Equal(t, "a", listed[0].Name, "only the running a; b is not listed")
	assert.NoFileExists(t, bOut, "the clashing flow never ran")

	// (c) the whole directory gone: the reload is refused, naming it; the
	// flows of its files keep running rather than being stopped.
	require.NoError(t, os.RemoveAll(flows))
	s.signal(syscall.SIGHUP)
	serveErrWaitRefusal(t, s, fmt.Sprintf("flow path %s: stat %s: no such file or directory", flows, flows))
	keepsRunning("after the directory was removed")

	deployed := 0
	for _, l := range serveErrLogLines(s.stderr.String(), "flow deployed") {
		if l["flow"] == "a" {
			deployed++
		}
	}
	assert.Equal(t, 1, deployed, "a was never redeployed nor started twice")

	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
	assert.Contains(t, s.stderr.String(), fmt.Sprintf("flow %q (%s): stopped", "a", aFile))
	noCrash(t, s.stderr.String())
}

// serveErrLogLines are the JSON log lines of stderr whose message is msg.
func serveErrLogLines(stderr, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// serveErrWaitRefusal waits until serve logs that a reload refused a flow
// file with an error containing want, and returns that error.
func serveErrWaitRefusal(t *testing.T, s *servedCtl, want string) string {
	t.Helper()
	var got string
	waitUntil(t, "serve logs a refused reload: "+want, func() bool {
		for _, l := range serveErrLogLines(s.stderr.String(), "reload refused a flow file; its running version keeps going") {
			if e, _ := l["error"].(string); strings.Contains(e, want) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// tremorctl status refuses an --interval that is not positive (with or
// without --watch) before it fetches anything, and pointed at an HTTP
// server that is not a tremorctl API it exits 1 naming the URL and what it
// got, with no Go trace and no table.
func TestServeErrStatusRefusals(t *testing.T) {
	nobody := freeAddr(t) // refused before any fetch: nothing needs to listen
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "0"}, "tremorctl: --interval 0s: use a positive duration"},
		{[]string{"--interval", "-1s"}, "tremorctl: --interval -1s: use a positive duration"},
		{[]string{"--watch", "--interval", "0s"}, "tremorctl: --interval 0s: use a positive duration"},
		{[]string{"--watch", "--interval", "-5ms"}, "tremorctl: --interval -5ms: use a positive duration"},
	} {
		code, stdout, stderr := ctl(t, append([]string{"status", "--api", nobody}, tc.args...)...)
		assert.Equal(t, 1, code, "%v: stderr:\n%s", tc.args, stderr)
		assert.Empty(t, stdout, tc.args)
		assert.Equal(t, tc.want+"\n", stderr, "%v: this line alone (no attempt to reach the API)", tc.args)
	}

	notFound := "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1></body></html>\n"
	for _, tc := range []struct {
		name   string
		status int
		ctype  string
		body   string
		want   string
	}{
		{"404 page", http.StatusNotFound, "text/html", notFound, "404 Not Found: \"<!DOCTYPE html> <html>"},
		{"200 HTML", http.StatusOK, "text/html", "<html><body>welcome</body></html>", "not the flows list of a tremorctl API: invalid character '<'"},
		{"200 JSON object", http.StatusOK, "application/json", `{"status":"ok"}`, "not the flows list of a tremorctl API: json: cannot unmarshal object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveErrHTTP(t, tc.status, tc.ctype, tc.body)
			code, stdout, stderr := ctl(t, "status", "--api", srv)
			assert.Equal(t, 1, code, "stderr:\n%s", stderr)
			assert.Empty(t, stdout, "no table")
			assert.True(t, strings.HasPrefix(stderr, fmt.Sprintf("tremorctl: GET http://%s/api/flows: ", srv)), "names the URL:\n%s", stderr)
			assert.Contains(t, stderr, tc.want)
			noCrash(t, stderr)
		})
	}

	// Another web application's error page can be large: the operator
	// needs the URL and the status, not the page.
	t.Run("large error page", func(t *testing.T) {
		page := "<html><body>\n" + strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 6000) + "</body></html>\n"
		srv := serveErrHTTP(t, http.StatusInternalServerError, "text/html", page)
		code, stdout, stderr := ctl(t, "status", "--api", srv)
		assert.Equal(t, 1, code, "stderr:\n%.500s", stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, fmt.Sprintf("tremorctl: GET http://%s/api/flows: 500 Internal Server Error", srv))
		noCrash(t, stderr)
		assert.Less(t, len(stderr), 1024, "the start of the page, not all %d bytes of it", len(page))
		assert.Contains(t, stderr, fmt.Sprintf("... (%d bytes in all)", len(page)))
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line")
	})
}

// serveErrHTTP is a web server that is not tremorctl: it answers every
// request with status, content type ctype and body; it returns its address.
func serveErrHTTP(t *testing.T, status int, ctype, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
