package plugin_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/plugin"
	"tremorhost/tests/testenv"
)

// logBuf collects zerolog JSON lines from any thread.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) lines() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuf) find(msgPrefix string) map[string]any {
	for _, m := range l.lines() {
		if s, _ := m["message"].(string); strings.HasPrefix(s, msgPrefix) {
			return m
		}
	}
	return nil
}

func connector(t testing.TB, name string) *plugin.Connector {
	t.Helper()
	p, err := plugin.Load(testenv.Fixture(t, "fixture"))
	require.NoError(t, err)
	c := p.Connector(name)
	require.NotNil(t, c)
	return c
}

func newBatch(t testing.TB, c edge.Caps) *edge.Batch {
	t.Helper()
	b, err := edge.NewBatch(c)
	require.NoError(t, err)
	t.Cleanup(b.Free)
	return b
}

func create(t testing.TB, c *plugin.Connector, alias string, cfg map[string]any, logs *logBuf) *edge.Instance {
	t.Helper()
	var opts []plugin.Option
	if logs != nil {
		opts = append(opts, plugin.WithLogger(zerolog.New(logs).Level(zerolog.TraceLevel)))
	}
	i, err := c.Create(alias, cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(i.Destroy)
	return i
}

func TestEchoLifecycle(t *testing.T) {
	logs := &logBuf{}
	echo := create(t, connector(t, "fixture_echo"), "echo1", map[string]any{"count": 3, "prefix": "tick", "retry_connects": 2}, logs)

	created := logs.find("created echo1")
	require.NotNil(t, created, "on_create logs through the host api")
	assert.Equal(t, "info", created["level"])
	assert.Equal(t, "fixture", created["plugin"])
	assert.Equal(t, "fixture_echo", created["type"])
	assert.Equal(t, "echo1", created["connector"])
	assert.Equal(t, "created echo1 with count=3", created["message"])

	assert.Equal(t, edge.ErrRetry, echo.Connect(1), "a bare RETRY")
	err := echo.Connect(2)
	assert.ErrorIs(t, err, edge.ErrRetry)
	assert.EqualError(t, err, "warming up", "a RETRY that says why")
	require.NoError(t, echo.Connect(3))
	assert.Equal(t, "debug", logs.find("connect attempt 1")["level"])
	require.NoError(t, echo.Start())

	b := newBatch(t, edge.Caps{Events: 2, Values: 16, Bytes: 256})
	require.NoError(t, echo.Pull(b, 0))
	require.Equal(t, 2, b.Len(), "events_cap is 2")
	assert.Equal(t, "tick-1", string(b.Payload(0)))
	assert.Equal(t, uint64(1), b.Event(0).ID)
	meta, err := b.Meta(1)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"n": uint64(2)}, meta)

	require.NoError(t, echo.Pull(b, 0))
	require.Equal(t, 1, b.Len())
	assert.Equal(t, "tick-3", string(b.Payload(0)))

	require.NoError(t, echo.Pull(b, 10*time.Millisecond))
	assert.Equal(t, 0, b.Len(), "nothing yet")

	// Send three events; "fail" and "retry" get those outcomes, "hello" is queued.
	out := newBatch(t, edge.DefaultCaps)
	for id, p := range []string{"hello", "fail", "retry"} {
		require.NoError(t, out.Append(&edge.Event{ID: uint64(id), Payload: []byte(p)}))
	}
	outcomes := make([]uint8, 3)
	require.NoError(t, echo.Send(out, outcomes))
	assert.Equal(t, []uint8{abi.OutcomeOK, abi.OutcomeFailed, abi.OutcomeRetry}, outcomes)

	require.NoError(t, echo.Pull(b, 0))
	require.Equal(t, 1, b.Len())
	assert.Equal(t, "hello", string(b.Payload(0)))

	require.NoError(t, echo.Ack([]uint64{1, 2}))
	require.NoError(t, echo.Fail([]uint64{3}))
	assert.NotNil(t, logs.find("ack 1 2"))
	assert.NotNil(t, logs.find("fail 3"))

	require.NoError(t, echo.Pause())
	require.NoError(t, echo.Resume(), "a NULL hook means success")
	require.NoError(t, echo.Drain())
	require.NoError(t, echo.Stop())
	echo.Destroy()
	echo.Destroy() // once only
	err = echo.Pull(b, 0)
	assert.ErrorContains(t, err, "destroyed")
}

func TestPluginThreadLogs(t *testing.T) {
	logs := &logBuf{}
	i := create(t, connector(t, "fixture_echo"), "threaded", map[string]any{"log_thread": true}, logs)
	require.NoError(t, i.Start())
	m := logs.find("hello from a plugin thread")
	require.NotNil(t, m)
	assert.Equal(t, "warn", m["level"])
	assert.Equal(t, "threaded", m["connector"])
}

func TestPullEnd(t *testing.T) {
	i := create(t, connector(t, "fixture_echo"), "e", map[string]any{"count": uint64(2), "end_when_empty": true}, nil)
	b := newBatch(t, edge.DefaultCaps)
	err := i.Pull(b, 0)
	assert.ErrorIs(t, err, edge.ErrEnd)
	assert.Equal(t, 2, b.Len(), "events may come with END")
}

