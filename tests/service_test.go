package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

// servedCtl is a `tremorctl serve` process and its admin API.
type servedCtl struct {
	*ctlProc
	base  string // http://ADDR
	token string // sent with POST and DELETE when set
}

// startServe starts `tremorctl serve --api ADDR ARGS...` on a free
// loopback port and waits until /health answers.
func startServe(t testing.TB, args ...string) *servedCtl {
	t.Helper()
	return startServeBin(t, tremorctl(t), args...)
}

// startServeBin is startServe with another tremorctl binary (see
// startCtlBin).
func startServeBin(t testing.TB, bin string, args ...string) *servedCtl {
	t.Helper()
	addr := freeAddr(t)
	p := startCtlBin(t, bin, append([]string{"serve", "--api", addr}, args...)...)
	s := &servedCtl{ctlProc: p, base: "http://" + addr}
	waitUntil(t, "GET /health answers 200", func() bool {
		select {
		case <-p.done:
			t.Fatalf("tremorctl serve exited (%d)\nstderr:\n%s", p.code, lastLines(p.stderr.String(), 30))
		default:
		}
		code, _ := s.do("GET", "/health", nil)
		return code == http.StatusOK
	})
	return s
}

// do sends one request and returns the status and body (0 when the
// request failed).
func (s *servedCtl) do(method, path string, body []byte) (int, []byte) {
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	require.NoError(s.t, err)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	c := &http.Client{Timeout: 60 * time.Second} // DELETE waits for a drain
	resp, err := c.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// apiFlow is a flow as GET /api/flows shows it.
type apiFlow struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	Error      string `json:"error"`
	Connectors []struct {
		Connector  string `json:"connector"`
		Type       string `json:"type"`
		In         uint64 `json:"in"`
		Out        uint64 `json:"out"`
		Errors     uint64 `json:"errors"`
		Acks       uint64 `json:"acks"`
		Fails      uint64 `json:"fails"`
		Connected  bool   `json:"connected"`
		Reconnects uint64 `json:"reconnects"`
	} `json:"connectors"`
}

// conn returns one connector's row; {in, out, errors, acks, fails}.
func (f apiFlow) conn(t testing.TB, id string) [5]uint64 {
	t.Helper()
	for _, c := range f.Connectors {
		if c.Connector == id {
			return [5]uint64{c.In, c.Out, c.Errors, c.Acks, c.Fails}
		}
	}
	t.Fatalf("flow %q has no connector %q: %+v", f.Name, id, f)
	return [5]uint64{}
}

func (s *servedCtl) flow(name string) (apiFlow, bool) {
	s.t.Helper()
	code, body := s.do("GET", "/api/flows/"+name, nil)
	if code == http.StatusNotFound {
		return apiFlow{}, false
	}
	require.Equal(s.t, http.StatusOK, code, "GET /api/flows/%s: %s", name, body)
	var f apiFlow
	require.NoError(s.t, json.Unmarshal(body, &f), "%s", body)
	return f, true
}

// deleteFlow stops and removes a flow (DELETE waits for its drain) and
// returns it as it ended.
func (s *servedCtl) deleteFlow(name string) apiFlow {
	s.t.Helper()
	code, body := s.do("DELETE", "/api/flows/"+name, nil)
	require.Equal(s.t, http.StatusOK, code, "DELETE /api/flows/%s: %s", name, body)
	var f apiFlow
	require.NoError(s.t, json.Unmarshal(body, &f), "%s", body)
	return f
}

// metrics scrapes /metrics and parses it as Prometheus would.
func (s *servedCtl) metrics() map[string]*dto.MetricFamily {
	s.t.Helper()
	code, body := s.do("GET", "/metrics", nil)
	require.Equal(s.t, http.StatusOK, code, "%s", body)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(s.t, err, "/metrics is not the Prometheus text format:\n%s", body)
	return fams
}

