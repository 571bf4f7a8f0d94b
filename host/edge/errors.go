package edge

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"tremorhost/abi"
)

// ErrEnd is returned by Pull when the source answered TREMOR_END: it will
// produce no more events (the batch may still hold the last ones).
var ErrEnd = errors.New("end of input: the source will produce no more events")

// ErrRetry is returned when a plugin answered TREMOR_RETRY (for Connect: not
// connected yet, call again with attempt + 1 after a backoff).
var ErrRetry = errors.New("not ready yet: try again later")

// retryError is a TREMOR_RETRY from on_connect that said why not yet: it
// reads as the plugin's reason and is ErrRetry to errors.Is.
type retryError string

func (e retryError) Error() string        { return string(e) }
func (e retryError) Is(target error) bool { return target == ErrRetry }

// ErrBatchFull is returned by Batch.Append when the event does not fit.
var ErrBatchFull = errors.New("batch full: the event does not fit in the room left")

// Error is a hook that failed, or a plugin that broke the contract. It
// wraps the result code: errors.Is(err, abi.ResultErrDisconnected).
//
// It has two renderings: Error, the operator's text (what happened, in
// words, and the plugin's message), which every log line and exit message
// shows; and the detail plugin authors need (result code, hook, plugin
// file), which LogErr adds to a log line at debug level only.
type Error struct {
	Op        string     // the hook: "create", "connect", "pull", "send", ...
	Code      abi.Result // the plugin's result, or ResultErrInvalid for a contract violation found by the host
	Message   string     // the plugin's message, or the host's finding
	Violation bool       // the host found the plugin broke the contract
	ByHost    bool       // the host, not the plugin, refused to go on (Message says why)
	Plugin    string
	File      string
	Connector string
	Alias     string
}

// what says what a result code means for an operator.
var what = map[abi.Result]string{
	abi.ResultErrFailed:       "reported an error",
	abi.ResultErrConfig:       "refused its config",
	abi.ResultErrNoRoom:       "needed more room than the host gives",
	abi.ResultErrDisconnected: "lost its connection",
	abi.ResultErrUnsupported:  "does not support this operation",
	abi.ResultErrInvalid:      "could not be called",
	abi.ResultErrPanic:        "crashed",
}

// next says what follows a result code, where the code alone decides it
// (the runtime's log lines say what it does about the others).
var next = map[abi.Result]string{
	abi.ResultErrPanic: "it is not called again: the connector stops",
}

// doing names a hook in an operator's words.
var doing = map[string]string{
	"create":  "at creation",
	"connect": "while connecting",
	"start":   "while starting",
	"pull":    "while reading events",
	"send":    "while sending events",
	"ack":     "while acknowledging events",
	"fail":    "while failing events back",
	"pause":   "while pausing",
	"resume":  "while resuming",
	"drain":   "while draining",
	"stop":    "while stopping",
	"destroy": "while being destroyed",
}

// Error is the operator's text: the plugin, what happened in words and the
// plugin's own message. Result code names and the plugin's file are in
// Detail.
func (e *Error) Error() string {
	when, ok := doing[e.Op]
	if !ok {
		when = "in " + e.Op
	}
	if e.Violation {
		return fmt.Sprintf("plugin %q broke the plugin contract %s: %s; the connector stops: report it to the plugin's author (tremorctl check-plugin on the plugin's file finds such faults)", e.Plugin, when, e.Message)
	}
	w, ok := what[e.Code]
	if e.ByHost {
		w = "cannot be used"
	} else if !ok {
		w = "answered an unknown result code"
	}
	s := fmt.Sprintf("plugin %q %s %s", e.Plugin, w, when)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if n, ok := next[e.Code]; ok && !e.ByHost {
		s += "; " + n
	}
	return s
}

// Detail is what a plugin author needs: the plugin, its file, the
// connector type and instance, the hook and the result code.
func (e *Error) Detail() string {
	s := fmt.Sprintf("plugin %q (%s) connector %q instance %q: %s: %s (%d)", e.Plugin, e.File, e.Connector, e.Alias, e.Op, e.Code.Name(), int32(e.Code))
	if e.Violation {
		s += ": the plugin broke the contract"
	}
	return s
}

// Unwrap returns the result code.
func (e *Error) Unwrap() error { return e.Code }

// LogErr adds err to a log line: its operator text as "error" and, when l
// logs at debug level or below and err holds an *Error, the detail as
// fields (code, code_value, hook, plugin, plugin_file, contract_break; the
// runtime's loggers already name the flow, connector and type). Use it as
// l.Warn().Func(edge.LogErr(l, err)).Msg(...).
func LogErr(l zerolog.Logger, err error) func(*zerolog.Event) {
	return func(ev *zerolog.Event) {
		ev.Err(err)
		var e *Error
		if l.GetLevel() > zerolog.DebugLevel || !errors.As(err, &e) {
			return
		}
		ev.Str("code", e.Code.Name()).Int32("code_value", int32(e.Code)).Str("hook", e.Op).
			Str("plugin", e.Plugin).Str("plugin_file", e.File).Bool("contract_break", e.Violation)
	}
}
