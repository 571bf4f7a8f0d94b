/* Loads the built metronome and bench plugins with dlopen and drives them
 * through the raw ABI the way a host would: descriptor, create (with a
 * config doc built by hand), connect, start, pull, ack/fail, send, stop,
 * destroy. A dummy host table collects log lines. Nothing from pdk-c is
 * used here, so the plugins are checked against the header alone.
 *
 *   test_plugins <libtremor_metronome.so> <libtremor_bench.so>
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "testdoc.h"
#include "tremor/plugin.h"

/* ---- the dummy host ---- */

typedef struct log_line {
  tremor_host_ctx *ctx;
  int32_t level;
  char text[512];
} log_line;

static log_line lines[64];
static int nlines;

static void host_log(tremor_host_ctx *ctx, int32_t level, const uint8_t *msg,
                     uint64_t len) {
  if (nlines == (int)(sizeof lines / sizeof lines[0])) return;
  log_line *l = &lines[nlines++];
  l->ctx = ctx;
  l->level = level;
  if (len >= sizeof l->text) len = sizeof l->text - 1;
  memcpy(l->text, msg, (size_t)len);
  l->text[len] = '\0';
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

static const tremor_host_api host_api = {sizeof(tremor_host_api),
                                         TREMOR_ABI_MAJOR, TREMOR_ABI_MINOR,
                                         host_log, host_metric, host_metric};

/* The last line logged for `ctx`, or NULL. */
static const log_line *last_line(tremor_host_ctx *ctx) {
  for (int i = nlines - 1; i >= 0; i--)
    if (lines[i].ctx == ctx) return &lines[i];
  return NULL;
}

/* Host contexts are opaque to plugins: any distinct addresses will do. */
static char ctx_storage[8];
#define CTX(i) ((tremor_host_ctx *)&ctx_storage[i])

static uint64_t clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- loading ---- */

static const tremor_plugin_descriptor *load(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return NULL;
  }
  void *sym = dlsym(lib, TREMOR_PLUGIN_ENTRY_SYMBOL);
  if (sym == NULL) {
    fprintf(stderr, "dlsym %s: %s\n", path, dlerror());
    return NULL;
  }
  tremor_plugin_get_descriptor_fn get;
  memcpy(&get, &sym, sizeof get); /* ISO C has no object-to-function cast */
  const tremor_plugin_descriptor *d = get();
  CHECK(d != NULL);
  CHECK(get() == d); /* static, cheap, repeatable */
  return d;
}

static const tremor_connector_type *find_type(const tremor_plugin_descriptor *d,
                                              const char *name) {
  for (uint64_t i = 0; i < d->connectors_len; i++)
    if (strcmp(d->connectors[i]->name, name) == 0) return d->connectors[i];
  return NULL;
}

static void check_descriptor(const tremor_plugin_descriptor *d,
                             const char *name, uint64_t connectors) {
  CHECK_EQ_U(d->struct_size, sizeof(tremor_plugin_descriptor));
  CHECK_EQ_U(d->abi_major, TREMOR_ABI_MAJOR);
  CHECK_EQ_U(d->abi_minor, TREMOR_ABI_MINOR);
  CHECK(strcmp(d->name, name) == 0);
  CHECK(strcmp(d->version, "0.1.0") == 0);
  CHECK(d->sdk != NULL && strcmp(d->sdk, "pdk-c 0.1") == 0);
  CHECK(d->license != NULL && strcmp(d->license, "Apache-2.0") == 0);
  CHECK_EQ_U(d->connectors_len, connectors);
  for (uint64_t i = 0; i < d->connectors_len; i++) {
    const tremor_connector_type *t = d->connectors[i];
    CHECK_EQ_U(t->struct_size, sizeof(tremor_connector_type));
    CHECK_EQ_U(t->vtable->struct_size, sizeof(tremor_connector_vtable));
    CHECK(t->vtable->on_create != NULL && t->vtable->on_destroy != NULL);
    if (t->kinds & TREMOR_KIND_SOURCE) CHECK(t->vtable->on_pull != NULL);
    if (t->kinds & TREMOR_KIND_SINK) CHECK(t->vtable->on_send != NULL);
  }
}

