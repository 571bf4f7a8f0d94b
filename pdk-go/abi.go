package pdk

/*
#cgo CFLAGS: -I${SRCDIR}/../include -fvisibility=hidden
#include "tremor/plugin.h"
*/
import "C"

import "unsafe"

// Result codes, taken from the header so they cannot drift.
const (
	codeOK           = int32(C.TREMOR_OK)
	codeEnd          = int32(C.TREMOR_END)
	codeRetry        = int32(C.TREMOR_RETRY)
	codeFailed       = int32(C.TREMOR_ERR_FAILED)
	codeConfig       = int32(C.TREMOR_ERR_CONFIG)
	codeNoRoom       = int32(C.TREMOR_ERR_NO_ROOM)
	codeDisconnected = int32(C.TREMOR_ERR_DISCONNECTED)
	codeUnsupported  = int32(C.TREMOR_ERR_UNSUPPORTED)
	codeInvalid      = int32(C.TREMOR_ERR_INVALID)
	codePanic        = int32(C.TREMOR_ERR_PANIC)
)

// Value kinds (tremor_value.kind and tremor_config_field.type).
const (
	kindNull   = uint8(C.TREMOR_VALUE_NULL)
	kindBool   = uint8(C.TREMOR_VALUE_BOOL)
	kindInt    = uint8(C.TREMOR_VALUE_INT)
	kindUint   = uint8(C.TREMOR_VALUE_UINT)
	kindFloat  = uint8(C.TREMOR_VALUE_FLOAT)
	kindString = uint8(C.TREMOR_VALUE_STRING)
	kindBytes  = uint8(C.TREMOR_VALUE_BYTES)
	kindArray  = uint8(C.TREMOR_VALUE_ARRAY)
	kindObject = uint8(C.TREMOR_VALUE_OBJECT)
)

const (
	eventStructured = uint32(C.TREMOR_EVENT_STRUCTURED)
	eventEndStream  = uint32(C.TREMOR_EVENT_END_STREAM)
	knownEventFlags = eventStructured | eventEndStream
)

// Go mirrors of the header's plain-data structs. They let the hot paths
// (on_pull, on_send) work on ordinary Go slices laid over the host's C
// memory. Their layout is checked against cgo's view of the header at
// compile time below.

type cSpan struct {
	Offset uint64
	Len    uint64
}

type cValue struct {
	Kind      uint8
	_         [3]uint8
	KeyLen    uint32
	KeyOffset uint64
	Len       uint64
	As        uint64 // the union: bool, i, u, f bits, offset or descendants
}

type cEvent struct {
	ID       uint64
	Stream   uint64
	IngestNs uint64
	Port     uint32
	Flags    uint32
	Payload  cSpan
	Meta     cSpan
}

type cBatch struct {
	StructSize   uint32
	_            uint32
	Events       *cEvent
	EventsLen    uint64
	EventsCap    uint64
	Values       *cValue
	ValuesLen    uint64
	ValuesCap    uint64
	Bytes        *byte
	BytesLen     uint64
	BytesCap     uint64
	BytesNeeded  uint64
	ValuesNeeded uint64
}

type cDoc struct {
	Nodes    *cValue
	NodesLen uint64
	Bytes    *byte
	BytesLen uint64
}

type cError struct {
	Msg *byte
	Cap uint64
	Len uint64
}

type cCreateArgs struct {
	StructSize uint32
	_          uint32
	Host       *C.tremor_host_api
	Ctx        *C.tremor_host_ctx
	Alias      *byte
	AliasLen   uint64
	Config     cDoc
}

// Compile-time layout checks: each line fails to compile (constant index
// out of range, or constant overflow) unless the two numbers are equal.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(cSpan{})-C.sizeof_tremor_span]
	_ = [1]struct{}{}[unsafe.Sizeof(cValue{})-C.sizeof_tremor_value]
	_ = [1]struct{}{}[unsafe.Offsetof(cValue{}.KeyLen)-unsafe.Offsetof(C.tremor_value{}.key_len)]
	_ = [1]struct{}{}[unsafe.Offsetof(cValue{}.KeyOffset)-unsafe.Offsetof(C.tremor_value{}.key_offset)]
	_ = [1]struct{}{}[unsafe.Offsetof(cValue{}.Len)-unsafe.Offsetof(C.tremor_value{}.len)]
	_ = [1]struct{}{}[unsafe.Offsetof(cValue{}.As)-unsafe.Offsetof(C.tremor_value{}.as)]
	_ = [1]struct{}{}[unsafe.Sizeof(cEvent{})-C.sizeof_tremor_event]
	_ = [1]struct{}{}[unsafe.Offsetof(cEvent{}.Port)-unsafe.Offsetof(C.tremor_event{}.port)]
	_ = [1]struct{}{}[unsafe.Offsetof(cEvent{}.Flags)-unsafe.Offsetof(C.tremor_event{}.flags)]
	_ = [1]struct{}{}[unsafe.Offsetof(cEvent{}.Payload)-unsafe.Offsetof(C.tremor_event{}.payload)]
	_ = [1]struct{}{}[unsafe.Offsetof(cEvent{}.Meta)-unsafe.Offsetof(C.tremor_event{}.meta)]
	_ = [1]struct{}{}[unsafe.Sizeof(cBatch{})-C.sizeof_tremor_batch]
	_ = [1]struct{}{}[unsafe.Offsetof(cBatch{}.Events)-unsafe.Offsetof(C.tremor_batch{}.events)]
	_ = [1]struct{}{}[unsafe.Offsetof(cBatch{}.Values)-unsafe.Offsetof(C.tremor_batch{}.values)]
	_ = [1]struct{}{}[unsafe.Offsetof(cBatch{}.Bytes)-unsafe.Offsetof(C.tremor_batch{}.bytes)]
	_ = [1]struct{}{}[unsafe.Offsetof(cBatch{}.BytesNeeded)-unsafe.Offsetof(C.tremor_batch{}.bytes_needed)]
	_ = [1]struct{}{}[unsafe.Offsetof(cBatch{}.ValuesNeeded)-unsafe.Offsetof(C.tremor_batch{}.values_needed)]
	_ = [1]struct{}{}[unsafe.Sizeof(cDoc{})-C.sizeof_tremor_value_doc]
	_ = [1]struct{}{}[unsafe.Offsetof(cDoc{}.BytesLen)-unsafe.Offsetof(C.tremor_value_doc{}.bytes_len)]
	_ = [1]struct{}{}[unsafe.Sizeof(cError{})-C.sizeof_tremor_error]
	_ = [1]struct{}{}[unsafe.Offsetof(cError{}.Len)-unsafe.Offsetof(C.tremor_error{}.len)]
	_ = [1]struct{}{}[unsafe.Sizeof(cCreateArgs{})-C.sizeof_tremor_create_args]
	_ = [1]struct{}{}[unsafe.Offsetof(cCreateArgs{}.Alias)-unsafe.Offsetof(C.tremor_create_args{}.alias)]
	_ = [1]struct{}{}[unsafe.Offsetof(cCreateArgs{}.Config)-unsafe.Offsetof(C.tremor_create_args{}.config)]
)

// Minimum struct_size values the SDK accepts from the host for ABI 1.0
// structs: every field it reads or writes must be inside struct_size.
const (
	minBatchSize      = uint32(unsafe.Sizeof(cBatch{}))
	minCreateArgsSize = uint32(unsafe.Sizeof(cCreateArgs{}))
)
