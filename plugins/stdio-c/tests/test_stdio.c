/* Loads the built stdio plugin with dlopen and drives it through the raw ABI
 * with pipes in place of the standard streams: stdin chunks, waits bounded
 * by wait_ms, END at end of input, one reader per process; stdout writes
 * payloads as-is, fails the rest of a batch when the reader is gone (and
 * the process survives the SIGPIPE), retries when the stream stays full.
 *
 *   test_stdio <libtremor_stdio.so>
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testdoc.h"
#include "tremor/plugin.h"

/* Plugin log lines go to a copy of the original stderr: fd 2 itself is a
 * pipe while the stderr sink is tested. */
static int log_fd = -1;

static void host_log(tremor_host_ctx *ctx, int32_t level, const uint8_t *msg,
                     uint64_t len) {
  (void)ctx;
  (void)level;
  if (log_fd >= 0) dprintf(log_fd, "  plugin log: %.*s\n", (int)len, (const char *)msg);
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
static char ctx_storage[4];

static uint8_t err_buf[256];
static tremor_error err;
static tremor_error *fresh_err(void) {
  err = (tremor_error){err_buf, sizeof err_buf, 0};
  return &err;
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const tremor_connector_type *find_type(const tremor_plugin_descriptor *d,
                                              const char *name) {
  for (uint64_t i = 0; i < d->connectors_len; i++)
    if (strcmp(d->connectors[i]->name, name) == 0) return d->connectors[i];
  return NULL;
}

static void *create(const tremor_connector_type *t, const testdoc *config,
                    int32_t want) {
  tremor_create_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host = &host_api;
  args.ctx = (tremor_host_ctx *)ctx_storage;
  args.alias = (const uint8_t *)"test";
  args.alias_len = 4;
  args.config = td_doc(config);
  void *inst = NULL;
  int32_t rc = t->vtable->on_create(&args, &inst, fresh_err());
  CHECK_EQ_I(rc, want);
  return rc == TREMOR_OK ? inst : NULL;
}

typedef struct room {
  tremor_event events[64];
  tremor_value values[16];
  uint8_t bytes[4096];
  tremor_batch b;
} room;
static room rm;

static tremor_batch *empty_room(uint64_t events, uint64_t bytes) {
  memset(&rm.b, 0, sizeof rm.b);
  rm.b.struct_size = sizeof rm.b;
  rm.b.events = rm.events;
  rm.b.events_cap = events;
  rm.b.values = rm.values;
  rm.b.values_cap = 16;
  rm.b.bytes = rm.bytes;
  rm.b.bytes_cap = bytes;
  return &rm.b;
}

static void write_all(int fd, const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) {
      CHECK(w > 0);
      return;
    }
    s += w;
    n -= (size_t)w;
  }
}

/* ---- stdin ---- */

