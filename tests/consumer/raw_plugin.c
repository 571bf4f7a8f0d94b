/* A sink written against tremor/plugin.h alone, no SDK: the descriptor and
 * entry point by hand. It accepts everything. */
#include "tremor/plugin.h"

static int instance_token;

static int32_t raw_create(const tremor_create_args *args, void **instance,
                          tremor_error *err) {
  (void)args;
  (void)err;
  *instance = &instance_token;
  return TREMOR_OK;
}

static void raw_destroy(void *instance) { (void)instance; }

static int32_t raw_send(void *instance, const tremor_batch *batch,
                        uint8_t *outcomes, tremor_error *err) {
  (void)instance;
  (void)err;
  for (uint64_t i = 0; i < batch->events_len; i++)
    outcomes[i] = TREMOR_OUTCOME_OK;
  return TREMOR_OK;
}

static const tremor_connector_vtable raw_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = raw_create,
    .on_destroy = raw_destroy,
    .on_send = raw_send,
};

static const tremor_connector_type raw_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SINK,
    .name = "raw_sink",
    .payload = TREMOR_PAYLOAD_BYTES,
    .vtable = &raw_vtable,
};

static const tremor_connector_type *const raw_types[] = {&raw_type};

static const tremor_plugin_descriptor raw_descriptor = {
    .struct_size = sizeof(tremor_plugin_descriptor),
    .abi_major = TREMOR_ABI_MAJOR,
    .abi_minor = TREMOR_ABI_MINOR,
    .name = "raw",
    .version = "0.0.1",
    .connectors_len = 1,
    .connectors = raw_types,
};

TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *
tremor_plugin_get_descriptor(void) {
  return &raw_descriptor;
}