// sample is the value of the series of family name with these labels.
func sample(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// tickFlow is a flow "name": a metronome of count ticks every interval ms
// into a file sink writing path. It stays text, not newFlow: tests here and
// in other files edit it and assert its line numbers (it starts with a
// blank line, which the builder does not write).
func tickFlow(name string, interval, count int, path string) string {
	return fmt.Sprintf(`
[flow]
name = %q
batch_size = 16

[[connector]]
id = "ticks"
type = "metronome"
config = { interval_ms = %d, count = %d }

[[connector]]
id = "out"
type = "file"
codec = "json"
config = { path = %q, mode = "write" }

[[pipeline]]
id = "p"

[[link]]
from = "ticks"
to = "p"
[[link]]
from = "p"
to = "out"
`, name, interval, count, path)
}

// srcDstFlow is twoConnectors' flow: name (batch_size 16), the source "src"
// -> "p" -> the sink "dst".
func srcDstFlow(name string, src, dst Conn) string {
	return newFlow(name).Batch(16).
		Connector("src", src).
		Connector("dst", dst).
		Chain("src", "p", "dst").
		TOML()
}

// Deploy through the API, /metrics while events flow (parsed with the
// Prometheus parser; the counters grow and end equal to the flow's own
// counts and to the lines written), and DELETE with drain answering the
// final counters.
func TestServeDeployMetricsDelete(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t)

	// A flow that does not validate: 400, file:line messages, nothing runs.
	bad := strings.Replace(tickFlow("bad", 1, 10, filepath.Join(dir, "bad.jsonl")), `type = "metronome"`, `type = "metronome"
codec = "nope"`, 1)
	code, body := s.do("POST", "/api/flows?file=bad.toml", []byte(bad))
	assert.Equal(t, http.StatusBadRequest, code, "%s", body)
	assert.Contains(t, string(body), "bad.toml:9: connector[0].codec")
	_, ok := s.flow("bad")
	assert.False(t, ok, "a refused flow is not deployed")

	out := filepath.Join(dir, "ticks.jsonl")
	code, body = s.do("POST", "/api/flows", []byte(tickFlow("ticks", 2, 1500, out)))
	require.Equal(t, http.StatusCreated, code, "%s", body)
	code, body = s.do("POST", "/api/flows", []byte(tickFlow("ticks", 2, 1500, out)))
	assert.Equal(t, http.StatusConflict, code, "a second flow of the same name: %s", body)

	src := map[string]string{"flow": "ticks", "connector": "ticks", "direction": "in"}
	var first float64
	waitUntil(t, "tremor_connector_events_total of the source grows", func() bool {
		v, _ := sample(t, s.metrics(), "tremor_connector_events_total", src)
		if first == 0 {
			first = v
			return false
		}
		return v > first
	})
	fams := s.metrics()
	for _, name := range []string{"tremor_connector_errors_total", "tremor_connector_acks_total", "tremor_connector_fails_total",
		"tremor_connector_discarded_total", "tremor_connector_inflight", "tremor_connector_paused", "tremor_connector_connected",
		"tremor_connector_reconnects_total", "tremor_connector_restarts_total"} {
		_, ok := sample(t, fams, name, map[string]string{"flow": "ticks", "connector": "out"})
		assert.True(t, ok, "%s has a series for flow ticks, connector out", name)
	}
	connected, _ := sample(t, fams, "tremor_connector_connected", map[string]string{"flow": "ticks", "connector": "out"})
	assert.Equal(t, 1.0, connected)
	_, ok = sample(t, fams, "tremor_plugin_info", map[string]string{"plugin": "metronome"})
	assert.True(t, ok, "tremor_plugin_info names the metronome plugin")
	_, ok = fams["process_resident_memory_bytes"]
	assert.True(t, ok, "the process collector is registered")
	_, ok = fams["go_goroutines"]
	assert.True(t, ok, "the Go collector is registered")

	// The metronome ends after 1500 ticks: every count settles, and the
	// metrics agree with the API and with the file.
	waitUntil(t, "flow ticks finished", func() bool {
		f, _ := s.flow("ticks")
		return f.State == "finished"
	})
	f, _ := s.flow("ticks")
	assert.Equal(t, [5]uint64{1500, 1500, 0, 1500, 0}, f.conn(t, "ticks"))
	assert.Equal(t, [5]uint64{1500, 1500, 0, 0, 0}, f.conn(t, "out"))
	fams = s.metrics()
	for dir, want := range map[string]float64{"in": 1500, "out": 1500} {
		v, _ := sample(t, fams, "tremor_connector_events_total", map[string]string{"flow": "ticks", "connector": "out", "direction": dir})
		assert.Equal(t, want, v, "sink %s", dir)
	}
	acks, _ := sample(t, fams, "tremor_connector_acks_total", map[string]string{"flow": "ticks", "connector": "ticks"})
	assert.Equal(t, 1500.0, acks)
	assert.Len(t, fileLines(t, out), 1500)

	// A slow flow, deleted while it runs: drained, and the answer holds the
	// final counters, equal at both ends and to the lines written.
	slow := filepath.Join(dir, "slow.jsonl")
	code, body = s.do("POST", "/api/flows", []byte(tickFlow("slow", 5, 0, slow)))
	require.Equal(t, http.StatusCreated, code, "%s", body)
	waitUntil(t, "flow slow delivered some events", func() bool {
		f, _ := s.flow("slow")
		return f.conn(t, "out")[1] >= 20
	})
	final := s.deleteFlow("slow")
	assert.Equal(t, "stopped", final.State)
	in := final.conn(t, "ticks")
	assert.Positive(t, in[0])
	assert.Equal(t, [5]uint64{in[0], in[0], 0, in[0], 0}, in, "every tick delivered and acked")
	assert.Equal(t, [5]uint64{in[0], in[0], 0, 0, 0}, final.conn(t, "out"))
	assert.Len(t, fileLines(t, slow), int(in[0]))
	_, ok = s.flow("slow")
	assert.False(t, ok, "a deleted flow is gone")
	code, _ = s.do("DELETE", "/api/flows/slow", nil)
	assert.Equal(t, http.StatusNotFound, code)

	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// /ready answers 503 naming the connector while a tcp_client sink has no
// peer, and 200 once the peer listens and events arrive.
func TestServeReadyFollowsSink(t *testing.T) {
	dir := t.TempDir()
	peer := freeAddr(t) // nobody listens yet
	flowFile := writeFlow(t, dir, "ready.toml", srcDstFlow("ready",
		Conn{Type: "metronome", Config: cfg("interval_ms", 5, "count", 0)},
		tcpClient(peer).reconnect(50, 200)))
	s := startServe(t, flowFile)

	var body []byte
	// The source connects at once; the sink never does until the peer listens.
	waitUntil(t, "/ready answers 503 naming ready/dst alone", func() bool {
		var code int
		code, body = s.do("GET", "/ready", nil)
		var r struct {
			NotConnected []string `json:"not_connected"`
		}
		return code == http.StatusServiceUnavailable && json.Unmarshal(body, &r) == nil &&
			len(r.NotConnected) == 1 && r.NotConnected[0] == "ready/dst"
	})
	code, _ := s.do("GET", "/health", nil)
	assert.Equal(t, http.StatusOK, code, "health is about the process, not the flows")
	fams := s.metrics()
	up, _ := sample(t, fams, "tremor_connector_connected", map[string]string{"flow": "ready", "connector": "dst"})
	assert.Equal(t, 0.0, up)

	// Back-pressure is visible: the source's window fills and it pauses.
	paused := map[string]string{"flow": "ready", "connector": "src"}
	waitUntil(t, "tremor_connector_paused of the source is 1", func() bool {
		v, _ := sample(t, s.metrics(), "tremor_connector_paused", paused)
		return v == 1
	})
	inflight, _ := sample(t, s.metrics(), "tremor_connector_inflight", paused)
	assert.Positive(t, inflight, "unsettled events while paused")
	s.waitLog("source paused: its sinks are behind or down (back-pressure)", `"connector":"src"`)

	srv := &lineServer{t: t, addr: peer}
	srv.comeBack()
	t.Cleanup(srv.close)
	waitUntil(t, "/ready answers 200", func() bool {
		code, body = s.do("GET", "/ready", nil)
		return code == http.StatusOK
	})
	waitUntil(t, "events reach the peer", func() bool { return srv.count() > 0 })
	waitUntil(t, "tremor_connector_paused of the source is 0", func() bool {
		v, _ := sample(t, s.metrics(), "tremor_connector_paused", paused)
		return v == 0
	})
	s.waitLog("source resumed", `"connector":"src"`)
	s.signal(syscall.SIGTERM)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
	rows := statsTable(t, s.stderr.String()) // the summary at the end
	assert.Equal(t, rows["src"][colIn], rows["src"][colAcks], "every tick acked once drained")
	assert.Equal(t, rows["src"][colIn], uint64(srv.count()), "every tick reached the peer")
}

// Reload (SIGHUP and POST /api/reload): a changed file is drained and
// redeployed, an unchanged one keeps running untouched, and a broken one is
// refused with its errors while its running version keeps going.
func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	flows := filepath.Join(dir, "flows")
	require.NoError(t, os.Mkdir(flows, 0o755))
	aOut, bOut := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	aFile := writeFlow(t, flows, "a.toml", tickFlow("a", 5, 0, aOut))
	writeFlow(t, flows, "b.toml", tickFlow("b", 5, 0, bOut))
	s := startServe(t, flows)
	delivered := func(name string) uint64 {
		f, ok := s.flow(name)
		require.True(t, ok, "flow %s is deployed", name)
		return f.conn(t, "out")[1]
	}
	waitUntil(t, "both flows deliver", func() bool { return delivered("a") > 5 && delivered("b") > 5 })

	// Changed a.toml (another output file), reloaded by SIGHUP.
	aOut2 := filepath.Join(dir, "a2.jsonl")
	writeFlow(t, flows, "a.toml", tickFlow("a", 5, 0, aOut2))
	bBefore := delivered("b")
	s.signal(syscall.SIGHUP)
	s.waitLog("reloaded the flow files", `"redeployed":["a"]`)
	waitUntil(t, "the new a writes its new file", func() bool { return len(fileLines(t, aOut2)) > 0 })
	assert.GreaterOrEqual(t, delivered("b"), bBefore, "b was not restarted: its counters did not reset")
	oldLines := len(fileLines(t, aOut))

	// A broken a.toml, reloaded through the API: refused with file:line,
	// the running a keeps going.
	require.NoError(t, os.WriteFile(aFile, []byte(strings.Replace(tickFlow("a", 5, 0, aOut2), "count = 0", "count = -", 1)), 0o644))
	code, body := s.do("POST", "/api/reload", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, code, "%s", body)
	var res struct {
		Refused, Redeployed, Unchanged []string
	}
	require.NoError(t, json.Unmarshal(body, &res), "%s", body)
	require.Len(t, res.Refused, 1, "%s", body)
	assert.Contains(t, res.Refused[0], aFile+":9")
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &raw))
	assert.Equal(t, "[]", string(raw["redeployed"]), "an empty list, not null")
	assert.Empty(t, res.Redeployed)
	assert.ElementsMatch(t, []string{"b"}, res.Unchanged)
	before := delivered("a")
	waitUntil(t, "a keeps running after the refused reload", func() bool { return delivered("a") > before+5 })
	f, _ := s.flow("a")
	assert.Equal(t, "running", f.State)
	assert.Equal(t, oldLines, len(fileLines(t, aOut)), "the old version of a was stopped by the first reload")

	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// A non-loopback --api without a token file is refused before anything is
