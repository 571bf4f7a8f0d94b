package tests

// Faults of a running flow that the other end-to-end tests leave out: a
// sink whose server goes away for good (reconnect.max_attempts), a stream
// that ends inside a length-prefixed frame, a source whose on_pause or
// on_resume fails under back-pressure, and plugin metrics the host
// refuses. Each case checks what a user sees (exit status, messages,
// /metrics) and counts every event at both ends.

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/catalog"
	"tremorhost/host/plugin"
	"tremorhost/host/runtime"
	"tremorhost/tests/testenv"
)

// A tcp_client sink whose server goes away mid-flow and never comes back
// gives up after reconnect.max_attempts, which stops the flow by itself
// (no signal): tremorctl exits 1 naming the connector, the attempts and
// the last error, and every tick the endless metronome produced is either
// acked, and then received by the server exactly once and in order, or
// failed back. None lost, none twice.
func TestRuntimeFaultSinkGivesUpWhenServerIsGone(t *testing.T) {
	far := newLineServer(t)
	sink := fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\npostprocessors = [\"lines\"]\nconfig = { url = %q }\n"+
		"[connector.reconnect]\ninitial_ms = 10\nmax_ms = 20\nmax_attempts = 3", far.addr)
	path := writeFlow(t, t.TempDir(), "gone.toml", fmt.Sprintf(twoConnectors, "gone", metronome(0), sink))
	p := startCtl(t, "run", path)
	waitUntil(t, "200 ticks received", func() bool { return far.count() >= 200 })
	far.goDownGracefully() // reads until the client closed: it has all it will get

	code := p.wait() // the metronome is endless: only the sink giving up ends the flow
	stderr := p.stderr.String()
	assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
	noCrash(t, stderr)
	assert.Regexp(t, `tremorctl: flow "gone" \(`+regexp.QuoteMeta(path)+`\): connector "dst" \(type tcp_client\): `+
		`gave up connecting after 3 attempts \(reconnect.max_attempts\): connect to [0-9.:]+: dial tcp [0-9.:]+: connect: connection refused`, stderr)
	assert.Contains(t, stderr, "a sink gave up: stopping the flow")
	assert.NotContains(t, stderr, "was reconnecting when the flow stopped", "it gave up: it was not stopped while reconnecting")
	assert.NotContains(t, stderr, `connector "src" (type metronome): `, "the source was stopped, it did not fail")

	rows := statsTable(t, stderr)
	src, dst := rows["src"], rows["dst"]
	assert.Equal(t, src[colIn], src[colAcks]+src[colFails], "every tick acked or failed back")
	assert.Equal(t, src[colIn], dst[colIn])
	assert.Equal(t, src[colAcks], dst[colOut])
	assert.Equal(t, src[colFails], dst[colFails], "the fails are the sink's")
	assert.Equal(t, uint64(3), dst[colErrors], "the three refused attempts")
	if n := src[colFails]; n > 0 {
		assert.Contains(t, stderr, fmt.Sprintf("tremorctl: %d event", n))
	}

	per, torn := far.perConn()
	require.Len(t, per, 1, "one connection, none after the server went away")
	assert.Equal(t, "", torn[0])
	assert.Equal(t, seqs(0, int64(src[colAcks])), fields(t, per[0], "id"), "exactly the acked ticks were received, once each, in order")
	assert.Contains(t, stderr, fmt.Sprintf("emitted %d ticks, %d acked, %d failed", src[colIn], src[colAcks], src[colFails]),
		"the metronome's own counts agree")
}

