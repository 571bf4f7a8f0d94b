package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	require.NoError(t, os.WriteFile(flowFile, []byte(crashFlow(`isolation = "process"
config = { count = 0, per_pull = 10 }`, fmt.Sprintf(`config = { path = %q }`, out))), 0o644))
	plugins := pluginDir(t, testenv.Fixture(t, "fixture_crash"))

	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, flowFile)
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"="+isoRunner(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Let events flow (the sink's file grows), then stop.
	deadline := time.Now().Add(flowDeadline)
	for {
		if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) >= 100 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("tremorctl ended by itself (%v); stderr:\n%s", err, lastLines(stderr.String(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "no events reached the sink within %s; stderr:\n%s", flowDeadline, lastLines(stderr.String(), 30))
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	select {
	case <-done:
	case <-time.After(flowDeadline):
		cmd.Process.Kill()
		<-done
		t.Fatalf("tremorctl did not stop within %s of SIGINT; stderr:\n%s", flowDeadline, lastLines(stderr.String(), 30))
	}
	assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "stderr:\n%s", lastLines(stderr.String(), 30))

	var produced, acked, failed uint64
	found := false
	for _, l := range strings.Split(stderr.String(), "\n") {
		var m struct{ Connector, Message string }
		if json.Unmarshal([]byte(l), &m) != nil || m.Connector != "src" {
			continue
		}
		if n, _ := fmt.Sscanf(m.Message, crashSourceTotals, &produced, &acked, &failed); n == 3 {
			found = true
		}
	}
	require.True(t, found, "the source logged its totals when it stopped; stderr:\n%s", lastLines(stderr.String(), 30))
	rows := statsTable(t, stderr.String())
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
