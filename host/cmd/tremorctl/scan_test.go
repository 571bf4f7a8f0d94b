package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/host/isolate"
	"tremorhost/tests/testenv"
)

// With a tremor-runner, list-plugins and inspect read plugins in child
// processes: a plugin that crashes while it is read is that file's error,
// and tremorctl lists the others.
func TestListPluginsScansInChildProcesses(t *testing.T) {
	t.Setenv(isolate.EnvRunner, filepath.Join(testenv.Root(t), "build", "bin", "tremor-runner"))
	crash := filepath.Join(testenv.FixturesDir(t), "unloadable", "libtremor_fixture_crash_describe.so")
	good := testenv.Fixture(t, "fixture")

	out, _, code := runCLI(t, "list-plugins", crash, good)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "fixture_echo (source+sink)")
	assert.Contains(t, out, "FAILED TO LOAD")
	assert.Contains(t, out, "plugin "+crash+": crashed while being inspected in a child process")
	assert.Contains(t, out, "1 plugin, 2 connector types; 1 file failed to load")

	_, errOut, code := runCLI(t, "inspect", crash)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "SIGSEGV")

	out, errOut, code = runCLI(t, "inspect", good)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Connector fixture_echo (source + sink; payload bytes)")
}
