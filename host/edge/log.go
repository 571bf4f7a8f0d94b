package edge

import (
	"strings"

	"github.com/rs/zerolog"

	"tremorhost/abi"
)

// MaxLogLine is the longest log line taken from a plugin, in bytes (the
// host-function table cuts longer ones; lines from a child are cut here).
const MaxLogLine = abi.MaxLogLine

func cleanLine(msg []byte) string {
	if len(msg) > MaxLogLine {
		msg = msg[:MaxLogLine]
	}
	return strings.TrimRight(strings.ToValidUTF8(string(msg), "\uFFFD"), "\r\n")
}

// PluginLog writes one line a plugin logged (tremor_host_api.log) to l, the
// instance's logger, at the plugin's level: the line is cut at MaxLogLine
// bytes, invalid UTF-8 is replaced and trailing newlines dropped. Both
// transports use it: for plugins in this process and for lines forwarded
// from a child.
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

// StaleCtxLog reports, to l, a log call with a ctx that is not (or no
// longer) an instance's.
func StaleCtxLog(l zerolog.Logger, ctx uint64, msg []byte) {
	l.Warn().Uint64("ctx", ctx).Str("msg_from_plugin", cleanLine(msg)).Msg("log call with an unknown or destroyed instance ctx")
}
