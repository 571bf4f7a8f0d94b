package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/isolate"
	"tremorhost/tests/testenv"
)

// An isolated source that never ends, run by tremorctl and stopped as
// Ctrl-C does: its child pulls ahead while the host routes, so at the stop
// batches were pulled that no pull took. They are failed back to the plugin
// before on_drain, so the plugin's own totals balance (produced = acked +
// failed), the host's count what it took, and every event taken reached
// the sink once.
func TestIsolatedPullAheadFailedBackAtStop(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	flowFile := filepath.Join(dir, "ahead.toml")
	require.NoError(t, os.WriteFile(flowFile, []byte(crashConnFlow(
		Conn{Isolation: "process", Config: cfg("count", 0, "per_pull", 10)},
		Conn{Config: cfg("path", out)})), 0o644))
	plugins := pluginDir(t, testenv.Fixture(t, "fixture_crash"))

	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, flowFile)
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"="+isoRunner(t))
	// Let events flow (the sink's file grows), then stop.
	code, stderr := runUntilLines(t, cmd, out, 100)
	assert.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 30))

	var produced, acked, failed uint64
	found := false
	for _, l := range strings.Split(stderr, "\n") {
		var m struct{ Connector, Message string }
		if json.Unmarshal([]byte(l), &m) != nil || m.Connector != "src" {
			continue
		}
		if n, _ := fmt.Sscanf(m.Message, crashSourceTotals, &produced, &acked, &failed); n == 3 {
			found = true
		}
	}
	require.True(t, found, "the source logged its totals when it stopped; stderr:\n%s", lastLines(stderr, 30))
	rows := statsTable(t, stderr)
	src, dst := rows["src"], rows["dst"] // in, out, errors, acks, fails, discarded
	assert.Equal(t, produced, acked+failed, "every event the plugin handed over was settled")
	// The batches pulled ahead and not taken (per_pull 10 each, at most 7
	// at the default batch size), failed back.
	assert.Positive(t, failed, "batches pulled ahead and not taken, failed back")
	assert.LessOrEqual(t, failed, uint64(70))
	assert.Zero(t, failed%10, "whole batches")
	assert.Equal(t, src[0], acked, "what the host took is what the plugin was told was acked")
	assert.Equal(t, src[0], src[3], "acked by the host")
	assert.Equal(t, uint64(0), src[4])
	assert.Equal(t, src[0], dst[1])
	assert.Len(t, isoLines(t, out), int(dst[1]))
}
