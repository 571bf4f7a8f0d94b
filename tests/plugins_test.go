package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// All bundled plugins (C, Rust, two Go c-shared libraries) load into this
// one process, side by side, and provide exactly their connectors.

// hostABI is the ABI version of this header, which every bundled plugin
// and fixture is built against.
var hostABI = fmt.Sprintf("%d.%d", abi.ABIMajor, abi.ABIMinor)

func TestBundledPluginsLoadTogether(t *testing.T) {
	var files []string
	for f := range bundled {
		files = append(files, testenv.Plugin(t, f))
	}
	sort.Strings(files)
	reg, err := plugin.LoadAll(files)
	require.NoError(t, err)
	for f, conns := range bundled {
		p, err := plugin.Load(testenv.Plugin(t, f))
		require.NoError(t, err)
		var names []string
		for _, c := range p.Connectors {
			names = append(names, c.Name)
			assert.Same(t, c, reg.Connector(c.Name))
		}
		assert.ElementsMatch(t, conns, names, f)
		assert.Equal(t, hostABI, p.ABI(), "built against this header")
		assert.NotEmpty(t, p.SDK, "%s declares its sdk", f)
	}
}

// A second plugin claiming a bundled connector name: both are refused, in
// the library and in tremorctl, and a flow that uses the name fails naming
// both files; nothing is written, and the other plugins still work.
func TestPluginClaimingABundledConnectorIsRefused(t *testing.T) {
	metronome := testenv.Plugin(t, "libtremor_metronome.so")
	impostor := testenv.Fixture(t, "fixture_claims_metronome")
	reg, err := plugin.LoadAll([]string{metronome, impostor})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plugin "+impostor+`: connector "metronome" is also provided by plugin "metronome" (`+metronome+")")
	assert.Contains(t, err.Error(), "plugin "+metronome+`: connector "metronome" is also provided by plugin "impostor" (`+impostor+")")
	assert.Nil(t, reg.Connector("metronome"))

	// The impostor in a directory on the plugin path, beside the bundled
	// plugins next to tremorctl.
	dir := t.TempDir()
	data, err := os.ReadFile(impostor)
	require.NoError(t, err)
	copied := filepath.Join(dir, "libtremor_impostor.so")
	require.NoError(t, os.WriteFile(copied, data, 0o755))
	env := []string{plugin.EnvPluginPath + "=" + dir}

	out := filepath.Join(dir, "out.jsonl")
	flowFile := filepath.Join(dir, "ticks.toml")
	require.NoError(t, os.WriteFile(flowFile, fmt.Appendf(nil, `[flow]
name = "ticks"
[[connector]]
id = "ticks"
type = "metronome"
config = { interval_ms = 1, count = 3 }
[[connector]]
id = "out"
type = "file"
config = { path = %q, mode = "write" }
[[pipeline]]
id = "p"
[[link]]
from = "ticks"
to = "p"
[[link]]
from = "p"
to = "out"
`, out), 0o644))
	code, _, stderr := tremorctlExit(t, "", env, "run", flowFile)
	assert.Equal(t, 1, code, "stderr: %s", stderr)
	assert.Contains(t, stderr, fmt.Sprintf(`connector[0].type: connector type "metronome" is provided by plugin "impostor" (%s) and plugin "metronome" (%s)`, copied, metronome), "in search order")
	assert.NotContains(t, stderr, "goroutine ")
	_, err = os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "the sink wrote nothing")

	code, listed, _ := listPluginsJSON(t, env)
	assert.Equal(t, 1, code)
	byPath := map[string]listedPlugin{}
	for _, l := range listed {
		byPath[l.Path] = l
	}
	for file, name := range map[string]string{metronome: "metronome", copied: "impostor"} {
		l, ok := byPath[file]
		require.True(t, ok, "%s is listed", file)
		require.NotNil(t, l.Error, file)
		assert.Contains(t, *l.Error, `connector "metronome" is also provided by plugin`)
		require.NotNil(t, l.Name)
		assert.Equal(t, name, *l.Name)
		assert.NotNil(t, l.Version)
		assert.NotEmpty(t, l.Connectors, "what the refused file provides is shown")
	}
	bench, ok := byPath[testenv.Plugin(t, "libtremor_bench.so")]
	require.True(t, ok)
	assert.Nil(t, bench.Error, "the other plugins are not involved")
}

