// Package cabi compiles include/tremor/plugin.h with cgo and exposes what the
// C compiler sees: struct sizes, alignments and field offsets, constants and
// the result-code table. It exists only so that abi's tests can compare the
// Go mirror against the header (cgo is not allowed in _test.go files).
//
// tremor_plugin.h and runner_limits.h in this directory are symlinks to
// the two headers it includes. Nothing includes them by these names: they
// are here because Go's build cache hashes the .h files of a cgo package's
// own directory and not the headers it includes from elsewhere, so without
// them a changed header would leave an old build of this package (and a
// test that compares against the old header) in the cache.
package cabi

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include -I${SRCDIR}/../../.. -std=c11 -Wall -Werror
#include <stddef.h>
#include <stdalign.h>
#include <tremor/plugin.h>
#include "runner/limits.h"

typedef struct { const char *strct; const char *field; size_t offset; size_t size; } cabi_field;
typedef struct { const char *name; size_t size; size_t align; } cabi_struct;
typedef struct { const char *name; long long value; } cabi_const;
typedef struct { const char *name; int32_t value; const char *text; } cabi_code;
typedef struct { const char *name; long long value; const char *text; } cabi_row;

#define F(S, M) { #S, #M, offsetof(S, M), sizeof(((S *)0)->M) }
static const cabi_field cabi_fields[] = {
  F(tremor_error, msg), F(tremor_error, cap), F(tremor_error, len),
  F(tremor_span, offset), F(tremor_span, len),
  F(tremor_value, kind), F(tremor_value, reserved), F(tremor_value, key_len),
  F(tremor_value, key_offset), F(tremor_value, len), F(tremor_value, as),
  F(tremor_value, as.boolean), F(tremor_value, as.i), F(tremor_value, as.u),
  F(tremor_value, as.f), F(tremor_value, as.offset), F(tremor_value, as.descendants),
  F(tremor_value_doc, nodes), F(tremor_value_doc, nodes_len),
  F(tremor_value_doc, bytes), F(tremor_value_doc, bytes_len),
  F(tremor_event, id), F(tremor_event, stream), F(tremor_event, ingest_ns),
  F(tremor_event, port), F(tremor_event, flags), F(tremor_event, payload),
  F(tremor_event, meta),
  F(tremor_batch, struct_size), F(tremor_batch, reserved0), F(tremor_batch, events),
  F(tremor_batch, events_len), F(tremor_batch, events_cap), F(tremor_batch, values),
  F(tremor_batch, values_len), F(tremor_batch, values_cap), F(tremor_batch, bytes),
  F(tremor_batch, bytes_len), F(tremor_batch, bytes_cap),
  F(tremor_batch, bytes_needed), F(tremor_batch, values_needed),
  F(tremor_host_api, struct_size), F(tremor_host_api, abi_major),
  F(tremor_host_api, abi_minor), F(tremor_host_api, log),
  F(tremor_host_api, counter_add), F(tremor_host_api, gauge_set),
  F(tremor_metric_label, name), F(tremor_metric_label, name_len),
  F(tremor_metric_label, value), F(tremor_metric_label, value_len),
  F(tremor_create_args, struct_size), F(tremor_create_args, reserved0),
  F(tremor_create_args, host), F(tremor_create_args, ctx), F(tremor_create_args, alias),
  F(tremor_create_args, alias_len), F(tremor_create_args, config),
  F(tremor_connector_vtable, struct_size), F(tremor_connector_vtable, reserved0),
  F(tremor_connector_vtable, on_create), F(tremor_connector_vtable, on_destroy),
  F(tremor_connector_vtable, on_connect), F(tremor_connector_vtable, on_start),
  F(tremor_connector_vtable, on_pause), F(tremor_connector_vtable, on_resume),
  F(tremor_connector_vtable, on_drain), F(tremor_connector_vtable, on_stop),
  F(tremor_connector_vtable, on_pull), F(tremor_connector_vtable, on_ack),
  F(tremor_connector_vtable, on_fail), F(tremor_connector_vtable, on_send),
  F(tremor_config_field, name), F(tremor_config_field, type), F(tremor_config_field, flags),
  F(tremor_config_field, default_json), F(tremor_config_field, doc),
  F(tremor_config_field, reserved),
  F(tremor_connector_type, struct_size), F(tremor_connector_type, kinds),
  F(tremor_connector_type, name), F(tremor_connector_type, description),
  F(tremor_connector_type, payload), F(tremor_connector_type, fields_len),
  F(tremor_connector_type, fields), F(tremor_connector_type, vtable),
  F(tremor_connector_type, framing),
  F(tremor_plugin_descriptor, struct_size), F(tremor_plugin_descriptor, abi_major),
  F(tremor_plugin_descriptor, abi_minor), F(tremor_plugin_descriptor, name),
  F(tremor_plugin_descriptor, version), F(tremor_plugin_descriptor, description),
  F(tremor_plugin_descriptor, license), F(tremor_plugin_descriptor, sdk),
  F(tremor_plugin_descriptor, connectors_len), F(tremor_plugin_descriptor, connectors),
};
#undef F

