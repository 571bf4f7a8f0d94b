package tests

// Live plugin upgrade (issue 12), end to end through `tremorctl serve` and
// `tremorctl upgrade` as subprocesses: new builds of bundled plugins are
// compiled with another version string into a temporary directory and
// renamed into the plugin directory of a private tree, as an operator
// installs them.

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

// upgradeTree is a private tree: bin/tremorctl and bin/tremor-runner
// (copies) and plugins/ with copies of some bundled plugins. The copied
// tremorctl searches <bin>/../plugins, so each plugin is found once, there.
type upgradeTree struct {
	bin, plugins string
}

func newUpgradeTree(t *testing.T, bundled ...string) upgradeTree {
	t.Helper()
	top := t.TempDir()
	u := upgradeTree{bin: filepath.Join(top, "bin", "tremorctl"), plugins: filepath.Join(top, "plugins")}
	require.NoError(t, os.MkdirAll(filepath.Dir(u.bin), 0o755))
	require.NoError(t, os.MkdirAll(u.plugins, 0o755))
	copyFile(t, tremorctl(t), u.bin)
	copyFile(t, filepath.Join(testenv.Root(t), "build", "bin", "tremor-runner"), filepath.Join(top, "bin", "tremor-runner"))
	for _, name := range bundled {
		u.install(t, testenv.Plugin(t, name), name)
	}
	return u
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o755))
}

// install puts the file built into the plugin directory as name, by an
// atomic rename (a running host keeps the old file open).
func (u upgradeTree) install(t testing.TB, built, name string) {
	t.Helper()
	tmp := filepath.Join(u.plugins, "."+name+".new") // not *.so: never taken for a plugin
	copyFile(t, built, tmp)
	require.NoError(t, os.Chmod(tmp, 0o755))
	require.NoError(t, os.Rename(tmp, filepath.Join(u.plugins, name)))
}

// upgradeCLI runs `tremorctl upgrade --api ADDR ARGS...`.
func (s *servedCtl) upgradeCLI(args ...string) (int, string, string) {
	s.t.Helper()
	return ctl(s.t, append([]string{"upgrade", "--api", strings.TrimPrefix(s.base, "http://")}, args...)...)
}

// apiBuilds returns each connector's build (plugin version and sha256) as
// GET /api/flows/NAME shows it.
func (s *servedCtl) apiBuilds(name string) map[string][2]string {
	s.t.Helper()
	code, body := s.do("GET", "/api/flows/"+name, nil)
	require.Equal(s.t, http.StatusOK, code, "%s", body)
	var f struct {
		Connectors []struct {
			Connector string
			Build     struct{ Plugin, Version, SHA256 string }
		}
	}
	require.NoError(s.t, json.Unmarshal(body, &f), "%s", body)
	out := map[string][2]string{}
	for _, c := range f.Connectors {
		out[c.Connector] = [2]string{c.Build.Version, c.Build.SHA256}
	}
	return out
}

// pluginInfos is tremor_plugin_info as scraped: plugin -> versions.
func (s *servedCtl) pluginInfos() map[string][]string {
	s.t.Helper()
	out := map[string][]string{}
	fam := s.metrics()["tremor_plugin_info"]
	require.NotNil(s.t, fam, "tremor_plugin_info is exported")
	for _, m := range fam.GetMetric() {
		var name, version string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "plugin":
				name = l.GetValue()
			case "version":
				version = l.GetValue()
			}
		}
		out[name] = append(out[name], version)
	}
	return out
}

// upFlow is flow name (batch 16) of the connector srcID into dstID
// through the pipeline "p": the shape of most flows these tests upgrade.
func upFlow(name, srcID string, src Conn, dstID string, dst Conn) string {
	return newFlow(name).Batch(16).Connector(srcID, src).Connector(dstID, dst).Chain(srcID, "p", dstID).TOML()
}

// upgradeFlow is flow "up": a metronome into a file sink appending to out
// and an isolated Go sink.
func upgradeFlow(out string) string {
	return newFlow("up").Batch(16).
		Connector("ticks", metronomeConn(0)).
		Connector("file", fileAppendSink(out, "json")).
		Connector("gosink", benchGoSink("json", "process")).
		Chain("ticks", "p", "file").
		Link("p", "gosink").
		TOML()
}

