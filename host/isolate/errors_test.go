package isolate_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/isolate"
	"tremorhost/tests/testenv"
)

// envFakeRunner makes this test binary act as tremor-runner (TestMain):
// "abi" sends a READY for another ABI, "die" writes to its stdout and
// stderr and exits 3 before READY.
const envFakeRunner = "TREMOR_TEST_FAKE_RUNNER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envFakeRunner); mode != "" {
		if len(os.Args) > 1 && os.Args[1] == "--version" {
			fmt.Println("tremor-runner (plugin ABI " + abi.ABIVersionString + ")") // passes for one
			os.Exit(0)
		}
		os.Exit(fakeRunner(mode))
	}
	os.Exit(m.Run())
}

func fakeRunner(mode string) int {
	switch mode {
	case "abi":
		sock := os.NewFile(3, "socket")
		var f [8 + 16]byte
		binary.NativeEndian.PutUint32(f[0:], 16)
		binary.NativeEndian.PutUint16(f[4:], 100) // READY
		binary.NativeEndian.PutUint16(f[8:], abi.ABIMajor+1)
		binary.NativeEndian.PutUint16(f[10:], 0)
		binary.NativeEndian.PutUint32(f[16:], uint32(os.Getpid()))
		sock.Write(f[:])
		var b [1]byte
		sock.Read(b[:]) // until the host closes its end
		return 0
	case "die":
		fmt.Println("starting up")
		fmt.Fprintln(os.Stderr, strings.Repeat("x", 5000))
		fmt.Fprint(os.Stderr, "fatal: cannot map the batch\r\nand a last line without newline \xff")
		return 3
	}
	return 2
}

// fakeRunnerOpts are options whose runner is this test binary acting as
// a runner in the given mode.
func fakeRunnerOpts(t *testing.T, mode string) isolate.Options {
	t.Setenv(envFakeRunner, mode) // inherited by the child
	exe, err := os.Executable()
	require.NoError(t, err)
	o := opts(t)
	o.Runner = exe
	return o
}

// copyPlugin copies a built plugin into a directory of the test's own, so
// that the test can replace it.
func copyPlugin(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	replaceFile(t, dst, src)
	return dst
}

// replaceFile puts a copy of src at dst by renaming (a new file): a
// library loaded from dst keeps its pages.
func replaceFile(t *testing.T, dst, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	tmp := dst + ".new"
	require.NoError(t, os.WriteFile(tmp, data, 0o755))
	require.NoError(t, os.Rename(tmp, dst))
}

