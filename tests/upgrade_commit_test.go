package tests

// Live upgrades whose commit does not go as planned once every new
// instance is prepared: a connector that is reconnecting does not come to
// a switch point in time, a connector whose flow ends (or whose source
// already ended) while the upgrade commits, a sink that has given up, and
// old instances whose drain or stop fails, hangs, or whose in-flight
// events outlive the drain timeout. What
// tremorctl upgrade says (exit status, message), what runs afterwards
// (GET /api/flows), and that every event is accounted for. Helpers of
// upgrade_test.go and upgrade_failures_test.go are reused.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

const (
	upCommitFixtureC   = "tests/fixtures/fixture.c"
	upCommitFixtureDef = `.version = "0.1.0"`
)

// upCommitFixtureNext is the fixture as it is, as version 0.2.0.
func upCommitFixtureNext(t *testing.T) string {
	t.Helper()
	return testenv.CBuild(t, upCommitFixtureC, upCommitFixtureDef, `.version = "0.2.0"`)
}

// upCommitFlakyFixture is the fixture 0.1.0 talking to a "server" that is
// up while the file up exists: while it does not, fixture_echo's connect
// answers RETRY ("server down"), its pull and its send answer
// DISCONNECTED (a send marks its events RETRY first, as a well-behaved
// sink does). Its echo queue is large, so that as a sink only it never
// fills during a test.
func upCommitFlakyFixture(t *testing.T, up string) string {
	t.Helper()
	require.NotContains(t, up, `"`)
	return testenv.CBuild(t, upCommitFixtureC,
		"#include <string.h>\n", "#include <string.h>\n#include <unistd.h>\n",
		"#include <tremor/plugin.h>\n", "#include <tremor/plugin.h>\n#define UPCOMMIT_DOWN() (access(\""+up+"\", F_OK) != 0)\n",
		"e->q_cap = 1 << 20;", "e->q_cap = 1 << 26;",
		"  echo *e = instance;\n  if (attempt <= e->retry_connects) {",
		"  echo *e = instance;\n  if (UPCOMMIT_DOWN()) return fail(err, TREMOR_RETRY, \"server down\");\n  if (attempt <= e->retry_connects) {",
		"  e->pulls++;\n",
		"  e->pulls++;\n  if (UPCOMMIT_DOWN()) return fail(err, TREMOR_ERR_DISCONNECTED, \"server went away\");\n",
		"  echo *e = instance;\n  if (strcmp(e->misbehave, \"send_modifies\") == 0) {",
		"  echo *e = instance;\n  if (UPCOMMIT_DOWN()) {\n"+
			"    for (uint64_t i = 0; i < b->events_len; i++) outcomes[i] = TREMOR_OUTCOME_RETRY;\n"+
			"    return fail(err, TREMOR_ERR_DISCONNECTED, \"server went away\");\n  }\n"+
			"  if (strcmp(e->misbehave, \"send_modifies\") == 0) {")
}

// upCommitConnected says whether GET /api/flows/FLOW shows conn connected.
func upCommitConnected(s *servedCtl, flow, conn string) bool {
	s.t.Helper()
	f, ok := s.flow(flow)
	require.True(s.t, ok, "flow %q is there", flow)
	for _, c := range f.Connectors {
		if c.Connector == conn {
			return c.Connected
		}
	}
	s.t.Fatalf("flow %q has no connector %q", flow, conn)
	return false
}

// upCommitTouch creates an empty file; upCommitRemove removes it.
func upCommitTouch(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, nil, 0o644))
}

func upCommitRemove(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.Remove(path))
}

// upCommitSinkFlow is a flow NAME of a metronome ticking every millisecond
// into the connector "out" of type fixture_echo (a sink only here).
func upCommitSinkFlow(name string) string {
	return upFlow(name, "ticks", metronomeConn(0), "out", fixtureEchoJSON)
}