// sha256File is the hex SHA-256 of a file.
func sha256File(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// A C source, a Rust sink and an isolated Go sink are upgraded one after
// the other while events flow: every event is delivered exactly once to
// both sinks, the source's acks equal its events, no event fails, and the
// API, the metrics and the log show the new versions.
func TestUpgradeGraceful(t *testing.T) {
	// The three new builds first (compiling takes a while on a loaded
	// machine; the flow does not need to wait for it).
	newMetronome := testenv.CBuild(t, "plugins/metronome-c/metronome.c", `TREMOR_PLUGIN_DEFINE("metronome", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("metronome", "0.2.0"`)
	newFile := testenv.RustBuild(t, "file-rs", "tremor_file", `version: "0.1.0"`, `version: "0.2.0"`)
	newGo := testenv.GoBuild(t, "bench_go-go", `Version:     "0.1.0"`, `Version:     "0.2.0"`)

	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_file.so", "libtremor_bench_go.so")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"up": upgradeFlow(out)}))

	delivered := func() uint64 {
		f, ok := s.flow("up")
		require.True(t, ok)
		return min(f.conn(t, "file")[1], f.conn(t, "gosink")[1])
	}
	waitUntil(t, "events flow to both sinks", func() bool { return delivered() > 100 })
	before := s.apiBuilds("up")
	assert.Equal(t, "0.1.0", before["ticks"][0])

	steps := []struct{ plugin, file, built, conn string }{
		{"metronome", "libtremor_metronome.so", newMetronome, "ticks"},
		{"file", "libtremor_file.so", newFile, "file"},
		{"bench_go", "libtremor_bench_go.so", newGo, "gosink"},
	}
	for _, st := range steps {
		u.install(t, st.built, st.file)
		code, stdout, stderr := s.upgradeCLI(st.plugin)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s\nserve:\n%s", stdout, stderr, lastLines(s.stderr.String(), 20))
		assert.Contains(t, stdout, fmt.Sprintf("up/%s: %s 0.1.0 -> 0.2.0", st.conn, st.plugin))
		t.Logf("tremorctl upgrade %s: %s", st.plugin, stdout)
		s.waitLog(`"plugin upgraded"`, `"connector":"`+st.conn+`"`, `"old_version":"0.1.0"`, `"new_version":"0.2.0"`,
			`"new_sha256":"`+sha256File(t, st.built)+`"`, `"old_sha256":"`+before[st.conn][1]+`"`)
		got := s.apiBuilds("up")[st.conn]
		assert.Equal(t, [2]string{"0.2.0", sha256File(t, st.built)}, got, "GET /api/flows shows the new build of %s", st.conn)
		n := delivered()
		waitUntil(t, "events flow after upgrading "+st.plugin, func() bool { return delivered() > n+100 })
	}
	infos := s.pluginInfos()
	for _, st := range steps {
		assert.Contains(t, infos[st.plugin], "0.2.0", "tremor_plugin_info shows %s 0.2.0", st.plugin)
	}

	// Nothing more to do: the files hold what runs.
	code, stdout, _ := s.upgradeCLI()
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "nothing to upgrade")

	final := s.deleteFlow("up")
	ticks, file, gosink := final.conn(t, "ticks"), final.conn(t, "file"), final.conn(t, "gosink")
	assert.Equal(t, ticks[0], ticks[3], "source: acks == events pulled")
	assert.Zero(t, ticks[4], "source: no event failed back")
	assert.Zero(t, file[4]+gosink[4], "sinks: no event failed")
	assert.Equal(t, ticks[0], file[1], "file sink: every event delivered")
	assert.Equal(t, ticks[0], gosink[1], "Go sink: every event delivered")

	// Exactly once in the file: the old metronome's ids 0..a-1, then the
	// new one's 0..b-1, each once, nothing else.
	ids := fields(t, fileLines(t, out), "id")
	require.Len(t, ids, int(ticks[0]), "one line per event")
	require.NotEmpty(t, ids)
	assert.Zero(t, ids[0], "the first line is the first tick")
	runs := 1
	for i := 1; i < len(ids); i++ {
		switch {
		case ids[i] == ids[i-1]+1:
		case ids[i] == 0:
			runs++
		default:
			t.Fatalf("line %d: id %d after %d: an event was lost or duplicated", i+1, ids[i], ids[i-1])
		}
	}
	assert.Equal(t, 2, runs, "one id sequence per metronome instance (the old one, then the new one)")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// ticksFlow is a flow NAME of a metronome "ticks" ticking every
// intervalMs ms into the bench sink "sink".
func ticksFlow(name string, intervalMs int) string {
	return upFlow(name, "ticks", metronomeEvery(intervalMs), "sink", benchSink(""))
}

// refusedFlows is flow "m": ticks every millisecond into a bench sink.
var refusedFlows = ticksFlow("m", 1)

// goInHostFlow runs a Go plugin inside the host (isolation = "none").
var goInHostFlow = upFlow("g", "src", metronomeConn(0), "sink", benchGoSink("json", "none"))

// echoSourceFlow is flow name: the fixture's echo as a source (of its
// generated events) into a bench sink.
func echoSourceFlow(name string) string {
	return upFlow(name, "echo", Conn{Type: "fixture_echo", Codec: "string", Config: cfg("count", 1000000000)}, "sink", benchSink("string"))
}

// Upgrades that must change nothing: a file with the wrong ABI, a file
// others can write, a build without the connector type, a build whose
// fields no longer take the flow's config, and a build that cannot
// connect (rolled back). Each is refused by tremorctl upgrade with exit
// status 1 and the reason; the running version keeps delivering, and in
// the end every event was delivered once and acked.
func TestUpgradeRefused(t *testing.T) {
	const metronomeDef = `TREMOR_PLUGIN_DEFINE("metronome", "0.1.0"`
	metronome := "plugins/metronome-c/metronome.c"
	next := testenv.CBuild(t, metronome, metronomeDef, `TREMOR_PLUGIN_DEFINE("metronome", "0.2.0"`)
	noType := testenv.CBuild(t, metronome, metronomeDef, `TREMOR_PLUGIN_DEFINE("metronome", "0.2.0"`, `.name = "metronome",`, `.name = "metronome_v2",`)
	renamedField := testenv.CBuild(t, metronome, metronomeDef, `TREMOR_PLUGIN_DEFINE("metronome", "0.3.0"`, `{.name = "interval_ms",`, `{.name = "period_ms",`)
	neverConnects := testenv.CBuild(t, "tests/fixtures/fixture.c", `.version = "0.1.0"`, `.version = "0.2.0"`,
		`{.name = "retry_connects", .type = TREMOR_VALUE_UINT, .default_json = "0"`, `{.name = "retry_connects", .type = TREMOR_VALUE_UINT, .default_json = "1000000000"`)

	goInHost := testenv.GoBuild(t, "bench_go-go", `Version:     "0.1.0"`, `Version:     "0.2.0"`)

	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so", "libtremor_bench_go.so")
	u.install(t, testenv.Fixture(t, "fixture"), "libtremor_fixture.so")
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"m": refusedFlows, "e": echoSourceFlow("e"), "g": goInHostFlow}))
	metronomeFile := filepath.Join(u.plugins, "libtremor_metronome.so")
	oldSum := sha256File(t, metronomeFile)

	delivered := func(name string) uint64 {
		f, ok := s.flow(name)
		require.True(t, ok)
		return f.conn(t, "sink")[1]
	}
	waitUntil(t, "both flows deliver", func() bool { return delivered("m") > 50 && delivered("e") > 50 })

	cases := []struct {
		name, plugin, built, file string
		mode                      os.FileMode
		args                      []string
		msgs                      []string
	}{
		{"bad ABI", "metronome", testenv.Fixture(t, "fixture_abi_major"), "libtremor_metronome.so", 0o755, nil,
			[]string{"upgrade from metronome 0.1.0", "the plugin file no longer loads", metronomeFile, "ABI"}},
		{"broken trust", "metronome", next, "libtremor_metronome.so", 0o775, nil,
			[]string{"the plugin file no longer loads", "writable by group or others", "chmod go-w " + metronomeFile}},
		{"removed connector type", "metronome", noType, "libtremor_metronome.so", 0o755, nil,
			[]string{`no longer provide connector type "metronome"`, "the running version keeps going"}},
		{"config no longer validates", "metronome", renamedField, "libtremor_metronome.so", 0o755, nil,
			[]string{"its config does not validate against version 0.3.0", "interval_ms", "tremorctl inspect metronome"}},
		{"Go plugin in the host", "bench_go", goInHost, "libtremor_bench_go.so", 0o755, nil,
			[]string{`flow "g"`, "is a Go plugin running inside the host", `isolation = "process"`}},
		{"cannot connect: rolled back", "fixture", neverConnects, "libtremor_fixture.so", 0o755, []string{"--connect-timeout", "2s"},
			[]string{`connector "echo"`, "rolled back", "fixture 0.1.0", "could not connect within 2s", "the old ones never stopped"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u.install(t, c.built, c.file)
			require.NoError(t, os.Chmod(filepath.Join(u.plugins, c.file), c.mode))
			before := map[string]uint64{"m": delivered("m"), "e": delivered("e")}
			code, stdout, stderr := s.upgradeCLI(append(c.args, c.plugin)...)
			assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			t.Logf("tremorctl upgrade %s:\n%s", c.plugin, stderr)
			for _, m := range c.msgs {
				assert.Contains(t, stderr, m)
			}
			assert.Contains(t, stderr, "upgrade refused; nothing changed, the running versions keep going")
			s.waitLog(`"plugin upgrade refused"`)
			assert.Equal(t, "0.1.0", s.apiBuilds("m")["ticks"][0])
			assert.Equal(t, "0.1.0", s.apiBuilds("e")["echo"][0])
			waitUntil(t, "both flows keep delivering", func() bool {
				return delivered("m") > before["m"]+50 && delivered("e") > before["e"]+50
			})
		})
	}
	assert.Equal(t, oldSum, s.apiBuilds("m")["ticks"][1], "the flow still runs the first build")

	// An unknown plugin: 404, exit status 1.
	code, _, stderr := s.upgradeCLI("nosuch")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `plugin "nosuch": no running connector uses this plugin`)

	for _, name := range []string{"m", "e"} {
		final := s.deleteFlow(name)
		src := final.Connectors[0].Connector
		in, sink := final.conn(t, src), final.conn(t, "sink")
		assert.Equal(t, in[0], in[3], "%s: acks == events pulled", name)
		assert.Zero(t, in[4]+sink[4], "%s: nothing failed", name)
		assert.Equal(t, in[0], sink[1], "%s: every event delivered", name)
	}
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// A file source with resume_from, upgraded half-way through its file,
// continues where the old instance was acknowledged: the output holds
// every line of the input once, in order.
func TestUpgradeFileSourceResumes(t *testing.T) {
	newFile := testenv.RustBuild(t, "file-rs", "tremor_file", `version: "0.1.0"`, `version: "0.2.0"`)
	u := newUpgradeTree(t, "libtremor_file.so")
	dir := t.TempDir()
	in, out, state := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "in.state")
	const n = 1_000_000
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "{\"seq\":%d}\n", i)
	}
	require.NoError(t, os.WriteFile(in, []byte(b.String()), 0o644))
	r := newFlow("r").Batch(64).
		Connector("in", Conn{Type: "file", Codec: "json", Config: cfg("path", in, "resume_from", state)}).
		Connector("out", fileAppendSink(out, "json")).
		Chain("in", "p", "out").
		TOML()
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"r": r}))
	waitUntil(t, "lines flow", func() bool {
		f, ok := s.flow("r")
		return ok && f.conn(t, "out")[1] > 1000
	})
	u.install(t, newFile, "libtremor_file.so")
	code, stdout, stderr := s.upgradeCLI("file")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s\nserve:\n%s", stdout, stderr, lastLines(s.stderr.String(), 20))
	assert.Contains(t, stdout, "r/in: file 0.1.0 -> 0.2.0")
	assert.Contains(t, stdout, "r/out: file 0.1.0 -> 0.2.0")
	f, _ := s.flow("r")
	require.Less(t, f.conn(t, "out")[1], uint64(n), "the upgrade came before the end of the file")

	waitUntil(t, "the flow reads to the end", func() bool {
		f, _ := s.flow("r")
		return f.State == "finished"
	})
	f, _ = s.flow("r")
	assert.Empty(t, f.Error)
	src, sink := f.conn(t, "in"), f.conn(t, "out")
	assert.Equal(t, src[0], src[3], "source: acks == lines read")
	assert.Zero(t, src[4]+sink[4], "nothing failed")
	assert.Equal(t, uint64(n), sink[1], "every line delivered once")
	assert.Equal(t, seqs(0, n), fields(t, fileLines(t, out), "seq"), "every line once, in order")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// Reload (POST /api/reload, and SIGHUP) upgrades the plugins whose files