func TestPullGrowsTheRoom(t *testing.T) {
	i := create(t, connector(t, "fixture_echo"), "g", map[string]any{"misbehave": "grow"}, nil)
	b := newBatch(t, edge.Caps{Events: 4, Values: 4, Bytes: 64})
	require.NoError(t, i.Pull(b, 0))
	require.Equal(t, 1, b.Len())
	assert.Equal(t, strings.Repeat("g", 164), string(b.Payload(0)))
	assert.GreaterOrEqual(t, b.Caps().Bytes, 164)
}

func TestStructuredPull(t *testing.T) {
	i := create(t, connector(t, "fixture_echo"), "s", map[string]any{"misbehave": "structured"}, nil)
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, i.Pull(b, 0))
	require.Equal(t, 1, b.Len())
	v, err := b.Value(0)
	require.NoError(t, err)
	assert.Equal(t, []any{"x", int64(7)}, v)
	assert.Nil(t, b.Payload(0))
}

// What the plugin writes into a batch is checked; a violation is an error
// naming the plugin, and the instance is unusable afterwards.
func TestPullContractViolations(t *testing.T) {
	cases := map[string]string{
		"events_len_over_cap":   "events_len 5 is larger than events_cap 4",
		"bytes_len_over_cap":    "bytes_len 65 is larger than bytes_cap 64",
		"payload_outside":       "event 0 (id 1): payload span [1, +1) is outside the 1 bytes written",
		"payload_overflow":      "payload span [18446744073709551615, +1) is outside",
		"bad_flags":             "flags 0x80 has bits ABI 1.1 does not define",
		"bad_port":              "port 7 is neither",
		"moved_arena":           "changed the events/values/bytes pointers",
		"meta_outside":          "meta: value span [0, +3) is outside the 0 value nodes written",
		"meta_bad_tree":         "meta: value node 0: array claims 3 children but only 1 descendants",
		"structured_bad_string": "structured payload: value node 0: string span [0, +64) is outside the 1-byte arena",
		"no_room":               "answered TREMOR_ERR_NO_ROOM 5 times in a row after the room grew as asked",
		"no_room_fits":          "asks for 1 bytes and 0 value nodes, which the room (64 bytes, 8 nodes) already has",
		"no_room_huge":          "more than the host allows",
	}
	for mode, want := range cases {
		t.Run(mode, func(t *testing.T) {
			logs := &logBuf{}
			i := create(t, connector(t, "fixture_echo"), "bad-"+mode, map[string]any{"misbehave": mode}, logs)
			b := newBatch(t, edge.Caps{Events: 4, Values: 8, Bytes: 64})
			err := i.Pull(b, 0)
			require.Error(t, err)
			var pe *edge.Error
			require.ErrorAs(t, err, &pe)
			assert.True(t, pe.Violation)
			assert.ErrorIs(t, err, abi.ResultErrInvalid)
			msg := err.Error()
			assert.Contains(t, msg, `plugin "fixture" broke the plugin contract while reading events: `)
			assert.Equal(t, `plugin "fixture" (`+testenv.Fixture(t, "fixture")+`) connector "fixture_echo" instance "bad-`+mode+`": pull: TREMOR_ERR_INVALID (-6): the plugin broke the contract`, pe.Detail())
			assert.Contains(t, msg, want)
			assert.Equal(t, 0, b.Len(), "nothing of a bad pull is visible")
			assert.Nil(t, logs.find("plugin broke the contract"), "the caller that gets the error reports it, once")

			err = i.Pull(b, 0)
			assert.ErrorContains(t, err, "unusable after an earlier error")
		})
	}
}

func TestHookErrorsCarryThePluginMessage(t *testing.T) {
	cases := []struct {
		mode  string
		code  abi.Result
		msg   string
		after string // error of a second pull, "" when the instance stays usable
	}{
		{"error", abi.ResultErrFailed, "the fixture was told to fail", ""},
		{"disconnect", abi.ResultErrDisconnected, "peer went away", ""},
		{"panic", abi.ResultErrPanic, "boom", "unusable"},
		{"long_error", abi.ResultErrFailed, strings.Repeat("E", 4096), ""},
		{"error_len_over_cap", abi.ResultErrFailed, "message truncated: the plugin set len 4106, past cap 4096", ""},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			i := create(t, connector(t, "fixture_echo"), "x", map[string]any{"misbehave": tc.mode}, nil)
			b := newBatch(t, edge.DefaultCaps)
			err := i.Pull(b, 0)
			var pe *edge.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.code, pe.Code)
			assert.ErrorIs(t, err, tc.code)
			assert.Contains(t, pe.Message, tc.msg)
			assert.Equal(t, "fixture", pe.Plugin)
			assert.Equal(t, "fixture_echo", pe.Connector)
			assert.Equal(t, "x", pe.Alias)
			err = i.Pull(b, 0)
			if tc.after != "" {
				assert.ErrorContains(t, err, tc.after)
			} else {
				assert.ErrorIs(t, err, tc.code, "the instance stays usable")
			}
		})
	}
	i := create(t, connector(t, "fixture_echo"), "p", map[string]any{"misbehave": "pause_unsupported"}, nil)
	err := i.Pause()
	assert.ErrorIs(t, err, abi.ResultErrUnsupported)
	assert.ErrorContains(t, err, "does not support this operation while pausing: cannot pause")
}