// rtFaultFrame is payload with its 4-byte big-endian length in front, the
// "length-prefixed" framing.
func rtFaultFrame(payload string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// A connection to a tcp_server with the length-prefixed pre-processor
// sends one whole frame, then part of the next (into its body, or only
// into its header), and closes. The whole frame is delivered at once; the
// truncated one is reported, naming the connector and saying the stream
// ended inside a frame, and the events that carried its bytes are failed
// back (TCP cannot resend them; the count says they were not delivered).
// The flow goes on: a later connection's frame is delivered. After SIGTERM
// tremorctl exits 1 because events were failed back.
func TestRuntimeFaultStreamEndsInsideFrame(t *testing.T) {
	for _, c := range []struct {
		name string
		cut  int // bytes of the second frame sent
		says string
	}{
		{"inside the body", 9, "stream ended inside a frame (5 of 16 bytes)"},
		{"inside the header", 2, "stream ended inside a frame header (2 of 4 bytes)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := freeAddr(t)
			out := filepath.Join(t.TempDir(), "out.txt")
			server := fmt.Sprintf("type = \"tcp_server\"\ncodec = \"string\"\npreprocessors = [\"length-prefixed\"]\nconfig = { url = %q }", addr)
			file := fmt.Sprintf("type = \"file\"\ncodec = \"string\"\nconfig = { path = %q, mode = \"write\" }", out)
			path := writeFlow(t, t.TempDir(), "frames.toml", fmt.Sprintf(twoConnectors, "frames", server, file))
			p := startCtl(t, "run", path)

			conn := dialRetry(t, addr)
			_, err := conn.Write(append(rtFaultFrame("first whole"), rtFaultFrame("second cut short")[:c.cut]...))
			require.NoError(t, err)
			require.NoError(t, conn.Close())
			p.waitLog(`"connector":"src"`, c.says, `"message":"event failed back to its source"`)
			waitUntil(t, "the whole frame written", func() bool { return len(fileLines(t, out)) == 1 })

			later := dialRetry(t, addr)
			_, err = later.Write(rtFaultFrame("third"))
			require.NoError(t, err)
			waitUntil(t, "the later connection's frame written", func() bool { return len(fileLines(t, out)) == 2 })
			p.signal(syscall.SIGTERM)
			code := p.wait()
			stderr := p.stderr.String()

			assert.Equal(t, 1, code, "stderr:\n%s", lastLines(stderr, 20))
			noCrash(t, stderr)
			assert.Equal(t, []string{"first whole", "third"}, fileLines(t, out), "no event made of the truncated frame")
			assert.Equal(t, 1, logLines(stderr, `"connector":"src"`, "length-prefixed pre-processor: stream", c.says), "reported once")
			rows := statsTable(t, stderr)
			src, dst := rows["src"], rows["dst"]
			assert.Equal(t, uint64(2), src[colOut], "two frames decoded")
			assert.Equal(t, uint64(1), src[colErrors], "the truncated frame")
			assert.Equal(t, src[colIn], src[colAcks]+src[colFails], "every read (and end of stream) acked or failed back")
			assert.GreaterOrEqual(t, src[colAcks], uint64(1), "the later connection's read")
			assert.GreaterOrEqual(t, src[colFails], uint64(1), "the reads that carried the truncated frame")
			assert.Contains(t, stderr, fmt.Sprintf("tremorctl: %d event", src[colFails]))
			assert.Equal(t, row{2, 2, 0, 0, 0, 0}, dst)
		})
	}
}

// rtFaultStartFlow is startFlow with the C fault plugin
// (build/test-plugins/libtremor_fault.so) in the catalog beside the
// bundled plugins.
func rtFaultStartFlow(t testing.TB, src string, opts runtime.Options) *flowRun {
	t.Helper()
	var files []string
	for f := range bundled {
		files = append(files, testenv.Plugin(t, f))
	}
	sort.Strings(files)
	reg, err := plugin.LoadAll(append(files, testenv.Fixture(t, "fault")))
	require.NoError(t, err)
	return startFlowWith(t, src, catalog.Plugins{Registry: reg}, opts)
}