func asUint(t testing.TB, v any) uint64 {
	t.Helper()
	switch x := v.(type) {
	case uint64:
		return x
	case int64:
		require.GreaterOrEqual(t, x, int64(0))
		return uint64(x)
	}
	t.Fatalf("not an integer: %#v", v)
	return 0
}

func TestMetronome(t *testing.T) {
	logs := &logBuf{}
	m := create(t, connector(t, "libtremor_metronome.so", "metronome"), "tick", map[string]any{"interval_ms": 5, "count": 3}, logs)
	connect(t, m)
	require.NoError(t, m.Start())
	b := newBatch(t, edge.DefaultCaps)
	var ids []uint64
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for ended := false; !ended; {
		require.True(t, time.Now().Before(deadline), "metronome did not end within 30 s")
		err := m.Pull(b, 100*time.Millisecond)
		if errors.Is(err, edge.ErrEnd) {
			ended = true
		} else {
			require.NoError(t, err)
		}
		for k := 0; k < b.Len(); k++ {
			ev := b.Event(k)
			require.NotZero(t, ev.Flags&abi.EventStructured, "metronome emits structured events")
			v, err := b.Value(k)
			require.NoError(t, err)
			obj, ok := v.(map[string]any)
			require.True(t, ok, "%#v", v)
			assert.Equal(t, "metronome", obj["onramp"])
			id := asUint(t, obj["id"])
			assert.Equal(t, ev.ID, id)
			assert.NotZero(t, asUint(t, obj["ingest_ns"]))
			ids = append(ids, id)
		}
	}
	assert.Equal(t, []uint64{0, 1, 2}, ids)
	assert.GreaterOrEqual(t, time.Since(start), 10*time.Millisecond, "three ticks 5 ms apart")
	require.NoError(t, m.Ack(ids[:2]))
	require.NoError(t, m.Fail(ids[2:]))
	require.NoError(t, m.Drain())
	require.NoError(t, m.Stop())
}

// pipe pulls from src and sends every batch to dst until src ends, checking
// each payload with check; it returns the number of events.
func pipe(t testing.TB, src, dst *edge.Instance, caps edge.Caps, check func(seq uint64, p []byte)) uint64 {
	t.Helper()
	b := newBatch(t, caps)
	outcomes := make([]uint8, caps.Events)
	var n uint64
	ids := make([]uint64, 0, caps.Events)
	deadline := time.Now().Add(30 * time.Second)
	for {
		require.True(t, time.Now().Before(deadline), "source did not end in time")
		err := src.Pull(b, 10*time.Millisecond)
		end := errors.Is(err, edge.ErrEnd)
		if !end {
			require.NoError(t, err)
		}
		ids = ids[:0]
		for k := 0; k < b.Len(); k++ {
			check(n, b.Payload(k))
			ids = append(ids, b.Event(k).ID)
			n++
		}
		if b.Len() > 0 {
			require.NoError(t, dst.Send(b, outcomes))
			for k := 0; k < b.Len(); k++ {
				require.Equal(t, uint8(abi.OutcomeOK), outcomes[k])
			}
			require.NoError(t, src.Ack(ids))
		}
		if end {
			return n
		}
	}
}

// checkBench checks a bench payload: {"seq":N,...}\n of exactly size bytes.
func checkBench(t testing.TB, size int) func(uint64, []byte) {
	return func(seq uint64, p []byte) {
		prefix := `{"seq":` + strconv.FormatUint(seq, 10) + `,`
		if len(p) != size || !bytes.HasPrefix(p, []byte(prefix)) || p[len(p)-1] != '\n' {
			t.Fatalf("event %d: payload %q is not a %d-byte bench line starting with %s", seq, p, size, prefix)
		}
	}
}

func lifecycle(t testing.TB, is ...*edge.Instance) {
	for _, i := range is {
		connect(t, i)
		require.NoError(t, i.Start())
	}
}