// A sink whose server went away is reconnecting (default reconnect
// policy) when the upgrade commits; the new build, prepared meanwhile,
// connected (the flaky 0.1.0 sees its "server" through a file, 0.2.0
// connects at once: with one real server down, the new build could not
// connect either and the upgrade would be rolled back). The sink never comes to a point where it could switch within
// the upgrade's timeout: tremorctl upgrade exits 1 with "not switched" and
// why, the old build keeps running (and reconnecting), and once the server
// is back it delivers every event held meanwhile; a second upgrade then
// switches. In the end every tick was delivered and acked once.
func TestUpgradeCommitReconnecting(t *testing.T) {
	up := filepath.Join(t.TempDir(), "up")
	flaky := upCommitFlakyFixture(t, up)
	next := upCommitFixtureNext(t)
	u := newUpgradeTree(t, "libtremor_metronome.so")
	u.install(t, flaky, "libtremor_fixture.so")
	upCommitTouch(t, up)
	s := startServeBin(t, u.bin, upFailFlows(t, map[string]string{"rc": upCommitSinkFlow("rc")}))
	delivered := func() uint64 {
		f, ok := s.flow("rc")
		require.True(t, ok)
		return f.conn(t, "out")[1]
	}
	waitUntil(t, "events flow", func() bool { return delivered() > 100 })
	old := s.apiBuilds("rc")["out"]
	require.Equal(t, "0.1.0", old[0])

	upCommitRemove(t, up)
	waitUntil(t, "the sink lost its server", func() bool { return !upCommitConnected(s, "rc", "out") })
	u.install(t, next, "libtremor_fixture.so")
	code, stdout, stderr := s.upgradeCLI("--connect-timeout", "2s", "fixture")
	t.Logf("tremorctl upgrade fixture: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	assert.Equal(t, 1, code, "the connector was not upgraded")
	for _, m := range []string{
		"rc/out: not switched:", `flow "rc"`, `connector "out" (type fixture_echo)`,
		"did not come to a point where it could switch within 2s", "it keeps fixture 0.1.0",
	} {
		assert.Contains(t, stdout, m)
	}
	assert.NotContains(t, stdout, "-> 0.2.0")
	noCrash(t, stdout+stderr)
	// serve logs the outcome as an error.
	var logged string
	waitUntil(t, "serve logs the outcome", func() bool {
		for _, l := range strings.Split(s.stderr.String(), "\n") {
			if strings.Contains(l, `"connector":"out"`) && strings.Contains(l, "did not come to a point where it could switch") {
				logged = l
				return true
			}
		}
		return false
	})
	t.Logf("serve logged: %s", logged)
	assert.Contains(t, logged, `"level":"error"`)
	assert.Equal(t, old, s.apiBuilds("rc")["out"], "the old build keeps running")
	assert.False(t, upCommitConnected(s, "rc", "out"), "and keeps reconnecting")

	// The server comes back: the old build reconnects and delivers.
	n := delivered()
	upCommitTouch(t, up)
	waitUntil(t, "the old build reconnects and delivers", func() bool {
		return upCommitConnected(s, "rc", "out") && delivered() > n+100
	})
	code, stdout, stderr = s.upgradeCLI("fixture")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "rc/out: fixture 0.1.0 -> 0.2.0")
	assert.Equal(t, [2]string{"0.2.0", sha256File(t, next)}, s.apiBuilds("rc")["out"])
	n = delivered()
	waitUntil(t, "the new build delivers", func() bool { return delivered() > n+100 })

	final := s.deleteFlow("rc")
	assert.Empty(t, final.Error)
	ticks, out := final.conn(t, "ticks"), final.conn(t, "out")
	assert.Equal(t, ticks[0], ticks[3], "acks == ticks")
	assert.Zero(t, ticks[4]+out[4], "nothing failed")
	assert.Equal(t, ticks[0], out[1], "every tick delivered once")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
	assert.NotContains(t, logged, `"message":"plugin upgraded"`, "a connector that kept 0.1.0 is not logged as upgraded")
	assert.Contains(t, logged, `"message":"plugin upgrade: not switched; the old version keeps running"`)
}