// killChild ends x's child as a crash would, and waits until x knows.
func killChild(t *testing.T, x *isolate.Instance, logs *logBuf) {
	t.Helper()
	pid := x.Pid()
	require.NotZero(t, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	logs.waitFor(t, "the plugin's process died")
	b := newBatch(t, edge.DefaultCaps)
	assert.ErrorIs(t, x.Pull(b, 0), abi.ResultErrDisconnected)
	require.Zero(t, x.Pid())
}

// A new child after a crash runs the plugin file hashed when it was
// loaded: when the file changed in between, the restart is refused with a
// config error (the runtime gives up on the connector instead of running
// other code than it checked) that says what to do.
func TestRespawnRefusesAChangedFile(t *testing.T) {
	path := copyPlugin(t, testenv.Fixture(t, "fixture_crash"))
	c := loadConnector(t, path, "crash_source")
	logs := &logBuf{}
	x := newIsolated(t, c, "src", map[string]any{"count": 0, "per_pull": 1}, logs, opts(t))
	killChild(t, x, logs)

	replaceFile(t, path, testenv.Fixture(t, "fixture"))
	err := x.Connect(1)
	require.Error(t, err)
	assert.ErrorIs(t, err, abi.ResultErrConfig)
	assert.Contains(t, err.Error(), `plugin "fixture_crash" cannot be used at creation: `)
	assert.Contains(t, err.Error(), "the plugin file changed since it was loaded (SHA-256 ")
	assert.Contains(t, err.Error(), ", was "+c.Plugin.SHA256+"): restart the host to use the new file")
	assert.Zero(t, x.Pid(), "no child runs the new file")

	require.NoError(t, os.Remove(path))
	err = x.Connect(2)
	assert.ErrorIs(t, err, abi.ResultErrFailed)
	assert.Contains(t, err.Error(), "cannot open the plugin file")
}

// A file whose connector implements other hooks than the one loaded (a
// plugin without a hash: the hash check cannot tell) is refused at the
// restart.
func TestRespawnRefusesOtherHooks(t *testing.T) {
	path := copyPlugin(t, testenv.Fixture(t, "fixture"))
	c := loadConnector(t, path, "fixture_echo")
	logs := &logBuf{}
	x := newIsolated(t, c, "echo", nil, logs, opts(t))
	killChild(t, x, logs)

	// fixture_claims_echo has a connector of the same name, a source only
	replaceFile(t, path, testenv.Fixture(t, "fixture_claims_echo"))
	c.Plugin.SHA256 = ""
	err := x.Connect(1)
	require.Error(t, err)
	assert.ErrorIs(t, err, abi.ResultErrConfig)
	assert.Contains(t, err.Error(), "the plugin file's connector implements other hooks than when it was loaded: restart the host to use the new file")
	assert.Zero(t, x.Pid())
}

// A runner built for another ABI is refused when its child starts, naming
// the runner and what to do.
func TestRunnerOfAnotherABI(t *testing.T) {
	o := fakeRunnerOpts(t, "abi")
	_, err := isolate.New(echo(t), "echo", nil, (&logBuf{}).logger(), o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("%s speaks ABI %d.0, this host %s: rebuild it with this host", o.Runner, abi.ABIMajor+1, abi.ABIVersionString))
	assert.Contains(t, err.Error(), `plugin "fixture"`)
}

// A child that dies before READY: creating the instance fails as a lost
// connection (the runtime retries with backoff), with the exit status and
// the child's last output; each line it wrote went to the log as it came
// (cut at 4 KiB, invalid UTF-8 replaced).
func TestChildDiesWhileStarting(t *testing.T) {
	logs := &logBuf{}
	_, err := isolate.New(echo(t), "echo", nil, logs.logger(), fakeRunnerOpts(t, "die"))
	require.Error(t, err)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Contains(t, err.Error(), "during start")
	assert.Contains(t, err.Error(), "exited with status 3")
	assert.Contains(t, err.Error(), "fatal: cannot map the batch")
	assert.Contains(t, err.Error(), "; plugin file ")
	assert.NotContains(t, err.Error(), "a new process is started", "the reconnect policy decides; the message does not promise")

	died := logs.waitFor(t, "the plugin's process died")
	assert.Equal(t, "error", died["level"])
	assert.Equal(t, "echo", died["connector"])
	var wrote []string
	for _, m := range logs.lines() {
		if m["message"] == "the plugin's process wrote" {
			assert.Equal(t, "warn", m["level"])
			assert.Equal(t, "echo", m["connector"])
			wrote = append(wrote, m["output"].(string))
		}
	}
	require.Len(t, wrote, 3, "each whole line, as it came (the last, unfinished, is in the crash line)")
	assert.ElementsMatch(t, []string{"starting up", strings.Repeat("x", 4096), "fatal: cannot map the batch"}, wrote)
	last, _ := died["last_output"].([]any)
	require.NotEmpty(t, last)
	assert.Equal(t, "and a last line without newline \uFFFD", last[len(last)-1], "the unfinished line")
}

// on_ack and on_fail are one-way: a failure comes back as a notice, and the
// next such call after the host heard from the child reports it (with the
// plugin's message); the ones after that succeed again.
func TestFailedAckReportedWithTheNextCall(t *testing.T) {
	c := loadConnector(t, testenv.Fixture(t, "fault"), "fault")
	logs := &logBuf{}
	x := newIsolated(t, c, "src", map[string]any{"fail_at": "ack", "count": 100}, logs, opts(t))
	b := newBatch(t, edge.Caps{Events: 4, Values: 64, Bytes: 1024})
	require.NoError(t, x.Pull(b, 0))
	require.Equal(t, 4, b.Len())
	ids := []uint64{b.Event(0).ID, b.Event(1).ID, b.Event(2).ID, b.Event(3).ID}

	require.NoError(t, x.Ack(ids[:2]), "one-way: its outcome is not known yet")
	// The next request (the next pulls ahead, asked for a few at a time)
	// takes the ack along; the child answers it (a notice) before the
	// pulls, and the pull that reads their answers reads the notice on
	// the way. Each ack until then succeeds as far as the host knows.
	var err error
	for range 20 {
		require.NoError(t, x.Pull(b, 0))
		if err = x.Ack([]uint64{b.Event(0).ID}); err != nil {
			break
		}
	}
	require.Error(t, err, "the failure of the first ack")
	assert.ErrorIs(t, err, abi.ResultErrFailed)
	assert.Contains(t, err.Error(), "fault: told to fail at ack")
	assert.Contains(t, err.Error(), `plugin "fault" reported an error while acknowledging events: `)
	assert.NotNil(t, logs.find("a one-way call failed; reported with the next one"))
}
