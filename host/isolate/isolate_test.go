package isolate_test

import (
	"os"
	"path/filepath"
	"strings"
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

// instance is what the runtime drives: *edge.Instance and
// *isolate.Instance both are one.
type instance interface {
	Connect(attempt uint32) error
	Start() error
	Pause() error
	Resume() error
	Drain() error
	Stop() error
	Pull(b *edge.Batch, wait time.Duration) error
	Ack(ids []uint64) error
	Fail(ids []uint64) error
	Send(b *edge.Batch, outcomes []uint8) error
	Destroy()
}

type maker func(t *testing.T, c *plugin.Connector, alias string, cfg map[string]any, logs *logBuf) instance

// both runs a test against an instance in this process and one in a child
// process: the contract's checks must come out the same.
func both(t *testing.T, f func(t *testing.T, mk maker)) {
	t.Run("in-process", func(t *testing.T) {
		f(t, func(t *testing.T, c *plugin.Connector, alias string, cfg map[string]any, logs *logBuf) instance {
			var o []plugin.Option
			if logs != nil {
				o = append(o, plugin.WithLogger(logs.logger()))
			}
			i, err := c.Create(alias, cfg, o...)
			require.NoError(t, err)
			t.Cleanup(i.Destroy)
			return i
		})
	})
	t.Run("isolated", func(t *testing.T) {
		f(t, func(t *testing.T, c *plugin.Connector, alias string, cfg map[string]any, logs *logBuf) instance {
			if logs == nil {
				logs = &logBuf{}
			}
			i, err := isolate.New(c, alias, cfg, logs.logger(), opts(t))
			require.NoError(t, err)
			t.Cleanup(i.Destroy)
			return i
		})
	})
}

func echo(t testing.TB) *plugin.Connector {
	return loadConnector(t, testenv.Fixture(t, "fixture"), "fixture_echo")
}

// The descriptor read in a child (tremor-runner --describe) is checked by
// the same code as one read in this process: same plugin or same error,
// for every broken fixture and every bundled plugin.
func TestInspectMatchesLoad(t *testing.T) {
	var files []string
	for _, name := range []string{"fixture", "fixture_minimal", "fixture_crash", "fixture_abi_major", "fixture_abi_minor", "fixture_no_entry",
		"fixture_null_descriptor", "fixture_small_descriptor", "fixture_no_connectors", "fixture_no_create", "fixture_no_pull",
		"fixture_no_send", "fixture_no_vtable", "fixture_vtable_size_zero", "fixture_small_connector", "fixture_no_kinds",
		"fixture_dup_connector", "fixture_bad_utf8", "fixture_bad_default", "fixture_bad_default_json", "fixture_bad_field_type"} {
		files = append(files, testenv.Fixture(t, name))
	}
	for _, name := range []string{"libtremor_metronome.so", "libtremor_bench.so", "libtremor_file.so", "libtremor_tcp.so", "libtremor_bench_go.so"} {
		files = append(files, testenv.Plugin(t, name))
	}
	s := &isolate.Scanner{Runner: runner(t)}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, wantErr := plugin.Load(f)
			got, gotErr := s.Inspect(f)
			if wantErr != nil {
				require.Error(t, gotErr)
				assert.Equal(t, wantErr.Error(), gotErr.Error())
				return
			}
			require.NoError(t, gotErr)
			assert.False(t, got.Loaded())
			assert.Equal(t, want.Path, got.Path)
			assert.Equal(t, want.SHA256, got.SHA256)
			for _, field := range [][2]string{{want.Name, got.Name}, {want.Version, got.Version}, {want.Description, got.Description},
				{want.License, got.License}, {want.SDK, got.SDK}, {want.ABI(), got.ABI()}} {
				assert.Equal(t, field[0], field[1])
			}
			require.Len(t, got.Connectors, len(want.Connectors))
			for i, wc := range want.Connectors {
				gc := got.Connectors[i]
				assert.Equal(t, wc.Name, gc.Name)
				assert.Equal(t, wc.Description, gc.Description)
				assert.Equal(t, wc.Kinds, gc.Kinds)
				assert.Equal(t, wc.Payload, gc.Payload)
				assert.Equal(t, wc.Fields, gc.Fields)
				assert.Equal(t, wc.Hooks(), gc.Hooks())
			}
		})
	}
}

