package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
	"tremorhost/host/edge"
	"tremorhost/host/internal/cmem"
)

func callLog(ctx uintptr, level int32, msg string) {
	b := []byte(msg)
	var p uintptr
	if len(b) > 0 {
		p = uintptr(unsafe.Pointer(&b[0]))
	}
	addr, err := hostAPIAddr()
	if err != nil {
		panic(err)
	}
	tbl := cmem.ReadPrefix[abi.HostAPI](addr, abi.SizeofHostAPI)
	cmem.Call(tbl.Log, []uintptr{ctx, uintptr(uint32(level)), p, uintptr(len(b))})
}

func TestHostLogLevelsAndTags(t *testing.T) {
	var buf bytes.Buffer
	l := zerolog.New(&buf).Level(zerolog.TraceLevel).With().Str("plugin", "p").Str("type", "c").Str("connector", "a").Logger()
	h := register(l, edge.NewMetrics(l))
	defer unregister(h)
	cases := []struct {
		level int32
		want  string
	}{
		{abi.LogError, "error"}, {abi.LogWarn, "warn"}, {abi.LogInfo, "info"},
		{abi.LogDebug, "debug"}, {abi.LogTrace, "trace"}, {42, "info"},
	}
	for _, tc := range cases {
		buf.Reset()
		callLog(h, tc.level, "hello\n")
		var m map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &m), buf.String())
		assert.Equal(t, tc.want, m["level"])
		assert.Equal(t, "hello", m["message"], "trailing newline trimmed")
		assert.Equal(t, "p", m["plugin"])
		assert.Equal(t, "c", m["type"])
		assert.Equal(t, "a", m["connector"])
		if tc.level == 42 {
			assert.Equal(t, 42.0, m["plugin_level"])
		}
	}
	buf.Reset()
	callLog(h, abi.LogInfo, "bad \xff utf8")
	assert.Contains(t, buf.String(), "bad \ufffd utf8")
}

// A ctx that is not (or no longer) a live instance is reported, not followed.
func TestHostLogStaleCtx(t *testing.T) {
	var buf bytes.Buffer
	SetLogger(zerolog.New(&buf))
	defer SetLogger(zerolog.Nop())
	callLog(1<<40, abi.LogError, "from beyond")
	assert.True(t, strings.Contains(buf.String(), "unknown or destroyed instance ctx"), buf.String())
	assert.Contains(t, buf.String(), "from beyond")
	callLog(1<<40, abi.LogError, "") // empty message, NULL pointer
}

func TestHostAPITable(t *testing.T) {
	addr, err := hostAPIAddr()
	require.NoError(t, err)
	again, _ := hostAPIAddr()
	assert.Equal(t, addr, again, "one table per process")
	tbl := cmem.ReadPrefix[abi.HostAPI](addr, abi.SizeofHostAPI)
	assert.Equal(t, uint32(abi.SizeofHostAPI), tbl.StructSize)
	assert.Equal(t, uint16(abi.ABIMajor), tbl.ABIMajor)
	assert.Equal(t, uint16(abi.ABIMinor), tbl.ABIMinor)
	assert.NotZero(t, tbl.Log)
}

