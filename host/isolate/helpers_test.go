package isolate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tremorhost/host/edge"
	"tremorhost/host/isolate"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// runner is build/bin/tremor-runner, built by ./scripts/build.sh.
func runner(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testenv.Root(t), "build", "bin", "tremor-runner")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run ./scripts/build.sh first", p)
	}
	return p
}

// opts are isolation options with the built runner and short timeouts.
func opts(t testing.TB) isolate.Options {
	return isolate.Options{Runner: runner(t), CallTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second, PullGrace: 2 * time.Second}
}

// logBuf collects zerolog JSON lines written from any goroutine.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) logger() zerolog.Logger { return zerolog.New(l).Level(zerolog.TraceLevel) }

func (l *logBuf) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// find returns the first line whose message starts with prefix.
func (l *logBuf) find(prefix string) map[string]any {
	for _, m := range l.lines() {
		if s, _ := m["message"].(string); strings.HasPrefix(s, prefix) {
			return m
		}
	}
	return nil
}

// waitFor polls find until the line shows up (forwarded lines arrive
// asynchronously), for up to 30 s: a generous bound on a loaded machine.
func (l *logBuf) waitFor(t testing.TB, prefix string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := l.find(prefix); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q in:\n%s", prefix, l.buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func loadConnector(t testing.TB, path, name string) *plugin.Connector {
	t.Helper()
	p, err := plugin.Load(path)
	require.NoError(t, err)
	c := p.Connector(name)
	require.NotNil(t, c, "%s has no connector %q", path, name)
	return c
}

func newBatch(t testing.TB, c edge.Caps) *edge.Batch {
	t.Helper()
	b, err := edge.NewBatch(c)
	require.NoError(t, err)
	t.Cleanup(b.Free)
	return b
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(data)
}
