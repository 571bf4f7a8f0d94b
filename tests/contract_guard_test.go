package tests

// `tremorctl run --check-contract`: check-plugin's memory guards on the
// in-process instances of a real flow. A correct plugin delivers exactly
// as without the flag; a sink that writes into the batch it was given to
// read, or a source that reads a room after on_pull returned, faults in
// the hook that does it, and the crash watcher's last words name the
// plugin, connector, hook and the rule the guard enforces.

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A well-behaved source and sink under the guards: every event delivered
// and acked, nothing failed (fresh rooms per pull and read-only sends do
// not disturb a plugin that keeps the rules).
func TestRunCheckContractCleanFlow(t *testing.T) {
	t.Parallel()
	const n = 500
	path := writeFlow(t, t.TempDir(), "clean.toml", fmt.Sprintf(twoConnectors, "clean", faultConn(fmt.Sprintf("count = %d", n)), faultConn("")))
	code, _, stderr := ctl(t, "run", "--check-contract", "--plugin-path", faultPath(t), path)
	require.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 20))
	noCrash(t, stderr)
	rows := statsTable(t, stderr)
	assert.Equal(t, row{n, n, 0, n, 0, 0}, rows["src"], "source: every event routed and acked")
	assert.Equal(t, uint64(n), rows["dst"][colIn], "sink: taken")
	assert.Equal(t, uint64(n), rows["dst"][colOut], "sink: delivered")
	assert.Zero(t, rows["dst"][colFails])
}

// Plugins that misuse memory the host lent them: with the flag, the
// misuse faults in the hook that does it and the last words name the
// connector, the hook and the rules of the guards.
func TestRunCheckContractNamesTheHook(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		src, dst string
		conn     string // the connector named
		hook     string
		rule     string
	}{
		{"sink modifies its batch", faultConn("count = 10"), faultConn(`misbehave = "send_modifies"`), "dst", "on_send", "rule send.read_only"},
		{"source keeps its room", faultConn(`count = 100, misbehave = "keep_room"`), faultConn(""), "src", "on_pull", "rule memory.kept_pointer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plugins := faultPath(t)
			path := writeFlow(t, t.TempDir(), "guard.toml", fmt.Sprintf(twoConnectors, "guard", tc.src, tc.dst))
			code, _, stderr := ctl(t, "run", "--check-contract", "--plugin-path", plugins, path)
			assert.Equal(t, 2, code, "the Go runtime's status for a fatal signal; stderr:\n%s", lastLines(stderr, 20))
			assert.Contains(t, stderr, fmt.Sprintf(`connector %q (type fault), during %s: SIGSEGV.`, tc.conn, tc.hook), "last words:\n%s", lastLines(stderr, 6))
			assert.Contains(t, stderr, "tremorctl run --check-contract guards memory")
			assert.Contains(t, stderr, tc.rule)
			assert.NotContains(t, stderr, "ran for", "the process died: no summary claims anything was delivered")
		})
	}
}