// exit() from outside any hook (a plugin's own thread, or Go's own exit in
// a -race build, which goes through the C library) keeps its status and
// adds no line: only exit() from a hook is the guard's business.
func TestExitOutsideHookKeepsStatus(t *testing.T) {
	if os.Getenv("TREMOR_TEST_EXIT_CHILD") == "1" {
		guardExit()
		libc, err := cmem.Open("libc.so.6")
		if err != nil {
			t.Fatal(err)
		}
		cmem.Call(cmem.Sym(libc, "exit"), []uintptr{3})
		t.Fatal("exit returned")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExitOutsideHookKeepsStatus$")
	cmd.Env = append(os.Environ(), "TREMOR_TEST_EXIT_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "output: %s", out)
	assert.Equal(t, 3, ee.ExitCode(), "output: %s", out)
	assert.NotContains(t, string(out), "called exit")
}

// callMetric calls the host table's counter_add or gauge_set as a plugin
// would, with C-layout labels.
func callMetric(fn uintptr, ctx uintptr, name, help string, labels [][2]string, v int64) abi.Result {
	keep := [][]byte{[]byte(name), []byte(help)}
	ls := make([]abi.MetricLabel, len(labels))
	for i, l := range labels {
		n, val := []byte(l[0]), []byte(l[1])
		keep = append(keep, n, val)
		ls[i] = abi.MetricLabel{Name: addrOf(n), NameLen: uint64(len(n)), Value: addrOf(val), ValueLen: uint64(len(val))}
	}
	var lp uintptr
	if len(ls) > 0 {
		lp = uintptr(unsafe.Pointer(&ls[0]))
	}
	r := cmem.Call(fn, []uintptr{ctx, addrOf(keep[0]), uintptr(len(name)), addrOf(keep[1]), uintptr(len(help)), lp, uintptr(len(ls)), uintptr(v)})
	runtime.KeepAlive(keep)
	runtime.KeepAlive(ls)
	return abi.Result(int32(uint32(r)))
}

func addrOf(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

func TestHostMetricCalls(t *testing.T) {
	addr, err := hostAPIAddr()
	require.NoError(t, err)
	tbl := cmem.ReadPrefix[abi.HostAPI](addr, abi.SizeofHostAPI)
	require.Equal(t, uint32(abi.SizeofHostAPI), tbl.StructSize)
	require.Equal(t, uint16(1), tbl.ABIMinor)
	require.NotZero(t, tbl.CounterAdd)
	require.NotZero(t, tbl.GaugeSet)

	var buf bytes.Buffer
	l := zerolog.New(&buf)
	m := edge.NewMetrics(l)
	h := register(l, m)
	defer unregister(h)
	status := [][2]string{{"status", "200"}}
	cases := []struct {
		name   string
		fn     uintptr
		metric string
		labels [][2]string
		v      int64
		want   abi.Result
	}{
		{"counter", tbl.CounterAdd, "requests_total", status, 2, abi.ResultOK},
		{"counter adds", tbl.CounterAdd, "requests_total", status, 3, abi.ResultOK},
		{"gauge", tbl.GaugeSet, "connections", nil, 7, abi.ResultOK},
		{"gauge sets", tbl.GaugeSet, "connections", nil, 4, abi.ResultOK},
		{"bad name", tbl.CounterAdd, "9lives", nil, 1, abi.ResultErrInvalid},
		{"host label", tbl.CounterAdd, "x_total", [][2]string{{"flow", "f"}}, 1, abi.ResultErrInvalid},
		{"kind changed", tbl.GaugeSet, "requests_total", status, 1, abi.ResultErrInvalid},
		{"labels changed", tbl.CounterAdd, "requests_total", [][2]string{{"code", "200"}}, 1, abi.ResultErrInvalid},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, callMetric(tc.fn, h, tc.metric, "help text", tc.labels, tc.v), tc.name)
	}
	got := m.Snapshot()
	require.Len(t, got, 2)
	assert.Equal(t, edge.MetricSeries{Name: "requests_total", Help: "help text", Kind: abi.MetricCounter,
		LabelNames: []string{"status"}, LabelValues: []string{"200"}, Value: 5}, got[0])
	assert.Equal(t, edge.MetricSeries{Name: "connections", Help: "help text", Kind: abi.MetricGauge, Value: 4}, got[1])
	assert.Equal(t, 1, strings.Count(buf.String(), `"metric":"requests_total"`), "one warning per refused name: %s", buf.String())

	unregister(h)
	assert.Equal(t, abi.ResultErrUnsupported, callMetric(tbl.CounterAdd, h, "late_total", "", nil, 1), "a destroyed instance's ctx")
}