func TestBenchCSourceToSink(t *testing.T) {
	logs := &logBuf{}
	src := create(t, connector(t, "libtremor_bench.so", "bench_source"), "src", map[string]any{"count": 1000, "size": 64}, logs)
	dst := create(t, connector(t, "libtremor_bench.so", "bench_sink"), "dst", nil, logs)
	lifecycle(t, src, dst)
	n := pipe(t, src, dst, edge.Caps{Events: 64, Values: 0, Bytes: 64 * 64}, checkBench(t, 64))
	assert.Equal(t, uint64(1000), n)
	require.NoError(t, src.Drain())
	require.NoError(t, dst.Drain())
	require.NoError(t, src.Stop())
	require.NoError(t, dst.Stop())
	assert.NotEmpty(t, logs.find("dst", "received 1000 events, 64000 bytes"), logs.messages("dst"))
	assert.NotEmpty(t, logs.find("dst", ", 0 invalid"), logs.messages("dst"))
}

func TestBenchGoSourceToSink(t *testing.T) {
	logs := &logBuf{}
	src := create(t, connector(t, "libtremor_bench_go.so", "bench_go_source"), "gsrc", map[string]any{"count": 1000, "size": 80}, logs)
	dst := create(t, connector(t, "libtremor_bench_go.so", "bench_go_sink"), "gdst", nil, logs)
	lifecycle(t, src, dst)
	n := pipe(t, src, dst, edge.Caps{Events: 50, Values: 0, Bytes: 50 * 80}, checkBench(t, 80))
	assert.Equal(t, uint64(1000), n)
	require.NoError(t, src.Stop())
	require.NoError(t, dst.Stop())
	dst.Destroy()
	assert.NotEmpty(t, logs.find("gdst", "totals: events=1000 bytes=80000 bad=0 out_of_order=0"), logs.messages("gdst"))
}

// Events cross languages: a C source feeds a Go sink and a Go source feeds
// a C sink, through the same host batches.
func TestBenchAcrossLanguages(t *testing.T) {
	logs := &logBuf{}
	cSrc := create(t, connector(t, "libtremor_bench.so", "bench_source"), "c-src", map[string]any{"count": 500, "size": 100}, logs)
	goDst := create(t, connector(t, "libtremor_bench_go.so", "bench_go_sink"), "go-dst", nil, logs)
	goSrc := create(t, connector(t, "libtremor_bench_go.so", "bench_go_source"), "go-src", map[string]any{"count": 500, "size": 100}, logs)
	cDst := create(t, connector(t, "libtremor_bench.so", "bench_sink"), "c-dst", nil, logs)
	lifecycle(t, cSrc, goDst, goSrc, cDst)
	caps := edge.Caps{Events: 32, Values: 0, Bytes: 32 * 100}
	assert.Equal(t, uint64(500), pipe(t, cSrc, goDst, caps, checkBench(t, 100)))
	assert.Equal(t, uint64(500), pipe(t, goSrc, cDst, caps, checkBench(t, 100)))
	for _, i := range []*edge.Instance{cSrc, goDst, goSrc, cDst} {
		require.NoError(t, i.Stop())
		i.Destroy()
	}
	assert.NotEmpty(t, logs.find("go-dst", "totals: events=500 bytes=50000 bad=0 out_of_order=0"), logs.messages("go-dst"))
	assert.NotEmpty(t, logs.find("c-dst", "received 500 events, 50000 bytes"), logs.messages("c-dst"))
}

// tcpRoundTrip sends lines through a tcp_client to a tcp_server (both Go,
// one c-shared library) over 127.0.0.1 and checks the server pulls exactly
// those bytes.
func tcpRoundTrip(t testing.TB, server, client *edge.Instance, sendBatch, pullBatch *edge.Batch, lines [][]byte) {
	t.Helper()
	sendBatch.Reset()
	var want []byte
	for k, l := range lines {
		require.NoError(t, sendBatch.Append(&edge.Event{ID: uint64(k), Payload: l}))
		want = append(want, l...)
	}
	outcomes := make([]uint8, len(lines))
	require.NoError(t, client.Send(sendBatch, outcomes))
	for k, o := range outcomes {
		require.Equal(t, uint8(abi.OutcomeOK), o, "event %d", k)
	}
	var got []byte
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < len(want) {
		require.True(t, time.Now().Before(deadline), "server received %d of %d bytes in 30 s", len(got), len(want))
		require.NoError(t, server.Pull(pullBatch, 50*time.Millisecond))
		for k := 0; k < pullBatch.Len(); k++ {
			require.NotZero(t, pullBatch.Event(k).Stream, "one stream per connection, numbered from 1")
			got = append(got, pullBatch.Payload(k)...)
		}
	}
	require.Equal(t, string(want), string(got))
}