// bound or run; with a token file, POST, DELETE and reload need the token
// (reads do not), and request bodies are size-limited.
func TestServeTokenAndLimits(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	flowFile := writeFlow(t, dir, "f.toml", tickFlow("f", 5, 0, filepath.Join(dir, "f.jsonl")))
	code, stdout, stderr := ctl(t, "serve", "--api", fmt.Sprintf("0.0.0.0:%d", port), flowFile)
	assert.Equal(t, 1, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, fmt.Sprintf("--api 0.0.0.0:%d is not a loopback address", port))
	assert.Contains(t, stderr, "--api-token-file")
	noCrash(t, stderr)
	assert.NoFileExists(t, filepath.Join(dir, "f.jsonl"), "no flow ran")
	ln, err = net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
	require.NoError(t, err, "the port was never bound")
	ln.Close()

	tokenFile := filepath.Join(dir, "token")
	const token = "4f1d2c3b-service-test-token"
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	s := startServe(t, "--api-token-file", tokenFile)
	flow := []byte(tickFlow("t", 5, 0, filepath.Join(dir, "t.jsonl")))
	for _, req := range []struct{ method, path string }{{"POST", "/api/flows"}, {"DELETE", "/api/flows/t"}, {"POST", "/api/reload"}} {
		for _, tok := range []string{"", "wrong"} {
			s.token = tok
			code, body := s.do(req.method, req.path, flow)
			assert.Equal(t, http.StatusUnauthorized, code, "%s %s with token %q: %s", req.method, req.path, tok, body)
			assert.NotContains(t, string(body), token, "the token is never echoed")
		}
	}
	s.token = ""
	for _, path := range []string{"/metrics", "/health", "/api/flows"} {
		code, _ := s.do("GET", path, nil)
		assert.Equal(t, http.StatusOK, code, "GET %s needs no token", path)
	}
	s.token = token
	code, body := s.do("POST", "/api/flows", flow)
	assert.Equal(t, http.StatusCreated, code, "%s", body)
	code, body = s.do("POST", "/api/flows", bytes.Repeat([]byte("#"), 2<<20))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, "%s", body)
	code, body = s.do("DELETE", "/api/flows/t", nil)
	assert.Equal(t, http.StatusOK, code, "%s", body)
	assert.NotContains(t, s.stderr.String(), token, "the token never reaches the log")

	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// A real Prometheus (scripts/prometheus.sh) scrapes tremorctl serve: the
