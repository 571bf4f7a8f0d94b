/* bench: a source and a sink that do as little as possible, so that a
 * benchmark through them measures the host and the plugin boundary.
 *
 * bench_source emits `count` raw events of exactly `size` bytes, each a
 * JSON line the json codec can decode:
 *
 *   {"seq":123,"pad":"xxxxxxxx"}\n
 *
 * and fills every pull batch as full as the room allows. bench_sink counts
 * events and bytes and logs the totals and rate when stopped. Neither side
 * allocates or copies per event: lines are written straight into the
 * host's arena.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tremor/pdk.h"

#define LINE_HEAD "{\"seq\":"
#define LINE_MID ",\"pad\":\""
#define LINE_TAIL "\"}\n"
#define LINE_FIXED (sizeof LINE_HEAD - 1 + sizeof LINE_MID - 1 + sizeof LINE_TAIL - 1)

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static size_t digits_of(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

static uint8_t *put(uint8_t *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

/* Writes the line for `seq` into exactly `size` bytes at p; size must be at
 * least LINE_FIXED + digits_of(seq). */
static void write_line(uint8_t *p, uint64_t size, uint64_t seq) {
  size_t nd = digits_of(seq);
  p = put(p, LINE_HEAD, sizeof LINE_HEAD - 1);
  for (size_t i = nd; i > 0; i--) {
    p[i - 1] = (uint8_t)('0' + seq % 10);
    seq /= 10;
  }
  p = put(p + nd, LINE_MID, sizeof LINE_MID - 1);
  size_t pad = (size_t)size - LINE_FIXED - nd;
  memset(p, 'x', pad);
  put(p + pad, LINE_TAIL, sizeof LINE_TAIL - 1);
}

/* ---- bench_source ---- */

typedef struct bench_source {
  tremor_pdk_host host;
  uint64_t count, size;
  uint64_t seq; /* next event to emit, also its id */
  uint64_t acked, failed;
} bench_source;

static int32_t source_create(const tremor_create_args *args, void **instance,
                             tremor_error *err) {
  uint64_t count = 1000000, size = 100;
  int32_t rc = tremor_config_uint(&args->config, "count", &count, NULL, err);
  if (rc == TREMOR_OK)
    rc = tremor_config_uint(&args->config, "size", &size, NULL, err);
  if (rc != TREMOR_OK) return rc;
  /* Every line must stay valid JSON, the one with the longest seq too. */
  uint64_t min_size = LINE_FIXED + digits_of(count > 0 ? count - 1 : 0);
  if (size < min_size || size > UINT32_MAX)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "size must be between %" PRIu64 " and %" PRIu32
                       " bytes for count %" PRIu64 ", not %" PRIu64,
                       min_size, UINT32_MAX, count, size);

  bench_source *s = calloc(1, sizeof *s);
  if (s == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
  tremor_pdk_host_init(&s->host, args);
  s->count = count;
  s->size = size;
  *instance = s;
  return TREMOR_OK;
}

static int32_t source_pull(void *instance, tremor_batch *room,
                           uint32_t wait_ms, tremor_error *err) {
  bench_source *s = instance;
  (void)wait_ms; /* data is always ready */
  while (s->seq < s->count) {
    uint8_t *line;
    int32_t rc = tremor_pdk_batch_reserve_bytes(room, s->seq, s->size, &line);
    if (rc != TREMOR_OK) {
      if (room->events_len > 0) return TREMOR_OK;
      return tremor_pdk_fail(err, rc, "an event needs %" PRIu64 " bytes", s->size);
    }
    write_line(line, s->size, s->seq);
    s->seq++;
  }
  return TREMOR_END;
}

static int32_t source_ack(void *instance, const uint64_t *ids, uint64_t count,
                          tremor_error *err) {
  bench_source *s = instance;
  (void)ids;
  (void)err;
  s->acked += count;
  return TREMOR_OK;
}

static int32_t source_fail(void *instance, const uint64_t *ids, uint64_t count,
                           tremor_error *err) {
  bench_source *s = instance;
  (void)ids;
  (void)err;
  s->failed += count;
  return TREMOR_OK;
}

static int32_t source_stop(void *instance, tremor_error *err) {
  bench_source *s = instance;
  (void)err;
  tremor_log(&s->host, TREMOR_LOG_INFO,
             "bench_source: emitted %" PRIu64 " events of %" PRIu64
             " bytes, %" PRIu64 " acked, %" PRIu64 " failed",
             s->seq, s->size, s->acked, s->failed);
  return TREMOR_OK;
}

/* ---- bench_sink ---- */

