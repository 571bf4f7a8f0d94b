package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reloads that come at once (SIGHUPs and POST /api/reload) run one after
// the other: the changed flow runs once, in its new version; when its
// file is gone it stops for good (its output stops growing), and SIGTERM
// then ends serve at once. Two reloads at once used to both start the new
// version, one of them hidden from the API and never stopped.
func TestServeConcurrentReloads(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	require.NoError(t, os.Mkdir(flows, 0o755))
	out1, out2 := filepath.Join(dir, "r1.jsonl"), filepath.Join(dir, "r1-new.jsonl")
	file := writeFlow(t, flows, "r1.toml", tickFlow("r1", 2, 0, out1))
	s := startServe(t, flows)
	waitUntil(t, "r1 delivers", func() bool { return len(fileLines(t, out1)) > 0 })

	writeFlow(t, flows, "r1.toml", tickFlow("r1", 2, 0, out2))
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { s.do("POST", "/api/reload", nil) })
		s.signal(syscall.SIGHUP)
	}
	wg.Wait()
	s.waitLog(`"message":"reloaded the flow files"`)
	// Whatever reloads were still queued by the signals end too.
	waitUntil(t, "one r1, running its new version", func() bool {
		f, ok := s.flow("r1")
		return ok && f.State == "running" && len(fileLines(t, out2)) > 0
	})
	deployed := 0
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, `"flow":"r1"`) && strings.Contains(line, `"message":"flow deployed"`) {
			deployed++
		}
	}
	assert.Equal(t, 2, deployed, "r1 deployed at start and once more, however many reloads came")

	require.NoError(t, os.Remove(file))
	code, body := s.do("POST", "/api/reload", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	_, ok := s.flow("r1")
	assert.False(t, ok, "r1 is gone")
	n := len(fileLines(t, out2))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, n, len(fileLines(t, out2)), "nothing writes r1's output any more")

	start := time.Now()
	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
	assert.Less(t, time.Since(start), 10*time.Second, "no hidden flow keeps serve from stopping")
	noCrash(t, s.stderr.String())
}

// Once serve is shutting down it starts nothing: a POST, a reload and
// /ready answer 503 while a flow drains, and the flow posted late never
// runs. A second signal then exits at once, with no "last words" that
// would blame a plugin for tremorctl's own choice.
func TestServeShuttingDownStartsNothing(t *testing.T) {
	dir := t.TempDir()
	// A sink that never connects keeps the drain going for the timeout.
	sink := fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = %q }", freeAddr(t))
	stuck := writeFlow(t, dir, "stuck.toml", fmt.Sprintf(twoConnectors, "stuck", metronome(5), sink))
	s := startServe(t, "--drain-timeout", "20s", stuck)
	waitInFlight(t, s, "stuck")

	s.signal(syscall.SIGTERM)
	s.waitLog(`"message":"shutting down: draining every flow`)
	late := filepath.Join(dir, "late.jsonl")
	code, body := s.do("POST", "/api/flows", []byte(tickFlow("late", 5, 0, late)))
	assert.Equal(t, http.StatusServiceUnavailable, code, "%s", body)
	assert.Contains(t, string(body), "shutting down")
	code, body = s.do("POST", "/api/reload", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, "%s", body)
	code, body = s.do("GET", "/ready", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, "%s", body)
	assert.NoFileExists(t, late, "the late flow never ran")

	s.signal(syscall.SIGTERM)
	assert.Equal(t, 130, s.wait(), "a second signal exits at once")
	stderr := s.stderr.String()
	assert.Contains(t, stderr, "tremorctl: second signal: exiting without waiting for in-flight events")
	assert.NotContains(t, stderr, "ended without a crash report", "tremorctl chose to exit: no plugin is blamed")
	noCrash(t, stderr)
}

// A flow's name is a path element of the API, a metric label and a log
// field: a posted flow whose name is empty, holds a '/' or control
// characters, or is overlong is refused with a 400 naming flow.name.
func TestServeRefusesBadFlowNames(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t)
	for _, tc := range []struct{ name, want string }{
		{"a/b", `"a/b" holds '/'`},
		{"..", `".." starts with '.'`},
		{"tab\there", `holds '\t'`},
		{strings.Repeat("n", 1000), "is longer than 128 bytes"},
		{"", `the flow has no name and its file's name "flows)" does not make one`},
	} {
		text := tickFlow(tc.name, 5, 0, filepath.Join(dir, "x.jsonl"))
		if tc.name == "" {
			text = strings.Replace(text, `name = ""`+"\n", "", 1)
		}
		code, body := s.do("POST", "/api/flows", []byte(text))
		assert.Equal(t, http.StatusBadRequest, code, "%q: %s", tc.name, body)
		var answer struct{ Errors []string }
		require.NoError(t, json.Unmarshal(body, &answer), "%s", body)
		assert.Contains(t, strings.Join(answer.Errors, "\n"), tc.want, "%q", tc.name)
	}
	code, body := s.do("GET", "/api/flows", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "[]", strings.TrimSpace(string(body)), "nothing was deployed")
	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
}