// upCommitEndingFlows: "fe", the fixture's echo as a source (of its
// generated events) into a bench sink; "fin", a metronome of 100 ticks and
// an endless bench source into one bench sink, so that the flow keeps
// running once the metronome has finished.
var upCommitEndingFlows = map[string]string{
	"fe": echoSourceFlow("fe"),
	"fin": newFlow("fin").Batch(16).
		Connector("ticks", metronomeConn(100)).
		Connector("more", benchEvents("json", 1000000000000, 64)).
		Connector("sink", benchSink("json")).
		Pipeline("p").
		Link("ticks", "p").
		Link("more", "p").
		Link("p", "sink").
		TOML(),
}

// A connector whose role has ended by the time the upgrade commits keeps
// its old instance, and tremorctl upgrade says so (exit 1, "not
// switched"): (1) the flow is deleted while the upgrade waits for its
// source, which is reconnecting (so the source's loop ends before it takes
// the switch; no sleep decides the order); (2) the source has finished
// while its flow keeps running on another source. In both, every event was
// delivered and acked once.
func TestUpgradeCommitFlowEnding(t *testing.T) {
	up := filepath.Join(t.TempDir(), "up")
	flaky := upCommitFlakyFixture(t, up)
	nextFixture := upCommitFixtureNext(t)
	nextMetronome := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, upFailMetronomeV2)
	u := newUpgradeTree(t, "libtremor_metronome.so", "libtremor_bench.so")
	u.install(t, flaky, "libtremor_fixture.so")
	upCommitTouch(t, up)
	s := startServeBin(t, u.bin, upFailFlows(t, upCommitEndingFlows))
	waitUntil(t, "both flows deliver", func() bool { return upFailDelivered(s, "fe") > 50 && upFailDelivered(s, "fin") > 50 })

	t.Run("flow deleted during the commit", func(t *testing.T) {
		upCommitRemove(t, up)
		waitUntil(t, "the echo source lost its server", func() bool { return !upCommitConnected(s, "fe", "echo") })
		created := func() int { return logLines(s.stderr.String(), `"flow":"fe"`, "created echo with count=") }
		before := created()
		u.install(t, nextFixture, "libtremor_fixture.so")
		p := startCtl(t, "upgrade", "--api", strings.TrimPrefix(s.base, "http://"), "--connect-timeout", "5m", "fixture")
		// The new instance is created (and then connects) while the old one
		// keeps reconnecting: the commit waits for it.
		waitUntil(t, "the new build's instance is prepared", func() bool { return created() > before })
		final := s.deleteFlow("fe")
		code := p.wait()
		stdout, stderr := p.stdout.String(), p.stderr.String()
		t.Logf("tremorctl upgrade fixture: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		assert.Equal(t, 1, code)
		for _, m := range []string{"fe/echo: not switched:", `connector "echo" (type fixture_echo)`,
			"the connector has stopped (its source ended, or its flow is ending): nothing to switch"} {
			assert.Contains(t, stdout, m)
		}
		noCrash(t, stdout+stderr)
		echo, sink := final.conn(t, "echo"), final.conn(t, "sink")
		t.Logf("fe as deleted: state %s, error %q, echo %v, sink %v", final.State, final.Error, echo, sink)
		assert.Contains(t, final.Error, "was reconnecting when the flow stopped", "the flow says its source was reconnecting")
		assert.NotZero(t, echo[0])
		assert.Equal(t, echo[0], echo[3], "acks == events pulled")
		assert.Zero(t, echo[4]+sink[4], "nothing failed")
		assert.Equal(t, echo[0], sink[1], "every event delivered")
		_, ok := s.flow("fe")
		assert.False(t, ok, "the flow is gone")
	})

	t.Run("source already finished", func(t *testing.T) {
		s.waitLog(`"flow":"fin"`, `"connector":"ticks"`, "source finished")
		u.install(t, nextMetronome, "libtremor_metronome.so")
		code, stdout, stderr := s.upgradeCLI("metronome")
		t.Logf("tremorctl upgrade metronome: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		assert.Equal(t, 1, code)
		assert.Contains(t, stdout, "fin/ticks: not switched:")
		assert.Contains(t, stdout, "the connector has stopped (its source ended, or its flow is ending): nothing to switch")
		noCrash(t, stdout+stderr)
		f, _ := s.flow("fin")
		assert.Equal(t, "running", f.State, "the flow goes on with its other source")
		assert.Equal(t, "0.1.0", s.apiBuilds("fin")["ticks"][0])
		upFailKeepDelivering(t, s, 1000, "fin")

		final := s.deleteFlow("fin")
		assert.Empty(t, final.Error)
		ticks, more, sink := final.conn(t, "ticks"), final.conn(t, "more"), final.conn(t, "sink")
		assert.Equal(t, uint64(100), ticks[0], "the metronome emitted its 100 ticks")
		assert.Equal(t, ticks[0], ticks[3], "ticks: acks == events")
		assert.Equal(t, more[0], more[3], "more: acks == events")
		assert.Zero(t, ticks[4]+more[4]+sink[4], "nothing failed")
		assert.Equal(t, ticks[0]+more[0], sink[1], "every event delivered")
		assert.Contains(t, stdout, "the connector has stopped (its source ended, or its flow is ending): nothing to switch",
			"a finished source in a running flow is not said to be in an ending flow")
	})
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// upCommitFailingMetronome is metronome 0.1.0 whose on_drain and on_stop
// fail.
func upCommitFailingMetronome(t *testing.T) string {
	t.Helper()
	return testenv.CBuild(t, upFailMetronomeC,
		"m->next_id, m->acked, m->failed);\n  return TREMOR_OK;",
		"m->next_id, m->acked, m->failed);\n  return tremor_pdk_fail(err, TREMOR_ERR_FAILED, \"0.1.0 stop: could not save its position\");",
		"static const tremor_config_field metronome_fields[] = {",
		"static int32_t metronome_drain(void *instance, tremor_error *err) {\n"+
			"  (void)instance;\n"+
			"  return tremor_pdk_fail(err, TREMOR_ERR_FAILED, \"0.1.0 drain: could not flush its clock\");\n}\n\n"+
			"static const tremor_config_field metronome_fields[] = {",
		"    .on_stop = metronome_stop,\n", "    .on_stop = metronome_stop,\n    .on_drain = metronome_drain,\n")
}

// upCommitStallingBench is bench 0.1.0 whose bench_sink named "held" does
// not return from a send while the file stall exists (it logs "held: send
// stalled" once); with failHooks, bench_sink's on_drain and on_stop fail.
func upCommitStallingBench(t *testing.T, stall string, failHooks bool) string {
	t.Helper()
	require.NotContains(t, stall, `"`)
	edits := []string{
		"#include <time.h>\n", "#include <time.h>\n#include <unistd.h>\n",
		"  uint64_t first_ns, last_ns; /* start of the first send, end of the last */\n",
		"  uint64_t first_ns, last_ns; /* start of the first send, end of the last */\n  int held, stalled;\n",
		"  s->send_delay_us = delay;\n",
		"  s->send_delay_us = delay;\n  s->held = args->alias_len == 4 && memcmp(args->alias, \"held\", 4) == 0;\n",
		"  if (s->batches == 0) s->first_ns = mono_ns();",
		"  while (s->held && access(\"" + stall + "\", F_OK) == 0) {\n" +
			"    if (!s->stalled) tremor_log(&s->host, TREMOR_LOG_INFO, \"held: send stalled\");\n" +
			"    s->stalled = 1;\n" +
			"    struct timespec w = {0, 1000000};\n" +
			"    nanosleep(&w, NULL);\n  }\n" +
			"  if (s->batches == 0) s->first_ns = mono_ns();",
	}
	if failHooks {
		edits = append(edits,
			"s->events, s->bytes, s->batches, secs, rate, mib, s->invalid);\n  return TREMOR_OK;",
			"s->events, s->bytes, s->batches, secs, rate, mib, s->invalid);\n"+
				"  return tremor_pdk_fail(err, TREMOR_ERR_FAILED, \"0.1.0 sink stop: could not close its output\");",
			"static void bench_destroy(void *instance) { free(instance); }",
			"static int32_t sink_drain(void *instance, tremor_error *err) {\n"+
				"  (void)instance;\n"+
				"  return tremor_pdk_fail(err, TREMOR_ERR_FAILED, \"0.1.0 sink drain: could not flush its output\");\n}\n"+
				"static void bench_destroy(void *instance) { free(instance); }",
			"    .on_stop = sink_stop,\n    .on_send = sink_send,",
			"    .on_stop = sink_stop,\n    .on_drain = sink_drain,\n    .on_send = sink_send,")
	}
	return testenv.CBuild(t, "plugins/bench-c/bench.c", edits...)
}

// Old instances that misbehave while they are replaced: the old
// metronome's and the old bench sink's on_drain and on_stop fail, and in
// flow "dt" the only tick of the old metronome is stuck in a sink's send
// for longer than the drain timeout (2s). Each upgrade still completes
// (exit 0, every connector switched); each failure is logged as a warning
// naming the flow, the connector and the plugin's reason; the stuck tick
// is failed back to the old metronome, which tremorctl upgrade reports
// ("1 failed back"). Flow "df" delivers and acks every tick once; in "dt"
// every tick is settled once (the one failed back was still delivered
// once the sink came unstuck: at-least-once).
func TestUpgradeCommitOldInstanceMisbehaves(t *testing.T) {
	stall := filepath.Join(t.TempDir(), "stall")
	oldMetronome, oldBench := upCommitFailingMetronome(t), upCommitStallingBench(t, stall, true)
	nextMetronome := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, upFailMetronomeV2)
	nextBench := testenv.CBuild(t, "plugins/bench-c/bench.c", `TREMOR_PLUGIN_DEFINE("bench", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("bench", "0.2.0"`)
	u := newUpgradeTree(t)
	u.install(t, oldMetronome, "libtremor_metronome.so")
	u.install(t, oldBench, "libtremor_bench.so")
	dt := upFlow("dt", "slow", metronomeEvery(60000), "held", benchSink(""))
	upCommitTouch(t, stall) // the first tick of dt is held in the sink's send
	s := startServeBin(t, u.bin, "--drain-timeout", "2s", upFailFlows(t, map[string]string{
		"df": ticksFlow("df", 1),
		"dt": dt,
	}))
	waitUntil(t, "df delivers", func() bool { return upFailDelivered(s, "df") > 100 })
	s.waitLog(`"flow":"dt"`, `"connector":"held"`, "held: send stalled")

	warned := func(flow, conn, msg, reason string) {
		t.Helper()
		s.waitLog(`"level":"warn"`, `"flow":"`+flow+`"`, `"connector":"`+conn+`"`, msg, reason)
	}
	u.install(t, nextMetronome, "libtremor_metronome.so")
	code, stdout, stderr := s.upgradeCLI("metronome")
	t.Logf("tremorctl upgrade metronome: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Regexp(t, `df/ticks: metronome 0\.1\.0 -> 0\.2\.0 \(paused [^,]+, \d+ events settled on the old build, 0 failed back\)`, stdout)
	assert.Regexp(t, `dt/slow: metronome 0\.1\.0 -> 0\.2\.0 \(paused [^,]+, 1 events settled on the old build, 1 failed back\)`, stdout)
	noCrash(t, stdout+stderr)
	for _, fc := range [][2]string{{"df", "ticks"}, {"dt", "slow"}} {
		warned(fc[0], fc[1], "upgrade: drain of the old instance failed", "0.1.0 drain: could not flush its clock")
		warned(fc[0], fc[1], "upgrade: stop of the old instance failed", "0.1.0 stop: could not save its position")
		assert.Equal(t, "0.2.0", s.apiBuilds(fc[0])[fc[1]][0], "%s/%s runs the new build", fc[0], fc[1])
	}
	warned("dt", "slow", "upgrade: drain timeout; failing back the old instance's events still in flight", `"events":1`)
	s.waitLog(`"plugin upgraded"`, `"flow":"dt"`, `"connector":"slow"`, `"failed_back":1`)

	// The sink comes unstuck: it delivers the old tick and the new one.
	upCommitRemove(t, stall)
	waitUntil(t, "dt's sink delivers both first ticks", func() bool {
		f, ok := s.flow("dt")
		require.True(t, ok)
		return f.conn(t, "held")[1] == 2
	})

	u.install(t, nextBench, "libtremor_bench.so")
	code, stdout, stderr = s.upgradeCLI("bench")
	t.Logf("tremorctl upgrade bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "df/sink: bench 0.1.0 -> 0.2.0")
	assert.Contains(t, stdout, "dt/held: bench 0.1.0 -> 0.2.0")
	noCrash(t, stdout+stderr)
	for _, fc := range [][2]string{{"df", "sink"}, {"dt", "held"}} {
		warned(fc[0], fc[1], "upgrade: drain of the old instance failed", "0.1.0 sink drain: could not flush its output")
		warned(fc[0], fc[1], "upgrade: stop of the old instance failed", "0.1.0 sink stop: could not close its output")
		assert.Equal(t, "0.2.0", s.apiBuilds(fc[0])[fc[1]][0], "%s/%s runs the new build", fc[0], fc[1])
	}
	upFailKeepDelivering(t, s, 100, "df")

	final := s.deleteFlow("df")
	assert.Empty(t, final.Error)
	ticks, sink := final.conn(t, "ticks"), final.conn(t, "sink")
	assert.Equal(t, ticks[0], ticks[3], "df: acks == ticks")
	assert.Zero(t, ticks[4]+sink[4], "df: nothing failed")
	assert.Equal(t, ticks[0], sink[1], "df: every tick delivered once")

	final = s.deleteFlow("dt")
	assert.Empty(t, final.Error)
	slow, held := final.conn(t, "slow"), final.conn(t, "held")
	assert.Equal(t, [5]uint64{2, 2, 0, 1, 1}, slow, "dt: two ticks (one per build); the new one acked, the old one failed back")
	assert.Equal(t, uint64(2), held[1], "dt: the sink delivered both")
	assert.Zero(t, held[4], "dt: the sink failed nothing")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
	assert.Empty(t, regexp.MustCompile(`"level":"(error|fatal)"`).FindAllString(s.stderr.String(), -1), "nothing logged as an error")
}

// upCommitDyingFixture is the fixture 0.1.0 whose fixture_echo's send
// fails for good (TREMOR_ERR_CONFIG: the sink gives up) while the file die
// exists.
func upCommitDyingFixture(t *testing.T, die string) string {
	t.Helper()
	require.NotContains(t, die, `"`)
	return testenv.CBuild(t, upCommitFixtureC,
		"#include <string.h>\n", "#include <string.h>\n#include <unistd.h>\n",
		"  echo *e = instance;\n  if (strcmp(e->misbehave, \"send_modifies\") == 0) {",
		"  echo *e = instance;\n"+
			"  if (access(\""+die+"\", F_OK) == 0) return fail(err, TREMOR_ERR_CONFIG, \"the server rejected our credentials\");\n"+
			"  if (strcmp(e->misbehave, \"send_modifies\") == 0) {")
}

// upCommitGaveUpFlow: metronome "s1" into the bench sink "held", and
// metronome "s2" into the fixture's echo (a sink only here), each through
// a pipeline of its own.
var upCommitGaveUpFlow = newFlow("gu").Batch(16).
	Connector("s1", metronomeConn(0)).
	Connector("s2", metronomeConn(0)).
	Connector("held", benchSink("")).
	Connector("echo", fixtureEchoJSON).
	Chain("s1", "p1", "held").
	Chain("s2", "p2", "echo").
	TOML()

// A sink that has given up stops its flow, so an upgrade finds it only
// while that flow drains: here another sink holds an event (its send is
// stuck) and the drain timeout is long, so the flow is still running when
// the upgrade commits. The sink that gave up is not switched: tremorctl
// upgrade exits 1 saying so and why; once the stuck sink comes free the
// flow ends, failed, naming the sink, and every event is accounted for
// (delivered and acked, or failed back to its source by the sink that
// gave up).
func TestUpgradeCommitSinkGaveUp(t *testing.T) {
	dir := t.TempDir()
	stall, die := filepath.Join(dir, "stall"), filepath.Join(dir, "die")
	u := newUpgradeTree(t, "libtremor_metronome.so")
	u.install(t, upCommitStallingBench(t, stall, false), "libtremor_bench.so")
	u.install(t, upCommitDyingFixture(t, die), "libtremor_fixture.so")
	next := upCommitFixtureNext(t)
	s := startServeBin(t, u.bin, "--drain-timeout", "10m", upFailFlows(t, map[string]string{"gu": upCommitGaveUpFlow}))
	out := func(conn string) uint64 {
		f, ok := s.flow("gu")
		require.True(t, ok)
		return f.conn(t, conn)[1]
	}
	waitUntil(t, "both sinks deliver", func() bool { return out("held") > 50 && out("echo") > 50 })

	upCommitTouch(t, stall)
	s.waitLog(`"flow":"gu"`, `"connector":"held"`, "held: send stalled")
	upCommitTouch(t, die)
	s.waitLog(`"flow":"gu"`, `"connector":"echo"`, "sink gave up", "the server rejected our credentials")
	f, _ := s.flow("gu")
	require.Equal(t, "running", f.State, "the flow drains: the stuck sink holds an event")

	u.install(t, next, "libtremor_fixture.so")
	code, stdout, stderr := s.upgradeCLI("fixture")
	t.Logf("tremorctl upgrade fixture: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	assert.Equal(t, 1, code)
	for _, m := range []string{"gu/echo: not switched:", `connector "echo" (type fixture_echo)`,
		"the sink has given up (", "the server rejected our credentials", "); redeploy the flow"} {
		assert.Contains(t, stdout, m)
	}
	noCrash(t, stdout+stderr)
	assert.Equal(t, "0.1.0", s.apiBuilds("gu")["echo"][0], "the sink keeps its build")

	upCommitRemove(t, stall)
	waitUntil(t, "the flow ends", func() bool {
		f, ok := s.flow("gu")
		require.True(t, ok)
		return f.State != "running"
	})
	f, _ = s.flow("gu")
	assert.Equal(t, "failed", f.State)
	assert.Contains(t, f.Error, `connector "echo"`)
	assert.Contains(t, f.Error, "the server rejected our credentials")
	s1, held, s2, echo := f.conn(t, "s1"), f.conn(t, "held"), f.conn(t, "s2"), f.conn(t, "echo")
	t.Logf("gu as it ended: s1 %v held %v s2 %v echo %v", s1, held, s2, echo)
	assert.Equal(t, s1[0], s1[3], "s1: every tick acked")
	assert.Zero(t, s1[4]+held[4], "s1: nothing failed")
	assert.Equal(t, s1[0], held[1], "s1: every tick delivered")
	assert.Equal(t, s2[0], s2[3]+s2[4], "s2: every tick acked or failed back")
	assert.NotZero(t, s2[4], "s2: the ticks the sink could not send were failed back")
	assert.Equal(t, s2[3], echo[1], "s2: every tick acked was delivered")
	s.deleteFlow("gu")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}

// An old metronome whose on_drain does not return (until the test lets it)
// while it is replaced. The host bounds a hook that hangs at shutdown (the
// drain timeout, then a grace, then it gives up on it); an upgrade should
// not wait for it for ever either: tremorctl upgrade must answer within
// flowDeadline (drain timeout 2s). Once on_drain returns, the upgrade
// completes and every tick was delivered and acked once.
func TestUpgradeCommitOldDrainHangs(t *testing.T) {
	hang := filepath.Join(t.TempDir(), "hang")
	require.NotContains(t, hang, `"`)
	old := testenv.CBuild(t, upFailMetronomeC,
		"#include <time.h>\n", "#include <time.h>\n#include <unistd.h>\n",
		"static const tremor_config_field metronome_fields[] = {",
		"static int32_t metronome_drain(void *instance, tremor_error *err) {\n"+
			"  metronome *m = instance;\n  (void)err;\n"+
			"  tremor_log(&m->host, TREMOR_LOG_INFO, \"drain: waiting\");\n"+
			"  while (access(\""+hang+"\", F_OK) == 0) {\n"+
			"    struct timespec w = {0, 1000000};\n    nanosleep(&w, NULL);\n  }\n"+
			"  return TREMOR_OK;\n}\n\n"+
			"static const tremor_config_field metronome_fields[] = {",
		"    .on_stop = metronome_stop,\n", "    .on_stop = metronome_stop,\n    .on_drain = metronome_drain,\n")
	next := testenv.CBuild(t, upFailMetronomeC, upFailMetronomeDef, upFailMetronomeV2)
	u := newUpgradeTree(t, "libtremor_bench.so")
	u.install(t, old, "libtremor_metronome.so")
	s := startServeBin(t, u.bin, "--drain-timeout", "2s", upFailFlows(t, map[string]string{"m": ticksFlow("m", 1)}))
	waitUntil(t, "events flow", func() bool { return upFailDelivered(s, "m") > 100 })

	upCommitTouch(t, hang)
	u.install(t, next, "libtremor_metronome.so")
	start := time.Now()
	p := startCtl(t, "upgrade", "--api", strings.TrimPrefix(s.base, "http://"), "metronome")
	s.waitLog(`"flow":"m"`, `"connector":"ticks"`, "drain: waiting")
	pulled := func() uint64 {
		f, ok := s.flow("m")
		require.True(t, ok)
		return f.conn(t, "ticks")[0]
	}
	hung := pulled()
	answered := true
	select {
	case <-p.done:
	case <-time.After(flowDeadline):
		answered = false
	}
	waited, meanwhile := time.Since(start), pulled()-hung
	t.Logf("tremorctl upgrade answered: %t after %s (exit %d; %d ticks pulled meanwhile)\nstdout:\n%s\nstderr:\n%s",
		answered, waited.Round(time.Millisecond), p.code, meanwhile, p.stdout.String(), p.stderr.String())

	// The answer comes after the drain timeout and a hook's grace (2 s +
	// 2 s), says what waits, and the switch goes on when the hook returns.
	require.True(t, answered, "tremorctl upgrade answered while the old on_drain hung")
	code := p.wait()
	stdout, stderr := p.stdout.String(), p.stderr.String()
	noCrash(t, stdout+stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, `m/ticks: switch pending: flow "m"`)
	assert.Contains(t, stdout, "the old instance has not finished within 4s (its on_drain or on_stop has not returned, or its events are still settling with no drain timeout): the switch waits for it")
	assert.Equal(t, "0.1.0", s.apiBuilds("m")["ticks"][0], "still the old build while its hook runs")
	upCommitRemove(t, hang)
	waitUntil(t, "the switch completes once on_drain returns", func() bool { return s.apiBuilds("m")["ticks"][0] == "0.2.0" })
	s.waitLog(`"message":"upgrade: the old instance's hook returned; the switch is complete"`)
	assert.Contains(t, s.stderr.String(), `"message":"plugin upgrade: the switch waits for the old instance's hook"`)
	upFailKeepDelivering(t, s, 100, "m")
	final := s.deleteFlow("m")
	assert.Empty(t, final.Error)
	ticks, sink := final.conn(t, "ticks"), final.conn(t, "sink")
	assert.Equal(t, ticks[0], ticks[3], "acks == ticks")
	assert.Zero(t, ticks[4]+sink[4], "nothing failed")
	assert.Equal(t, ticks[0], sink[1], "every tick delivered once")
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	noCrash(t, s.stderr.String())
}