typedef struct bench_sink {
  tremor_pdk_host host;
  uint64_t send_delay_us; /* each on_send waits this long, as for a network round trip */
  uint64_t batches, events, bytes, invalid;
  uint64_t first_ns, last_ns; /* start of the first send, end of the last */
} bench_sink;

static int32_t sink_create(const tremor_create_args *args, void **instance,
                           tremor_error *err) {
  uint64_t delay = 0;
  int32_t rc = tremor_config_uint(&args->config, "send_delay_us", &delay, NULL, err);
  if (rc != TREMOR_OK) return rc;
  if (delay > 10 * 1000 * 1000)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                           "send_delay_us must be at most 10000000 (10 s), not %" PRIu64, delay);
  bench_sink *s = calloc(1, sizeof *s);
  if (s == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
  tremor_pdk_host_init(&s->host, args);
  s->send_delay_us = delay;
  *instance = s;
  return TREMOR_OK;
}

static int32_t sink_send(void *instance, const tremor_batch *batch,
                         uint8_t *outcomes, tremor_error *err) {
  bench_sink *s = instance;
  (void)err;
  if (s->batches == 0) s->first_ns = mono_ns();
  for (uint64_t i = 0; i < batch->events_len; i++) {
    tremor_pdk_bytes payload;
    if (tremor_event_bytes(batch, &batch->events[i], &payload) != TREMOR_OK) {
      s->invalid++; /* outcome stays FAILED: the host sent us garbage */
      continue;
    }
    s->events++;
    s->bytes += payload.len;
    outcomes[i] = TREMOR_OUTCOME_OK;
  }
  s->batches++;
  if (s->send_delay_us > 0) {
    struct timespec ts = {(time_t)(s->send_delay_us / 1000000), (long)(s->send_delay_us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
  s->last_ns = mono_ns();
  return TREMOR_OK;
}

static int32_t sink_stop(void *instance, tremor_error *err) {
  bench_sink *s = instance;
  (void)err;
  double secs = (double)(s->last_ns - s->first_ns) / 1e9;
  double rate = secs > 0 ? (double)s->events / secs : 0.0;
  double mib = secs > 0 ? (double)s->bytes / secs / (1024.0 * 1024.0) : 0.0;
  tremor_log(&s->host, TREMOR_LOG_INFO,
             "bench_sink: received %" PRIu64 " events, %" PRIu64
             " bytes in %" PRIu64 " batches over %.3f s (%.0f events/s, "
             "%.1f MiB/s), %" PRIu64 " invalid",
             s->events, s->bytes, s->batches, secs, rate, mib, s->invalid);
  return TREMOR_OK;
}

static void bench_destroy(void *instance) { free(instance); }

/* ---- declarations ---- */

static const tremor_config_field source_fields[] = {
    {.name = "count",
     .type = TREMOR_VALUE_UINT,
     .default_json = "1000000",
     .doc = "events to emit before ending"},
    {.name = "size",
     .type = TREMOR_VALUE_UINT,
     .default_json = "100",
     .doc = "bytes per event, newline included"},
};

static const tremor_config_field sink_fields[] = {
    {.name = "send_delay_us",
     .type = TREMOR_VALUE_UINT,
     .default_json = "0",
     .doc = "microseconds each on_send waits, as a sink waiting on the network would"},
};

static const tremor_connector_vtable source_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = source_create,
    .on_destroy = bench_destroy,
    .on_stop = source_stop,
    .on_pull = source_pull,
    .on_ack = source_ack,
    .on_fail = source_fail,
};

static const tremor_connector_vtable sink_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = sink_create,
    .on_destroy = bench_destroy,
    .on_stop = sink_stop,
    .on_send = sink_send,
};

static const tremor_connector_type source_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SOURCE,
    .name = "bench_source",
    .description = "emits count JSON lines of size bytes, as fast as pulled",
    .payload = TREMOR_PAYLOAD_BYTES,
    .fields_len = TREMOR_COUNT_OF(source_fields),
    .fields = source_fields,
    .vtable = &source_vtable,
};

static const tremor_connector_type sink_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SINK,
    .name = "bench_sink",
    .description = "counts events and bytes, logs the rate on stop",
    .payload = TREMOR_PAYLOAD_BYTES,
    .fields_len = TREMOR_COUNT_OF(sink_fields),
    .fields = sink_fields,
    .vtable = &sink_vtable,
};

TREMOR_PLUGIN_DEFINE("bench", "0.1.0",
                     "a minimal source and sink for benchmarking the host",
                     "Apache-2.0", &source_type, &sink_type);
