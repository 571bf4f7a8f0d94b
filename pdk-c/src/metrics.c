/* Metrics (ABI 1.1): tremor_counter_add and tremor_gauge_set, which check
 * the host table's struct_size before calling the 1.1 functions. */
#include <string.h>

#include "pdk_internal.h"

static int said_unsupported; /* the 1.0-host note is logged once per process */

static int32_t metric(const tremor_pdk_host *h, int gauge, const char *name,
                      const char *help, const tremor_pdk_label *labels,
                      size_t labels_len, int64_t value) {
  if (h == NULL || name == NULL || labels_len > TREMOR_PDK_MAX_LABELS ||
      (labels_len > 0 && labels == NULL))
    return TREMOR_ERR_INVALID;
  const tremor_host_api *api = h->api;
  /* Rule 6: a 1.0 host's table ends after `log`; never read past it. */
  if (api == NULL ||
      api->struct_size < offsetof(tremor_host_api, gauge_set) + sizeof api->gauge_set) {
    if (!__atomic_exchange_n(&said_unsupported, 1, __ATOMIC_RELAXED))
      tremor_log(h, TREMOR_LOG_DEBUG,
                 "the host (ABI 1.0) takes no plugin metrics: %s and the others are not reported",
                 name);
    return TREMOR_ERR_UNSUPPORTED;
  }
  tremor_host_metric_fn fn = gauge ? api->gauge_set : api->counter_add;
  if (fn == NULL) return TREMOR_ERR_UNSUPPORTED;
  tremor_metric_label ls[TREMOR_PDK_MAX_LABELS];
  for (size_t i = 0; i < labels_len; i++) {
    const char *n = labels[i].name ? labels[i].name : "";
    const char *v = labels[i].value ? labels[i].value : "";
    ls[i] = (tremor_metric_label){(const uint8_t *)n, strlen(n), (const uint8_t *)v, strlen(v)};
  }
  if (help == NULL) help = "";
  return fn(h->ctx, (const uint8_t *)name, strlen(name), (const uint8_t *)help,
            strlen(help), labels_len ? ls : NULL, labels_len, value);
}

int32_t tremor_counter_add(const tremor_pdk_host *h, const char *name,
                           const char *help, const tremor_pdk_label *labels,
                           size_t labels_len, uint64_t delta) {
  return metric(h, 0, name, help, labels, labels_len, (int64_t)delta);
}

int32_t tremor_gauge_set(const tremor_pdk_host *h, const char *name,
                         const char *help, const tremor_pdk_label *labels,
                         size_t labels_len, int64_t value) {
  return metric(h, 1, name, help, labels, labels_len, value);
}