// A plugin whose entry point crashes or hangs is that file's error; the
// other files are listed.
func TestScannerSurvivesCrashingAndHangingPlugins(t *testing.T) {
	crash := filepath.Join(testenv.FixturesDir(t), "unloadable", "libtremor_fixture_crash_describe.so")
	hang := filepath.Join(testenv.FixturesDir(t), "unloadable", "libtremor_fixture_hang_describe.so")
	good := testenv.Fixture(t, "fixture")
	s := &isolate.Scanner{Runner: runner(t), Timeout: time.Second}
	start := time.Now()
	reg, err := s.Registry([]string{crash, good, hang})
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "the files are inspected in parallel and the hang is cut at the timeout")
	require.Len(t, reg.Entries, 3)
	assert.ErrorContains(t, reg.Entries[0].Err, "plugin "+crash+": crashed while being inspected in a child process")
	assert.ErrorContains(t, reg.Entries[0].Err, "SIGSEGV")
	assert.NoError(t, reg.Entries[1].Err)
	assert.NotNil(t, reg.Connector("fixture_echo"))
	assert.ErrorContains(t, reg.Entries[2].Err, "plugin "+hang+": did not finish being inspected within 1s")
}

// A runner named by TREMOR_RUNNER is used when it is an executable only
// its owner can change, refused (never "not found", which would let a host
// fall back to running plugins in itself) otherwise; without one named,
// none next to the executable is "not found".
func TestFindRunner(t *testing.T) {
	t.Setenv(isolate.EnvRunner, runner(t))
	p, err := isolate.FindRunner()
	require.NoError(t, err)
	assert.Equal(t, runner(t), p)

	data, err := os.ReadFile(runner(t))
	require.NoError(t, err)
	writable := filepath.Join(t.TempDir(), "tremor-runner")
	require.NoError(t, os.WriteFile(writable, data, 0o755))
	require.NoError(t, os.Chmod(writable, 0o757))
	notExec := filepath.Join(t.TempDir(), "tremor-runner")
	require.NoError(t, os.WriteFile(notExec, data, 0o644))
	for _, tc := range []struct{ runner, want string }{
		{"/nonexistent/tremor-runner", "TREMOR_RUNNER=/nonexistent/tremor-runner: no such file"},
		{notExec, "not an executable file"},
		{writable, "the file is writable by group or others (mode 0757), so they could change the code this host runs; fix with: chmod go-w " + writable},
	} {
		t.Setenv(isolate.EnvRunner, tc.runner)
		_, err = isolate.FindRunner()
		assert.ErrorIs(t, err, isolate.ErrRunnerRefused, tc.runner)
		assert.NotErrorIs(t, err, isolate.ErrNoRunner, tc.runner)
		assert.ErrorContains(t, err, tc.want)
		_, err = isolate.FindRunnerWith(isolate.Options{Runner: tc.runner})
		assert.ErrorIs(t, err, isolate.ErrRunnerRefused, tc.runner)
	}
	t.Setenv(isolate.EnvRunner, "")
	_, err = isolate.FindRunner() // next to the test binary: not there
	assert.ErrorIs(t, err, isolate.ErrNoRunner)
	assert.ErrorContains(t, err, isolate.EnvRunner)
}

func TestEchoLifecycle(t *testing.T) {
	both(t, func(t *testing.T, mk maker) {
		logs := &logBuf{}
		e := mk(t, echo(t), "echo1", map[string]any{"count": 3, "prefix": "tick", "retry_connects": 2}, logs)
		created := logs.waitFor(t, "created echo1")
		assert.Equal(t, "info", created["level"])
		assert.Equal(t, "fixture", created["plugin"])
		assert.Equal(t, "fixture_echo", created["type"])
		assert.Equal(t, "echo1", created["connector"])

		assert.Equal(t, edge.ErrRetry, e.Connect(1), "a bare RETRY")
		err := e.Connect(2)
		assert.ErrorIs(t, err, edge.ErrRetry)
		assert.EqualError(t, err, "warming up", "a RETRY that says why crosses the process boundary")
		require.NoError(t, e.Connect(3))
		assert.Equal(t, "debug", logs.waitFor(t, "connect attempt 1")["level"])
		require.NoError(t, e.Start())

		b := newBatch(t, edge.Caps{Events: 2, Values: 16, Bytes: 256})
		require.NoError(t, e.Pull(b, 0))
		require.Equal(t, 2, b.Len())
		assert.Equal(t, "tick-1", string(b.Payload(0)))
		assert.Equal(t, uint64(1), b.Event(0).ID)
		meta, err := b.Meta(1)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"n": uint64(2)}, meta)
		require.NoError(t, e.Pull(b, 0))
		require.Equal(t, 1, b.Len())
		assert.Equal(t, "tick-3", string(b.Payload(0)))
		require.NoError(t, e.Pull(b, 10*time.Millisecond))
		assert.Equal(t, 0, b.Len())

		out := newBatch(t, edge.DefaultCaps)
		for id, p := range []string{"hello", "fail", "retry"} {
			require.NoError(t, out.Append(&edge.Event{ID: uint64(id), Payload: []byte(p)}))
		}
		outcomes := make([]uint8, 3)
		require.NoError(t, e.Send(out, outcomes))
		assert.Equal(t, []uint8{abi.OutcomeOK, abi.OutcomeFailed, abi.OutcomeRetry}, outcomes)
		require.NoError(t, e.Pull(b, 0), "the same batch object pulls after it was sent")
		require.Equal(t, 1, b.Len())
		assert.Equal(t, "hello", string(b.Payload(0)))

		require.NoError(t, e.Ack([]uint64{1, 2}))
		require.NoError(t, e.Fail([]uint64{3}))
		logs.waitFor(t, "ack 1 2")
		logs.waitFor(t, "fail 3")

		require.NoError(t, e.Pause())
		require.NoError(t, e.Resume())
		require.NoError(t, e.Drain())
		require.NoError(t, e.Stop())
		e.Destroy()
		e.Destroy()
		assert.Error(t, e.Pull(b, 0))
	})
}

