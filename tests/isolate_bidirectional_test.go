package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/isolate"
	"tremorhost/tests/testenv"
)

// A connector that is a source and a sink at once, isolated: its child
// pulls batches ahead while the host sends it batches, so its batch
// mappings (the routed one, those pulled ahead, the two it is sent from)
// share the runner's slots. Every event sent to it comes back out of it
// once, in order: no pull ahead lands in another batch's memory.
func TestIsolatedSourceAndSinkKeepEveryEvent(t *testing.T) {
	const n = 30000
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	flowFile := writeFlow(t, dir, "echo.toml", fmt.Sprintf(`[flow]
name = "both"
[[connector]]
id = "gen"
type = "fixture_echo"
codec = "string"
config = { count = %d, prefix = "e", end_when_empty = true }
[[connector]]
id = "echo"
type = "fixture_echo"
codec = "string"
isolation = "process"
[[connector]]
id = "out"
type = "file"
codec = "string"
config = { path = %q, mode = "write" }
[[pipeline]]
id = "in"
[[pipeline]]
id = "back"
[[link]]
from = "gen"
to = "in"
[[link]]
from = "in"
to = "echo"
[[link]]
from = "echo"
to = "back"
[[link]]
from = "back"
to = "out"
`, n, out))
	plugins := pluginDir(t, testenv.Fixture(t, "fixture"))
	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, flowFile)
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"="+isoRunner(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(flowDeadline)
	for {
		if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) >= n {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("tremorctl ended by itself (%v); stderr:\n%s", err, lastLines(stderr.String(), 30))
		case <-time.After(20 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "not every event came back within %s; stderr:\n%s", flowDeadline, lastLines(stderr.String(), 30))
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
	lines := isoLines(t, out)
	require.Len(t, lines, n)
	for i, l := range lines {
		if l != fmt.Sprintf("e-%d", i+1) {
			t.Fatalf("line %d is %q, want %q", i+1, l, fmt.Sprintf("e-%d", i+1))
		}
	}
	rows := statsTable(t, stderr.String())
	// in, out, errors, acks, fails: the echo's row counts both sides.
	assert.Equal(t, [6]uint64{2 * n, 2 * n, 0, n, 0, 0}, rows["echo"])
	assert.Equal(t, [6]uint64{n, n, 0, n, 0, 0}, rows["gen"])
	assert.Equal(t, uint64(n), rows["out"][1])
}
