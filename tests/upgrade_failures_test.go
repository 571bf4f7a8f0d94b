package tests

// Live plugin upgrades whose new build fails: at creation, at start (before
// and after the switch point), or that the host refuses (a connector that
// is both a source and a sink, a connector type that moved to another
// plugin), and a refusal in the second of two flows. What the operator sees
// (tremorctl upgrade's exit status and message, the flow's state) and
// that no event is lost. Helpers of upgrade_test.go are reused.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

const (
	upFailMetronomeC   = "plugins/metronome-c/metronome.c"
	upFailMetronomeDef = `TREMOR_PLUGIN_DEFINE("metronome", "0.1.0"`
	upFailMetronomeV2  = `TREMOR_PLUGIN_DEFINE("metronome", "0.2.0"`
)

// fixtureEchoJSON is the fixture's echo with JSON events: a sink of what
// it is sent and, where a link leaves it, a source of the same again.
var fixtureEchoJSON = Conn{Type: "fixture_echo", Codec: "json"}

// upFailBidiFlow uses the fixture's echo as a sink (of the ticks) and as a
// source (of what it was sent): one connector, both roles.
var upFailBidiFlow = newFlow("bi").Batch(16).
	Connector("ticks", metronomeConn(0)).
	Connector("echo", fixtureEchoJSON).
	Connector("sink", benchSink("json")).
	Chain("ticks", "in", "echo").
	Chain("echo", "out", "sink").
	TOML()

// upFailFlows writes the flow files (name -> text) into a new directory
// and returns it.
func upFailFlows(t *testing.T, flows map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "flows")
	require.NoError(t, os.Mkdir(dir, 0o755))
	for name, text := range flows {
		writeFlow(t, dir, name+".toml", text)
	}
	return dir
}

// upFailDelivered is what the connector "sink" of flow name delivered.
func upFailDelivered(s *servedCtl, name string) uint64 {
	s.t.Helper()
	f, ok := s.flow(name)
	require.True(s.t, ok, "flow %q is there", name)
	return f.conn(s.t, "sink")[1]
}

// upFailKeepDelivering waits until every flow of names has delivered n more
// events to its sink.
func upFailKeepDelivering(t *testing.T, s *servedCtl, n uint64, names ...string) {
	t.Helper()
	before := map[string]uint64{}
	for _, name := range names {
		before[name] = upFailDelivered(s, name)
	}
	waitUntil(t, fmt.Sprintf("flows %v keep delivering", names), func() bool {
		for _, name := range names {
			if upFailDelivered(s, name) < before[name]+n {
				return false
			}
		}
		return true
	})
}

// upFailAllBuilds is every connector's build (version, sha256) in each
// flow of names, by "flow/connector".
func upFailAllBuilds(s *servedCtl, names ...string) map[string][2]string {
	s.t.Helper()
	out := map[string][2]string{}
	for _, name := range names {
		for conn, b := range s.apiBuilds(name) {
			out[name+"/"+conn] = b
		}
	}
	return out
}