func TestTCP(t *testing.T) {
	logs := &logBuf{}
	addr := freeAddr(t)
	server := create(t, connector(t, "libtremor_tcp.so", "tcp_server"), "srv", map[string]any{"url": addr}, logs)
	client := create(t, connector(t, "libtremor_tcp.so", "tcp_client"), "cli", map[string]any{"url": addr}, logs)
	lifecycle(t, server, client)
	sendBatch := newBatch(t, edge.DefaultCaps)
	pullBatch := newBatch(t, edge.DefaultCaps)
	for round := 0; round < 3; round++ {
		var lines [][]byte
		for k := 0; k < 20; k++ {
			lines = append(lines, []byte(fmt.Sprintf("round %d line %d\n", round, k)))
		}
		tcpRoundTrip(t, server, client, sendBatch, pullBatch, lines)
	}
	assert.NotEmpty(t, logs.find("srv", "listening on "+addr))
	require.NoError(t, client.Stop())
	require.NoError(t, server.Stop())
}

// tremorctl list-plugins --json build/plugins lists every bundled plugin,
// each with error null.
func TestTremorctlListsBundledPlugins(t *testing.T) {
	root := testenv.Root(t)
	for f := range bundled {
		testenv.Plugin(t, f)
	}
	bin := filepath.Join(t.TempDir(), "tremorctl")
	build := exec.Command("go", "build", "-o", bin, "./host/cmd/tremorctl")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build tremorctl: %s", out)

	cmd := exec.Command(bin, "list-plugins", "--json", "build/plugins")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	require.NoError(t, err, "tremorctl failed: %s", stderr.String())
	var listed []struct {
		Path       string  `json:"path"`
		Name       string  `json:"name"`
		Version    string  `json:"version"`
		ABI        string  `json:"abi"`
		SDK        string  `json:"sdk"`
		Error      *string `json:"error"`
		Connectors []struct {
			Name   string   `json:"name"`
			Kinds  []string `json:"kinds"`
			Fields []any    `json:"fields"`
		} `json:"connectors"`
	}
	require.NoError(t, json.Unmarshal(out, &listed), "%s", out)
	byFile := map[string]int{}
	for i, l := range listed {
		byFile[filepath.Base(l.Path)] = i
		assert.Nil(t, l.Error, "%s: %v", l.Path, l.Error)
		assert.Equal(t, hostABI, l.ABI)
		assert.NotEmpty(t, l.Name)
		assert.NotEmpty(t, l.Version)
	}
	for f, conns := range bundled {
		i, ok := byFile[f]
		if !assert.True(t, ok, "%s is not listed", f) {
			continue
		}
		var names []string
		for _, c := range listed[i].Connectors {
			names = append(names, c.Name)
			assert.NotEmpty(t, c.Kinds)
		}
		assert.ElementsMatch(t, conns, names, f)
	}
}

// tremorctlExit runs build/bin/tremorctl with args, in directory dir (""
// for this process's) with env added to this process's environment, and
// returns its exit status, stdout and stderr, whatever the status; it fails
// the test only when tremorctl cannot be started or hangs.
func tremorctlExit(t testing.TB, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(tremorctl(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err, "tremorctl %v", args)
		}
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl %v did not end within %s; stderr:\n%s", args, flowDeadline, lastLines(errb.String(), 30))
	}
	return code, out.String(), errb.String()
}