// flow's counters are queryable through Prometheus' own HTTP API. Without
// Prometheus installed this fails saying how to install it.
func TestServePrometheusScrape(t *testing.T) {
	dir := t.TempDir()
	flowFile := writeFlow(t, dir, "scraped.toml", tickFlow("scraped", 5, 0, filepath.Join(dir, "out.jsonl")))
	s := startServe(t, flowFile)

	promAddr := freeAddr(t)
	_, port, err := net.SplitHostPort(promAddr)
	require.NoError(t, err)
	prom := exec.Command(filepath.Join(testenv.Root(t), "scripts", "prometheus.sh"), "run", filepath.Join(dir, "prom"), strings.TrimPrefix(s.base, "http://"), port)
	var promErr logBuf
	prom.Stdout, prom.Stderr = &promErr, &promErr
	require.NoError(t, prom.Start())
	exited := make(chan struct{})
	go func() { prom.Wait(); close(exited) }()
	t.Cleanup(func() {
		prom.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			prom.Process.Kill()
			<-exited
		}
	})

	query := "http://" + promAddr + `/api/v1/query?query=tremor_connector_events_total{flow="scraped",connector="ticks",direction="in"}`
	var value float64
	waitUntil(t, "Prometheus has scraped tremor_connector_events_total", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %s", promErr.String())
		default:
		}
		resp, err := http.Get(query)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  [2]any
				}
			}
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return false
		}
		v, _ := r.Data.Result[0].Value[1].(string)
		_, err = fmt.Sscan(v, &value)
		return err == nil && value > 0
	})
	f, _ := s.flow("scraped")
	assert.GreaterOrEqual(t, float64(f.conn(t, "ticks")[0]), value, "Prometheus saw the source's in counter, no more than the API shows now")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// ${VAR}, ${VAR:-default} and ${file:PATH} in a flow file: substituted