#define S(T) { #T, sizeof(T), alignof(T) }
static const cabi_struct cabi_structs[] = {
  S(tremor_error), S(tremor_span), S(tremor_value), S(tremor_value_doc),
  S(tremor_event), S(tremor_batch), S(tremor_host_api), S(tremor_metric_label),
  S(tremor_create_args),
  S(tremor_connector_vtable), S(tremor_config_field), S(tremor_connector_type),
  S(tremor_plugin_descriptor),
};
#undef S

#define K(N) { #N, (long long)(N) }
static const cabi_const cabi_consts[] = {
  K(TREMOR_ABI_MAJOR), K(TREMOR_ABI_MINOR),
  K(TREMOR_METRIC_COUNTER), K(TREMOR_METRIC_GAUGE),
  K(TREMOR_VALUE_NULL), K(TREMOR_VALUE_BOOL), K(TREMOR_VALUE_INT), K(TREMOR_VALUE_UINT),
  K(TREMOR_VALUE_FLOAT), K(TREMOR_VALUE_STRING), K(TREMOR_VALUE_BYTES),
  K(TREMOR_VALUE_ARRAY), K(TREMOR_VALUE_OBJECT),
  K(TREMOR_PORT_OUT), K(TREMOR_PORT_ERR),
  K(TREMOR_EVENT_STRUCTURED),
  K(TREMOR_EVENT_END_STREAM),
  K(TREMOR_OUTCOME_OK), K(TREMOR_OUTCOME_FAILED), K(TREMOR_OUTCOME_RETRY),
  K(TREMOR_LOG_ERROR), K(TREMOR_LOG_WARN), K(TREMOR_LOG_INFO), K(TREMOR_LOG_DEBUG),
  K(TREMOR_LOG_TRACE),
  K(TREMOR_KIND_SOURCE), K(TREMOR_KIND_SINK),
  K(TREMOR_PAYLOAD_BYTES), K(TREMOR_PAYLOAD_STRUCTURED),
  K(TREMOR_FIELD_REQUIRED), K(TREMOR_FIELD_SECRET),
};
#undef K

#define X(NAME, VALUE, TEXT) { #NAME, TREMOR_##NAME, TEXT },
static const cabi_code cabi_codes[] = { TREMOR_RESULT_CODES(X) };
#undef X

#define X(NAME, VALUE, TEXT) { #NAME, VALUE, TEXT },
static const cabi_row cabi_value_kinds[] = { TREMOR_VALUE_KINDS(X) };
static const cabi_row cabi_ports[] = { TREMOR_PORTS(X) };
static const cabi_row cabi_event_flags[] = { TREMOR_EVENT_FLAGS(X) };
#undef X
#define N(a) (sizeof a / sizeof a[0])
static const cabi_row *cabi_table(int which, size_t *n) {
  switch (which) {
  case 0: *n = N(cabi_value_kinds); return cabi_value_kinds;
  case 1: *n = N(cabi_ports); return cabi_ports;
  default: *n = N(cabi_event_flags); return cabi_event_flags;
  }
}
#undef N

#define L(NAME) {#NAME, (long long)(NAME)},
static const cabi_const cabi_runner_limits[] = {TREMOR_RUNNER_LIMITS(L)};
#undef L
static size_t cabi_nlimits(void) { return sizeof cabi_runner_limits / sizeof cabi_runner_limits[0]; }
static const cabi_const *cabi_limit_at(size_t i) { return &cabi_runner_limits[i]; }