// listedPlugin is one object of list-plugins --json.
type listedPlugin struct {
	Path       string  `json:"path"`
	Name       *string `json:"name"`
	Version    *string `json:"version"`
	ABI        *string `json:"abi"`
	SHA256     *string `json:"sha256"`
	Error      *string `json:"error"`
	Connectors []struct {
		Name string `json:"name"`
	} `json:"connectors"`
}

func listPluginsJSON(t testing.TB, env []string, args ...string) (code int, listed []listedPlugin, stderr string) {
	t.Helper()
	code, stdout, stderr := tremorctlExit(t, "", env, append([]string{"list-plugins", "--json"}, args...)...)
	require.NoError(t, json.Unmarshal([]byte(stdout), &listed), "stdout %q, stderr %q", stdout, stderr)
	return code, listed, stderr
}

// A refused file whose descriptor could be read is listed with what was
// read (name, version, ABI) along with its error; what could not be read is
// null.
func TestListPluginsShowsWhatARefusedFileSaid(t *testing.T) {
	badDefault := testenv.Fixture(t, "fixture_bad_default")
	abiMinor := testenv.Fixture(t, "fixture_abi_minor")
	abiMajor := testenv.Fixture(t, "fixture_abi_major")
	good := testenv.Fixture(t, "fixture")
	code, listed, stderr := listPluginsJSON(t, nil, badDefault, abiMinor, abiMajor, good)
	assert.Equal(t, 1, code, "a refused file makes list-plugins fail; stderr: %s", stderr)
	require.Len(t, listed, 4)

	bd := listed[0]
	assert.Equal(t, badDefault, bd.Path)
	require.NotNil(t, bd.Error)
	assert.Contains(t, *bd.Error, "default")
	require.NotNil(t, bd.Name)
	require.NotNil(t, bd.Version, "the version was read before the field was refused")
	require.NotNil(t, bd.ABI)
	assert.NotEmpty(t, *bd.Name)
	assert.NotEmpty(t, *bd.Version)
	assert.Equal(t, hostABI, *bd.ABI)

	am := listed[1]
	require.NotNil(t, am.Error)
	assert.Contains(t, *am.Error, "newer than this host's")
	require.NotNil(t, am.ABI, "the ABI version is read first, whatever follows")
	assert.Contains(t, *am.Error, "built for ABI "+*am.ABI)
	require.NotNil(t, am.Name, "a newer minor only appends: what this host knows of it is read")
	require.NotNil(t, am.Version)
	assert.NotEmpty(t, *am.Version)

	ma := listed[2]
	require.NotNil(t, ma.Error)
	require.NotNil(t, ma.ABI)
	assert.Contains(t, *ma.Error, "built for ABI "+*ma.ABI)
	assert.Nil(t, ma.Version, "another major may lay its descriptor out differently: not read past its version")

	assert.Nil(t, listed[3].Error)
	assert.Equal(t, "fixture", *listed[3].Name)
}

// The Rust file plugin writes events as lines, then reads them back.
func TestFileWriteThenRead(t *testing.T) {
	logs := &logBuf{}
	path := filepath.Join(t.TempDir(), "out.txt")
	file := connector(t, "libtremor_file.so", "file")

	w := create(t, file, "writer", map[string]any{"path": path, "mode": "write"}, logs)
	lifecycle(t, w)
	b := newBatch(t, edge.DefaultCaps)
	var want []string
	for k := 0; k < 100; k++ {
		line := fmt.Sprintf("line %d: %s", k, bytes.Repeat([]byte("é"), k%7))
		want = append(want, line)
		require.NoError(t, b.Append(&edge.Event{ID: uint64(k), Payload: []byte(line)}))
	}
	outcomes := make([]uint8, b.Len())
	require.NoError(t, w.Send(b, outcomes))
	for k, o := range outcomes {
		require.Equal(t, uint8(abi.OutcomeOK), o, "event %d", k)
	}
	require.NoError(t, w.Drain())
	require.NoError(t, w.Stop())
	w.Destroy()

	r := create(t, file, "reader", map[string]any{"path": path}, logs) // mode defaults to "read"
	lifecycle(t, r)
	small := newBatch(t, edge.Caps{Events: 16, Values: 0, Bytes: 512})
	var got []string
	var offset uint64
	for ended := false; !ended; {
		err := r.Pull(small, 0)
		if errors.Is(err, edge.ErrEnd) {
			ended = true
		} else {
			require.NoError(t, err)
		}
		for k := 0; k < small.Len(); k++ {
			p := string(small.Payload(k))
			assert.Equal(t, offset, small.Event(k).ID, "the id is the line's byte offset")
			offset += uint64(len(p)) + 1
			got = append(got, p)
		}
		require.Less(t, len(got), 1000, "the reader does not end")
	}
	assert.Equal(t, want, got)

	// A sink-only operation on a reader is refused with the plugin's words.
	err := r.Send(small, make([]uint8, small.Caps().Events))
	assert.ErrorIs(t, err, abi.ResultErrUnsupported)
	assert.ErrorContains(t, err, `is a source (mode "read")`)
	require.NoError(t, r.Stop())
	assert.NotEmpty(t, logs.find("reader", "stopped reading "+path))
}