// before the flow is checked, the values never logged; an unset variable
// is an error naming file:line and what to do.
func TestFlowEnvSubstitution(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "secret-named-output.jsonl")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out-path"), []byte(out+"\n"), 0o600))
	text := strings.Replace(tickFlow("env", 1, 0, ""), `path = ""`, `path = "${file:out-path}"`, 1)
	text = strings.Replace(text, "count = 0", `count = ${TICKS:-7}`, 1)
	flowFile := writeFlow(t, dir, "env.toml", text)

	code, _, stderr := ctl(t, "--log-level", "debug", "run", flowFile)
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
	assert.Len(t, fileLines(t, out), 7, "the default applied and the path came from the file")
	rows := statsTable(t, stderr)
	assert.Equal(t, row{7, 7, 0, 7, 0, 0}, rows["ticks"])
	var created int
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `"creating connector"`) && strings.Contains(line, `"connector":"out"`) {
			created++
			assert.Contains(t, line, "<redacted>")
			assert.NotContains(t, line, out, "the substituted value is not logged")
		}
	}
	assert.Equal(t, 1, created, "the debug line that shows the config")

	bad := writeFlow(t, dir, "bad.toml", strings.Replace(text, "${TICKS:-7}", "${TREMOR_TEST_UNSET_VAR}", 1))
	code, _, stderr = ctl(t, "validate", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "tremorctl: "+bad+":9: ${TREMOR_TEST_UNSET_VAR}: environment variable TREMOR_TEST_UNSET_VAR is not set; set it, or give a default", "the file named once, with the line")
	noCrash(t, stderr)
}

