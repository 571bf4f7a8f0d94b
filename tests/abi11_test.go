package tests

// ABI 1.1 through tremorctl: a plugin built against the 1.0 header keeps
// loading and running; stream connectors' natural framing; plugins'
// own metrics on /metrics.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/tests/testenv"
)

// The abi10 fixture is built against the kept 1.0 header (its source
// refuses to build against another): the 1.1 host loads it, runs its
// source and sink to the end, and its log line through the 1.0 part of the
// host table arrives.
func TestABI10PluginRunsIn11Host(t *testing.T) {
	plugins := pluginDir(t, testenv.Fixture(t, "fixture_abi10"))
	const n = 50
	src := fmt.Sprintf("type = \"abi10_source\"\ncodec = \"string\"\nconfig = { count = %d }", n)
	dst := "type = \"abi10_sink\"\ncodec = \"string\""
	path := writeFlow(t, t.TempDir(), "abi10.toml", fmt.Sprintf(twoConnectors, "abi10", src, dst))

	code, _, stderr := ctl(t, "run", "--plugin-path", plugins, path)
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
	noCrash(t, stderr)
	assert.Contains(t, stderr, fmt.Sprintf("abi10_sink took %d events", n))
	rows := statsTable(t, stderr)
	assert.Equal(t, uint64(n), rows["src"][colOut], "source: routed")
	assert.Equal(t, uint64(n), rows["dst"][colIn], "sink: taken")
	assert.Equal(t, uint64(n), rows["dst"][colOut], "sink: delivered")
	assert.Zero(t, rows["dst"][colErrors])

	code, out, stderr := ctl(t, "inspect", "--plugin-path", plugins, "abi10_source")
	require.Equal(t, 0, code, "stderr:\n%s", stderr)
	assert.Contains(t, out, "1.0", "inspect shows the plugin's ABI")
}

// A TCP source with codec = "json" and no processors gets its type's
// natural framing (lines): JSON lines written in pieces that cut lines
// apart arrive as whole events, one per line.
func TestTCPSourceJSONWithoutProcessors(t *testing.T) {
	dir := t.TempDir()
	addr, out := freeAddr(t), filepath.Join(dir, "out.jsonl")
	src := fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\nconfig = { url = %q }", addr)
	dst := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
	s := startServe(t, writeFlow(t, dir, "framed.toml", fmt.Sprintf(twoConnectors, "framed", src, dst)))
	c := dialRetry(t, addr)
	const n = 300
	writeAll(t, c, jsonLines(0, n), 7, 4096, 13) // pieces that split lines
	waitUntil(t, "every line written", func() bool { return len(fileLines(t, out)) == n })
	assert.Equal(t, seqs(0, n), fields(t, fileLines(t, out), "seq"), "one event per line, in order")
	f, _ := s.flow("framed")
	assert.Zero(t, f.conn(t, "src")[2], "no codec errors")
	v, _ := sample(t, s.metrics(), "tremor_connector_events_total", map[string]string{"flow": "framed", "connector": "src", "direction": "in"})
	assert.Equal(t, float64(n), v, "events in: lines")
	require.NoError(t, c.Close())
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}

// validate: a stream connector whose flow sets a side's processors to
// none is warned about (naming the flow, the connector and what to do);
// the natural framing on a sink-only stream connector is no error.
func TestValidateWarnsStreamWithoutFraming(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src, dst string
		warn           bool
	}{
		{"source without framing",
			fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\npreprocessors = []\nconfig = { url = %q }", freeAddr(t)),
			fmt.Sprintf("type = \"file\"\nconfig = { path = %q, mode = \"write\" }", filepath.Join(dir, "a.jsonl")), true},
		{"natural framing", fmt.Sprintf("type = \"tcp_server\"\ncodec = \"json\"\nconfig = { url = %q }", freeAddr(t)),
			fmt.Sprintf("type = \"file\"\nconfig = { path = %q, mode = \"write\" }", filepath.Join(dir, "b.jsonl")), false},
		{"sink-only stream connector", metronome(3),
			fmt.Sprintf("type = \"tcp_client\"\ncodec = \"json\"\nconfig = { url = %q }", freeAddr(t)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFlow(t, dir, strings.ReplaceAll(tc.name, " ", "_")+".toml", fmt.Sprintf(twoConnectors, "v", tc.src, tc.dst))
			code, stdout, stderr := ctl(t, "validate", path)
			require.Equal(t, 0, code, "stderr:\n%s", stderr)
			assert.Contains(t, stdout, "ok")
			noCrash(t, stderr)
			if tc.warn {
				assert.Contains(t, stderr, `connector \"src\" (type tcp_server) is a stream connector but its preprocessors is empty`)
				assert.Contains(t, stderr, "remove `preprocessors = []`")
				assert.Contains(t, stderr, `"flow":"v"`)
			} else {
				assert.NotContains(t, stderr, "stream connector")
			}
		})
	}
}

// A plugin's own metrics (the file source's bytes read and offset) are on
// tremorctl serve's /metrics, with the flow and connector labels, and
// agree with the file read.
func TestPluginMetricsOnServe(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	data := jsonLines(0, 200)
	require.NoError(t, os.WriteFile(in, data, 0o644))
	src := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q }", in) // one event per line already
	dst := fmt.Sprintf("type = \"file\"\ncodec = \"json\"\nconfig = { path = %q, mode = \"write\" }", out)
	s := startServe(t, writeFlow(t, dir, "fm.toml", fmt.Sprintf(twoConnectors, "fm", src, dst)))
	labels := map[string]string{"flow": "fm", "connector": "src"}
	waitUntil(t, "the whole file read, as the plugin reports it", func() bool {
		v, ok := sample(t, s.metrics(), "tremor_plugin_file_offset", labels)
		return ok && v == float64(len(data))
	})
	fams := s.metrics()
	v, ok := sample(t, fams, "tremor_plugin_file_bytes_read_total", labels)
	require.True(t, ok, "tremor_plugin_file_bytes_read_total{flow=fm,connector=src} on /metrics")
	assert.Equal(t, float64(len(data)), v)
	assert.Equal(t, "Bytes read from the file (lines skipped on resume included).", fams["tremor_plugin_file_bytes_read_total"].GetHelp())
	_, ok = sample(t, fams, "tremor_plugin_file_offset", map[string]string{"connector": "dst"})
	assert.False(t, ok, "the sink reports no offset")
	waitUntil(t, "every line written", func() bool { return len(fileLines(t, out)) == 200 })
	s.signal(os.Interrupt)
	assert.Equal(t, 0, s.wait())
}