func TestSendDisconnected(t *testing.T) {
	i := create(t, connector(t, "fixture_echo"), "d", nil, nil)
	b := newBatch(t, edge.DefaultCaps)
	for id, p := range []string{"a", "disconnect", "b"} {
		require.NoError(t, b.Append(&edge.Event{ID: uint64(id), Payload: []byte(p)}))
	}
	outcomes := make([]uint8, 3)
	err := i.Send(b, outcomes)
	assert.ErrorIs(t, err, abi.ResultErrDisconnected)
	assert.Equal(t, []uint8{abi.OutcomeOK, abi.OutcomeFailed, abi.OutcomeFailed}, outcomes, "outcomes are pre-set to FAILED")
	assert.ErrorContains(t, i.Send(b, make([]uint8, 1)), "outcomes has room for 1 events, the batch holds 3")
}

func TestSendMustNotModifyTheBatch(t *testing.T) {
	i := create(t, connector(t, "fixture_echo"), "m", map[string]any{"misbehave": "send_modifies"}, nil)
	b := newBatch(t, edge.DefaultCaps)
	require.NoError(t, b.Append(&edge.Event{ID: 1, Payload: []byte("x")}))
	err := i.Send(b, make([]uint8, 1))
	var pe *edge.Error
	require.ErrorAs(t, err, &pe)
	assert.True(t, pe.Violation)
	assert.Contains(t, err.Error(), "broke the plugin contract while sending events: it modified the batch header")
}

func TestCreateChecksConfig(t *testing.T) {
	types := connector(t, "fixture_types")
	cases := []struct {
		name string
		cfg  map[string]any
		want []string
	}{
		{"missing required", map[string]any{}, []string{`missing required config field "host" (string: where to send)`}},
		{"unknown key", map[string]any{"host": "h", "prot": 1}, []string{`unknown config field "prot" (known fields: host, password, enabled,`}},
		{"wrong type", map[string]any{"host": 1}, []string{`config field "host": expected string, got int`}},
		{"negative uint", map[string]any{"host": "h", "port": -1}, []string{`config field "port": expected uint, got -1, which is negative`}},
		{"fractional int", map[string]any{"host": "h", "offset": 1.5}, []string{`config field "offset": expected int, got 1.5`}},
		{"inexact float", map[string]any{"host": "h", "ratio": int64(1)<<53 + 1}, []string{`config field "ratio": expected float, got 9007199254740993, which a float cannot hold exactly`}},
		{"uint too big for int", map[string]any{"host": "h", "offset": uint64(1) << 63}, []string{`config field "offset": expected int, got 9223372036854775808, which does not fit`}},
		{"secret not shown", map[string]any{"host": "h", "password": 12345}, []string{`config field "password": expected string, got int`}},
		{"several", map[string]any{"enabled": "yes", "tags": "a"}, []string{`"enabled": expected bool, got string`, `"tags": expected array, got string`, `missing required config field "host"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := types.Create("t", tc.cfg)
			require.Error(t, err)
			assert.ErrorIs(t, err, abi.ResultErrConfig)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "12345")
		})
	}

	got, err := types.CheckConfig(map[string]any{"host": "h", "port": 9000.0, "ratio": 2, "key": "k", "tags": []string{"x"}, "password": nil})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"host": "h", "port": uint64(9000), "ratio": 2.0, "key": []byte("k"), "tags": []any{"x"},
		"enabled": true, "offset": int64(-5), "extra": map[string]any{"k": map[string]any{"n": nil}},
	}, got, "values in their field's type, defaults filled in, nil = absent")

	// A plugin's own ERR_CONFIG keeps its message.
	_, err = connector(t, "fixture_echo").Create("e", map[string]any{"prefix": "bad"})
	assert.ErrorIs(t, err, abi.ResultErrConfig)
	assert.ErrorContains(t, err, `refused its config at creation: prefix "bad" is not allowed`)
}

func TestConcurrentInstances(t *testing.T) {
	c := connector(t, "fixture_echo")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i, err := c.Create(fmt.Sprintf("c%d", g), map[string]any{"count": 500, "prefix": fmt.Sprintf("g%d", g)})
			if !assert.NoError(t, err) {
				return
			}
			defer i.Destroy()
			b, _ := edge.NewBatch(edge.Caps{Events: 7, Values: 64, Bytes: 1024})
			defer b.Free()
			n := 0
			for n < 500 {
				if !assert.NoError(t, i.Pull(b, 0)) {
					return
				}
				for k := 0; k < b.Len(); k++ {
					n++
					if !assert.Equal(t, fmt.Sprintf("g%d-%d", g, n), string(b.Payload(k))) {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