// tremorctl status prints the flows of a running serve with their
// counters; without a serve there it fails saying what it tried.
func TestStatus(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, writeFlow(t, dir, "st.toml", tickFlow("st", 5, 0, filepath.Join(dir, "st.jsonl"))))
	addr := strings.TrimPrefix(s.base, "http://")
	waitUntil(t, "flow st delivers", func() bool {
		f, _ := s.flow("st")
		return f.conn(t, "out")[1] > 0
	})
	code, stdout, stderr := ctl(t, "status", "--api", addr)
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, "a header and one row per connector:\n%s", stdout)
	assert.Equal(t, []string{"flow", "state", "connector", "type", "version", "connected", "paused", "inflight", "in", "out", "errors", "acks", "fails", "discarded"}, strings.Fields(lines[0]))
	builds := s.apiBuilds("st")
	for i, c := range []struct{ id, typ string }{{"ticks", "metronome"}, {"out", "file"}} {
		f := strings.Fields(lines[i+1])
		require.Len(t, f, 14, lines[i+1])
		assert.Equal(t, []string{"st", "running", c.id, c.typ, "yes"}, []string{f[0], f[1], f[2], f[3], f[5]})
		// The plugin version the connector runs, as /api/flows has it.
		assert.Equal(t, "0.1.0", builds[c.id][0], "%s: the repo's plugin", c.id)
		assert.Equal(t, builds[c.id][0], f[4], "%s: version column", c.id)
	}
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())

	code, _, stderr = ctl(t, "status", "--api", addr) // nobody there now
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is tremorctl serve (or run --api) running there? (--api HOST:PORT)")
	noCrash(t, stderr)
}

// tremorctl status --watch redraws the table with per-second rates: the
// change of a counter between two redraws over the time between them (the
// interval), not over how long the fetch took.
func TestStatusWatchRates(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, writeFlow(t, dir, "w.toml", tickFlow("w", 50, 0, filepath.Join(dir, "w.jsonl"))))
	addr := strings.TrimPrefix(s.base, "http://")
	waitUntil(t, "flow w delivers", func() bool {
		f, _ := s.flow("w")
		return f.conn(t, "out")[1] > 0
	})
	w := startCtl(t, "status", "--watch", "--interval", "1s", "--api", addr)
	time.Sleep(4500 * time.Millisecond)
	w.signal(os.Interrupt)
	require.Equal(t, 0, w.wait(), "stderr:\n%s", w.stderr.String())

	// Each screen starts by clearing the terminal; the first has no rates.
	row := regexp.MustCompile(`(?m)^w +running +ticks( +\S+){4} +\d+ +(\d+) \((\d+)/s\)`)
	var ins, rates []int
	for _, screen := range strings.Split(w.stdout.String(), "\033[H\033[2J")[2:] {
		m := row.FindStringSubmatch(screen)
		require.NotNil(t, m, "a ticks row with a rate in:\n%s", screen)
		in, _ := strconv.Atoi(m[2])
		rate, _ := strconv.Atoi(m[3])
		ins, rates = append(ins, in), append(rates, rate)
	}
	require.GreaterOrEqual(t, len(ins), 3, "redrawn every second for 4.5 s:\n%s", w.stdout.String())
	for i := 1; i < len(ins); i++ {
		moved := ins[i] - ins[i-1]
		require.Positive(t, moved, "the metronome ticks every 50 ms")
		// About a second between two fetches; the bound is loose for a
		// busy machine, and far below a rate over the fetch's milliseconds.
		assert.GreaterOrEqual(t, rates[i], moved/3, "redraw %d: %d more events, shown as %d/s", i, moved, rates[i])
		assert.LessOrEqual(t, rates[i], moved*3, "redraw %d: %d more events, shown as %d/s", i, moved, rates[i])
	}
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// --help, -h and help CMD show that command's help on stdout and exit 0.
func TestCLIHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"help", "serve"}, {"serve", "--help"}, {"run", "-h"},
		{"help", "status"}, {"help", "validate"}, {"help", "version"}, {"list-plugins", "--help"}} {
		code, stdout, stderr := ctl(t, args...)
		assert.Equal(t, 0, code, "%v: stderr:\n%s", args, stderr)
		assert.Contains(t, stdout, "usage: tremorctl", args)
		if len(args) == 2 && args[0] == "help" {
			assert.Contains(t, stdout, "usage: tremorctl "+args[1], "help %s shows that command's help", args[1])
		}
		assert.NotRegexp(t, `(?m)^  -[a-z]`, stdout, "%v: flags are spelled --name", args)
	}
	code, _, stderr := ctl(t, "serve", "--no-such-flag")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "flag provided but not defined")
}

