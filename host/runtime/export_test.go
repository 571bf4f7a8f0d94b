package runtime

import "time"

// SetIntervals shortens the runtime's fixed waits for a test and returns a
// function that restores them.
func SetIntervals(grace, stop, retryWarn time.Duration) (restore func()) {
	g, s, r := hookGrace, stopTimeout, retryWarnEvery
	hookGrace, stopTimeout, retryWarnEvery = grace, stop, retryWarn
	return func() { hookGrace, stopTimeout, retryWarnEvery = g, s, r }
}
