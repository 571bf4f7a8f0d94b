package isolate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The wait before each restart: none after a first crash, then doubling
// from 100 ms up to 2 s; 10 s without a crash starts over.
func TestRestartBackoff(t *testing.T) {
	var b backoff
	now := time.Unix(1000, 0)
	for i, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second} {
		if got := b.crashed(now); got != want {
			t.Fatalf("crash %d in a row: wait %s, want %s", i+1, got, want)
		}
		now = now.Add(time.Second)
	}
	if got := b.crashed(now.Add(healthyPeriod + time.Millisecond)); got != 0 {
		t.Fatalf("after a healthy period: wait %s, want 0", got)
	}
	if got := b.crashed(now.Add(healthyPeriod + time.Second)); got != restartInitial {
		t.Fatalf("the next crash: wait %s, want %s", got, restartInitial)
	}
}

// One death per window is logged in full; the others are counted into one
// line when the window ends (or the instance is destroyed).
func TestCrashLogHoldsBackRepeats(t *testing.T) {
	var buf bytes.Buffer
	c := newCrashLog(zerolog.New(&buf), "src")
	full := 0
	now := time.Now()
	logged := []bool{}
	for i := range 5 {
		logged = append(logged, c.died(now.Add(time.Duration(i)*time.Second), "SIGSEGV", func() { full++ }))
	}
	if full != 1 || !logged[0] || logged[1] || logged[4] {
		t.Fatalf("full lines %d, logged %v: want only the first", full, logged)
	}
	if !c.quiet() {
		t.Fatal("deaths are held back")
	}
	c.close()
	if !strings.Contains(buf.String(), `the plugin's process for connector \"src\" crashed 4 more times in the last`) || !strings.Contains(buf.String(), "(SIGSEGV)") {
		t.Fatalf("no count line: %s", buf.String())
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("one line: %s", buf.String())
	}
	// a death after the window is logged in full again
	if !c.died(now.Add(crashLogWindow+5*time.Second), "SIGABRT", func() { full++ }) || full != 2 {
		t.Fatal("a death after the window is logged in full")
	}
}
