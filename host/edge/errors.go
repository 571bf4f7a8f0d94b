package edge

import (
	"errors"
	"fmt"

	"tremorhost/abi"
)

// ErrEnd is returned by Pull when the source answered TREMOR_END: it will
// produce no more events (the batch may still hold the last ones).
var ErrEnd = errors.New("end of input: the source will produce no more events")

// ErrRetry is returned when a plugin answered TREMOR_RETRY (for Connect: not
// connected yet, call again with attempt + 1 after a backoff).
var ErrRetry = errors.New("not ready yet: try again later")

// ErrBatchFull is returned by Batch.Append when the event does not fit.
var ErrBatchFull = errors.New("batch full: the event does not fit in the room left")

// Error is a hook that failed, or a plugin that broke the contract. It
// wraps the result code: errors.Is(err, abi.ResultErrDisconnected).
type Error struct {
	Op        string     // the hook: "create", "connect", "pull", "send", ...
	Code      abi.Result // the plugin's result, or ResultErrInvalid for a contract violation found by the host
	Message   string     // the plugin's message, or the host's finding
	Violation bool       // the host found the plugin broke the contract
	Plugin    string
	File      string
	Connector string
	Alias     string
}

func (e *Error) Error() string {
	who := fmt.Sprintf("plugin %q (%s) connector %q instance %q", e.Plugin, e.File, e.Connector, e.Alias)
	if e.Violation {
		return fmt.Sprintf("%s: %s: the plugin broke the contract: %s", who, e.Op, e.Message)
	}
	msg := e.Code.String()
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return fmt.Sprintf("%s: %s: %s", who, e.Op, msg)
}

// Unwrap returns the result code.
func (e *Error) Unwrap() error { return e.Code }
