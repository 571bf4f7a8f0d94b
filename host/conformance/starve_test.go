package conformance

import (
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runQueueWaits sees a thread kept from a CPU: with more spinning threads
// than CPUs, some thread of this process waits in the run queue, and the
// wait grows between two snapshots.
func TestRunQueueWaitsSeeStarvation(t *testing.T) {
	before := runQueueWaits(os.Getpid())
	require.NotEmpty(t, before, "/proc/self/task/*/schedstat is readable")
	var stop atomic.Bool
	defer stop.Store(true)
	for range 4 * runtime.NumCPU() {
		go func() {
			runtime.LockOSThread()
			for !stop.Load() {
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for starvedSince(before, runQueueWaits(os.Getpid())) < 10*time.Millisecond {
		require.True(t, time.Now().Before(deadline), "no thread waited for a CPU in 30 s")
		time.Sleep(10 * time.Millisecond)
	}
	assert.Zero(t, starvedSince(before, before))
	assert.Nil(t, runQueueWaits(-1), "no such process")
}
