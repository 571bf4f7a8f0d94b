package tests

// Isolated plugins (a tremor-runner child) held to what in-process ones
// are: their ABI 1.1 metrics reach tremorctl serve's /metrics, a sink that
// writes into the batch it was sent faults in its own process and the
// host's log names the rule, and a write past the error buffer is the same
// contract break as in process.

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/isolate"
)

// The Go tcp_server source runs isolated by default ("auto"): its
// counters and gauge cross the runner's METRIC frames and are on /metrics
// with the flow and connector labels, matching what was sent.
func TestIsolatedPluginMetricsOnServe(t *testing.T) {
	dir := t.TempDir()
	addr, out := freeAddr(t), filepath.Join(dir, "out.jsonl")
	src := fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\nisolation = \"process\"\nconfig = { url = %q }", addr)
	dst := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
	s := startServe(t, writeFlow(t, dir, "im.toml", fmt.Sprintf(twoConnectors, "im", src, dst)))
	c := dialRetry(t, addr)
	const n = 200
	data := jsonLines(0, n)
	writeAll(t, c, data, 7, 4096, 13)
	waitUntil(t, "every line written", func() bool { return len(fileLines(t, out)) == n })
	labels := map[string]string{"flow": "im", "connector": "src"}
	waitUntil(t, "the bytes sent, as the isolated plugin reports them", func() bool {
		v, ok := sample(t, s.metrics(), "tremor_plugin_tcp_bytes_read_total", labels)
		return ok && v == float64(len(data))
	})
	fams := s.metrics()
	v, ok := sample(t, fams, "tremor_plugin_tcp_connections_total", labels)
	require.True(t, ok, "tremor_plugin_tcp_connections_total{flow=im,connector=src} on /metrics")
	assert.Equal(t, float64(1), v, "one connection accepted")
	v, ok = sample(t, fams, "tremor_plugin_tcp_connections_open", labels)
	require.True(t, ok, "tremor_plugin_tcp_connections_open on /metrics")
	assert.Equal(t, float64(1), v, "the connection is open")
	assert.Equal(t, "TCP connections accepted.", fams["tremor_plugin_tcp_connections_total"].GetHelp())
	require.NoError(t, c.Close())
	waitUntil(t, "the gauge follows the close", func() bool {
		v, ok := sample(t, s.metrics(), "tremor_plugin_tcp_connections_open", labels)
		return ok && v == 0
	})
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
	assert.NotContains(t, s.stderr.String(), "not exported while it runs isolated")
}

// Isolated fault plugins that break the memory rules, through tremorctl
// run: the rule is named, the host does not crash, every event the source
// produced is acked or failed back.
func TestIsolatedMemoryRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		srcCfg, dstCfg string
		want           string // in stderr
		code           int
		srcIn, dstOut  uint64
		count          int  // events the source makes: 100 unless set
		sinkGivesUp    bool // which stops the flow: srcIn is the most the source made
	}{
		{
			name:   "sink modifies the header it was sent",
			dstCfg: `, misbehave = "send_modifies"`,
			want:   "it modified the batch header",
			code:   1, srcIn: 100, dstOut: 0, sinkGivesUp: true,
		},
		{
			// The child faults on every send of the batch, is restarted
			// and sent it again; the source (fewer events than a batch)
			// has ended, so the drain timeout fails the batch back. (A
			// source that has not ended is held back by the full sink
			// queue and the flow runs, retrying with backoff, until it
			// is stopped.)
			name:   "sink writes into the batch it was sent",
			dstCfg: `, misbehave = "send_writes_payload"`,
			want:   "rule send.read_only",
			code:   1, srcIn: 10, dstOut: 0, count: 10,
		},
		{
			name:   "source writes past the error buffer",
			srcCfg: `, misbehave = "msg_past_cap"`,
			want:   "wrote past the error buffer (cap 4096)",
			code:   1, srcIn: 0, dstOut: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plugins := faultPluginDir(t)
			iso := "\nisolation = \"process\"\n[connector.reconnect]\ninitial_ms = 10\nmax_ms = 20\nmax_attempts = 2\n"
			flowFile := writeFlow(t, t.TempDir(), "rules.toml", fmt.Sprintf(twoConnectors, "rules",
				faultConn(fmt.Sprintf("count = %d", cmp.Or(tc.count, 100))+tc.srcCfg)+iso, faultConn("count = 0"+tc.dstCfg)+iso))
			code, _, stderr := tremorctlExit(t, t.TempDir(), []string{isolate.EnvRunner + "=" + isoRunner(t)},
				"run", "--drain-timeout", "1s", "--plugin-path", plugins, flowFile)
			assert.Equal(t, tc.code, code, "stderr:\n%s", lastLines(stderr, 12))
			noCrash(t, stderr)
			assert.NotContains(t, stderr, "tremorctl: crashed")
			assert.Contains(t, stderr, tc.want)
			rows := statsTable(t, stderr) // in, out, errors, acks, fails, discarded
			if tc.sinkGivesUp {
				assert.Contains(t, stderr, "a sink gave up: stopping the flow")
				assert.LessOrEqual(t, rows["src"][colIn], tc.srcIn, "source: produced")
			} else {
				assert.Equal(t, tc.srcIn, rows["src"][colIn], "source: produced")
			}
			assert.Equal(t, tc.dstOut, rows["dst"][colOut], "sink: delivered")
			assert.Equal(t, rows["src"][colIn], rows["src"][colAcks]+rows["src"][colFails], "each event acked or failed back")
		})
	}
}
