package isolate_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
)

// Pulls are pipelined: while the host works on one batch the child has
// already pulled the next ones. Every event the plugin handed over is
// either taken by a later pull or, when the pulls end (drain, stop; destroy
// takes the same path), failed back to it: at the end, what the plugin
// produced equals what it was told was acked plus failed.
func TestPullAheadFailedBackWhenPullsEnd(t *testing.T) {
	for _, end := range []string{"drain", "stop"} {
		t.Run(end, func(t *testing.T) {
			logs := &logBuf{}
			x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 0, "per_pull": 10}, logs, opts(t))
			b := newBatch(t, edge.DefaultCaps)
			var ids []uint64
			for range 3 {
				require.NoError(t, x.Pull(b, 0))
				require.Equal(t, 10, b.Len())
				for i := range b.Len() {
					ids = append(ids, b.Event(i).ID)
				}
			}
			assert.Equal(t, `{"n":21}`, string(b.Payload(0)), "pulls ahead keep the order")
			require.NoError(t, x.Ack(ids))
			switch end {
			case "drain":
				require.NoError(t, x.Drain())
				require.NoError(t, x.Stop())
			case "stop":
				require.NoError(t, x.Stop())
			}
			// 30 taken and acked; the batches pulled ahead failed back.
			produced, acked, failed := sourceTotals(t, logs)
			assert.Equal(t, 30, acked)
			assert.Equal(t, produced, acked+failed, "every event settled")
			assert.Positive(t, failed, "batches were pulled ahead")
			assert.Zero(t, failed%10, "whole batches")
		})
	}
}

// A paused source keeps its batches pulled ahead: the first pull after
// resume takes the next one.
func TestPullAheadKeptAcrossPause(t *testing.T) {
	logs := &logBuf{}
	x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 0, "per_pull": 10}, logs, opts(t))
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, x.Pull(b, 0))
	first := b.Event(0).ID
	require.NoError(t, x.Pause())
	require.NoError(t, x.Resume())
	require.NoError(t, x.Pull(b, 0))
	require.Equal(t, 10, b.Len())
	assert.Equal(t, `{"n":11}`, string(b.Payload(0)))
	ids := make([]uint64, 0, 20)
	for i := range uint64(20) {
		ids = append(ids, first+i)
	}
	require.NoError(t, x.Ack(ids))
	require.NoError(t, x.Drain())
	require.NoError(t, x.Stop())
	produced, acked, failed := sourceTotals(t, logs)
	assert.Equal(t, 20, acked)
	assert.Equal(t, produced, acked+failed, "every event settled")
}

// sourceTotals reads the crash_source fixture's last words: what it
// produced, and what it was told was acked and failed.
func sourceTotals(t *testing.T, logs *logBuf) (produced, acked, failed int) {
	t.Helper()
	msg, _ := logs.waitFor(t, "crash_source: produced")["message"].(string)
	_, err := fmt.Sscanf(msg, "crash_source: produced %d, acked %d, failed %d", &produced, &acked, &failed)
	require.NoError(t, err, msg)
	return produced, acked, failed
}

// A child that dies while it pulls ahead: the pull that would have taken
// that batch fails as a lost connection with an empty batch (none of its
// events reached the host), acks for the events the host did take are
// dropped, and the new child starts over with ids that do not collide.
func TestCrashWhilePullingAheadIsAccounted(t *testing.T) {
	logs := &logBuf{}
	once := filepath.Join(t.TempDir(), "crashed")
	x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 0, "per_pull": 10, "crash_after": 1, "once_file": once}, logs, opts(t))
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, x.Pull(b, 0))
	require.Equal(t, 10, b.Len())
	ids := make([]uint64, 0, 10)
	for i := range b.Len() {
		ids = append(ids, b.Event(i).ID)
	}
	// The child crashes in the pull ahead; it said what it handed over.
	totals := logs.waitFor(t, "crash_source: produced")
	assert.Equal(t, "crash_source: produced 10, acked 0, failed 0", totals["message"])
	assert.Contains(t, logs.waitFor(t, "the plugin's process died")["exit"], "SIGSEGV")

	assert.NoError(t, x.Ack(ids), "acks for a process that is gone are dropped")
	assert.Equal(t, float64(10), logs.waitFor(t, "dropping acks/fails")["count"])
	err := x.Pull(b, 0)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Equal(t, 0, b.Len(), "nothing of the batch the child was pulling")

	require.NoError(t, x.Connect(1))
	require.NoError(t, x.Pull(b, 0))
	require.Equal(t, 10, b.Len())
	assert.Equal(t, `{"n":1}`, string(b.Payload(0)), "the new process starts over")
	assert.Equal(t, ids[9]+1, b.Event(0).ID)
}

