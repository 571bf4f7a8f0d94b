package plugin

import (
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/rs/zerolog"

	"tremorhost/abi"
	"tremorhost/host/plugin/internal/native"
)

// The host API table (tremor_host_api) lives off the Go heap, built once per
// process; its log function is one purego callback, also created once
// (callbacks are never freed). A plugin's ctx is not a pointer: it is an
// integer handle into the table of live instances, so a stale ctx logs a
// warning instead of touching freed memory.

var hostAPI struct {
	once  sync.Once
	arena *native.Arena
	addr  uintptr
	err   error
}

func hostAPIAddr() (uintptr, error) {
	hostAPI.once.Do(func() {
		a, err := native.Map(int(unsafe.Sizeof(abi.HostAPI{})))
		if err != nil {
			hostAPI.err = err
			return
		}
		t := native.At[abi.HostAPI](a, 0)
		t.StructSize = uint32(unsafe.Sizeof(abi.HostAPI{}))
		t.ABIMajor = abi.ABIMajor
		t.ABIMinor = abi.ABIMinor
		t.Log = native.NewCallback(hostLog)
		hostAPI.arena, hostAPI.addr = a, a.Addr()
	})
	return hostAPI.addr, hostAPI.err
}

var live struct {
	sync.RWMutex
	next atomic.Uint64
	m    map[uintptr]*Instance
}

func register(i *Instance) uintptr {
	h := uintptr(live.next.Add(1))
	live.Lock()
	if live.m == nil {
		live.m = map[uintptr]*Instance{}
	}
	live.m[h] = i
	live.Unlock()
	return h
}

func unregister(h uintptr) {
	live.Lock()
	delete(live.m, h)
	live.Unlock()
}

const maxLogLine = 64 << 10

var (
	logMu      sync.RWMutex
	defaultLog = zerolog.Nop()
)

// SetLogger sets the logger that instances created afterwards log to
// (unless created with WithLogger) and that the loader reports to. The
// default discards everything.
func SetLogger(l zerolog.Logger) {
	logMu.Lock()
	defaultLog = l
	logMu.Unlock()
}

func baseLogger() zerolog.Logger {
	logMu.RLock()
	defer logMu.RUnlock()
	return defaultLog
}

// hostLog is tremor_host_api.log. It may run on any thread, including
// threads the plugin started itself.
func hostLog(ctx uintptr, level uintptr, msg uintptr, n uintptr) {
	live.RLock()
	inst := live.m[ctx]
	live.RUnlock()
	if n > maxLogLine {
		n = maxLogLine
	}
	var text []byte
	if msg != 0 && n > 0 {
		text = native.Bytes(msg, int(n))
	}
	if inst == nil {
		l := baseLogger()
		l.Warn().Uint64("ctx", uint64(ctx)).Str("msg_from_plugin", cleanLine(text)).Msg("log call with an unknown or destroyed instance ctx")
		return
	}
	PluginLog(inst.log, int32(uint32(level)), text)
}

// MaxLogLine is the longest log line taken from a plugin, in bytes.
const MaxLogLine = maxLogLine

func cleanLine(msg []byte) string {
	if len(msg) > maxLogLine {
		msg = msg[:maxLogLine]
	}
	return strings.TrimRight(strings.ToValidUTF8(string(msg), "\uFFFD"), "\r\n")
}

// PluginLog writes one line a plugin logged (tremor_host_api.log) to l, the
// instance's logger, at the plugin's level: the line is cut at MaxLogLine
// bytes, invalid UTF-8 is replaced and trailing newlines dropped. Used for
// plugins in this process and for lines forwarded from another one.
func PluginLog(l zerolog.Logger, level int32, msg []byte) {
	var ev *zerolog.Event
	switch level {
	case abi.LogError:
		ev = l.Error()
	case abi.LogWarn:
		ev = l.Warn()
	case abi.LogInfo:
		ev = l.Info()
	case abi.LogDebug:
		ev = l.Debug()
	case abi.LogTrace:
		ev = l.Trace()
	default:
		ev = l.Info().Int32("plugin_level", level)
	}
	if ev == nil { // disabled level: do not even convert the text
		return
	}
	ev.Msg(cleanLine(msg))
}

// StaleCtxLog reports a log call with a ctx that is not (or no longer) an
// instance's, as the host does for plugins in this process.
func StaleCtxLog(ctx uint64, msg []byte) {
	l := baseLogger()
	l.Warn().Uint64("ctx", ctx).Str("msg_from_plugin", cleanLine(msg)).Msg("log call with an unknown or destroyed instance ctx")
}