static const char *cabi_abi_version_string(void) { return TREMOR_ABI_VERSION_STRING; }
static const char *cabi_entry_symbol(void) { return TREMOR_PLUGIN_ENTRY_SYMBOL; }
static const char *cabi_result_str(int32_t c) { return tremor_result_str(c); }
static size_t cabi_nfields(void) { return sizeof cabi_fields / sizeof cabi_fields[0]; }
static size_t cabi_nstructs(void) { return sizeof cabi_structs / sizeof cabi_structs[0]; }
static size_t cabi_nconsts(void) { return sizeof cabi_consts / sizeof cabi_consts[0]; }
static size_t cabi_ncodes(void) { return sizeof cabi_codes / sizeof cabi_codes[0]; }
static const cabi_field *cabi_field_at(size_t i) { return &cabi_fields[i]; }
static const cabi_struct *cabi_struct_at(size_t i) { return &cabi_structs[i]; }
static const cabi_const *cabi_const_at(size_t i) { return &cabi_consts[i]; }
static const cabi_code *cabi_code_at(size_t i) { return &cabi_codes[i]; }
*/
import "C"

import "unsafe"

// Field is one struct member as the C compiler lays it out. Name uses C
// syntax, union members included ("as.f").
type Field struct {
	Name   string
	Offset uintptr
	Size   uintptr
}

// Struct is one header struct as the C compiler lays it out.
type Struct struct {
	Name   string // e.g. "tremor_batch"
	Size   uintptr
	Align  uintptr
	Fields []Field
}

// Code is one row of TREMOR_RESULT_CODES.
type Code struct {
	Name  string
	Value int32
	Text  string
}

// Structs returns every struct of the header, with its fields.
func Structs() map[string]Struct {
	out := map[string]Struct{}
	for i := C.size_t(0); i < C.cabi_nstructs(); i++ {
		s := C.cabi_struct_at(i)
		name := C.GoString(s.name)
		out[name] = Struct{Name: name, Size: uintptr(s.size), Align: uintptr(s.align)}
	}
	for i := C.size_t(0); i < C.cabi_nfields(); i++ {
		f := C.cabi_field_at(i)
		name := C.GoString(f.strct)
		s := out[name]
		s.Fields = append(s.Fields, Field{Name: C.GoString(f.field), Offset: uintptr(f.offset), Size: uintptr(f.size)})
		out[name] = s
	}
	return out
}

// Constants returns the header's numeric #defines by their C names.
func Constants() map[string]int64 {
	out := map[string]int64{}
	for i := C.size_t(0); i < C.cabi_nconsts(); i++ {
		c := C.cabi_const_at(i)
		out[C.GoString(c.name)] = int64(c.value)
	}
	return out
}

// RunnerLimits returns runner/limits.h's TREMOR_RUNNER_LIMITS by their C
// names.
func RunnerLimits() map[string]int64 {
	out := map[string]int64{}
	for i := C.size_t(0); i < C.cabi_nlimits(); i++ {
		c := C.cabi_limit_at(i)
		out[C.GoString(c.name)] = int64(c.value)
	}
	return out
}

// ResultCodes returns TREMOR_RESULT_CODES in the header's order.
func ResultCodes() []Code {
	var out []Code
	for i := C.size_t(0); i < C.cabi_ncodes(); i++ {
		c := C.cabi_code_at(i)
		out = append(out, Code{Name: C.GoString(c.name), Value: int32(c.value), Text: C.GoString(c.text)})
	}
	return out
}

// Row is one row of an X-macro table of the header: X(NAME, value, text).
type Row struct {
	Name  string
	Value int64
	Text  string
}

func table(which C.int) []Row {
	var n C.size_t
	rows := C.cabi_table(which, &n)
	var out []Row
	for _, r := range unsafe.Slice(rows, n) {
		out = append(out, Row{Name: C.GoString(r.name), Value: int64(r.value), Text: C.GoString(r.text)})
	}
	return out
}

// ValueKinds returns TREMOR_VALUE_KINDS in the header's order.
func ValueKinds() []Row { return table(0) }

// Ports returns TREMOR_PORTS in the header's order.
func Ports() []Row { return table(1) }

// EventFlags returns TREMOR_EVENT_FLAGS in the header's order.
func EventFlags() []Row { return table(2) }

// ResultStr calls the header's tremor_result_str.
func ResultStr(code int32) string { return C.GoString(C.cabi_result_str(C.int32_t(code))) }

// ABIVersionString is TREMOR_ABI_VERSION_STRING.
func ABIVersionString() string { return C.GoString(C.cabi_abi_version_string()) }

// EntrySymbol is TREMOR_PLUGIN_ENTRY_SYMBOL.
func EntrySymbol() string { return C.GoString(C.cabi_entry_symbol()) }
