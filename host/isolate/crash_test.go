package isolate_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

func crashConnector(t testing.TB, name string) *plugin.Connector {
	return loadConnector(t, testenv.Fixture(t, "fixture_crash"), name)
}

func newIsolated(t *testing.T, c *plugin.Connector, alias string, cfg map[string]any, logs *logBuf, o isolate.Options) *isolate.Instance {
	t.Helper()
	x, err := isolate.New(c, alias, cfg, logs.logger(), o)
	require.NoError(t, err)
	t.Cleanup(x.Destroy)
	require.NoError(t, x.Connect(1))
	require.NoError(t, x.Start())
	return x
}

// A source that segfaults in on_pull: the call and every later one fail as
// a lost connection, acks for its events are dropped, the crash is logged,
// and Connect starts a new process that carries on.
func TestSourceCrashRestarts(t *testing.T) {
	logs := &logBuf{}
	once := filepath.Join(t.TempDir(), "crashed")
	x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 0, "per_pull": 10, "crash_after": 2, "once_file": once}, logs, opts(t))
	pid := x.Pid()
	b := newBatch(t, edge.DefaultCaps)
	var ids []uint64
	for range 2 {
		require.NoError(t, x.Pull(b, 0))
		require.Equal(t, 10, b.Len())
		for i := range b.Len() {
			ids = append(ids, b.Event(i).ID)
		}
	}
	assert.Equal(t, uint64(1), ids[0])
	assert.Equal(t, uint64(20), ids[19], "ids the runtime sees are unique across processes")
	require.NoError(t, x.Ack(ids[:5]))

	err := x.Pull(b, 0)
	require.Error(t, err)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Contains(t, err.Error(), `plugin "fixture_crash"`)
	assert.Contains(t, err.Error(), "SIGSEGV")
	assert.Contains(t, err.Error(), "during pull")
	assert.Equal(t, 0, b.Len())
	crash := logs.waitFor(t, "the plugin's process died")
	assert.Equal(t, "error", crash["level"])
	assert.Equal(t, "src", crash["connector"])
	assert.Contains(t, crash["exit"], "SIGSEGV")
	assert.Contains(t, crash["message"], testenv.Fixture(t, "fixture_crash"))

	assert.ErrorIs(t, x.Pull(b, 0), abi.ResultErrDisconnected, "until it reconnects")
	assert.NoError(t, x.Ack(ids[5:]), "acks for a process that is gone are dropped, not errors")
	assert.NoError(t, x.Pause())
	assert.Equal(t, 0, x.Pid())

	require.NoError(t, x.Connect(1), "a new process")
	assert.NotEqual(t, pid, x.Pid())
	assert.Equal(t, 1, x.Restarts())
	require.NoError(t, x.Pull(b, 0))
	require.Equal(t, 10, b.Len())
	assert.Equal(t, `{"n":1}`, string(b.Payload(0)), "the new process starts over")
	assert.Equal(t, uint64(21), b.Event(0).ID, "but its ids do not collide with the old ones")
	require.NoError(t, x.Ack([]uint64{21}))
	assert.NotNil(t, logs.find("starting a new process for the plugin"))
}

// A sink that segfaults in on_send: nothing of the batch is taken as
// delivered (every outcome FAILED, error: lost connection), and after
// Connect the same batch goes through.
func TestSinkCrashRestarts(t *testing.T) {
	logs := &logBuf{}
	out := filepath.Join(t.TempDir(), "out.txt")
	once := filepath.Join(t.TempDir(), "crashed")
	x := newIsolated(t, crashConnector(t, "crash_sink"), "dst", map[string]any{"path": out, "crash_after": 1, "once_file": once}, logs, opts(t))
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, b.Append(&edge.Event{ID: 0, Payload: []byte("one")}))
	outcomes := make([]uint8, 1)
	require.NoError(t, x.Send(b, outcomes))
	assert.Equal(t, []uint8{abi.OutcomeOK}, outcomes)

	b.Reset()
	require.NoError(t, b.Append(&edge.Event{ID: 0, Payload: []byte("two")}))
	outcomes[0] = abi.OutcomeOK // stale: must be overwritten
	err := x.Send(b, outcomes)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Equal(t, []uint8{abi.OutcomeFailed}, outcomes)
	assert.ErrorIs(t, x.Send(b, outcomes), abi.ResultErrDisconnected)

	require.NoError(t, x.Connect(1))
	require.NoError(t, x.Send(b, outcomes))
	assert.Equal(t, []uint8{abi.OutcomeOK}, outcomes)
	assert.Equal(t, "one\ntwo\n", readFile(t, out))
}

// A hook that does not return in time gets its process killed: a hung
// plugin is handled like a crashed one.
func TestHangingPluginIsKilled(t *testing.T) {
	logs := &logBuf{}
	o := opts(t)
	o.PullGrace = 300 * time.Millisecond
	x := newIsolated(t, crashConnector(t, "crash_source"), "slow", map[string]any{"hang_after": 1, "count": 0, "per_pull": 5}, logs, o)
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, x.Pull(b, 0))
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- x.Pull(b, 100*time.Millisecond) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the hung pull was not ended within 30 s")
	}
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Contains(t, err.Error(), "pull did not return within 400ms: the plugin hangs")
	assert.Contains(t, err.Error(), "SIGKILL")
	assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "not killed before its time")
	died := logs.waitFor(t, "the plugin's process died")
	assert.Equal(t, "pull", died["during"])
	assert.Zero(t, x.Pid())

	// connect hangs too: bounded by ConnectTimeout
	o.ConnectTimeout = 300 * time.Millisecond
	y, err := isolate.New(crashConnector(t, "crash_source"), "slowconnect", map[string]any{"hang_in": "connect"}, logs.logger(), o)
	require.NoError(t, err)
	t.Cleanup(y.Destroy)
	err = y.Connect(1)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Contains(t, err.Error(), "connect did not return within 300ms")
}
