package isolate

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// A plugin that crashes at once every time (in its first pull, say) would
// otherwise be restarted as fast as a process starts, hundreds of times a
// second, each time with a few log lines. Restarts are paced with
// exponential backoff, and the crash lines of one instance are held back
// to one per window, followed by one line with the count.
const (
	// restartInitial is the wait before the second restart in a row; the
	// first restart after a healthy period is immediate.
	restartInitial = 100 * time.Millisecond
	// restartMax bounds the wait. Connect waits it out, so it also bounds
	// how long a shutdown can wait for a connect in progress.
	restartMax = 2 * time.Second
	// healthyPeriod without a crash resets the backoff.
	healthyPeriod = 10 * time.Second
	// crashLogWindow is how long crash lines after a logged one are only
	// counted.
	crashLogWindow = 10 * time.Second
)

// backoff paces the restarts of one instance's child. Not safe for
// concurrent use (the Instance's lock guards it).
type backoff struct {
	crashes   int       // in a row, without a healthy period between them
	lastCrash time.Time // when the last child died
}

// crashed records a child's death at now and returns how long to wait
// before the next child starts.
func (b *backoff) crashed(now time.Time) time.Duration {
	if now.Sub(b.lastCrash) > healthyPeriod {
		b.crashes = 0
	}
	b.lastCrash = now
	b.crashes++
	if b.crashes == 1 {
		return 0
	}
	d := restartInitial
	for i := 2; i < b.crashes && d < restartMax; i++ {
		d *= 2
	}
	return min(d, restartMax)
}

// crashLog logs the deaths of one instance's children: the first in a
// window in full, the others as one line with their count when the window
// ends. Safe for concurrent use: deaths are reported by the goroutine
// that reaps each child.
type crashLog struct {
	log   zerolog.Logger // tagged with plugin, type and connector
	alias string

	mu        sync.Mutex
	windowEnd time.Time
	logged    time.Time // when the death that opened the window was logged
	held      int       // deaths in the window not logged yet
	lastWhy   string    // the short cause of the last one held (SIGSEGV)
	timer     *time.Timer
	closed    bool
}

func newCrashLog(log zerolog.Logger, alias string) *crashLog {
	return &crashLog{log: log, alias: alias}
}

// died reports a death; full logs it unless it is held back. It returns
// whether it was logged (so that the restart line that follows is logged
// with it, or held back with it).
func (c *crashLog) died(now time.Time, why string, full func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Before(c.windowEnd) {
		c.held++
		c.lastWhy = why
		return false
	}
	c.flushLocked()
	full()
	c.logged, c.windowEnd = now, now.Add(crashLogWindow)
	if c.timer == nil && !c.closed {
		c.timer = time.AfterFunc(crashLogWindow, c.flush)
	} else if c.timer != nil {
		c.timer.Reset(crashLogWindow)
	}
	return true
}

// quiet says whether deaths are being held back right now.
func (c *crashLog) quiet() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held > 0
}

func (c *crashLog) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

func (c *crashLog) flushLocked() {
	if c.held == 0 {
		return
	}
	since := min(time.Since(c.logged), crashLogWindow).Round(time.Second)
	c.log.Error().Int("crashes", c.held).Str("last_exit", c.lastWhy).
		Msg(fmt.Sprintf("the plugin's process for connector %q crashed %d more times in the last %s (%s)", c.alias, c.held, max(since, time.Second), c.lastWhy))
	c.held = 0
}

// close logs what is held back and stops the timer (the instance is
// destroyed).
func (c *crashLog) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.flushLocked()
	if c.timer != nil {
		c.timer.Stop()
	}
}