// Upgrades refused before anything switched: the new build cannot be
// created with the flow's config, the new sink cannot start (both rolled
// back after Prepare), a connector that is both a source and a sink, and a
// connector type that now comes from another plugin (refused by the plan).
// Each exits 1 naming the flow, the connector and the reason; every
// connector of every flow keeps its build and keeps delivering, and in the
// end every event was delivered and acked, none failed.
func TestUpgradeFailRefused(t *testing.T) {
	createFails := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, upFailMetronomeV2,
		"  if (rc != TREMOR_OK) return rc;\n  /* The upper bound",
		"  if (rc == TREMOR_OK && interval_ms < 5)\n"+
			"    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG, \"interval_ms %\" PRIu64 \" is below the 5 ms that 0.2.0 can keep\", interval_ms);\n"+
			"  if (rc != TREMOR_OK) return rc;\n  /* The upper bound")
	moved := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, `TREMOR_PLUGIN_DEFINE("metronome_ng", "0.2.0"`)
	sinkStartFails := testenv.CBuild(t, "plugins/bench-c/bench.c",
		`TREMOR_PLUGIN_DEFINE("bench", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("bench", "0.2.0"`,
		"static void bench_destroy(void *instance) { free(instance); }",
		"static void bench_destroy(void *instance) { free(instance); }\n"+
			"static int32_t sink_start(void *instance, tremor_error *err) {\n"+
			"  (void)instance;\n"+
			"  return tremor_pdk_fail(err, TREMOR_ERR_FAILED, \"0.2.0 cannot open its output\");\n"+
			"}",
		"    .on_stop = sink_stop,\n    .on_send = sink_send,",
		"    .on_start = sink_start,\n    .on_stop = sink_stop,\n    .on_send = sink_send,")
	fixtureNext := testenv.CBuild(t, "tests/fixtures/fixture.c", `.version = "0.1.0"`, `.version = "0.2.0"`)

	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so")
	fixture := testenv.Fixture(t, "fixture")
	u.install(t, fixture, "libtremor_fixture.so")
	names := []string{"m", "e", "bi"}
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"m": refusedFlows, "e": echoSourceFlow("e"), "bi": upFailBidiFlow}))
	waitUntil(t, "the flows deliver", func() bool {
		return upFailDelivered(s, "m") > 50 && upFailDelivered(s, "e") > 50 && upFailDelivered(s, "bi") > 50
	})
	builds := upFailAllBuilds(s, names...)
	for conn, b := range builds {
		require.Equal(t, "0.1.0", b[0], "%s runs 0.1.0", conn)
	}
	original := map[string]string{
		"libtremor_metronome.so": testenv.Plugin(t, "libtremor_metronome.so"),
		"libtremor_bench.so":     testenv.Plugin(t, "libtremor_bench.so"),
		"libtremor_fixture.so":   fixture,
	}

	cases := []struct {
		name, plugin, built, file string
		msgs                      []string
		rolledBack                bool
	}{
		{"new build refuses the config at creation", "metronome", createFails, "libtremor_metronome.so",
			[]string{`connector "ticks" (type metronome)`, "upgrade to metronome 0.2.0", "rolled back, metronome 0.1.0",
				"keeps running", "the new version could not be created", "interval_ms 1 is below the 5 ms that 0.2.0 can keep"}, true},
		{"new sink cannot start", "bench", sinkStartFails, "libtremor_bench.so",
			[]string{`connector "sink" (type bench_sink)`, "upgrade to bench 0.2.0", "rolled back, bench 0.1.0",
				"the new version could not start", "0.2.0 cannot open its output"}, true},
		{"connector is both source and sink", "fixture", fixtureNext, "libtremor_fixture.so",
			[]string{`flow "bi"`, `connector "echo" (type fixture_echo)`, "upgrade from fixture 0.1.0",
				`connector "echo" is both a source and a sink`, "redeploy the flow instead"}, false},
		{"connector type moved to another plugin", "metronome", moved, "libtremor_metronome.so",
			[]string{`flow "m"`, `flow "bi"`, `connector "ticks" (type metronome)`, "upgrade from metronome 0.1.0",
				`connector type "metronome" now comes from plugin "metronome_ng"`, `not "metronome"`}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u.install(t, c.built, c.file)
			defer u.install(t, original[c.file], c.file)
			refusedLine := []string{`"plugin upgrade refused"`, `"plugin":"` + c.plugin + `"`, fmt.Sprintf(`"rolled_back":%t`, c.rolledBack)}
			refusals := logLines(s.stderr.String(), refusedLine...)
			code, stdout, stderr := s.upgradeCLI(c.plugin)
			t.Logf("tremorctl upgrade %s:\n%s", c.plugin, stderr)
			assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Empty(t, stdout, "nothing is reported as upgraded")
			assert.Contains(t, stderr, "upgrade refused; nothing changed, the running versions keep going")
			for _, m := range c.msgs {
				assert.Contains(t, stderr, m)
			}
			if c.rolledBack {
				assert.Contains(t, stderr, "(rolled back: the new instances were destroyed, the old ones never stopped)")
			} else {
				assert.NotContains(t, stderr, "rolled back")
			}
			noCrash(t, stderr)
			waitUntil(t, "serve logs the refusal", func() bool {
				return logLines(s.stderr.String(), refusedLine...) > refusals
			})
			assert.Equal(t, builds, upFailAllBuilds(s, names...), "every connector of every flow keeps its build")
			upFailKeepDelivering(t, s, 50, names...)
		})
	}

	for _, name := range []string{"m", "e"} {
		final := s.deleteFlow(name)
		assert.Empty(t, final.Error)
		src := final.Connectors[0].Connector
		in, sink := final.conn(t, src), final.conn(t, "sink")
		assert.Equal(t, in[0], in[3], "%s: acks == events pulled", name)
		assert.Zero(t, in[4]+sink[4], "%s: nothing failed", name)
		assert.Equal(t, in[0], sink[1], "%s: every event delivered", name)
	}
	// The echo holds what it was sent until it is pulled: the ticks are
	// all acked by it, and the sink delivered every event the echo's source
	// got acked.
	final := s.deleteFlow("bi")
	assert.Empty(t, final.Error)
	ticks, echo, sink := final.conn(t, "ticks"), final.conn(t, "echo"), final.conn(t, "sink")
	assert.Equal(t, ticks[0], ticks[3], "bi: every tick acked")
	assert.Zero(t, ticks[4]+echo[4]+sink[4], "bi: nothing failed")
	assert.Equal(t, echo[3], sink[1], "bi: the sink delivered every event the echo emitted and got acked")
	assert.NotZero(t, sink[1])
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// A source's new build is started only once the old one is drained and
// stopped (so that it resumes from what the old one got acked): when that
// start fails, the old instance is already gone and the source gives up.
// The operator must learn that from tremorctl upgrade (exit 1, the
// connector, the reason, and that the flow stopped), the flow must show
// the failure, its events are all accounted for (every one pulled was
// delivered and acked before the switch), and the other flows go on.
func TestUpgradeFailSourceStart(t *testing.T) {
	metronomeStartFails := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, upFailMetronomeV2,
		"  (void)err;\n  m->next_tick = clock_ns(CLOCK_MONOTONIC);\n  return TREMOR_OK;",
		"  (void)m;\n  return tremor_pdk_fail(err, TREMOR_ERR_FAILED, \"the 0.2.0 clock cannot start\");")
	echoStartFails := testenv.CBuild(t, "tests/fixtures/fixture.c", `.version = "0.1.0"`, `.version = "0.2.0"`,
		"  echo *e = instance;\n  if (e->log_thread) {",
		"  echo *e = instance;\n  if (e) return fail(err, TREMOR_ERR_FAILED, \"the 0.2.0 echo cannot start\");\n  if (e->log_thread) {")

	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so")
	u.install(t, testenv.Fixture(t, "fixture"), "libtremor_fixture.so")
	keeps := upFlow("keeps", "ticks", benchEvents("string", 1000000000000, 64), // uses neither plugin upgraded
		"sink", Conn{Type: "bench_sink", Codec: "string", Config: cfg("send_delay_us", 1000)})
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"m": refusedFlows, "e": echoSourceFlow("e"), "keeps": keeps}))
	waitUntil(t, "the flows deliver", func() bool {
		return upFailDelivered(s, "m") > 50 && upFailDelivered(s, "e") > 50 && upFailDelivered(s, "keeps") > 50
	})

	var misleading []string
	for _, c := range []struct {
		flow, conn, plugin, file, built, reason string
	}{
		{"m", "ticks", "metronome", "libtremor_metronome.so", metronomeStartFails, "the 0.2.0 clock cannot start"},
		{"e", "echo", "fixture", "libtremor_fixture.so", echoStartFails, "the 0.2.0 echo cannot start"},
	} {
		t.Run(c.flow, func(t *testing.T) {
			u.install(t, c.built, c.file)
			code, stdout, stderr := s.upgradeCLI(c.plugin)
			t.Logf("tremorctl upgrade %s: exit %d\nstdout:\n%s\nstderr:\n%s", c.plugin, code, stdout, stderr)
			out := stdout + stderr
			assert.Equal(t, 1, code, "the upgrade did not succeed")
			assert.Contains(t, out, c.flow+"/"+c.conn+":")
			assert.Contains(t, out, "the new version could not start")
			assert.Contains(t, out, c.reason)
			noCrash(t, out)

			// The source gave up for good: the flow ends, failed, saying why.
			waitUntil(t, "the flow ends", func() bool {
				f, ok := s.flow(c.flow)
				require.True(t, ok)
				return f.State != "running"
			})
			f, _ := s.flow(c.flow)
			assert.Equal(t, "failed", f.State)
			assert.Contains(t, f.Error, fmt.Sprintf("connector %q", c.conn))
			assert.Contains(t, f.Error, c.reason)
			s.waitLog(`"source gave up"`, `"flow":"`+c.flow+`"`, c.reason)
			assert.Equal(t, "0.2.0", s.apiBuilds(c.flow)[c.conn][0], "the API shows the build the connector switched to")

			// Every event pulled before the switch was delivered and acked.
			src, sink := f.conn(t, c.conn), f.conn(t, "sink")
			assert.NotZero(t, src[0])
			assert.Equal(t, src[0], src[3]+src[4], "%s: every event pulled is settled (acked or failed back)", c.flow)
			assert.Zero(t, src[4]+sink[4], "%s: nothing failed", c.flow)
			assert.Equal(t, src[3], sink[1], "%s: every acked event was delivered", c.flow)
			assert.Equal(t, src[0], sink[1], "%s: every event delivered", c.flow)

			// Nothing of this flow is left to upgrade.
			code, _, stderr = s.upgradeCLI(c.plugin)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, fmt.Sprintf("plugin %q: no running connector uses this plugin", c.plugin))

			// What the operator should read: the connector did switch (its
			// old instance is stopped and destroyed) and its flow stopped.
			// "not switched" says the opposite.
			if strings.Contains(out, "not switched") || !regexp.MustCompile(`(?i)flow[^\n]*(stopped|failed|gave up)|(stopped|failed|gave up)[^\n]*flow`).MatchString(out) {
				misleading = append(misleading, fmt.Sprintf("%s: %q", c.flow, strings.TrimSpace(out)))
			}
		})
	}

	// The flow that uses neither plugin was never touched.
	upFailKeepDelivering(t, s, 50, "keeps")
	final := s.deleteFlow("keeps")
	src, sink := final.conn(t, "ticks"), final.conn(t, "sink")
	assert.Equal(t, src[0], src[3], "keeps: acks == events")
	assert.Zero(t, src[4]+sink[4], "keeps: nothing failed")
	assert.Equal(t, src[0], sink[1], "keeps: every event delivered")
	for _, name := range []string{"m", "e"} {
		s.deleteFlow(name)
	}
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
	assert.Empty(t, misleading, "after a switch, upgrade says the connector switched and its flow failed, never \"not switched\"")
}