// changed, in the flows it leaves running.
func TestUpgradeOnReload(t *testing.T) {
	const def = `TREMOR_PLUGIN_DEFINE("metronome", "0.1.0"`
	v2 := testenv.CBuild(t, "plugins/metronome-c/metronome.c", def, `TREMOR_PLUGIN_DEFINE("metronome", "0.2.0"`)
	v3 := testenv.CBuild(t, "plugins/metronome-c/metronome.c", def, `TREMOR_PLUGIN_DEFINE("metronome", "0.3.0"`)
	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so")
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"m": refusedFlows}))
	delivered := func() uint64 {
		f, ok := s.flow("m")
		require.True(t, ok)
		return f.conn(t, "sink")[1]
	}
	waitUntil(t, "events flow", func() bool { return delivered() > 50 })

	u.install(t, v2, "libtremor_metronome.so")
	code, body := s.do("POST", "/api/reload", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var res struct {
		Unchanged []string
		Upgraded  []struct {
			Flow, Connector string
			To              struct{ Version string }
		}
	}
	require.NoError(t, json.Unmarshal(body, &res), "%s", body)
	assert.Equal(t, []string{"m"}, res.Unchanged, "the flow file did not change: the flow keeps running")
	require.Len(t, res.Upgraded, 1, "%s", body)
	assert.Equal(t, "ticks", res.Upgraded[0].Connector)
	assert.Equal(t, "0.2.0", res.Upgraded[0].To.Version)
	assert.Equal(t, "0.2.0", s.apiBuilds("m")["ticks"][0])

	u.install(t, v3, "libtremor_metronome.so")
	s.signal(syscall.SIGHUP)
	s.waitLog(`"plugin upgraded"`, `"old_version":"0.2.0"`, `"new_version":"0.3.0"`)
	n := delivered()
	waitUntil(t, "events flow after the upgrades", func() bool { return delivered() > n+50 })

	final := s.deleteFlow("m")
	ticks, sink := final.conn(t, "ticks"), final.conn(t, "sink")
	assert.Equal(t, ticks[0], ticks[3], "acks == events")
	assert.Zero(t, ticks[4]+sink[4], "nothing failed")
	assert.Equal(t, ticks[0], sink[1], "every event delivered")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// tremorctl upgrade's own errors: no API there, a bad flag value, and a
// live upgrade asked of `run --api`, which cannot do one.
func TestUpgradeCLIErrors(t *testing.T) {
	addr := freeAddr(t)
	code, _, stderr := ctl(t, "upgrade", "--api", addr, "metronome")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is tremorctl serve running there? (--api HOST:PORT)")

	code, _, stderr = ctl(t, "upgrade", "--connect-timeout", "0s")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--connect-timeout 0s: use a positive duration")

	flowFile := filepath.Join(t.TempDir(), "m.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(refusedFlows), 0o644))
	p := startCtl(t, "run", "--api", addr, flowFile)
	p.waitLog("admin API listening")
	code, _, stderr = ctl(t, "upgrade", "--api", addr, "metronome")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "live upgrade is not available here: run the flow with tremorctl serve")
	p.signal(os.Interrupt)
	assert.Equal(t, 0, p.wait())

	// With a token: refused without it, answered with it.
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("s3cret-upgrade-token\n"), 0o600))
	s := startServe(t, "--api-token-file", tokenFile)
	code, _, stderr = s.upgradeCLI()
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "this request needs the API token")
	code, stdout, stderr := s.upgradeCLI("--api-token-file", tokenFile)
	assert.Equal(t, 0, code, "%s", stderr)
	assert.Contains(t, stdout, "nothing to upgrade")
	assert.NotContains(t, s.stderr.String()+stderr, "s3cret-upgrade-token", "the token is never logged")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// fullRateFlow is flow "fast": a bench source at full rate into a Rust