static void check_field(const tremor_connector_type *t, uint32_t i,
                        const char *name, const char *default_json) {
  CHECK(i < t->fields_len);
  if (i >= t->fields_len) return;
  CHECK(strcmp(t->fields[i].name, name) == 0);
  CHECK_EQ_U(t->fields[i].type, TREMOR_VALUE_UINT);
  CHECK(strcmp(t->fields[i].default_json, default_json) == 0);
}

/* ---- instances ---- */

static uint8_t err_buf[256];
static tremor_error err;

static tremor_error *fresh_err(void) {
  err = (tremor_error){err_buf, sizeof err_buf, 0};
  return &err;
}

static int32_t create(const tremor_connector_type *t, const testdoc *config,
                      tremor_host_ctx *ctx, void **instance) {
  tremor_create_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host = &host_api;
  args.ctx = ctx;
  args.alias = (const uint8_t *)"test";
  args.alias_len = 4;
  args.config = td_doc(config);
  *instance = NULL;
  return t->vtable->on_create(&args, instance, fresh_err());
}

/* Runs connect (if any) and start (if any). */
static void bring_up(const tremor_connector_type *t, void *inst) {
  if (t->vtable->on_connect != NULL)
    CHECK_EQ_I(t->vtable->on_connect(inst, 1, fresh_err()), TREMOR_OK);
  if (t->vtable->on_start != NULL)
    CHECK_EQ_I(t->vtable->on_start(inst, fresh_err()), TREMOR_OK);
}

static void tear_down(const tremor_connector_type *t, void *inst) {
  if (t->vtable->on_stop != NULL)
    CHECK_EQ_I(t->vtable->on_stop(inst, fresh_err()), TREMOR_OK);
  t->vtable->on_destroy(inst);
}

/* A host-owned pull room. */
typedef struct room {
  tremor_event events[128];
  tremor_value values[512];
  uint8_t bytes[16384];
  tremor_batch b;
} room;

static room rm;

static tremor_batch *empty_room(uint64_t events, uint64_t values,
                                uint64_t bytes) {
  memset(&rm.b, 0, sizeof rm.b);
  rm.b.struct_size = sizeof rm.b;
  rm.b.events = rm.events;
  rm.b.events_cap = events;
  rm.b.values = rm.values;
  rm.b.values_cap = values;
  rm.b.bytes = rm.bytes;
  rm.b.bytes_cap = bytes;
  return &rm.b;
}

static testdoc config_uints(const char *k1, uint64_t v1, const char *k2,
                            uint64_t v2) {
  testdoc d;
  memset(&d, 0, sizeof d);
  uint64_t root = td_open(&d, NULL, TREMOR_VALUE_OBJECT);
  uint64_t n = 0;
  if (k1 != NULL) {
    td_uint(&d, k1, v1);
    n++;
  }
  if (k2 != NULL) {
    td_uint(&d, k2, v2);
    n++;
  }
  td_close(&d, root, n);
  return d;
}

/* ---- metronome ---- */

/* Checks one metronome event against {"onramp":"metronome","id":id,...}
 * and returns its ingest_ns field. */
static uint64_t check_tick(const tremor_batch *b, const tremor_event *ev,
                           uint64_t id) {
  CHECK_EQ_U(ev->id, id);
  CHECK_EQ_U(ev->flags, TREMOR_EVENT_STRUCTURED);
  CHECK_EQ_U(ev->port, TREMOR_PORT_OUT);
  CHECK_EQ_U(ev->meta.len, 0);
  CHECK_EQ_U(ev->payload.len, 4);
  if (ev->payload.len != 4 || ev->payload.offset + 4 > b->values_len) return 0;
  const tremor_value *v = &b->values[ev->payload.offset];
  CHECK_EQ_U(v[0].kind, TREMOR_VALUE_OBJECT);
  CHECK_EQ_U(v[0].len, 3);
  CHECK_EQ_U(v[0].as.descendants, 3);
  CHECK_EQ_U(v[1].kind, TREMOR_VALUE_STRING);
  CHECK(v[1].key_offset + v[1].key_len <= b->bytes_len);
  CHECK(v[1].as.offset + v[1].len <= b->bytes_len);
  CHECK_BYTES(b->bytes + v[1].key_offset, v[1].key_len, "onramp");
  CHECK_BYTES(b->bytes + v[1].as.offset, v[1].len, "metronome");
  CHECK_BYTES(b->bytes + v[2].key_offset, v[2].key_len, "id");
  CHECK_EQ_U(v[2].kind, TREMOR_VALUE_UINT);
  CHECK_EQ_U(v[2].as.u, id);
  CHECK_BYTES(b->bytes + v[3].key_offset, v[3].key_len, "ingest_ns");
  CHECK_EQ_U(v[3].kind, TREMOR_VALUE_UINT);
  CHECK_EQ_U(ev->ingest_ns, v[3].as.u);
  return v[3].as.u;
}

