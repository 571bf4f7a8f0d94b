#include "driver.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct drv_ctx {
  uint64_t id;
  int dead;
} drv_ctx;

static pthread_mutex_t drv_log_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *drv_log_buf;
static size_t drv_log_len, drv_log_cap;
static uint64_t drv_dead_logs;
int drv_log_echo;

static void drv_log(tremor_host_ctx *ctx, int32_t level, const uint8_t *msg, uint64_t len) {
  drv_ctx *c = (drv_ctx *)ctx;
  uint32_t n = len > 0xffffffffu ? 0xffffffffu : (uint32_t)len;
  size_t need = 16 + (size_t)n;
  pthread_mutex_lock(&drv_log_mu);
  if (c == NULL || c->dead) drv_dead_logs++;
  if (drv_log_len + need > drv_log_cap) {
    size_t cap = drv_log_cap ? drv_log_cap * 2 : 4096;
    while (cap < drv_log_len + need) cap *= 2;
    uint8_t *b = realloc(drv_log_buf, cap);
    if (b == NULL) {
      pthread_mutex_unlock(&drv_log_mu);
      return;
    }
    drv_log_buf = b;
    drv_log_cap = cap;
  }
  uint64_t id = c ? c->id : 0;
  memcpy(drv_log_buf + drv_log_len, &id, 8);
  memcpy(drv_log_buf + drv_log_len + 8, &level, 4);
  memcpy(drv_log_buf + drv_log_len + 12, &n, 4);
  if (n) memcpy(drv_log_buf + drv_log_len + 16, msg, n);
  drv_log_len += need;
  if (drv_log_echo) fprintf(stderr, "[ctx %llu level %d] %.*s\n", (unsigned long long)id, (int)level, (int)n, (const char *)msg);
  pthread_mutex_unlock(&drv_log_mu);
}

/* ABI 1.1 metrics: this test host takes them and keeps nothing. */
static int32_t host_metric(tremor_host_ctx *ctx, const uint8_t *name, uint64_t name_len,
                           const uint8_t *help, uint64_t help_len,
                           const tremor_metric_label *labels, uint64_t labels_len,
                           int64_t value) {
  (void)ctx, (void)name, (void)name_len, (void)help, (void)help_len, (void)labels,
      (void)labels_len, (void)value;
  return TREMOR_OK;
}

const tremor_host_api drv_host_api = {
    sizeof(tremor_host_api), TREMOR_ABI_MAJOR, TREMOR_ABI_MINOR, drv_log, host_metric, host_metric,
};

tremor_host_ctx *drv_ctx_new(uint64_t id) {
  drv_ctx *c = calloc(1, sizeof *c);
  if (c) c->id = id;
  return (tremor_host_ctx *)c;
}

void drv_ctx_kill(tremor_host_ctx *ctx) {
  pthread_mutex_lock(&drv_log_mu);
  ((drv_ctx *)ctx)->dead = 1;
  pthread_mutex_unlock(&drv_log_mu);
}

uint64_t drv_dead_ctx_logs(void) {
  pthread_mutex_lock(&drv_log_mu);
  uint64_t n = drv_dead_logs;
  pthread_mutex_unlock(&drv_log_mu);
  return n;
}

uint8_t *drv_logs_take(size_t *len) {
  pthread_mutex_lock(&drv_log_mu);
  uint8_t *b = drv_log_buf;
  *len = drv_log_len;
  drv_log_buf = NULL;
  drv_log_len = drv_log_cap = 0;
  pthread_mutex_unlock(&drv_log_mu);
  return b;
}

const tremor_plugin_descriptor *drv_open(const char *path, char *err, size_t cap) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(err, cap, "dlopen: %s", dlerror());
    return NULL;
  }
  tremor_plugin_get_descriptor_fn get = (tremor_plugin_get_descriptor_fn)dlsym(h, TREMOR_PLUGIN_ENTRY_SYMBOL);
  if (get == NULL) {
    snprintf(err, cap, "dlsym %s: %s", TREMOR_PLUGIN_ENTRY_SYMBOL, dlerror());
    return NULL;
  }
  const tremor_plugin_descriptor *d = get();
  if (d == NULL) snprintf(err, cap, "%s returned NULL", TREMOR_PLUGIN_ENTRY_SYMBOL);
  return d;
}

int32_t drv_create(const tremor_connector_vtable *vt, const tremor_create_args *args, void **inst,
                   tremor_error *err) {
  return vt->on_create(args, inst, err);
}

void drv_destroy(const tremor_connector_vtable *vt, void *inst) { vt->on_destroy(inst); }

int32_t drv_connect(const tremor_connector_vtable *vt, void *inst, uint32_t attempt, tremor_error *err) {
  return vt->on_connect ? vt->on_connect(inst, attempt, err) : TREMOR_OK;
}

