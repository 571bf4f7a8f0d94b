// Package tests holds end-to-end tests: the real plugins built by
// ./scripts/build.sh (C, Rust and Go, all in this one process) driven
// through the host's loader and instance API, and the tremorctl binary.
package tests

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tremorhost/host/edge"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// The bundled plugins and the connectors each provides.
var bundled = map[string][]string{
	"libtremor_metronome.so": {"metronome"},
	"libtremor_bench.so":     {"bench_source", "bench_sink"},
	"libtremor_file.so":      {"file"},
	"libtremor_tcp.so":       {"tcp_server", "tcp_client"},
	"libtremor_bench_go.so":  {"bench_go_source", "bench_go_sink"},
}

// connector loads build/plugins/<file> and returns its connector <name>.
func connector(t testing.TB, file, name string) *plugin.Connector {
	t.Helper()
	p, err := plugin.Load(testenv.Plugin(t, file))
	require.NoError(t, err)
	c := p.Connector(name)
	require.NotNil(t, c, "%s has no connector %q", file, name)
	return c
}

// logBuf collects zerolog JSON lines written from any thread.
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

// messages returns the message of every line with this alias.
func (l *logBuf) messages(alias string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["connector"] == alias {
			s, _ := m["message"].(string)
			out = append(out, s)
		}
	}
	return out
}

func (l *logBuf) find(alias, substr string) string {
	for _, m := range l.messages(alias) {
		if strings.Contains(m, substr) {
			return m
		}
	}
	return ""
}

// create makes an instance that is destroyed when the test ends.
func create(t testing.TB, c *plugin.Connector, alias string, cfg map[string]any, logs *logBuf) *edge.Instance {
	t.Helper()
	var opts []plugin.Option
	if logs != nil {
		opts = append(opts, plugin.WithLogger(logs.logger()))
	}
	i, err := c.Create(alias, cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(i.Destroy)
	return i
}

// connect calls Connect until it succeeds (bounded).
func connect(t testing.TB, i *edge.Instance) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for attempt := uint32(1); ; attempt++ {
		err := i.Connect(attempt)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			require.NoError(t, err, "connect did not succeed within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newBatch(t testing.TB, c edge.Caps) *edge.Batch {
	t.Helper()
	b, err := edge.NewBatch(c)
	require.NoError(t, err)
	t.Cleanup(b.Free)
	return b
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