// sink and an isolated Go sink, as lines.
var fullRateFlow = newFlow("fast").
	Connector("src", Conn{Type: "bench_source", Codec: "binary", Pre: lineFraming, Config: cfg("count", 1000000000000, "size", 100)}).
	Connector("rs", Conn{Type: "bench_rs_sink", Codec: "binary", Post: lineFraming}).
	Connector("go", Conn{Type: "bench_go_sink", Codec: "binary", Isolation: "process", Post: lineFraming, Config: cfg("check", false)}).
	Chain("src", "p", "rs").
	Link("p", "go").
	TOML()

// The bench plugins at full rate (a C source, a Rust sink and an isolated
// Go sink, hundreds of thousands of events a second), each upgraded while
// events flow: no event lost or failed, none delivered twice (each sink
// delivered exactly what the source routed, every pulled event acked).
func TestUpgradeFullRate(t *testing.T) {
	newC := testenv.CBuild(t, "plugins/bench-c/bench.c", `TREMOR_PLUGIN_DEFINE("bench", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("bench", "0.2.0"`)
	newRust := testenv.RustBuild(t, "bench_rs-rs", "tremor_bench_rs", `version: "0.1.0"`, `version: "0.2.0"`)
	newGo := testenv.GoBuild(t, "bench_go-go", `Version:     "0.1.0"`, `Version:     "0.2.0"`)
	u := newUpgradeTree(t, "libtremor_bench.so", "libtremor_bench_rs.so", "libtremor_bench_go.so")
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"fast": fullRateFlow}))
	delivered := func() uint64 {
		f, ok := s.flow("fast")
		require.True(t, ok)
		return min(f.conn(t, "rs")[1], f.conn(t, "go")[1])
	}
	waitUntil(t, "events flow at full rate", func() bool { return delivered() > 100_000 })
	for _, st := range []struct{ plugin, file, built, conn string }{
		{"bench", "libtremor_bench.so", newC, "src"},
		{"bench_rs", "libtremor_bench_rs.so", newRust, "rs"},
		{"bench_go", "libtremor_bench_go.so", newGo, "go"},
	} {
		u.install(t, st.built, st.file)
		code, stdout, stderr := s.upgradeCLI(st.plugin)
		require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Contains(t, stdout, fmt.Sprintf("fast/%s: %s 0.1.0 -> 0.2.0", st.conn, st.plugin))
		t.Logf("tremorctl upgrade %s: %s", st.plugin, stdout)
		n := delivered()
		waitUntil(t, "events flow after upgrading "+st.plugin, func() bool { return delivered() > n+100_000 })
	}
	final := s.deleteFlow("fast")
	src, rs, gosink := final.conn(t, "src"), final.conn(t, "rs"), final.conn(t, "go")
	assert.Equal(t, src[0], src[3], "source: acks == events pulled")
	assert.Zero(t, src[4]+rs[4]+gosink[4], "nothing failed")
	assert.Zero(t, src[2]+rs[2]+gosink[2], "no errors")
	assert.Equal(t, src[1], rs[1], "Rust sink: delivered what the source routed")
	assert.Equal(t, src[1], gosink[1], "Go sink: delivered what the source routed")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// A sink whose sends are slow (so they are pipelined: one is under way