static void test_metronome(const char *path) {
  const tremor_plugin_descriptor *d = load(path);
  CHECK(d != NULL);
  if (d == NULL) return;
  check_descriptor(d, "metronome", 1);
  const tremor_connector_type *t = find_type(d, "metronome");
  CHECK(t != NULL);
  if (t == NULL) return;
  CHECK_EQ_U(t->kinds, TREMOR_KIND_SOURCE);
  CHECK_EQ_U(t->payload, TREMOR_PAYLOAD_STRUCTURED);
  CHECK_EQ_U(t->fields_len, 2);
  check_field(t, 0, "interval_ms", "1000");
  check_field(t, 1, "count", "0");

  /* Bad configs are refused with a message that names the field. */
  void *inst;
  testdoc cfg = config_uints("interval_ms", 0, NULL, 0);
  CHECK_EQ_I(create(t, &cfg, CTX(0), &inst), TREMOR_ERR_CONFIG);
  CHECK(err.len > 0 && strstr((const char *)err_buf, "interval_ms") != NULL);
  memset(&cfg, 0, sizeof cfg);
  uint64_t root = td_open(&cfg, NULL, TREMOR_VALUE_OBJECT);
  td_string(&cfg, "interval_ms", "fast");
  td_close(&cfg, root, 1);
  CHECK_EQ_I(create(t, &cfg, CTX(0), &inst), TREMOR_ERR_CONFIG);

  /* An endless metronome at 1 s: one tick now, then nothing for a while. */
  cfg = config_uints("interval_ms", 1000, NULL, 0);
  CHECK_EQ_I(create(t, &cfg, CTX(1), &inst), TREMOR_OK);
  bring_up(t, inst);

  /* Too small a room: nothing written, the need reported. */
  tremor_batch *b = empty_room(8, 3, 1024);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 0, fresh_err()), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(b->events_len, 0);
  CHECK_EQ_U(b->values_len, 0);
  CHECK_EQ_U(b->bytes_len, 0);
  CHECK_EQ_U(b->values_needed, 4);
  CHECK_EQ_U(b->bytes_needed, strlen("onramp" "metronome" "id" "ingest_ns"));

  uint64_t before = clock_ns(CLOCK_REALTIME);
  b = empty_room(8, 64, 1024);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 0, fresh_err()), TREMOR_OK);
  uint64_t after = clock_ns(CLOCK_REALTIME);
  CHECK_EQ_U(b->events_len, 1);
  uint64_t ingest = check_tick(b, &b->events[0], 0);
  /* Due at start, slightly before this pull. */
  CHECK(ingest <= after && ingest + UINT64_C(1000000000) > before);

  b = empty_room(8, 64, 1024);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 0, fresh_err()), TREMOR_OK);
  CHECK_EQ_U(b->events_len, 0);

  /* It waits up to wait_ms for the next tick, not longer. */
  uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 50, fresh_err()), TREMOR_OK);
  uint64_t waited = clock_ns(CLOCK_MONOTONIC) - t0;
  CHECK_EQ_U(b->events_len, 0);
  CHECK(waited >= UINT64_C(45000000) && waited < UINT64_C(900000000));

  uint64_t id = 0;
  CHECK_EQ_I(t->vtable->on_ack(inst, &id, 1, fresh_err()), TREMOR_OK);
  CHECK_EQ_I(t->vtable->on_fail(inst, &id, 1, fresh_err()), TREMOR_OK);
  const log_line *l = last_line(CTX(1));
  CHECK(l != NULL && l->level == TREMOR_LOG_DEBUG &&
        strstr(l->text, "first id 0") != NULL);
  tear_down(t, inst);
  l = last_line(CTX(1));
  CHECK(l != NULL && l->level == TREMOR_LOG_INFO &&
        strcmp(l->text, "emitted 1 ticks, 1 acked, 1 failed") == 0);

  /* A counted metronome at 10 ms, pulled late: it catches up in batches,
   * each late tick stamped with the time it was due, then ends. */
  cfg = config_uints("count", 5, "interval_ms", 10);
  CHECK_EQ_I(create(t, &cfg, CTX(2), &inst), TREMOR_OK);
  bring_up(t, inst);
  sleep_ms(70);
  b = empty_room(2, 64, 1024);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 0, fresh_err()), TREMOR_OK);
  CHECK_EQ_U(b->events_len, 2);
  uint64_t first = check_tick(b, &b->events[0], 0);
  CHECK_EQ_U(check_tick(b, &b->events[1], 1) - first, 10000000);

  b = empty_room(8, 64, 1024);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 0, fresh_err()), TREMOR_END);
  CHECK_EQ_U(b->events_len, 3);
  /* Within one pull the spacing is exact; across pulls the wall clock is
   * read anew, so allow for the time between the two readings. */
  uint64_t third = check_tick(b, &b->events[0], 2);
  CHECK(third - first > UINT64_C(19000000) && third - first < UINT64_C(21000000));
  for (uint64_t i = 1; i < b->events_len && i < 3; i++)
    CHECK_EQ_U(check_tick(b, &b->events[i], i + 2) - third, i * 10000000);
  b = empty_room(8, 64, 1024);
  CHECK_EQ_I(t->vtable->on_pull(inst, b, 100, fresh_err()), TREMOR_END);
  CHECK_EQ_U(b->events_len, 0);
  tear_down(t, inst);
  l = last_line(CTX(2));
  CHECK(l != NULL && strcmp(l->text, "emitted 5 ticks, 0 acked, 0 failed") == 0);
}