// A fault source whose on_pause (or on_resume) fails, in back-pressure:
// its tcp_client sink is down when the flow starts, so the source's window
// (one batch here, so that it fills before the sink's queue) fills and the
// source is paused, then the server comes up and the sink delivers. The
// hook's failure is logged with the plugin's message; pausing is advice to
// the plugin (the runtime stops pulling anyway), so nothing is lost: Run
// ends without error and nothing failed back (tremorctl would exit 0),
// and the server received every event exactly once, in order.
//
// tremorctl's window (16 batches) never fills before a sink's queue (4
// batches) does, so this runs the runtime in process with a small window.
func TestRuntimeFaultPauseResumeRefused(t *testing.T) {
	for _, hook := range []struct{ name, verb string }{{"pause", "pausing"}, {"resume", "resuming"}} {
		t.Run(hook.name, func(t *testing.T) {
			const n = 500
			far := newLineServer(t)
			far.goDownGracefully() // down at the start; it comes back below
			began := time.Now()
			fr := rtFaultStartFlow(t, newFlow("").Batch(16).
				Connector("src", Conn{Type: "fault", Codec: "string", Config: cfg("count", n, "fail_at", hook.name)}).
				Connector("out", Conn{Type: "tcp_client", Codec: "string", Post: lineFraming, Config: cfg("url", far.addr)}.reconnect(10, 20)).
				Chain("src", "pass", "out").
				TOML(), runtime.Options{Window: 16})
			fr.waitFor("the source held by back-pressure", func() bool {
				return logLines(fr.logs.String(), `"connector":"src"`, "source paused: its sinks are behind or down") > 0
			})
			far.comeBack()
			stats, err := fr.wait() // the source ends after n events
			elapsed := time.Since(began)
			require.NoError(t, err)
			far.waitClientClosed()

			assert.Equal(t, runtime.Stats{Connector: "src", In: n, Out: n, Acks: n, Errors: statOf(t, stats, "src").Errors}, statOf(t, stats, "src"))
			out := statOf(t, stats, "out")
			assert.Equal(t, [3]uint64{n, n, 0}, [3]uint64{out.In, out.Out, out.Fails}, "out: in, out, fails")
			assert.Zero(t, fr.r.FailedBack())
			want := make([]string, n)
			for i := range want {
				want[i] = fmt.Sprintf("fault-%d", i+1)
			}
			assert.Equal(t, want, far.all(), "every event received once, in order")

			logs := fr.logs.String()
			msg := fmt.Sprintf(`"error":"plugin \"fault\" reported an error while %s: fault: told to fail at %s"`, hook.verb, hook.name)
			warns := logLines(logs, `"level":"warn"`, `"connector":"src"`, msg, `"message":"pause/resume failed"`)
			require.Positive(t, warns, "the failure is logged with the plugin's message:\n%s", lastLines(logs, 20))

			// What a user should also get: a refused hook call counted in
			// the errors column ("failed plugin calls"), and the warning at
			// a bounded rate, as for refused acks (once a second).
			errs := statOf(t, stats, "src").Errors
			assert.LessOrEqual(t, warns, 1+int(elapsed/time.Second), "on_%s failures warned at most once a second in %s", hook.name, elapsed.Round(time.Millisecond))
			assert.Positive(t, errs, "the refused on_%s calls are counted as errors", hook.name)
		})
	}
}

