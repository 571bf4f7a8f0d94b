/* metronome: a source that emits one structured event per tick, like
 * Tremor's metronome connector:
 *
 *   {"onramp": "metronome", "id": 0, "ingest_ns": 1764230400000000000}
 *
 * Config: interval_ms (default 1000), count (default 0: endless; otherwise
 * the source ends after `count` events). The first tick is due at start;
 * ids count from 0 and double as event ids.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "tremor/pdk.h"

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)

typedef struct metronome {
  tremor_pdk_host host;
  uint64_t interval_ns;
  uint64_t count;     /* 0: endless */
  uint64_t next_id;   /* also the number of events emitted */
  uint64_t next_tick; /* CLOCK_MONOTONIC ns when event next_id is due */
  uint64_t acked, failed;
} metronome;

static uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t deadline_ns) {
  struct timespec ts = {(time_t)(deadline_ns / NS_PER_S),
                        (long)(deadline_ns % NS_PER_S)};
  /* Absolute deadline: a signal interrupting us does not stretch the wait. */
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static bool finished(const metronome *m) {
  return m->count > 0 && m->next_id >= m->count;
}

static int32_t metronome_create(const tremor_create_args *args, void **instance,
                                tremor_error *err) {
  uint64_t interval_ms = 1000, count = 0;
  int32_t rc = tremor_config_uint(&args->config, "interval_ms", &interval_ms,
                                  NULL, err);
  if (rc == TREMOR_OK)
    rc = tremor_config_uint(&args->config, "count", &count, NULL, err);
  if (rc != TREMOR_OK) return rc;
  /* The upper bound keeps tick arithmetic far from overflowing. */
  if (interval_ms == 0 || interval_ms > UINT32_MAX)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "interval_ms must be between 1 and %" PRIu32 ", not %" PRIu64,
                       UINT32_MAX, interval_ms);

  metronome *m = calloc(1, sizeof *m);
  if (m == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
  tremor_pdk_host_init(&m->host, args);
  m->interval_ns = interval_ms * NS_PER_MS;
  m->count = count;
  *instance = m;
  return TREMOR_OK;
}

static void metronome_destroy(void *instance) { free(instance); }

static int32_t metronome_start(void *instance, tremor_error *err) {
  metronome *m = instance;
  (void)err;
  m->next_tick = clock_ns(CLOCK_MONOTONIC);
  return TREMOR_OK;
}

/* Ticks missed while paused are skipped rather than delivered in a burst:
 * a paused pipeline asked for less, not for later. */
static int32_t metronome_resume(void *instance, tremor_error *err) {
  metronome *m = instance;
  (void)err;
  uint64_t now = clock_ns(CLOCK_MONOTONIC);
  if (m->next_tick < now) m->next_tick = now;
  return TREMOR_OK;
}

static int32_t metronome_pull(void *instance, tremor_batch *room,
                              uint32_t wait_ms, tremor_error *err) {
  metronome *m = instance;
  if (finished(m)) return TREMOR_END;

  uint64_t now = clock_ns(CLOCK_MONOTONIC);
  if (m->next_tick == 0) m->next_tick = now; /* pulled without on_start */
  if (now < m->next_tick) {
    uint64_t give_up = now + (uint64_t)wait_ms * NS_PER_MS;
    sleep_until(give_up < m->next_tick ? give_up : m->next_tick);
    now = clock_ns(CLOCK_MONOTONIC);
  }

  /* Every tick that is due goes out now, so a slow consumer sees all ids. */
  uint64_t wall = clock_ns(CLOCK_REALTIME);
  int32_t rc = TREMOR_OK;
  while (now >= m->next_tick && !finished(m)) {
    /* A late tick carries the time it was due, not the time it was sent. */
    uint64_t due_wall = wall - (now - m->next_tick);
    tremor_pdk_builder vb;
    tremor_builder_init(&vb, room);
    tremor_builder_object(&vb);
    tremor_builder_key(&vb, "onramp");
    tremor_builder_string(&vb, "metronome");
    tremor_builder_key(&vb, "id");
    tremor_builder_uint(&vb, m->next_id);
    tremor_builder_key(&vb, "ingest_ns");
    tremor_builder_uint(&vb, due_wall);
    tremor_builder_end(&vb);
    rc = tremor_builder_emit(&vb, m->next_id, NULL);
    if (rc != TREMOR_OK) break;
    room->events[room->events_len - 1].ingest_ns = due_wall;
    m->next_id++;
    m->next_tick += m->interval_ns;
  }

  if (rc == TREMOR_ERR_NO_ROOM && room->events_len > 0) rc = TREMOR_OK;
  if (rc != TREMOR_OK)
    return tremor_pdk_fail(err, rc, "cannot write tick %" PRIu64 ": %s",
                       m->next_id, tremor_result_str(rc));
  return finished(m) ? TREMOR_END : TREMOR_OK;
}

static int32_t metronome_ack(void *instance, const uint64_t *ids,
                             uint64_t count, tremor_error *err) {
  metronome *m = instance;
  (void)ids;
  (void)err;
  m->acked += count;
  return TREMOR_OK;
}

/* Ticks are not replayed: a failed tick is history, worth a debug line. */
static int32_t metronome_fail(void *instance, const uint64_t *ids,
                              uint64_t count, tremor_error *err) {
  metronome *m = instance;
  (void)err;
  m->failed += count;
  if (count > 0)
    tremor_log(&m->host, TREMOR_LOG_DEBUG,
               "%" PRIu64 " tick(s) failed downstream, first id %" PRIu64,
               count, ids[0]);
  return TREMOR_OK;
}

static int32_t metronome_stop(void *instance, tremor_error *err) {
  metronome *m = instance;
  (void)err;
  tremor_log(&m->host, TREMOR_LOG_INFO,
             "emitted %" PRIu64 " ticks, %" PRIu64 " acked, %" PRIu64 " failed",
             m->next_id, m->acked, m->failed);
  return TREMOR_OK;
}

static const tremor_config_field metronome_fields[] = {
    {.name = "interval_ms",
     .type = TREMOR_VALUE_UINT,
     .default_json = "1000",
     .doc = "milliseconds between two events"},
    {.name = "count",
     .type = TREMOR_VALUE_UINT,
     .default_json = "0",
     .doc = "events to emit before ending; 0 means endless"},
};

static const tremor_connector_vtable metronome_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = metronome_create,
    .on_destroy = metronome_destroy,
    .on_start = metronome_start,
    .on_resume = metronome_resume,
    .on_stop = metronome_stop,
    .on_pull = metronome_pull,
    .on_ack = metronome_ack,
    .on_fail = metronome_fail,
};

static const tremor_connector_type metronome_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SOURCE,
    .name = "metronome",
    .description = "emits {onramp, id, ingest_ns} every interval_ms; acks are counted, a failed tick is logged at debug level and not emitted again",
    .payload = TREMOR_PAYLOAD_STRUCTURED,
    .fields_len = TREMOR_COUNT_OF(metronome_fields),
    .fields = metronome_fields,
    .vtable = &metronome_vtable,
};

TREMOR_PLUGIN_DEFINE("metronome", "0.1.0",
                     "periodic structured events, like Tremor's metronome",
                     "Apache-2.0", &metronome_type);
