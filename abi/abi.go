// Package abi is the Go mirror of include/tremor/plugin.h (ABI 1.1): its
// constants, result codes and structs, with identical layout.
//
// The header is the contract; this package follows it. abi_test.go compiles
// the header with cgo (through abi/internal/cabi) and checks that every
// constant, every result code with its description, and every struct's size,
// alignment and field offsets here equal the C ones, so changing the header
// without this file fails the tests.
//
// C pointers appear as uintptr: the memory behind them is never Go memory
// (it belongs to the plugin, or to the host's off-heap arenas), and the Go
// garbage collector must not follow or keep it.
package abi

import "structs"

// Versioning (TREMOR_ABI_*, TREMOR_PLUGIN_ENTRY_SYMBOL).
const (
	ABIMajor         = 1
	ABIMinor         = 1
	ABIVersionString = "1.1"
	// EntrySymbol is the one symbol every plugin exports.
	EntrySymbol = "tremor_plugin_get_descriptor"
)

// Kinds of structured value (tremor_value.kind) and types of config fields
// (tremor_config_field.type): TREMOR_VALUE_*.
const (
	ValueNull   = 0
	ValueBool   = 1
	ValueInt    = 2
	ValueUint   = 3
	ValueFloat  = 4
	ValueString = 5
	ValueBytes  = 6
	ValueArray  = 7
	ValueObject = 8
)

// Row is one row of an X-macro table of the header: X(NAME, value, text),
// NAME without the TREMOR_ prefix.
type Row struct {
	Name  string
	Value int64
	Text  string
}

// ValueKinds is the header's TREMOR_VALUE_KINDS table, in order; Text is
// the kind's name in messages.
var ValueKinds = []Row{
	{"VALUE_NULL", ValueNull, "null"},
	{"VALUE_BOOL", ValueBool, "bool"},
	{"VALUE_INT", ValueInt, "int"},
	{"VALUE_UINT", ValueUint, "uint"},
	{"VALUE_FLOAT", ValueFloat, "float"},
	{"VALUE_STRING", ValueString, "string"},
	{"VALUE_BYTES", ValueBytes, "bytes"},
	{"VALUE_ARRAY", ValueArray, "array"},
	{"VALUE_OBJECT", ValueObject, "object"},
}

// Ports is the header's TREMOR_PORTS table, in order; Text is the port's
// name in a flow's links.
var Ports = []Row{
	{"PORT_OUT", PortOut, "out"},
	{"PORT_ERR", PortErr, "err"},
}

// EventFlags is the header's TREMOR_EVENT_FLAGS table, in order.
var EventFlags = []Row{
	{"EVENT_STRUCTURED", EventStructured, "the payload spans value nodes, not bytes"},
	{"EVENT_END_STREAM", EventEndStream, "the last event of its stream"},
}

// KindName names a TREMOR_VALUE_* kind ("null", "bool", "int", ...), or
// returns "kind N" for an unknown one.
func KindName(kind uint32) string {
	if int(kind) < len(ValueKinds) {
		return ValueKinds[kind].Text // the kinds are 0, 1, ... in order
	}
	return "kind " + itoa(int64(kind))
}

// Ports (tremor_event.port): TREMOR_PORT_*.
const (
	PortOut = 0
	PortErr = 1
)

// Event flags (tremor_event.flags): TREMOR_EVENT_*.
const (
	EventStructured = 0x1
	EventEndStream  = 0x2
	// EventKnownFlags has every flag bit ABI 1.0 defines; other bits must be zero.
	EventKnownFlags = EventStructured | EventEndStream
)

// Per-event sink outcomes: TREMOR_OUTCOME_*.
const (
	OutcomeOK     = 0
	OutcomeFailed = 1
	OutcomeRetry  = 2
)

// Connector kinds (tremor_connector_type.kinds), bit flags: TREMOR_KIND_*.
const (
	KindSource = 0x1
	KindSink   = 0x2
	// KindKnown has every kind bit ABI 1.0 defines.
	KindKnown = KindSource | KindSink
)

// What a connector exchanges with the host: TREMOR_PAYLOAD_*.
const (
	PayloadBytes      = 0
	PayloadStructured = 1
)

// Config field flags (tremor_config_field.flags): TREMOR_FIELD_*.
const (
	FieldRequired = 0x1
	FieldSecret   = 0x2
	// FieldKnownFlags has every field flag ABI 1.0 defines.
	FieldKnownFlags = FieldRequired | FieldSecret
)

// Log levels for tremor_host_api.log: TREMOR_LOG_*.
const (
	LogError = 1
	LogWarn  = 2
	LogInfo  = 3
	LogDebug = 4
	LogTrace = 5
)

// Metric kinds (TREMOR_METRIC_*), since 1.1.
const (
	MetricCounter = 1
	MetricGauge   = 2
)

