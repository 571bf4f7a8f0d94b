package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
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
	h := register(zerolog.New(&buf).Level(zerolog.TraceLevel).With().Str("plugin", "p").Str("type", "c").Str("connector", "a").Logger())
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
