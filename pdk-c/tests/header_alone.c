/* Compiled by ctest as C99, C11 and C++17 with every warning an error:
 * tremor/plugin.h must stand alone (it is the first and only include that
 * matters) and must keep the layout the Go and Rust mirrors assume. */
#include "tremor/plugin.h"

#include <stddef.h>

#if defined(__cplusplus)
#define LAYOUT_CHECK(name, cond) static_assert(cond, #name)
#else
/* Works in C99 too: a negative array size is a compile error. */
#define LAYOUT_CHECK(name, cond) typedef char layout_check_##name[(cond) ? 1 : -1]
#endif

/* Sizes and offsets on LP64 targets (x86_64, aarch64 Linux and macOS). */
#if UINTPTR_MAX == 0xffffffffffffffffu
LAYOUT_CHECK(error, sizeof(tremor_error) == 24);
LAYOUT_CHECK(span, sizeof(tremor_span) == 16);
LAYOUT_CHECK(value, sizeof(tremor_value) == 32);
LAYOUT_CHECK(value_key_len, offsetof(tremor_value, key_len) == 4);
LAYOUT_CHECK(value_key_offset, offsetof(tremor_value, key_offset) == 8);
LAYOUT_CHECK(value_len, offsetof(tremor_value, len) == 16);
LAYOUT_CHECK(value_as, offsetof(tremor_value, as) == 24);
LAYOUT_CHECK(value_doc, sizeof(tremor_value_doc) == 32);
LAYOUT_CHECK(event, sizeof(tremor_event) == 64);
LAYOUT_CHECK(event_port, offsetof(tremor_event, port) == 24);
LAYOUT_CHECK(event_payload, offsetof(tremor_event, payload) == 32);
LAYOUT_CHECK(event_meta, offsetof(tremor_event, meta) == 48);
LAYOUT_CHECK(batch, sizeof(tremor_batch) == 96);
LAYOUT_CHECK(batch_bytes_needed, offsetof(tremor_batch, bytes_needed) == 80);
LAYOUT_CHECK(host_api, sizeof(tremor_host_api) == 32);
LAYOUT_CHECK(host_api_log, offsetof(tremor_host_api, log) == 8);
/* ABI 1.1 appended after where 1.0 ended (16 and 48 bytes). */
LAYOUT_CHECK(host_api_counter_add, offsetof(tremor_host_api, counter_add) == 16);
LAYOUT_CHECK(host_api_gauge_set, offsetof(tremor_host_api, gauge_set) == 24);
LAYOUT_CHECK(metric_label, sizeof(tremor_metric_label) == 32);
LAYOUT_CHECK(metric_label_value, offsetof(tremor_metric_label, value) == 16);
LAYOUT_CHECK(create_args, sizeof(tremor_create_args) == 72);
LAYOUT_CHECK(create_args_config, offsetof(tremor_create_args, config) == 40);
LAYOUT_CHECK(vtable, sizeof(tremor_connector_vtable) == 8 + 12 * 8);
LAYOUT_CHECK(vtable_on_send, offsetof(tremor_connector_vtable, on_send) == 96);
LAYOUT_CHECK(config_field, sizeof(tremor_config_field) == 48);
LAYOUT_CHECK(connector_type, sizeof(tremor_connector_type) == 56);
LAYOUT_CHECK(connector_type_framing, offsetof(tremor_connector_type, framing) == 48);
LAYOUT_CHECK(descriptor, sizeof(tremor_plugin_descriptor) == 64);
LAYOUT_CHECK(descriptor_connectors,
             offsetof(tremor_plugin_descriptor, connectors) == 56);
#endif

LAYOUT_CHECK(abi_major, TREMOR_ABI_MAJOR == 1);

/* The X-macro tables keep ABI 1.0's rows and values. */
#define ROW(name, value, text) +1
LAYOUT_CHECK(value_kinds_rows, (0 TREMOR_VALUE_KINDS(ROW)) == 9);
LAYOUT_CHECK(ports_rows, (0 TREMOR_PORTS(ROW)) == 2);
LAYOUT_CHECK(event_flags_rows, (0 TREMOR_EVENT_FLAGS(ROW)) == 2);
#undef ROW
LAYOUT_CHECK(value_kinds,
             TREMOR_VALUE_NULL == 0 && TREMOR_VALUE_BOOL == 1 &&
                 TREMOR_VALUE_INT == 2 && TREMOR_VALUE_UINT == 3 &&
                 TREMOR_VALUE_FLOAT == 4 && TREMOR_VALUE_STRING == 5 &&
                 TREMOR_VALUE_BYTES == 6 && TREMOR_VALUE_ARRAY == 7 &&
                 TREMOR_VALUE_OBJECT == 8);
LAYOUT_CHECK(ports, TREMOR_PORT_OUT == 0 && TREMOR_PORT_ERR == 1);
LAYOUT_CHECK(event_flags,
             TREMOR_EVENT_STRUCTURED == 0x1 && TREMOR_EVENT_END_STREAM == 0x2);
/* A flag fits tremor_event.flags and masks it without surprises. */
LAYOUT_CHECK(event_flags_mask,
             ((uint32_t)0xffffffffu & ~(uint32_t)TREMOR_EVENT_STRUCTURED) ==
                 0xfffffffeu);
LAYOUT_CHECK(result_ok, TREMOR_OK == 0 && TREMOR_ERR_PANIC == -7);

/* The result-code table, enum and string function agree. */
const char *header_alone_describe(int32_t code);
const char *header_alone_describe(int32_t code) {
  return tremor_result_str(code);
}