// tremor_connector_events_total{direction="in"} of a source counts events
// (lines here), not the reads that carried them; acks count reads.
func TestServeMetricsCountEvents(t *testing.T) {
	dir := t.TempDir()
	addr, out := freeAddr(t), filepath.Join(dir, "out.jsonl")
	s := startServe(t, writeFlow(t, dir, "lines.toml", srcDstFlow("lines", tcpServer(addr), fileSink(out, "json"))))
	c := dialRetry(t, addr)
	const n = 500
	writeAll(t, c, jsonLines(0, n), 4096)
	waitUntil(t, "every line written and acked", func() bool {
		f, _ := s.flow("lines")
		in := f.conn(t, "src")
		return len(fileLines(t, out)) == n && in[0] > 0 && in[3] == in[0]
	})
	f, _ := s.flow("lines")
	reads := f.conn(t, "src")[0]
	assert.Less(t, reads, uint64(n), "several lines per read")
	fams := s.metrics()
	v, _ := sample(t, fams, "tremor_connector_events_total", map[string]string{"flow": "lines", "connector": "src", "direction": "in"})
	assert.Equal(t, float64(n), v, "events in: lines")
	v, _ = sample(t, fams, "tremor_connector_events_total", map[string]string{"flow": "lines", "connector": "src", "direction": "out"})
	assert.Equal(t, float64(n), v)
	v, _ = sample(t, fams, "tremor_connector_acks_total", map[string]string{"flow": "lines", "connector": "src"})
	assert.Equal(t, float64(reads), v, "acks: what the plugin handed over")
	require.NoError(t, c.Close())
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// tremorctl run --api serves the same API for its one flow: metrics while
// it runs, and DELETE drains it, after which run exits with its summary.
func TestRunWithAPI(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	addr := freeAddr(t)
	p := startCtl(t, "run", "--api", addr, writeFlow(t, dir, "one.toml", tickFlow("one", 5, 0, out)))
	s := &servedCtl{ctlProc: p, base: "http://" + addr}
	waitUntil(t, "run --api delivers events", func() bool {
		code, _ := s.do("GET", "/health", nil)
		if code != http.StatusOK {
			return false
		}
		f, ok := s.flow("one")
		return ok && f.State == "running" && f.conn(t, "out")[1] > 5
	})
	v, ok := sample(t, s.metrics(), "tremor_connector_events_total", map[string]string{"flow": "one", "connector": "out", "direction": "out"})
	assert.True(t, ok)
	assert.Positive(t, v)
	final := s.deleteFlow("one")
	assert.Equal(t, "stopped", final.State)
	assert.Equal(t, 0, p.wait(), "stderr:\n%s", lastLines(p.stderr.String(), 20))
	rows := statsTable(t, p.stderr.String())
	assert.Equal(t, final.conn(t, "out")[1], rows["out"][colOut], "the answer and the summary agree")
	assert.Equal(t, int(rows["out"][colOut]), len(fileLines(t, out)))
}