// Unknown paths and methods are answered in JSON, saying what to use.
func TestServeUnknownEndpointsAnswerJSON(t *testing.T) {
	s := startServe(t)
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{"PUT", "/api/flows", http.StatusMethodNotAllowed, "PUT /api/flows: use GET or POST"},
		{"GET", "/api/reload", http.StatusMethodNotAllowed, "GET /api/reload: use POST"},
		{"GET", "/api/nope", http.StatusNotFound, "no such endpoint: GET /api/nope"},
		{"GET", "/api/flows/", http.StatusNotFound, "no such endpoint: GET /api/flows/"},
	} {
		code, body := s.do(tc.method, tc.path, nil)
		assert.Equal(t, tc.code, code, "%s %s: %s", tc.method, tc.path, body)
		var answer struct{ Error string }
		require.NoError(t, json.Unmarshal(body, &answer), "%s %s: JSON: %s", tc.method, tc.path, body)
		assert.Contains(t, answer.Error, tc.want)
	}
	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
}

// SIGTERM is heard while a SIGHUP reload drains a flow (the reload runs
// off serve's signal loop): serve starts shutting down at once, and a
// second signal exits. The reload used to hold the loop for the whole
// drain, here 40 s.
func TestServeSIGTERMDuringReloadDrain(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	require.NoError(t, os.Mkdir(flows, 0o755))
	// A sink that never connects keeps the old version draining.
	sink := fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = %q }", freeAddr(t))
	text := fmt.Sprintf(twoConnectors, "slow", metronome(5), sink)
	writeFlow(t, flows, "slow.toml", text)
	s := startServe(t, "--drain-timeout", "40s", flows)
	waitInFlight(t, s, "slow")

	writeFlow(t, flows, "slow.toml", strings.Replace(text, "batch_size = 16", "batch_size = 8", 1))
	s.signal(syscall.SIGHUP)
	s.waitLog(`"flow":"slow"`, `"message":"draining flow"`)
	sent := time.Now()
	s.signal(syscall.SIGTERM)
	s.waitLog(`"message":"shutting down: draining every flow`)
	assert.Less(t, time.Since(sent), 10*time.Second, "SIGTERM heard while the reload drains")
	s.signal(syscall.SIGTERM)
	assert.Equal(t, 130, s.wait(), "the second signal exits at once")
	noCrash(t, s.stderr.String())
}

// A second DELETE of a flow that a first one is draining answers 409 at
// once; the first answers with the final counters, every event settled.
func TestServeSecondDeleteWhileDraining(t *testing.T) {
	sink := fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = %q }", freeAddr(t))
	s := startServe(t, "--drain-timeout", "3s")
	code, body := s.do("POST", "/api/flows", []byte(fmt.Sprintf(twoConnectors, "nc", metronome(5), sink)))
	require.Equal(t, http.StatusCreated, code, "%s", body)
	waitInFlight(t, s, "nc")
	first := make(chan apiFlow, 1)
	go func() { first <- s.deleteFlow("nc") }()
	s.waitLog(`"flow":"nc"`, `"message":"draining flow"`)
	code, body = s.do("DELETE", "/api/flows/nc", nil)
	assert.Equal(t, http.StatusConflict, code, "%s", body)
	assert.Contains(t, string(body), "being deleted already")
	final := <-first
	src := final.conn(t, "src")
	assert.Positive(t, src[1], "the source's events")
	assert.Equal(t, src[1], src[3]+src[4], "each acked or failed back")
	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
}

// waitInFlight waits until flow name's source has routed events that its
// sink (one that never connects) holds: from then on a drain lasts the
// drain timeout, not an instant.
func waitInFlight(t *testing.T, s *servedCtl, name string) {
	t.Helper()
	waitUntil(t, "events of flow "+name+" in flight", func() bool {
		f, ok := s.flow(name)
		return ok && f.conn(t, "src")[1] > 0
	})
}