func TestPluginThreadLogs(t *testing.T) {
	both(t, func(t *testing.T, mk maker) {
		logs := &logBuf{}
		i := mk(t, echo(t), "threaded", map[string]any{"log_thread": true}, logs)
		require.NoError(t, i.Start())
		m := logs.waitFor(t, "hello from a plugin thread")
		assert.Equal(t, "warn", m["level"])
		assert.Equal(t, "threaded", m["connector"])
	})
}

func TestPullEndGrowStructured(t *testing.T) {
	both(t, func(t *testing.T, mk maker) {
		i := mk(t, echo(t), "e", map[string]any{"count": uint64(2), "end_when_empty": true}, nil)
		b := newBatch(t, edge.DefaultCaps)
		assert.ErrorIs(t, i.Pull(b, 0), edge.ErrEnd)
		assert.Equal(t, 2, b.Len(), "events may come with END")

		g := mk(t, echo(t), "g", map[string]any{"misbehave": "grow"}, nil)
		small := newBatch(t, edge.Caps{Events: 4, Values: 4, Bytes: 64})
		require.NoError(t, g.Pull(small, 0))
		require.Equal(t, 1, small.Len())
		assert.Equal(t, strings.Repeat("g", 164), string(small.Payload(0)))

		s := mk(t, echo(t), "s", map[string]any{"misbehave": "structured"}, nil)
		require.NoError(t, s.Pull(b, 0))
		require.Equal(t, 1, b.Len())
		v, err := b.Value(0)
		require.NoError(t, err)
		assert.Equal(t, []any{"x", int64(7)}, v)
	})
}

// Every check of what a plugin writes into a pulled batch applies in the
// child as in this process, with the same message.
func TestPullContractViolations(t *testing.T) {
	modes := []string{"events_len_over_cap", "bytes_len_over_cap", "payload_outside", "payload_overflow", "bad_flags", "bad_port",
		"moved_arena", "meta_outside", "meta_bad_tree", "structured_bad_string", "no_room", "no_room_fits", "no_room_huge"}
	msgs := map[string]map[string]string{}
	both(t, func(t *testing.T, mk maker) {
		got := map[string]string{}
		for _, mode := range modes {
			i := mk(t, echo(t), "bad-"+mode, map[string]any{"misbehave": mode}, nil)
			b := newBatch(t, edge.Caps{Events: 4, Values: 8, Bytes: 64})
			err := i.Pull(b, 0)
			var pe *edge.Error
			require.ErrorAs(t, err, &pe, mode)
			assert.True(t, pe.Violation, mode)
			assert.Equal(t, 0, b.Len())
			got[mode] = err.Error()
			assert.ErrorContains(t, i.Pull(b, 0), "unusable after an earlier error")
		}
		msgs[t.Name()] = got
	})
	require.Len(t, msgs, 2)
	for _, mode := range modes {
		assert.Equal(t, msgs["TestPullContractViolations/in-process"][mode], msgs["TestPullContractViolations/isolated"][mode], mode)
	}
	assert.Contains(t, msgs["TestPullContractViolations/isolated"]["moved_arena"], "changed the events/values/bytes pointers")
}