// An isolated source with pipelined pulls gives every event once, in
// order, whatever the wait (a source with nothing ready ahead is pulled
// again with the wait asked for).
func TestPullAheadKeepsOrderToTheEnd(t *testing.T) {
	logs := &logBuf{}
	x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 95, "per_pull": 10}, logs, opts(t))
	b := newBatch(t, edge.DefaultCaps)
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err := x.Pull(b, 10*time.Millisecond)
		for i := range b.Len() {
			n++
			require.Equal(t, fmt.Sprintf(`{"n":%d}`, n), string(b.Payload(i)))
			require.NoError(t, x.Ack([]uint64{b.Event(i).ID}))
		}
		if err != nil {
			require.ErrorIs(t, err, edge.ErrEnd)
			break
		}
	}
	assert.Equal(t, 95, n)
	require.NoError(t, x.Drain())
	require.NoError(t, x.Stop())
	assert.Equal(t, "crash_source: produced 95, acked 95, failed 0", logs.waitFor(t, "crash_source: produced")["message"])
}

// A source that ends inside a run of pulls ahead: the pulls ahead already
// asked for after the one that answered TREMOR_END do not call on_pull
// again (a plugin in the host is not pulled after END either), and every
// event arrives once, in order.
func TestPullAheadStopsAtEnd(t *testing.T) {
	logs := &logBuf{}
	x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 25, "per_pull": 10}, logs, opts(t))
	b := newBatch(t, edge.DefaultCaps)
	var got []string
	var err error
	for err == nil {
		err = x.Pull(b, 0)
		for i := range b.Len() {
			got = append(got, string(b.Payload(i)))
		}
	}
	require.ErrorIs(t, err, edge.ErrEnd)
	require.Len(t, got, 25)
	assert.Equal(t, `{"n":25}`, got[24])
	require.NoError(t, x.Stop())
	produced, _, failed := sourceTotals(t, logs)
	assert.Equal(t, 25, produced)
	assert.Zero(t, failed)
	assert.Nil(t, logs.find("crash_source: pulled again after TREMOR_END"), "on_pull called after END")
}

// A child that crashes after answering some pulls ahead: the batches it
// answered before it died are taken in order by the next pulls (their
// events reached the host), and only the pull after them fails as a lost
// connection.
func TestCrashAfterSomePullsAheadKeepsTheirBatches(t *testing.T) {
	logs := &logBuf{}
	x := newIsolated(t, crashConnector(t, "crash_source"), "src", map[string]any{"count": 0, "per_pull": 10, "crash_after": 3}, logs, opts(t))
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, x.Pull(b, 0))
	totals := logs.waitFor(t, "crash_source: produced")
	assert.Equal(t, "crash_source: produced 30, acked 0, failed 0", totals["message"])
	logs.waitFor(t, "the plugin's process died")
	for want := 11; want <= 21; want += 10 {
		require.NoError(t, x.Pull(b, 0), "a batch pulled ahead before the crash")
		require.Equal(t, 10, b.Len())
		assert.Equal(t, fmt.Sprintf(`{"n":%d}`, want), string(b.Payload(0)))
	}
	err := x.Pull(b, 0)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Equal(t, 0, b.Len())
}
