package edge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tremorhost/abi"
)

// Error is the operator's text (no result code name, no file); Detail
// holds both; the result code still unwraps.
func TestErrorRenderings(t *testing.T) {
	who := Who{Plugin: "p", File: "/x.so", Connector: "c", Alias: "a"}
	broke := who.Err("pull", abi.ResultErrInvalid, "wrote 3 events past the room")
	broke.Violation = true
	changed := who.Err("create", abi.ResultErrConfig, "the plugin file changed since it was loaded")
	changed.ByHost = true
	for _, c := range []struct {
		err    *Error
		text   string
		detail string
	}{
		{who.Err("pull", abi.ResultErrDisconnected, "peer went away"),
			`plugin "p" lost its connection while reading events: peer went away`,
			`plugin "p" (/x.so) connector "c" instance "a": pull: TREMOR_ERR_DISCONNECTED (-4)`},
		{who.Err("create", abi.ResultErrConfig, "bad mode"),
			`plugin "p" refused its config at creation: bad mode`,
			`plugin "p" (/x.so) connector "c" instance "a": create: TREMOR_ERR_CONFIG (-2)`},
		{who.Err("send", abi.ResultErrFailed, ""),
			`plugin "p" reported an error while sending events`,
			`send: TREMOR_ERR_FAILED (-1)`},
		{who.Err("frob", abi.Result(-99), "x"),
			`plugin "p" answered an unknown result code in frob: x`,
			`frob: TREMOR_<-99> (-99)`},
		{changed,
			`plugin "p" cannot be used at creation: the plugin file changed since it was loaded`,
			`create: TREMOR_ERR_CONFIG (-2)`},
		{who.Err("pull", abi.ResultErrPanic, "boom"),
			`plugin "p" crashed while reading events: boom; it is not called again: the connector stops`,
			`pull: TREMOR_ERR_PANIC (-7)`},
		{broke,
			`plugin "p" broke the plugin contract while reading events: wrote 3 events past the room; the connector stops: report it to the plugin's author (tremorctl check-plugin on the plugin's file finds such faults)`,
			`pull: TREMOR_ERR_INVALID (-6): the plugin broke the contract`},
	} {
		t.Run(c.text, func(t *testing.T) {
			assert.Equal(t, c.text, c.err.Error())
			assert.NotContains(t, c.err.Error(), "TREMOR_")
			assert.NotContains(t, c.err.Error(), "/x.so")
			assert.Contains(t, c.err.Detail(), c.detail)
			assert.ErrorIs(t, fmt.Errorf("wrapped: %w", c.err), c.err.Code)
		})
	}
}

// LogErr adds the detail fields only when the logger is at debug level,
// and only for a plugin error.
func TestLogErr(t *testing.T) {
	err := fmt.Errorf("connector %q: %w", "a", Who{Plugin: "p", File: "/x.so"}.Err("send", abi.ResultErrDisconnected, "gone"))
	for _, c := range []struct {
		name   string
		level  zerolog.Level
		err    error
		detail bool
	}{
		{"info", zerolog.InfoLevel, err, false},
		{"debug", zerolog.DebugLevel, err, true},
		{"trace", zerolog.TraceLevel, err, true},
		{"debug, not a plugin error", zerolog.DebugLevel, errors.New("plain"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := zerolog.New(&buf).Level(c.level)
			l.Warn().Func(LogErr(l, c.err)).Msg("send failed")
			var line map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
			assert.Equal(t, c.err.Error(), line["error"])
			if !c.detail {
				assert.NotContains(t, buf.String(), "TREMOR_")
				assert.NotContains(t, line, "plugin_file")
				return
			}
			assert.Equal(t, "TREMOR_ERR_DISCONNECTED", line["code"])
			assert.Equal(t, float64(-4), line["code_value"])
			assert.Equal(t, "send", line["hook"])
			assert.Equal(t, "p", line["plugin"])
			assert.Equal(t, "/x.so", line["plugin_file"])
			assert.Equal(t, false, line["contract_break"])
		})
	}
}