// ErrorBuf mirrors tremor_error: a host-owned message buffer a plugin may
// fill on failure.
type ErrorBuf struct {
	_   structs.HostLayout
	Msg uintptr // uint8_t *
	Cap uint64
	Len uint64
}

// Span mirrors tremor_span: a range of bytes or of value nodes.
type Span struct {
	_      structs.HostLayout
	Offset uint64
	Len    uint64
}

// Value mirrors tremor_value: one node of a flat pre-order value tree. As
// holds the union (boolean, i, u, f, offset or descendants, by Kind).
type Value struct {
	_         structs.HostLayout
	Kind      uint8
	Reserved  [3]uint8
	KeyLen    uint32
	KeyOffset uint64
	Len       uint64
	As        uint64
}

// ValueDoc mirrors tremor_value_doc: a read-only value with its arenas.
type ValueDoc struct {
	_        structs.HostLayout
	Nodes    uintptr // const tremor_value *
	NodesLen uint64
	Bytes    uintptr // const uint8_t *
	BytesLen uint64
}

// Event mirrors tremor_event.
type Event struct {
	_        structs.HostLayout
	ID       uint64
	Stream   uint64
	IngestNs uint64
	Port     uint32
	Flags    uint32
	Payload  Span
	Meta     Span
}

// Batch mirrors tremor_batch: events and the arenas their data lives in.
type Batch struct {
	_            structs.HostLayout
	StructSize   uint32
	Reserved0    uint32
	Events       uintptr // tremor_event *
	EventsLen    uint64
	EventsCap    uint64
	Values       uintptr // tremor_value *
	ValuesLen    uint64
	ValuesCap    uint64
	Bytes        uintptr // uint8_t *
	BytesLen     uint64
	BytesCap     uint64
	BytesNeeded  uint64
	ValuesNeeded uint64
}

// HostAPI mirrors tremor_host_api, the table of host functions.
type HostAPI struct {
	_          structs.HostLayout
	StructSize uint32
	ABIMajor   uint16
	ABIMinor   uint16
	Log        uintptr // tremor_host_log_fn, since 1.0
	CounterAdd uintptr // tremor_host_metric_fn, since 1.1
	GaugeSet   uintptr // tremor_host_metric_fn, since 1.1
}

// SizeofHostAPI10 is sizeof(tremor_host_api) in ABI 1.0 (the table ended
// after Log): a plugin seeing this struct_size must not call the 1.1
// functions.
const SizeofHostAPI10 = 16

// MetricLabel mirrors tremor_metric_label.
type MetricLabel struct {
	_        structs.HostLayout
	Name     uintptr // const uint8_t *
	NameLen  uint64
	Value    uintptr // const uint8_t *
	ValueLen uint64
}

// CreateArgs mirrors tremor_create_args.
type CreateArgs struct {
	_          structs.HostLayout
	StructSize uint32
	Reserved0  uint32
	Host       uintptr // const tremor_host_api *
	Ctx        uintptr // tremor_host_ctx *
	Alias      uintptr // const uint8_t *
	AliasLen   uint64
	Config     ValueDoc
}

// ConnectorVTable mirrors tremor_connector_vtable: function pointers.
type ConnectorVTable struct {
	_          structs.HostLayout
	StructSize uint32
	Reserved0  uint32
	OnCreate   uintptr
	OnDestroy  uintptr
	OnConnect  uintptr
	OnStart    uintptr
	OnPause    uintptr
	OnResume   uintptr
	OnDrain    uintptr
	OnStop     uintptr
	OnPull     uintptr
	OnAck      uintptr
	OnFail     uintptr
	OnSend     uintptr
}

// ConfigField mirrors tremor_config_field.
type ConfigField struct {
	_           structs.HostLayout
	Name        uintptr // const char *
	Type        uint32
	Flags       uint32
	DefaultJSON uintptr // const char *
	Doc         uintptr // const char *
	Reserved    [2]uintptr
}

// ConnectorType mirrors tremor_connector_type.
type ConnectorType struct {
	_           structs.HostLayout
	StructSize  uint32
	Kinds       uint32
	Name        uintptr // const char *
	Description uintptr // const char *
	Payload     uint32
	FieldsLen   uint32
	Fields      uintptr // const tremor_config_field *
	VTable      uintptr // const tremor_connector_vtable *
	Framing     uintptr // const char *, since 1.1
}

// SizeofConnectorType10 is sizeof(tremor_connector_type) in ABI 1.0 (it
// ended after VTable, before Framing).
const SizeofConnectorType10 = 48

// PluginDescriptor mirrors tremor_plugin_descriptor.
type PluginDescriptor struct {
	_             structs.HostLayout
	StructSize    uint32
	ABIMajor      uint16
	ABIMinor      uint16
	Name          uintptr // const char *
	Version       uintptr // const char *
	Description   uintptr // const char *
	License       uintptr // const char *
	SDK           uintptr // const char *
	ConnectorsLen uint64
	Connectors    uintptr // const tremor_connector_type *const *
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	var b [24]byte
	i := len(b)
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