int32_t drv_step(const tremor_connector_vtable *vt, int step, void *inst, tremor_error *err) {
  tremor_on_step_fn f = NULL;
  switch (step) {
    case 0: f = vt->on_start; break;
    case 1: f = vt->on_pause; break;
    case 2: f = vt->on_resume; break;
    case 3: f = vt->on_drain; break;
    case 4: f = vt->on_stop; break;
  }
  return f ? f(inst, err) : TREMOR_OK;
}

int32_t drv_pull(const tremor_connector_vtable *vt, void *inst, tremor_batch *room, uint32_t wait_ms,
                 tremor_error *err) {
  if (vt->on_pull == NULL) return TREMOR_ERR_UNSUPPORTED;
  return vt->on_pull(inst, room, wait_ms, err);
}

int32_t drv_ids(const tremor_connector_vtable *vt, int ack, void *inst, const uint64_t *ids, uint64_t n,
                tremor_error *err) {
  tremor_on_ids_fn f = ack ? vt->on_ack : vt->on_fail;
  return f ? f(inst, ids, n, err) : TREMOR_OK;
}

int32_t drv_send(const tremor_connector_vtable *vt, void *inst, const tremor_batch *batch,
                 uint8_t *outcomes, tremor_error *err) {
  if (vt->on_send == NULL) return TREMOR_ERR_UNSUPPORTED;
  return vt->on_send(inst, batch, outcomes, err);
}

void *drv_ptr(uintptr_t v) { return (void *)v; }

int drv_pipe(const tremor_connector_vtable *src_vt, void *src, const tremor_connector_vtable *sink_vt,
             void *sink, uint64_t events_cap, uint64_t values_cap, uint64_t bytes_cap, uint32_t wait_ms,
             uint64_t max_pulls, uint64_t max_idle, drv_pipe_stats *st) {
  tremor_batch room;
  uint8_t msg[256];
  tremor_error err;
  uint64_t idle = 0;
  memset(st, 0, sizeof *st);
  memset(&room, 0, sizeof room);
  room.struct_size = sizeof room;
  room.events_cap = events_cap;
  room.values_cap = values_cap;
  room.bytes_cap = bytes_cap;
  room.events = malloc(events_cap * sizeof(tremor_event) + 1);
  room.values = malloc(values_cap * sizeof(tremor_value) + 1);
  room.bytes = malloc(bytes_cap + 1);
  uint8_t *outcomes = malloc(events_cap + 1);
  int ok = room.events && room.values && room.bytes && outcomes;
  while (ok) {
    if (max_pulls && st->pulls >= max_pulls) break;
    room.events_len = room.values_len = room.bytes_len = 0;
    room.bytes_needed = room.values_needed = 0;
    err = (tremor_error){msg, sizeof msg, 0};
    int32_t rc = src_vt->on_pull(src, &room, wait_ms, &err);
    st->pulls++;
    if (rc == TREMOR_ERR_NO_ROOM) {
      if (room.bytes_needed > room.bytes_cap) {
        uint8_t *b = realloc(room.bytes, room.bytes_needed);
        if (b == NULL) break;
        room.bytes = b;
        room.bytes_cap = room.bytes_needed;
        continue;
      }
      st->pull_rc = rc;
      snprintf(st->err, sizeof st->err, "pull: no room, but needs only %llu bytes", (unsigned long long)room.bytes_needed);
      break;
    }
    if (rc != TREMOR_OK && rc != TREMOR_END) {
      st->pull_rc = rc;
      snprintf(st->err, sizeof st->err, "pull: %s: %.*s", tremor_result_str(rc), (int)err.len, (const char *)msg);
      if (room.events_len == 0) break;
    }
    if (room.events_len > 0) {
      idle = 0;
      st->events += room.events_len;
      st->bytes += room.bytes_len;
      memset(outcomes, TREMOR_OUTCOME_FAILED, room.events_len);
      err = (tremor_error){msg, sizeof msg, 0};
      int32_t src2 = sink_vt->on_send(sink, &room, outcomes, &err);
      st->sends++;
      for (uint64_t i = 0; i < room.events_len; i++) {
        if (outcomes[i] == TREMOR_OUTCOME_OK) st->ok++;
        else if (outcomes[i] == TREMOR_OUTCOME_RETRY) st->retry++;
        else st->failed++;
      }
      if (src2 != TREMOR_OK) {
        st->send_rc = src2;
        snprintf(st->err, sizeof st->err, "send: %s: %.*s", tremor_result_str(src2), (int)err.len, (const char *)msg);
        break;
      }
    } else if (max_idle && ++idle >= max_idle) {
      break;
    }
    if (rc == TREMOR_END) {
      st->pull_rc = rc;
      break;
    }
    if (rc != TREMOR_OK) break;
  }
  free(room.events);
  free(room.values);
  free(room.bytes);
  free(outcomes);
  return ok ? 0 : -1;
}
