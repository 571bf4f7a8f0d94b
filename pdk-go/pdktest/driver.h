// A minimal host, in C, for testing plugins without the real host: a host
// table whose log keeps lines in memory, calls through vtable pointers, and
// a pull->send pipe. Used by package pdktest (cgo) and by the standalone
// runner in testdata/.
#ifndef PDK_CDRIVER_H
#define PDK_CDRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "tremor/plugin.h"

// The host table every instance gets; its log stores lines (see drv_logs_take).
extern const tremor_host_api drv_host_api;

// A host ctx carrying an id; drv_ctx_kill marks it destroyed (it is never
// freed, so a plugin logging after on_destroy is counted, not a crash).
tremor_host_ctx *drv_ctx_new(uint64_t id);
void drv_ctx_kill(tremor_host_ctx *ctx);
// Log calls made with a ctx after drv_ctx_kill.
uint64_t drv_dead_ctx_logs(void);

// Hands the stored log records to the caller (free() them) and starts a new
// store. Records: uint64 ctx id, int32 level, uint32 len, then len bytes.
uint8_t *drv_logs_take(size_t *len);
// When non-zero, log lines are also printed to stderr.
extern int drv_log_echo;

// Loads a plugin (RTLD_NOW | RTLD_LOCAL) and returns its descriptor, or NULL
// with a message in err.
const tremor_plugin_descriptor *drv_open(const char *path, char *err, size_t cap);

// Calls through a vtable; a NULL optional hook answers TREMOR_OK.
int32_t drv_create(const tremor_connector_vtable *vt, const tremor_create_args *args, void **inst,
                   tremor_error *err);
void drv_destroy(const tremor_connector_vtable *vt, void *inst);
int32_t drv_connect(const tremor_connector_vtable *vt, void *inst, uint32_t attempt, tremor_error *err);
// step: 0 start, 1 pause, 2 resume, 3 drain, 4 stop.
int32_t drv_step(const tremor_connector_vtable *vt, int step, void *inst, tremor_error *err);
int32_t drv_pull(const tremor_connector_vtable *vt, void *inst, tremor_batch *room, uint32_t wait_ms,
                 tremor_error *err);
int32_t drv_ids(const tremor_connector_vtable *vt, int ack, void *inst, const uint64_t *ids, uint64_t n,
                tremor_error *err);
int32_t drv_send(const tremor_connector_vtable *vt, void *inst, const tremor_batch *batch,
                 uint8_t *outcomes, tremor_error *err);

// Makes an instance pointer from an integer (for stale-handle tests).
void *drv_ptr(uintptr_t v);

// Result of drv_pipe.
typedef struct drv_pipe_stats {
  uint64_t pulls, sends, events, bytes, ok, retry, failed;
  int32_t pull_rc, send_rc; // the last non-OK results (0 when none)
  char err[256];
} drv_pipe_stats;

// Pulls from src into a room of the given capacity and sends every
// non-empty room as-is to sink, until src answers TREMOR_END, an error,
// max_pulls pulls were made (0: no limit), or max_idle pulls in a row were
// empty (0: no limit). TREMOR_ERR_NO_ROOM grows the bytes of the room.
int drv_pipe(const tremor_connector_vtable *src_vt, void *src, const tremor_connector_vtable *sink_vt,
             void *sink, uint64_t events_cap, uint64_t values_cap, uint64_t bytes_cap, uint32_t wait_ms,
             uint64_t max_pulls, uint64_t max_idle, drv_pipe_stats *st);

#endif
