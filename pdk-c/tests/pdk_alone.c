/* Compiled by ctest as C99, C11 and C++17 with every warning an error:
 * tremor/pdk.h stands alone, and TREMOR_PLUGIN_DEFINE expands to valid
 * code in each language (positional initializers, as C++17 has no
 * designated ones). */
#include "tremor/pdk.h"

static int32_t alone_create(const tremor_create_args *args, void **instance,
                            tremor_error *err) {
  (void)args;
  *instance = NULL;
  return tremor_pdk_fail(err, TREMOR_ERR_UNSUPPORTED, "%s", "not really");
}

static void alone_destroy(void *instance) { (void)instance; }

static int32_t alone_send(void *instance, const tremor_batch *batch,
                          uint8_t *outcomes, tremor_error *err) {
  (void)instance;
  (void)batch;
  (void)outcomes;
  (void)err;
  return TREMOR_OK;
}

static const tremor_connector_vtable alone_vtable = {
    sizeof(tremor_connector_vtable), 0, alone_create, alone_destroy, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, alone_send};

static const tremor_connector_type alone_type = {
    sizeof(tremor_connector_type), TREMOR_KIND_SINK, "alone", NULL,
    TREMOR_PAYLOAD_BYTES, 0, NULL, &alone_vtable, NULL};

TREMOR_PLUGIN_DEFINE("alone", "0.0.1", NULL, NULL, &alone_type);
