package abi

// Result is a hook's int32_t result code (TREMOR_RESULT_CODES). TREMOR_OK is
// 0, errors are negative, END and RETRY are positive non-error answers.
//
// Result implements error so that host errors can wrap it:
// errors.Is(err, abi.ResultErrConfig) reports whether a plugin answered
// TREMOR_ERR_CONFIG.
type Result int32

// The result codes, in the order of the header's X-macro table.
const (
	ResultOK              Result = 0
	ResultEnd             Result = 1
	ResultRetry           Result = 2
	ResultErrFailed       Result = -1
	ResultErrConfig       Result = -2
	ResultErrNoRoom       Result = -3
	ResultErrDisconnected Result = -4
	ResultErrUnsupported  Result = -5
	ResultErrInvalid      Result = -6
	ResultErrPanic        Result = -7
)

// ResultCode is one row of the header's TREMOR_RESULT_CODES table.
type ResultCode struct {
	Name        string // without the TREMOR_ prefix, e.g. "ERR_CONFIG"
	Value       Result
	Description string // exactly the header's text
}

// ResultCodes is the header's TREMOR_RESULT_CODES table, in order.
var ResultCodes = []ResultCode{
	{"OK", ResultOK, "ok"},
	{"END", ResultEnd, "end of input: the source will produce no more events"},
	{"RETRY", ResultRetry, "not ready yet: the host should try again later"},
	{"ERR_FAILED", ResultErrFailed, "the operation failed"},
	{"ERR_CONFIG", ResultErrConfig, "the configuration is invalid"},
	{"ERR_NO_ROOM", ResultErrNoRoom, "the room given is too small for even one event"},
	{"ERR_DISCONNECTED", ResultErrDisconnected, "the connection was lost: the host should reconnect"},
	{"ERR_UNSUPPORTED", ResultErrUnsupported, "the connector does not support this operation"},
	{"ERR_INVALID", ResultErrInvalid, "an argument broke the contract"},
	{"ERR_PANIC", ResultErrPanic, "the plugin panicked; the instance is unusable"},
}

// Name returns the code's name with the TREMOR_ prefix ("TREMOR_ERR_CONFIG"),
// or "TREMOR_<n>" for a code the header does not define.
func (r Result) Name() string {
	for i := range ResultCodes {
		if ResultCodes[i].Value == r {
			return "TREMOR_" + ResultCodes[i].Name
		}
	}
	return "TREMOR_<" + itoa(int64(r)) + ">"
}

// Description describes the code in English, like tremor_result_str().
func (r Result) Description() string {
	for i := range ResultCodes {
		if ResultCodes[i].Value == r {
			return ResultCodes[i].Description
		}
	}
	return "unknown result code"
}

// IsError reports whether r is an error code (negative).
func (r Result) IsError() bool { return r < 0 }

// String returns the name and the description, e.g.
// "TREMOR_ERR_CONFIG (the configuration is invalid)".
func (r Result) String() string { return r.Name() + " (" + r.Description() + ")" }

// Error makes a Result usable as the innermost error of a chain.
func (r Result) Error() string { return r.Description() }