// check-plugin never shows the value of a config field the plugin declares
// secret: not in its text report, not in --json, not in the message about a
// --config it cannot parse (where nothing of the text is shown).
func TestCheckPluginRedactsSecrets(t *testing.T) {
	const secret = "hunter2-very-secret"
	fixture := testenv.Fixture(t, "fixture")
	good := `fixture_types={"host": "example.org", "password": "` + secret + `"}`
	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		want    string // in stdout
		wantErr string // in stderr
	}{
		// a passing report shows the run's config redacted ...
		{"text", []string{"--config", good}, 0,
			`connector fixture_types, config {"host":"example.org","password":"<redacted>"}: OK`, ""},
		// ... and so does a failing one: fixture_types accepts anything,
		// so a --bad-config it should refuse fails the check (exit 1),
		// and that config's secret value is not shown either
		{"failing", []string{"--config", good, "--bad-config", `fixture_types={"password": "` + secret + `x"}`}, 1,
			`connector fixture_types, config {"host":"example.org","password":"<redacted>"}: FAILED`, ""},
		{"json", []string{"--json", "--config", good, "--bad-config", `fixture_types={"password": "` + secret + `x"}`}, 1,
			`"config": "{\"host\":\"example.org\",\"password\":\"<redacted>\"}"`, ""},
		{"bad json", []string{"--config", `fixture_types={"password": ` + secret + `}`}, 2,
			"", "tremorctl: check-plugin: --config fixture_types=...: not valid JSON at byte 14; the text is not shown"},
		{"no connector", []string{"--config", secret}, 2,
			"", "tremorctl: check-plugin: --config wants CONNECTOR=JSON"},
		{"not an object", []string{"--config", `fixture_types=["` + secret + `"]`}, 2,
			"", "tremorctl: check-plugin: --config fixture_types=...: must be a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check-plugin", "--leak-cycles", "0", "--connector", "fixture_types"}, tt.args...)
			code, stdout, stderr := tremorctlExit(t, "", nil, append(args, fixture)...)
			assert.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, tt.want)
			assert.Contains(t, stderr, tt.wantErr)
			assert.NotContains(t, stdout+stderr, secret)
			assert.NotContains(t, stdout+stderr, "hunter2")
		})
	}
}

// A file that is not a shared library (here a secret, saved as a .so by
// mistake) is refused by list-plugins and inspect saying what it looks
// like, never quoting what it holds.
func TestNotAPluginIsDescribedNotQuoted(t *testing.T) {
	dir := t.TempDir()
	secret := "hunter2-SuperSecretToken"
	file := filepath.Join(dir, "libtremor_secret.so")
	require.NoError(t, os.WriteFile(file, []byte(secret+"\n"), 0o600))
	for _, args := range [][]string{{"list-plugins", file}, {"inspect", file}} {
		code, stdout, stderr := tremorctlExit(t, "", nil, args...)
		assert.Equal(t, 1, code, "%v", args)
		assert.Contains(t, stdout+stderr, "is not an ELF shared library (it looks like text)", "%v", args)
		assert.NotContains(t, stdout+stderr, "hunter2", "%v: the file's contents are not shown", args)
		noCrash(t, stderr)
	}
}