// rtFaultMetricsC is C put into a copy of the metronome before its pull:
// on every tick it adds to a good counter (ticks_total{parity}) and
// reports metrics the host must refuse, through the pdk or, where the pdk
// would refuse first, the host's function itself, counting the calls
// answered other than TREMOR_OK. (An unknown kind cannot be made: the kind
// is which of the host's two functions the plugin calls.)
const rtFaultMetricsC = `#include <string.h>

static uint64_t rtfault_refused;

#define RTL(n, v) {(const uint8_t *)(n), sizeof(n) - 1, (const uint8_t *)(v), strlen(v)}

static void rtfault_raw(const tremor_pdk_host *h, const char *name, const tremor_metric_label *ls, uint64_t n) {
  if (h->api->counter_add(h->ctx, (const uint8_t *)name, strlen(name), (const uint8_t *)"refused", 7, ls, n, 1) != TREMOR_OK)
    rtfault_refused++;
}

static void rtfault_metrics(metronome *m) {
  static char long_value[301];
  if (long_value[0] == 0) memset(long_value, 'v', 300);
  tremor_pdk_label parity = {"parity", (m->next_id & 1) ? "odd" : "even"};
  tremor_counter_add(&m->host, "ticks_total", "Ticks emitted.", &parity, 1, 1);
  if (tremor_gauge_set(&m->host, "ticks_total", "Ticks emitted.", &parity, 1, 7) != TREMOR_OK) rtfault_refused++;
  tremor_metric_label nine[9] = {RTL("l0", "x"), RTL("l1", "x"), RTL("l2", "x"), RTL("l3", "x"), RTL("l4", "x"),
                                 RTL("l5", "x"), RTL("l6", "x"), RTL("l7", "x"), RTL("l8", "x")};
  rtfault_raw(&m->host, "too_many_labels_total", nine, 9);
  tremor_metric_label bad[1] = {RTL("bad-name", "x")};
  rtfault_raw(&m->host, "bad_label_total", bad, 1);
  tremor_metric_label host[1] = {RTL("connector", "x")};
  rtfault_raw(&m->host, "host_label_total", host, 1);
  tremor_metric_label dup[2] = {RTL("a", "x"), RTL("a", "y")};
  rtfault_raw(&m->host, "dup_label_total", dup, 2);
  tremor_metric_label long_[1] = {RTL("v", long_value)};
  rtfault_raw(&m->host, "long_value_total", long_, 1);
}

static int32_t metronome_pull(`

// rtFaultMeteredPlugins builds the metronome with rtFaultMetricsC as
// plugin "metered" (connector type "metered", so that it does not contest
// the bundled metronome) into a directory of its own, for --plugin-path.
// Its on_stop line also says how many metric calls were refused.
func rtFaultMeteredPlugins(t *testing.T) string {
	t.Helper()
	lib := testenv.CBuild(t, "plugins/metronome-c/metronome.c",
		`TREMOR_PLUGIN_DEFINE("metronome", "0.1.0"`, `TREMOR_PLUGIN_DEFINE("metered", "0.1.0"`,
		`.name = "metronome",`, `.name = "metered",`,
		"static int32_t metronome_pull(", rtFaultMetricsC,
		"    m->next_id++;\n", "    m->next_id++;\n    rtfault_metrics(m);\n",
		`" failed",`+"\n             m->next_id, m->acked, m->failed);",
		`" failed; %" PRIu64 " metric calls refused",`+"\n             m->next_id, m->acked, m->failed, rtfault_refused);")
	dir := t.TempDir()
	copyFile(t, lib, filepath.Join(dir, "libtremor_metered.so"))
	return dir
}

