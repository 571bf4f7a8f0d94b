/* null: the cheapest plugin the contract allows, to measure the boundary
 * itself (BenchmarkBoundary/.../null). Built by the benchmark with `cc`.
 *
 * null_source fills every room with events_cap events whose payloads all
 * span the same `size` bytes, written once per pull: per event it writes
 * one tremor_event and nothing else. null_sink marks every event OK.
 * What is left per event is the host's side of the boundary (preparing
 * the room, checking what was written, outcomes) plus one struct store. */
#include <stdlib.h>
#include <string.h>

#include "tremor/plugin.h"

typedef struct null_source {
  uint64_t seq, size;
} null_source;

static int32_t source_create(const tremor_create_args *args, void **instance,
                             tremor_error *err) {
  (void)err;
  null_source *s = calloc(1, sizeof *s);
  if (s == NULL) return TREMOR_ERR_FAILED;
  s->size = 100;
  /* config: { size: uint } */
  const tremor_value_doc *c = &args->config;
  for (uint64_t i = 1; i < c->nodes_len; i++) {
    const tremor_value *v = &c->nodes[i];
    if (v->key_len == 4 && memcmp(c->bytes + v->key_offset, "size", 4) == 0 &&
        v->kind == TREMOR_VALUE_UINT)
      s->size = v->as.u;
  }
  *instance = s;
  return TREMOR_OK;
}

static void destroy(void *instance) { free(instance); }

static int32_t source_pull(void *instance, tremor_batch *room, uint32_t wait_ms,
                           tremor_error *err) {
  null_source *s = instance;
  (void)wait_ms;
  if (room->bytes_cap < s->size) {
    room->bytes_needed = s->size;
    (void)err;
    return TREMOR_ERR_NO_ROOM;
  }
  memset(room->bytes, 'x', s->size);
  room->bytes_len = s->size;
  uint64_t n = room->events_cap;
  tremor_event *ev = room->events;
  for (uint64_t i = 0; i < n; i++) {
    ev[i] = (tremor_event){.id = s->seq++, .payload = {0, s->size}};
  }
  room->events_len = n;
  return TREMOR_OK;
}

static int32_t sink_create(const tremor_create_args *args, void **instance,
                           tremor_error *err) {
  (void)args;
  (void)err;
  *instance = calloc(1, 1);
  return *instance ? TREMOR_OK : TREMOR_ERR_FAILED;
}

static int32_t sink_send(void *instance, const tremor_batch *batch,
                         uint8_t *outcomes, tremor_error *err) {
  (void)instance;
  (void)err;
  memset(outcomes, TREMOR_OUTCOME_OK, batch->events_len);
  return TREMOR_OK;
}

static const tremor_config_field source_fields[] = {
    {.name = "size", .type = TREMOR_VALUE_UINT, .default_json = "100",
     .doc = "payload bytes of every event"},
};

static const tremor_connector_vtable source_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = source_create,
    .on_destroy = destroy,
    .on_pull = source_pull,
};

static const tremor_connector_vtable sink_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = sink_create,
    .on_destroy = destroy,
    .on_send = sink_send,
};

static const tremor_connector_type source_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SOURCE,
    .name = "null_source",
    .payload = TREMOR_PAYLOAD_BYTES,
    .fields_len = 1,
    .fields = source_fields,
    .vtable = &source_vtable,
};

static const tremor_connector_type sink_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SINK,
    .name = "null_sink",
    .payload = TREMOR_PAYLOAD_BYTES,
    .vtable = &sink_vtable,
};

static const tremor_connector_type *const connectors[] = {&source_type, &sink_type};

static const tremor_plugin_descriptor descriptor = {
    .struct_size = sizeof(tremor_plugin_descriptor),
    .abi_major = TREMOR_ABI_MAJOR,
    .abi_minor = TREMOR_ABI_MINOR,
    .name = "null",
    .version = "0.1.0",
    .description = "a source and sink that do nothing per event (benchmarks)",
    .license = "Apache-2.0",
    .connectors_len = 2,
    .connectors = connectors,
};

TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *tremor_plugin_get_descriptor(void) {
  return &descriptor;
}
