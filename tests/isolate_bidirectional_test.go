package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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
	flowFile := writeFlow(t, dir, "echo.toml", newFlow("both").
		Connector("gen", Conn{Type: "fixture_echo", Codec: "string", Config: cfg("count", n, "prefix", "e", "end_when_empty", true)}).
		Connector("echo", Conn{Type: "fixture_echo", Codec: "string", Isolation: "process"}).
		Connector("out", fileSink(out, "string")).
		Chain("gen", "in", "echo").
		Chain("echo", "back", "out").
		TOML())
	plugins := pluginDir(t, testenv.Fixture(t, "fixture"))
	cmd := exec.Command(tremorctl(t), "run", "--plugin-path", plugins, flowFile)
	cmd.Env = append(os.Environ(), isolate.EnvRunner+"="+isoRunner(t))
	code, stderr := runUntilLines(t, cmd, out, n)
	assert.Equal(t, 0, code, "stderr:\n%s", lastLines(stderr, 30))
	lines := isoLines(t, out)
	require.Len(t, lines, n)
	for i, l := range lines {
		if l != fmt.Sprintf("e-%d", i+1) {
			t.Fatalf("line %d is %q, want %q", i+1, l, fmt.Sprintf("e-%d", i+1))
		}
	}
	rows := statsTable(t, stderr)
	// in, out, errors, acks, fails: the echo's row counts both sides.
	assert.Equal(t, [6]uint64{2 * n, 2 * n, 0, n, 0, 0}, rows["echo"])
	assert.Equal(t, [6]uint64{n, n, 0, n, 0, 0}, rows["gen"])
	assert.Equal(t, uint64(n), rows["out"][1])
}