static void test_stdin(const tremor_connector_type *t) {
  int p[2];
  CHECK(pipe(p) == 0);
  int saved = dup(STDIN_FILENO);
  CHECK(dup2(p[0], STDIN_FILENO) == STDIN_FILENO);
  close(p[0]);

  testdoc bad;
  bad.n = bad.nb = 0;
  uint64_t root = td_open(&bad, NULL, TREMOR_VALUE_OBJECT);
  td_uint(&bad, "buf_size", 0);
  td_close(&bad, root, 1);
  CHECK(create(t, &bad, TREMOR_ERR_CONFIG) == NULL);

  testdoc cfg;
  cfg.n = cfg.nb = 0;
  root = td_open(&cfg, NULL, TREMOR_VALUE_OBJECT);
  td_uint(&cfg, "buf_size", 7);
  td_close(&cfg, root, 1);
  void *in = create(t, &cfg, TREMOR_OK);
  void *other = create(t, &cfg, TREMOR_OK);
  CHECK(in != NULL && other != NULL);
  if (in == NULL || other == NULL) return;
  CHECK_EQ_I(t->vtable->on_connect(in, 1, fresh_err()), TREMOR_OK);
  /* One reader per process. */
  CHECK_EQ_I(t->vtable->on_connect(other, 1, fresh_err()), TREMOR_ERR_CONFIG);

  /* Nothing to read: the pull waits about wait_ms and returns no events. */
  uint64_t t0 = mono_ms();
  tremor_batch *b = empty_room(64, sizeof rm.bytes);
  CHECK_EQ_I(t->vtable->on_pull(in, b, 100, fresh_err()), TREMOR_OK);
  uint64_t took = mono_ms() - t0;
  CHECK_EQ_U(b->events_len, 0);
  CHECK(took >= 80 && took < 2000);

  /* No room at all: NO_ROOM with what a chunk needs. */
  write_all(p[1], "hello, standard input!\n");
  b = empty_room(4, 0);
  CHECK_EQ_I(t->vtable->on_pull(in, b, 0, fresh_err()), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(b->events_len, 0);
  CHECK_EQ_U(b->bytes_needed, 7);

  /* Chunks of at most 7 bytes, ids from 0, in order. */
  char got[256];
  size_t got_len = 0;
  uint64_t next_id = 0;
  for (int i = 0; i < 10 && got_len < 23; i++) {
    b = empty_room(2, sizeof rm.bytes); /* two events per pull */
    CHECK_EQ_I(t->vtable->on_pull(in, b, 100, fresh_err()), TREMOR_OK);
    CHECK(b->events_len <= 2);
    for (uint64_t e = 0; e < b->events_len; e++) {
      tremor_event *ev = &b->events[e];
      CHECK_EQ_U(ev->id, next_id);
      next_id++;
      CHECK(ev->payload.len > 0 && ev->payload.len <= 7);
      CHECK(ev->payload.offset + ev->payload.len <= b->bytes_len);
      CHECK_EQ_U(ev->flags, 0);
      memcpy(got + got_len, b->bytes + ev->payload.offset, (size_t)ev->payload.len);
      got_len += (size_t)ev->payload.len;
    }
  }
  CHECK_BYTES(got, got_len, "hello, standard input!\n");
  CHECK(next_id >= 4);
  uint64_t ids[2] = {0, 1};
  CHECK_EQ_I(t->vtable->on_ack(in, ids, 2, fresh_err()), TREMOR_OK);
  CHECK_EQ_I(t->vtable->on_fail(in, ids, 1, fresh_err()), TREMOR_OK);

  /* The last bytes come with END once the writer closes. */
  write_all(p[1], "bye");
  close(p[1]);
  got_len = 0;
  int32_t rc = TREMOR_OK;
  for (int i = 0; i < 10 && rc == TREMOR_OK; i++) {
    b = empty_room(64, sizeof rm.bytes);
    rc = t->vtable->on_pull(in, b, 100, fresh_err());
    for (uint64_t e = 0; e < b->events_len; e++) {
      memcpy(got + got_len, b->bytes + b->events[e].payload.offset,
             (size_t)b->events[e].payload.len);
      got_len += (size_t)b->events[e].payload.len;
    }
  }
  CHECK_EQ_I(rc, TREMOR_END);
  CHECK_BYTES(got, got_len, "bye");
  b = empty_room(64, sizeof rm.bytes);
  CHECK_EQ_I(t->vtable->on_pull(in, b, 100, fresh_err()), TREMOR_END);

  /* Stopping releases standard input for another instance. */
  CHECK_EQ_I(t->vtable->on_stop(in, fresh_err()), TREMOR_OK);
  t->vtable->on_destroy(in);
  CHECK_EQ_I(t->vtable->on_connect(other, 1, fresh_err()), TREMOR_OK);
  t->vtable->on_destroy(other);

  dup2(saved, STDIN_FILENO);
  close(saved);
}

/* ---- stdout ---- */

/* A batch of payloads; a NULL entry is an event whose span leaves the
 * arena (the sink must leave it FAILED). */
static tremor_batch *batch_of(const char *const *payloads, uint64_t n) {
  tremor_batch *b = empty_room(n, sizeof rm.bytes);
  for (uint64_t i = 0; i < n; i++) {
    tremor_event *ev = &b->events[i];
    memset(ev, 0, sizeof *ev);
    ev->id = i;
    if (payloads[i] == NULL) {
      ev->payload.offset = sizeof rm.bytes;
      ev->payload.len = 10;
      continue;
    }
    size_t len = strlen(payloads[i]);
    ev->payload.offset = b->bytes_len;
    ev->payload.len = len;
    memcpy(b->bytes + b->bytes_len, payloads[i], len);
    b->bytes_len += len;
  }
  b->events_len = n;
  return b;
}

static size_t read_some(int fd, char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - n);
    if (r <= 0) break;
    n += (size_t)r;
  }
  return n;
}

static testdoc stream_cfg(const char *stream, uint64_t timeout_ms) {
  testdoc cfg;
  cfg.n = cfg.nb = 0;
  uint64_t root = td_open(&cfg, NULL, TREMOR_VALUE_OBJECT);
  td_string(&cfg, "stream", stream);
  td_uint(&cfg, "write_timeout_ms", timeout_ms);
  td_close(&cfg, root, 2);
  return cfg;
}

/* Writes a batch through the sink to `fd` (a pipe); with `full`, also
 * checks a stream that stays full and a reader that goes away. */