// while the next batch is encoded) is upgraded mid-stream, together with
// the source from the same plugin file: the send under way lands on the
// old instance first, and once the flow is stopped every event was
// delivered and acked, none failed.
func TestUpgradePipelinedSink(t *testing.T) {
	newBench := testenv.CBuild(t, "plugins/bench-c/bench.c", `TREMOR_PLUGIN_DEFINE("bench", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("bench", "0.2.0"`)
	u := newUpgradeTree(t, "libtremor_bench.so")
	slow := upFlow("slow", "src", benchEvents("string", 1000000, 64),
		"dst", Conn{Type: "bench_sink", Codec: "string", Isolation: "process", Config: cfg("send_delay_us", 500)})
	s := startServeBin(t, u.bin, "--log-level", "debug", upFailFlows(t, map[string]string{"slow": slow}))
	s.waitLog(`"connector":"dst"`, "sends are slow: the next batch is encoded while the plugin sends")
	u.install(t, newBench, "libtremor_bench.so")
	code, stdout, stderr := s.upgradeCLI("bench")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s\nserve:\n%s", stdout, stderr, lastLines(s.stderr.String(), 20))
	assert.Contains(t, stdout, "slow/dst: bench 0.1.0 -> 0.2.0")
	f, _ := s.flow("slow")
	after := f.conn(t, "dst")[1]
	waitUntil(t, "events flow to the new sink", func() bool {
		f, _ := s.flow("slow")
		return f.conn(t, "dst")[1] > after+1000
	})

	final := s.deleteFlow("slow")
	assert.Empty(t, final.Error)
	src, sink := final.conn(t, "src"), final.conn(t, "dst")
	assert.Equal(t, src[0], src[3], "source: acks == events")
	assert.Zero(t, src[4]+sink[4], "nothing failed")
	assert.Equal(t, src[0], sink[1], "every event delivered")
	assert.NotContains(t, s.stderr.String(), "a send is under way", "the send under way ended before the old sink drained")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}