/* ---- bench ---- */

/* Checks a bench_source line: exactly `size` bytes of
 * {"seq":<seq>,"pad":"xx...x"}\n */
static void check_line(const tremor_batch *b, const tremor_event *ev,
                       uint64_t seq, uint64_t size) {
  CHECK_EQ_U(ev->id, seq);
  CHECK_EQ_U(ev->flags, 0);
  CHECK_EQ_U(ev->payload.len, size);
  if (ev->payload.len != size || ev->payload.offset + size > b->bytes_len)
    return;
  char want[256];
  int head = snprintf(want, sizeof want, "{\"seq\":%" PRIu64 ",\"pad\":\"", seq);
  memset(want + head, 'x', (size_t)size - (size_t)head - 3);
  memcpy(want + size - 3, "\"}\n", 4);
  CHECK_BYTES(b->bytes + ev->payload.offset, size, want);
}

static void test_bench(const char *path) {
  const tremor_plugin_descriptor *d = load(path);
  CHECK(d != NULL);
  if (d == NULL) return;
  check_descriptor(d, "bench", 2);
  const tremor_connector_type *src = find_type(d, "bench_source");
  const tremor_connector_type *snk = find_type(d, "bench_sink");
  CHECK(src != NULL && snk != NULL);
  if (src == NULL || snk == NULL) return;
  CHECK_EQ_U(src->kinds, TREMOR_KIND_SOURCE);
  CHECK_EQ_U(src->payload, TREMOR_PAYLOAD_BYTES);
  check_field(src, 0, "count", "1000000");
  check_field(src, 1, "size", "100");
  CHECK_EQ_U(snk->kinds, TREMOR_KIND_SINK);
  CHECK_EQ_U(snk->payload, TREMOR_PAYLOAD_BYTES);

  void *source, *sink;
  testdoc cfg = config_uints("size", 5, NULL, 0);
  CHECK_EQ_I(create(src, &cfg, CTX(3), &source), TREMOR_ERR_CONFIG);
  CHECK(strstr((const char *)err_buf, "size must be") != NULL);

  cfg = config_uints("count", 250, "size", 64);
  CHECK_EQ_I(create(src, &cfg, CTX(3), &source), TREMOR_OK);
  bring_up(src, source);

  /* Not even one event fits. */
  tremor_batch *b = empty_room(100, 0, 63);
  CHECK_EQ_I(src->vtable->on_pull(source, b, 0, fresh_err()), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(b->events_len, 0);
  CHECK_EQ_U(b->bytes_needed, 64);

  /* Batches fill as far as the room allows: first by bytes, then events. */
  uint64_t seq = 0;
  b = empty_room(100, 0, 64 * 40 + 63);
  CHECK_EQ_I(src->vtable->on_pull(source, b, 0, fresh_err()), TREMOR_OK);
  CHECK_EQ_U(b->events_len, 40);
  CHECK_EQ_U(b->bytes_len, 64 * 40);
  for (uint64_t i = 0; i < b->events_len; i++) check_line(b, &b->events[i], seq++, 64);

  b = empty_room(100, 0, 16384);
  CHECK_EQ_I(src->vtable->on_pull(source, b, 0, fresh_err()), TREMOR_OK);
  CHECK_EQ_U(b->events_len, 100);
  for (uint64_t i = 0; i < b->events_len; i++) check_line(b, &b->events[i], seq++, 64);

  b = empty_room(128, 0, 16384);
  CHECK_EQ_I(src->vtable->on_pull(source, b, 0, fresh_err()), TREMOR_END);
  CHECK_EQ_U(b->events_len, 110);
  for (uint64_t i = 0; i < b->events_len; i++) check_line(b, &b->events[i], seq++, 64);
  CHECK_EQ_U(seq, 250);

  /* Send the last batch to the sink: every outcome OK. */
  memset(&cfg, 0, sizeof cfg);
  td_close(&cfg, td_open(&cfg, NULL, TREMOR_VALUE_OBJECT), 0);
  CHECK_EQ_I(create(snk, &cfg, CTX(4), &sink), TREMOR_OK);
  bring_up(snk, sink);
  uint8_t outcomes[128];
  memset(outcomes, TREMOR_OUTCOME_FAILED, sizeof outcomes);
  CHECK_EQ_I(snk->vtable->on_send(sink, b, outcomes, fresh_err()), TREMOR_OK);
  for (uint64_t i = 0; i < b->events_len; i++) CHECK_EQ_U(outcomes[i], TREMOR_OUTCOME_OK);

  /* A span outside the arena is not delivered; its neighbours are. */
  b->events_len = 3;
  b->events[1].payload.offset = b->bytes_len - 10;
  memset(outcomes, TREMOR_OUTCOME_FAILED, sizeof outcomes);
  CHECK_EQ_I(snk->vtable->on_send(sink, b, outcomes, fresh_err()), TREMOR_OK);
  CHECK_EQ_U(outcomes[0], TREMOR_OUTCOME_OK);
  CHECK_EQ_U(outcomes[1], TREMOR_OUTCOME_FAILED);
  CHECK_EQ_U(outcomes[2], TREMOR_OUTCOME_OK);

  tear_down(snk, sink);
  const log_line *l = last_line(CTX(4));
  CHECK(l != NULL && l->level == TREMOR_LOG_INFO);
  CHECK(l != NULL && strstr(l->text, "received 112 events, 7168 bytes in 2 batches") != NULL);
  CHECK(l != NULL && strstr(l->text, ", 1 invalid") != NULL);

  uint64_t ids[2] = {0, 1};
  CHECK_EQ_I(src->vtable->on_ack(source, ids, 2, fresh_err()), TREMOR_OK);
  CHECK_EQ_I(src->vtable->on_fail(source, ids, 1, fresh_err()), TREMOR_OK);
  tear_down(src, source);
  l = last_line(CTX(3));
  CHECK(l != NULL && strcmp(l->text, "bench_source: emitted 250 events of 64 "
                                     "bytes, 2 acked, 1 failed") == 0);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <libtremor_metronome.so> <libtremor_bench.so>\n",
            argv[0]);
    return 2;
  }
  test_metronome(argv[1]);
  test_bench(argv[2]);
  for (int i = 0; i < nlines; i++)
    printf("log[ctx %d] level %d: %s\n", (int)((char *)lines[i].ctx - ctx_storage),
           lines[i].level, lines[i].text);
  return check_result("test_plugins");
}