// Two flows use the plugin; the new build takes the first flow's config
// but refuses the second's at creation. Nothing changes in either flow,
// and the instances already prepared for the first flow are destroyed
// (the new build logs each creation and destruction). Which flow is
// prepared first is not fixed, so the upgrade is tried until the first
// flow's new instance was created at least once.
func TestUpgradeFailSecondFlow(t *testing.T) {
	v2 := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, upFailMetronomeV2,
		"  if (interval_ms == 0 || interval_ms > UINT32_MAX)",
		"  if (interval_ms == 2)\n"+
			"    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG, \"interval_ms = 2 is no longer supported by 0.2.0\");\n"+
			"  if (interval_ms == 0 || interval_ms > UINT32_MAX)",
		"  *instance = m;\n  return TREMOR_OK;",
		"  *instance = m;\n  tremor_log(&m->host, TREMOR_LOG_INFO, \"v2 instance created\");\n  return TREMOR_OK;",
		"static void metronome_destroy(void *instance) { free(instance); }",
		"static void metronome_destroy(void *instance) {\n"+
			"  tremor_log(&((metronome *)instance)->host, TREMOR_LOG_INFO, \"v2 instance destroyed\");\n"+
			"  free(instance);\n}")
	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so")
	names := []string{"a", "b"}
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{
		"a": ticksFlow("a", 1),
		"b": ticksFlow("b", 2),
	}))
	waitUntil(t, "both flows deliver", func() bool { return upFailDelivered(s, "a") > 50 && upFailDelivered(s, "b") > 50 })
	builds := upFailAllBuilds(s, names...)
	u.install(t, v2, "libtremor_metronome.so")

	created := func(flow string) int {
		return logLines(s.stderr.String(), `"flow":"`+flow+`"`, `"v2 instance created"`)
	}
	destroyed := func(flow string) int {
		return logLines(s.stderr.String(), `"flow":"`+flow+`"`, `"v2 instance destroyed"`)
	}
	const attempts = 30 // flow b first every time: one chance in 2^30
	for i := 1; i <= attempts && created("a") == 0; i++ {
		code, stdout, stderr := s.upgradeCLI("metronome")
		t.Logf("attempt %d: tremorctl upgrade metronome: exit %d\n%s", i, code, stderr)
		assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		assert.Empty(t, stdout)
		for _, m := range []string{
			"upgrade refused; nothing changed, the running versions keep going",
			`flow "b"`, `connector "ticks" (type metronome)`, "upgrade to metronome 0.2.0", "rolled back, metronome 0.1.0",
			"the new version could not be created", "interval_ms = 2 is no longer supported by 0.2.0",
			"(rolled back: the new instances were destroyed, the old ones never stopped)",
		} {
			assert.Contains(t, stderr, m)
		}
		assert.NotContains(t, stderr, `flow "a"`, "the first flow's config validates and its new instance was created")
		noCrash(t, stderr)
		waitUntil(t, "serve logs the refusal", func() bool {
			return logLines(s.stderr.String(), `"plugin upgrade refused"`, `"rolled_back":true`) >= i
		})
	}
	t.Logf("new instances of flow a created %d, destroyed %d", created("a"), destroyed("a"))
	require.NotZero(t, created("a"), "flow b was prepared first in all %d attempts: the abort of flow a's prepared instances was not exercised", attempts)
	// Flow a's prepared instances were destroyed, not leaked; b's were
	// never created.
	waitUntil(t, "every instance of the new build is destroyed", func() bool { return destroyed("a") == created("a") })
	assert.Zero(t, created("b"), "flow b's new instance was refused at creation")
	assert.Zero(t, destroyed("b"))
	assert.Equal(t, builds, upFailAllBuilds(s, names...), "both flows keep the old build")
	upFailKeepDelivering(t, s, 50, names...)

	for _, name := range names {
		final := s.deleteFlow(name)
		assert.Empty(t, final.Error)
		ticks, sink := final.conn(t, "ticks"), final.conn(t, "sink")
		assert.Equal(t, ticks[0], ticks[3], "%s: acks == events", name)
		assert.Zero(t, ticks[4]+sink[4], "%s: nothing failed", name)
		assert.Equal(t, ticks[0], sink[1], "%s: every event delivered", name)
	}
	// Deleting the flows destroyed only old instances.
	assert.Equal(t, created("a"), destroyed("a"))
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}