// A plugin that reports metrics the host refuses (too many labels, a bad
// label name, a label the host adds itself, a label twice, a value too
// long, a counter reported as a gauge), on every tick, under tremorctl run
// --api: each is warned about once, not per call, naming the plugin, the
// connector, the metric and what is wrong; the flow keeps running and its
// good counter keeps counting; /metrics shows the good series and none of
// the refused ones. In process the plugin is told TREMOR_ERR_INVALID on
// every refused call, as plugin.h says; isolated, TREMOR_OK, as
// runner/PROTOCOL.md says (the host's answer does not travel back).
func TestRuntimeFaultPluginMetricsRefused(t *testing.T) {
	plugins := rtFaultMeteredPlugins(t)
	refused := []struct{ name, why string }{
		{"ticks_total", "reported as a gauge, first reported as a counter"},
		{"too_many_labels_total", "9 labels, at most 8 are allowed"},
		{"bad_label_total", "label 0: the name must match [a-zA-Z_][a-zA-Z0-9_]*"},
		{"host_label_total", `label \"connector\" is the host's: it adds flow and connector itself`},
		{"dup_label_total", `label \"a\" appears twice`},
		{"long_value_total", `label \"v\": the value is longer than 256 bytes`},
	}
	for _, isolation := range []string{"none", "process"} {
		t.Run("isolation "+isolation, func(t *testing.T) {
			src := fmt.Sprintf("type = \"metered\"\nisolation = %q\nconfig = { interval_ms = 1, count = 0 }", isolation)
			path := writeFlow(t, t.TempDir(), "metered.toml", fmt.Sprintf(twoConnectors, "metered", src, "type = \"bench_sink\"\ncodec = \"json\""))
			addr := freeAddr(t)
			p := startCtl(t, "run", "--api", addr, "--plugin-path", plugins, path)
			s := &servedCtl{ctlProc: p, base: "http://" + addr}
			ticks := func(fams map[string]*dto.MetricFamily, parity string) float64 {
				v, _ := sample(t, fams, "tremor_plugin_ticks_total", map[string]string{"flow": "metered", "connector": "src", "parity": parity})
				return v
			}
			var fams map[string]*dto.MetricFamily
			waitUntil(t, "50 odd and 50 even ticks on /metrics", func() bool {
				if code, _ := s.do("GET", "/health", nil); code != 200 {
					return false
				}
				fams = s.metrics()
				return ticks(fams, "odd") >= 50 && ticks(fams, "even") >= 50
			})
			assert.Equal(t, dto.MetricType_COUNTER, fams["tremor_plugin_ticks_total"].GetType(), "the first report's kind stands")
			assert.Equal(t, "Ticks emitted.", fams["tremor_plugin_ticks_total"].GetHelp())
			for _, r := range refused[1:] {
				assert.NotContains(t, fams, "tremor_plugin_"+r.name, "a refused metric is not exported")
			}
			p.signal(syscall.SIGTERM)
			code := p.wait()
			stderr := p.stderr.String()

			assert.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
			noCrash(t, stderr)
			for _, r := range refused {
				assert.Equal(t, 1, logLines(stderr, `"level":"warn"`, `"plugin":"metered"`, `"connector":"src"`, `"metric":"`+r.name+`"`,
					"the plugin reported a metric the host refuses (this and later calls for it are dropped): "+r.why),
					"%s: warned once, naming the plugin, connector, metric and why", r.name)
			}
			rows := statsTable(t, stderr)
			assert.Equal(t, rows["src"][colIn], rows["src"][colAcks], "the flow ran on: every tick acked")
			assert.Equal(t, rows["src"][colIn], rows["dst"][colOut])
			assert.Zero(t, rows["src"][colFails])
			// The plugin's own totals balance; isolated, its child may have
			// pulled one batch ahead that the host never took, which is
			// failed back to the plugin at the stop (pullahead_test.go).
			m := regexp.MustCompile(`emitted (\d+) ticks, (\d+) acked, (\d+) failed; (\d+) metric calls refused`).FindStringSubmatch(stderr)
			require.NotNil(t, m, "the plugin's own totals:\n%s", lastLines(stderr, 10))
			var emitted, acked, failed, refusedCalls uint64
			for i, v := range []*uint64{&emitted, &acked, &failed, &refusedCalls} {
				_, err := fmt.Sscan(m[i+1], v)
				require.NoError(t, err)
			}
			assert.Equal(t, emitted, acked+failed, "the plugin's totals: %s", m[0])
			assert.Equal(t, rows["src"][colAcks], acked, "the plugin's totals: %s", m[0])
			if isolation == "none" {
				assert.Equal(t, rows["src"][colIn], emitted, "the plugin's totals: %s", m[0])
				assert.Equal(t, emitted*uint64(len(refused)), refusedCalls, "in process every refused call answers TREMOR_ERR_INVALID")
			} else {
				// The host's answer does not travel back to the child: there
				// every call answers TREMOR_OK (runner/PROTOCOL.md, Metrics).
				assert.Zero(t, refusedCalls, "isolated, the child answers TREMOR_OK")
			}
		})
	}
}