func TestHookErrorsCarryThePluginMessage(t *testing.T) {
	cases := []struct {
		mode     string
		code     abi.Result
		msg      string
		unusable bool
	}{
		{"error", abi.ResultErrFailed, "the fixture was told to fail", false},
		{"disconnect", abi.ResultErrDisconnected, "peer went away", false},
		{"panic", abi.ResultErrPanic, "boom", true},
		{"long_error", abi.ResultErrFailed, strings.Repeat("E", 4096), false},
		{"error_len_over_cap", abi.ResultErrFailed, "message truncated: the plugin set len 4106, past cap 4096", false},
	}
	both(t, func(t *testing.T, mk maker) {
		for _, tc := range cases {
			i := mk(t, echo(t), "x", map[string]any{"misbehave": tc.mode}, nil)
			b := newBatch(t, edge.DefaultCaps)
			err := i.Pull(b, 0)
			var pe *edge.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.code, pe.Code, tc.mode)
			assert.Contains(t, pe.Message, tc.msg, tc.mode)
			err = i.Pull(b, 0)
			if tc.unusable {
				assert.ErrorContains(t, err, "unusable", tc.mode)
			} else {
				assert.ErrorIs(t, err, tc.code, tc.mode)
			}
		}
		p := mk(t, echo(t), "p", map[string]any{"misbehave": "pause_unsupported"}, nil)
		err := p.Pause()
		assert.ErrorIs(t, err, abi.ResultErrUnsupported)
		assert.ErrorContains(t, err, "does not support this operation while pausing: cannot pause")
	})
}

func TestSendOutcomesAndViolations(t *testing.T) {
	both(t, func(t *testing.T, mk maker) {
		i := mk(t, echo(t), "d", nil, nil)
		b := newBatch(t, edge.DefaultCaps)
		for id, p := range []string{"a", "disconnect", "b"} {
			require.NoError(t, b.Append(&edge.Event{ID: uint64(id), Payload: []byte(p)}))
		}
		outcomes := make([]uint8, 3)
		assert.ErrorIs(t, i.Send(b, outcomes), abi.ResultErrDisconnected)
		assert.Equal(t, []uint8{abi.OutcomeOK, abi.OutcomeFailed, abi.OutcomeFailed}, outcomes)

		m := mk(t, echo(t), "m", map[string]any{"misbehave": "send_modifies"}, nil)
		b2 := newBatch(t, edge.DefaultCaps)
		require.NoError(t, b2.Append(&edge.Event{ID: 1, Payload: []byte("x")}))
		err := m.Send(b2, make([]uint8, 1))
		var pe *edge.Error
		require.ErrorAs(t, err, &pe)
		assert.True(t, pe.Violation)
		assert.Contains(t, err.Error(), "broke the plugin contract while sending events: it modified the batch header")
	})
}

// A send begun and not ended yet: the instance takes no other call, EndSend
// gives the outcomes Send gives, and Destroy ends a send under way first.
// In process BeginSend makes the whole call; isolated the child works on
// it in between.
func TestBeginEndSend(t *testing.T) {
	type pipelining interface {
		instance
		Pipelines() bool
		BeginSend(b *edge.Batch) error
		EndSend(b *edge.Batch, outcomes []uint8) error
	}
	both(t, func(t *testing.T, mk maker) {
		logs := &logBuf{}
		i, ok := mk(t, echo(t), "d", nil, logs).(pipelining)
		require.True(t, ok)
		b := newBatch(t, edge.DefaultCaps)
		for id, p := range []string{"a", "b"} {
			require.NoError(t, b.Append(&edge.Event{ID: uint64(id), Payload: []byte(p)}))
		}
		require.NoError(t, i.BeginSend(b))
		assert.ErrorContains(t, i.Send(b, make([]uint8, 2)), "a send is under way")
		assert.ErrorContains(t, i.Stop(), "a send is under way")
		out := make([]uint8, 2)
		require.NoError(t, i.EndSend(b, out))
		assert.Equal(t, []uint8{abi.OutcomeOK, abi.OutcomeOK}, out)
		assert.ErrorContains(t, i.EndSend(b, out), "without a BeginSend")
		assert.Equal(t, []uint8{abi.OutcomeFailed, abi.OutcomeFailed}, out, "nothing is known delivered")

		require.NoError(t, i.BeginSend(b))
		i.Destroy()
		assert.Nil(t, logs.find("protocol error"), "the answer to the send under way was taken before on_destroy")
	})
}

func TestCreateErrors(t *testing.T) {
	c := echo(t)
	_, err := isolate.New(c, "bad", map[string]any{"prefix": "bad"}, (&logBuf{}).logger(), opts(t))
	assert.ErrorIs(t, err, abi.ResultErrConfig)
	assert.ErrorContains(t, err, `prefix "bad" is not allowed`)
	_, err = isolate.New(c, "bad", map[string]any{"nope": 1}, (&logBuf{}).logger(), opts(t))
	assert.ErrorContains(t, err, `unknown config field "nope"`)
	_, err = isolate.New(c, "x", nil, (&logBuf{}).logger(), isolate.Options{Runner: "/nonexistent/tremor-runner"})
	assert.ErrorIs(t, err, isolate.ErrRunnerRefused)
}
