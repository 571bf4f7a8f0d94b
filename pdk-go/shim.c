// The C side of pdk-go: the entry point, the vtables' trampolines and the
// call through the host's log pointer. Go cannot define C functions, and a
// cgo file with //export may only declare C, so they live here. Every
// trampoline turns the opaque instance pointer into the integer handle the
// Go side keys its instance table with, and calls the //export'ed Go hook.

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tremor/plugin.h"
#include "_cgo_export.h"

// One on_create per connector type (on_create does not say which type it
// is for), so a plugin has at most PDK_MAX_TYPES connector types
// (maxConnectorTypes in pdk.go).
#define PDK_MAX_TYPES 32

#define PDK_CREATE(n)                                                              \
  static int32_t pdk_create_##n(const tremor_create_args *args, void **instance, \
                                tremor_error *err) {                             \
    uintptr_t h = 0;                                                             \
    int32_t rc;                                                                  \
    if (instance == NULL) return TREMOR_ERR_INVALID;                             \
    rc = pdkgo_create(n, (tremor_create_args *)args, &h, err);                   \
    if (rc == TREMOR_OK) *instance = (void *)h;                                  \
    return rc;                                                                   \
  }
PDK_CREATE(0) PDK_CREATE(1) PDK_CREATE(2) PDK_CREATE(3) PDK_CREATE(4) PDK_CREATE(5)
PDK_CREATE(6) PDK_CREATE(7) PDK_CREATE(8) PDK_CREATE(9) PDK_CREATE(10) PDK_CREATE(11)
PDK_CREATE(12) PDK_CREATE(13) PDK_CREATE(14) PDK_CREATE(15) PDK_CREATE(16)
PDK_CREATE(17) PDK_CREATE(18) PDK_CREATE(19) PDK_CREATE(20) PDK_CREATE(21)
PDK_CREATE(22) PDK_CREATE(23) PDK_CREATE(24) PDK_CREATE(25) PDK_CREATE(26)
PDK_CREATE(27) PDK_CREATE(28) PDK_CREATE(29) PDK_CREATE(30) PDK_CREATE(31)

static const tremor_on_create_fn pdk_creates[PDK_MAX_TYPES] = {
    pdk_create_0,  pdk_create_1,  pdk_create_2,  pdk_create_3,  pdk_create_4,
    pdk_create_5,  pdk_create_6,  pdk_create_7,  pdk_create_8,  pdk_create_9,
    pdk_create_10, pdk_create_11, pdk_create_12, pdk_create_13, pdk_create_14,
    pdk_create_15, pdk_create_16, pdk_create_17, pdk_create_18, pdk_create_19,
    pdk_create_20, pdk_create_21, pdk_create_22, pdk_create_23, pdk_create_24,
    pdk_create_25, pdk_create_26, pdk_create_27, pdk_create_28, pdk_create_29,
    pdk_create_30, pdk_create_31,
};

static void pdk_destroy(void *instance) { pdkgo_destroy((uintptr_t)instance); }

static int32_t pdk_connect(void *instance, uint32_t attempt, tremor_error *err) {
  return pdkgo_connect((uintptr_t)instance, attempt, err);
}

#define PDK_STEP(name, n)                                         \
  static int32_t pdk_##name(void *instance, tremor_error *err) { \
    return pdkgo_step((uintptr_t)instance, n, err);              \
  }
PDK_STEP(start, 0)
PDK_STEP(pause, 1)
PDK_STEP(resume, 2)
PDK_STEP(drain, 3)
PDK_STEP(stop, 4)

static int32_t pdk_pull(void *instance, tremor_batch *room, uint32_t wait_ms, tremor_error *err) {
  return pdkgo_pull((uintptr_t)instance, room, wait_ms, err);
}

static int32_t pdk_ack(void *instance, const uint64_t *ids, uint64_t count, tremor_error *err) {
  return pdkgo_ids((uintptr_t)instance, 1, (uint64_t *)ids, count, err);
}

static int32_t pdk_fail(void *instance, const uint64_t *ids, uint64_t count, tremor_error *err) {
  return pdkgo_ids((uintptr_t)instance, 0, (uint64_t *)ids, count, err);
}

static int32_t pdk_send(void *instance, const tremor_batch *batch, uint8_t *outcomes,
                        tremor_error *err) {
  return pdkgo_send((uintptr_t)instance, (tremor_batch *)batch, outcomes, err);
}

// Builds the vtable of connector type idx (never freed: it must outlive
// every call). Lifecycle steps are always present (a connector's optional
// interfaces are only known per instance); pull, send and ack/fail only
// for the kinds that have them.
tremor_connector_vtable *pdk_new_vtable(uint32_t idx, uint32_t kinds, int acks) {
  tremor_connector_vtable *vt = calloc(1, sizeof *vt);
  if (vt == NULL || idx >= PDK_MAX_TYPES) abort();
  vt->struct_size = sizeof *vt;
  vt->on_create = pdk_creates[idx];
  vt->on_destroy = pdk_destroy;
  vt->on_connect = pdk_connect;
  vt->on_start = pdk_start;
  vt->on_pause = pdk_pause;
  vt->on_resume = pdk_resume;
  vt->on_drain = pdk_drain;
  vt->on_stop = pdk_stop;
  if (kinds & TREMOR_KIND_SOURCE) {
    vt->on_pull = pdk_pull;
    if (acks) {
      vt->on_ack = pdk_ack;
      vt->on_fail = pdk_fail;
    }
  }
  if (kinds & TREMOR_KIND_SINK) vt->on_send = pdk_send;
  return vt;
}

// Calls the host's log function, when its table is new enough to have one.
void pdk_log(const tremor_host_api *api, tremor_host_ctx *ctx, int32_t level, const uint8_t *msg,
             uint64_t len) {
  if (api == NULL ||
      api->struct_size < offsetof(tremor_host_api, log) + sizeof(tremor_host_log_fn) ||
      api->log == NULL)
    return;
  api->log(ctx, level, msg, len);
}

int32_t pdk_metric(const tremor_host_api *api, tremor_host_ctx *ctx, int gauge,
                   const uint8_t *name, uint64_t name_len, const uint8_t *help,
                   uint64_t help_len, const tremor_metric_label *labels,
                   uint64_t labels_len, int64_t value) {
  // Rule 6: a 1.0 host's table ends after `log`.
  if (api == NULL ||
      api->struct_size < offsetof(tremor_host_api, gauge_set) + sizeof(tremor_host_metric_fn))
    return TREMOR_ERR_UNSUPPORTED;
  tremor_host_metric_fn fn = gauge ? api->gauge_set : api->counter_add;
  if (fn == NULL) return TREMOR_ERR_UNSUPPORTED;
  return fn(ctx, name, name_len, help, help_len, labels, labels_len, value);
}

// The entry point. The first call goes into Go (which waits for the Go
// runtime and the plugin's init functions, so for pdk.Register); later
// calls return the cached pointer without leaving C.
static const tremor_plugin_descriptor *pdk_cached_descriptor;

TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *tremor_plugin_get_descriptor(void) {
  const tremor_plugin_descriptor *d = __atomic_load_n(&pdk_cached_descriptor, __ATOMIC_ACQUIRE);
  if (d == NULL) {
    d = pdkgo_descriptor();
    __atomic_store_n(&pdk_cached_descriptor, d, __ATOMIC_RELEASE);
  }
  return d;
}