static void test_sink(const tremor_connector_type *t, const char *stream, int fd,
                      bool full) {
  fflush(NULL);
  int p[2];
  CHECK(pipe(p) == 0);
  int saved = dup(fd);
  CHECK(dup2(p[1], fd) == fd);
  close(p[1]);
  fcntl(p[0], F_SETFL, O_NONBLOCK);

  testdoc cfg = stream_cfg(stream, 200);
  void *out = create(t, &cfg, TREMOR_OK);
  if (out == NULL) return;
  CHECK_EQ_I(t->vtable->on_connect(out, 1, fresh_err()), TREMOR_OK);

  static const char *const payloads[] = {"ab", "", NULL, "cde\n", "\xff\x00z"};
  uint8_t outcomes[5];
  memset(outcomes, TREMOR_OUTCOME_FAILED, sizeof outcomes);
  tremor_batch *b = batch_of(payloads, 5);
  CHECK_EQ_I(t->vtable->on_send(out, b, outcomes, fresh_err()), TREMOR_OK);
  CHECK_EQ_U(outcomes[0], TREMOR_OUTCOME_OK);
  CHECK_EQ_U(outcomes[1], TREMOR_OUTCOME_OK);
  CHECK_EQ_U(outcomes[2], TREMOR_OUTCOME_FAILED);
  CHECK_EQ_U(outcomes[3], TREMOR_OUTCOME_OK);
  CHECK_EQ_U(outcomes[4], TREMOR_OUTCOME_OK);
  char got[64];
  size_t n = read_some(p[0], got, sizeof got);
  CHECK_EQ_U(n, 7);
  CHECK(n == 7 && memcmp(got, "abcde\n\xff", 7) == 0);
  CHECK_EQ_I(t->vtable->on_drain(out, fresh_err()), TREMOR_OK);
  if (!full) {
    CHECK_EQ_I(t->vtable->on_stop(out, fresh_err()), TREMOR_OK);
    t->vtable->on_destroy(out);
    close(p[0]);
    dup2(saved, fd);
    close(saved);
    return;
  }

  /* A full pipe that stays full (a reader that does not read): after
   * write_timeout_ms the events not written are answered RETRY, and the
   * hook returns, although the stream itself is blocking. The test fills
   * the pipe through a non-blocking moment of its own, then makes the
   * stream blocking again before the send. */
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  static char big[1 << 16];
  memset(big, 'x', sizeof big);
  for (;;) {
    ssize_t w = write(fd, big, sizeof big);
    if (w > 0 || (w < 0 && errno == EINTR)) continue;
    break;
  }
  while (write(fd, big, 1) == 1) {
  }
  fcntl(fd, F_SETFL, fl);
  memset(outcomes, TREMOR_OUTCOME_FAILED, sizeof outcomes);
  static const char *const two[] = {"one", "two"};
  b = batch_of(two, 2);
  uint64_t t0 = mono_ms();
  CHECK_EQ_I(t->vtable->on_send(out, b, outcomes, fresh_err()), TREMOR_OK);
  uint64_t took = mono_ms() - t0;
  CHECK(took >= 150 && took < 5000);
  CHECK_EQ_U(outcomes[0], TREMOR_OUTCOME_RETRY);
  CHECK_EQ_U(outcomes[1], TREMOR_OUTCOME_RETRY);
  CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0); /* the shared stream is left alone */

  /* The reader goes away: the batch fails, SIGPIPE does not kill us, and
   * later batches fail too. */
  close(p[0]);
  memset(outcomes, TREMOR_OUTCOME_FAILED, sizeof outcomes);
  b = batch_of(two, 2);
  CHECK_EQ_I(t->vtable->on_send(out, b, outcomes, fresh_err()), TREMOR_ERR_FAILED);
  CHECK(err.len > 0 && strstr((const char *)err_buf, "broken pipe") != NULL);
  CHECK_EQ_U(outcomes[0], TREMOR_OUTCOME_FAILED);
  CHECK_EQ_U(outcomes[1], TREMOR_OUTCOME_FAILED);
  b = batch_of(two, 2);
  CHECK_EQ_I(t->vtable->on_send(out, b, outcomes, fresh_err()), TREMOR_ERR_FAILED);

  CHECK_EQ_I(t->vtable->on_stop(out, fresh_err()), TREMOR_OK);
  t->vtable->on_destroy(out);
  dup2(saved, fd);
  close(saved);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s libtremor_stdio.so\n", argv[0]);
    return 2;
  }
  log_fd = dup(STDERR_FILENO);
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    return 1;
  }
  void *sym = dlsym(lib, TREMOR_PLUGIN_ENTRY_SYMBOL);
  CHECK(sym != NULL);
  if (sym == NULL) return check_result("stdio_plugin");
  tremor_plugin_get_descriptor_fn get;
  memcpy(&get, &sym, sizeof get);
  const tremor_plugin_descriptor *d = get();
  CHECK(strcmp(d->name, "stdio") == 0);
  CHECK_EQ_U(d->connectors_len, 2);
  const tremor_connector_type *in = find_type(d, "stdin");
  const tremor_connector_type *out = find_type(d, "stdout");
  CHECK(in != NULL && out != NULL);
  if (in == NULL || out == NULL) return check_result("stdio_plugin");
  CHECK_EQ_U(in->kinds, TREMOR_KIND_SOURCE);
  CHECK_EQ_U(out->kinds, TREMOR_KIND_SINK);
  CHECK_EQ_U(in->payload, TREMOR_PAYLOAD_BYTES);
  CHECK_EQ_U(out->payload, TREMOR_PAYLOAD_BYTES);

  testdoc bad = stream_cfg("stdlog", 100);
  CHECK(create(out, &bad, TREMOR_ERR_CONFIG) == NULL);

  test_stdin(in);
  test_sink(out, "stdout", STDOUT_FILENO, true);
  test_sink(out, "stderr", STDERR_FILENO, false);
  return check_result("stdio_plugin");
}
