/*
 * libtremor_fault.so: a plugin that breaks the contract on request, for the
 * tests in tests/faults (the in-process host, host/plugin, and check-plugin,
 * host/conformance). Plain C against include/tremor/plugin.h, no pdk, so
 * that every byte it writes is under its control.
 *
 * Connector "fault" (source + sink, bytes payload). Without faults it is a
 * well-behaved source of events "fault-<n>" (ids 1, 2, ..., meta {"n": n};
 * `count` of them, then TREMOR_END; 0 = endless) and a sink that accepts
 * everything. Config (each field checked for its declared kind: a wrong
 * kind is TREMOR_ERR_CONFIG with a message):
 *
 *   fail_at   = "create" | "connect" | "start" | "pause" | "resume" | "pull"
 *               | "ack" | "fail" | "send" | "drain" | "stop": that hook
 *               answers fail_code (default TREMOR_ERR_FAILED) with the
 *               message "fault: told to fail at <hook>"
 *   fail_code = the code fail_at answers
 *   hang_at   = a hook name: that hook never returns
 *   crash_at  = a hook name: that hook writes through a NULL pointer (SIGSEGV)
 *   exit_at   = a hook name: that hook calls exit(0) (the C library's, which
 *               runs atexit handlers)
 *   count     = events before TREMOR_END (0: endless)
 *   say       = a line on_create writes to stderr (a plugin's own output)
 *   misbehave = one way of breaking the contract:
 *     error messages  bad_utf8_msg, msg_len_past_cap, msg_past_cap (on_pull
 *                     fails with them), no_msg (fail_at without a message),
 *                     msg_on_ok (on_start writes a message and answers OK)
 *     result codes    retry_from_start, end_from_connect, unknown_code (-42
 *                     from on_start), unsupported_pull (without a message),
 *                     retry_from_pull (writes its events, answers
 *                     TREMOR_RETRY), end_from_send (writes every outcome OK,
 *                     answers TREMOR_END)
 *     batches         events_len_past_cap, more_events_than_room,
 *                     bytes_past_cap, payload_past_arena, bad_port,
 *                     bad_flags, bad_descendants, value_reserved,
 *                     structured_on_bytes, dup_ids, no_room_no_needed,
 *                     no_room_loop, no_room_with_events, silent_tiny,
 *                     slow_pull (ignores wait_ms once, 1.5 s)
 *     sinks           send_modifies, send_writes_payload, bad_outcome, outcomes_past_len,
 *                     no_outcomes (answers OK without writing an outcome),
 *                     retry_forever (every outcome RETRY, for ever)
 *     other           end_at_once (on_pull answers TREMOR_END, no events),
 *                     modify_ids (on_ack), modify_config (on_create),
 *                     config_ok / config_code / config_no_msg /
 *                     config_bad_trunc (how on_create answers a config it
 *                     refuses: count above 1000000000, or a field of the
 *                     wrong kind, which the host never sends), leak (1 MiB per instance), leak_small
 *                     (32 KiB), fd_leak, log_after_destroy (a thread logs
 *                     with the ctx after on_destroy), bad_log
 *     kept pointers   keep_config (on_create), keep_room (on_pull: the
 *                     events), keep_ids (on_ack), keep_batch (on_send: the
 *                     events): the hook keeps the pointer it was given and
 *                     the next hook reads through it
 *     shared memory   scribble: a source whose own thread keeps writing
 *                     random values over the whole batch mapping (header,
 *                     events, value nodes, bytes) after on_pull returned,
 *                     in about one pull of four, until the next on_pull;
 *                     for the host in another process (isolation), which
 *                     must never read out of bounds because of it
 *
 * Built in variants whose descriptor is broken (-D FAULT_*, see the end and
 * tests/faults/CMakeLists.txt): on_pull NULL, on_destroy NULL, a required
 * field with a default, vtable.reserved0 set, a descriptor that changes.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tremor/plugin.h>

typedef struct {
  const tremor_host_api *host;
  tremor_host_ctx *ctx;
  char fail_at[16], hang_at[16], crash_at[16], exit_at[16], misbehave[32];
  int32_t fail_code;
  uint64_t count, next;
  int fd;
  int slept;
  /* scribble: the mapping [lo, hi) and the thread writing over it */
  _Atomic(uint8_t *) lo, hi;
  atomic_int scribbling, stop;
  int scribbler_up;
  pthread_t scribbler;
  uint64_t pulls;
  const volatile uint8_t *kept; /* keep_*: read at the start of the next hook */
} fault;

static void *volatile leak_sink;

/* ---- helpers ----------------------------------------------------------- */

/* Copies msg into err, truncated at a UTF-8 character boundary. */
static int32_t fail(tremor_error *err, int32_t code, const char *msg) {
  size_t n = strlen(msg);
  if (n > err->cap) {
    n = err->cap;
    while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80) n--;
  }
  if (n) memcpy(err->msg, msg, n);
  err->len = n;
  return code;
}

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static void hang(void) {
  for (;;) {
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
  }
}

static void crash(void) {
  volatile int *volatile p = NULL; /* volatile: the compiler can neither see it is NULL nor drop the store */
  *p = 42;
}

/* The scribble thread: while f->scribbling, random values at random places
 * of the batch mapping, as a plugin thread that keeps writing after its
 * hook returned. */
static void *scribble(void *arg) {
  fault *f = arg;
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)f;
  while (!atomic_load(&f->stop)) {
    uint8_t *lo = atomic_load(&f->lo), *hi = atomic_load(&f->hi);
    if (!atomic_load(&f->scribbling) || !lo || hi - lo < 8) {
      struct timespec ts = {0, 50 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
    uint64_t words = (uint64_t)(hi - lo) / 8;
    volatile uint64_t *w = (volatile uint64_t *)(lo + 8 * (x % words));
    switch ((x >> 32) & 3) {
      case 0: *w = (x >> 40) & 0x3FF; break; /* a plausible length or offset */
      case 1: *w = x; break;
      case 2: *w = 0; break;
      default: *w = 1ull << 40; break; /* far outside any arena */
    }
  }
  return NULL;
}

/* hang, crash or fail at `hook` when told to; -1000 means go on. */
static int32_t faults_at(fault *f, const char *hook, tremor_error *err) {
  if (f->kept) {
    volatile uint8_t x = *f->kept; /* memory of an earlier hook: the bug under test */
    (void)x;
  }
  if (is(f->hang_at, hook)) hang();
  if (is(f->crash_at, hook)) crash();
  if (is(f->exit_at, hook)) exit(0);
  if (is(f->fail_at, hook)) {
    char msg[64];
    snprintf(msg, sizeof msg, "fault: told to fail at %s", hook);
    if (is(f->misbehave, "no_msg")) return f->fail_code;
    return fail(err, f->fail_code, msg);
  }
  return -1000;
}

static const tremor_value *member(const tremor_value_doc *d, const char *key) {
  if (d->nodes_len == 0 || d->nodes[0].kind != TREMOR_VALUE_OBJECT) return NULL;
  size_t kl = strlen(key);
  uint64_t i = 1;
  for (uint64_t c = 0; c < d->nodes[0].len && i < d->nodes_len; c++) {
    const tremor_value *v = &d->nodes[i];
    if (v->key_len == kl && v->key_offset + kl <= d->bytes_len && memcmp(d->bytes + v->key_offset, key, kl) == 0)
      return v;
    i += 1 + ((v->kind == TREMOR_VALUE_ARRAY || v->kind == TREMOR_VALUE_OBJECT) ? v->as.descendants : 0);
  }
  return NULL;
}

/* Reads a string field; 0 when absent or of the wrong kind (*bad set). */
static void str_field(const tremor_value_doc *d, const char *key, char *out, size_t cap, const char **bad) {
  const tremor_value *v = member(d, key);
  out[0] = 0;
  if (!v) return;
  if (v->kind != TREMOR_VALUE_STRING || v->as.offset + v->len > d->bytes_len) {
    *bad = key;
    return;
  }
  size_t n = v->len < cap - 1 ? v->len : cap - 1;
  memcpy(out, d->bytes + v->as.offset, n);
  out[n] = 0;
}

/* ---- create / destroy --------------------------------------------------- */

typedef struct {
  const tremor_host_api *host;
  tremor_host_ctx *ctx;
} late_log;

static void *late_logger(void *arg) {
  late_log *l = arg;
  struct timespec ts = {0, 10 * 1000 * 1000};
  nanosleep(&ts, NULL);
  static const char msg[] = "logging after on_destroy returned";
  l->host->log(l->ctx, TREMOR_LOG_WARN, (const uint8_t *)msg, sizeof msg - 1);
  free(l);
  return NULL;
}

static int32_t fault_create(const tremor_create_args *a, void **instance, tremor_error *err) {
  fault *f = calloc(1, sizeof *f);
  if (!f) return fail(err, TREMOR_ERR_FAILED, "out of memory");
  f->host = a->host;
  f->ctx = a->ctx;
  f->fd = -1;
  f->next = 1;
  f->fail_code = TREMOR_ERR_FAILED;
  const char *bad = NULL;
  const tremor_value *v;
  str_field(&a->config, "fail_at", f->fail_at, sizeof f->fail_at, &bad);
  str_field(&a->config, "hang_at", f->hang_at, sizeof f->hang_at, &bad);
  str_field(&a->config, "crash_at", f->crash_at, sizeof f->crash_at, &bad);
  str_field(&a->config, "exit_at", f->exit_at, sizeof f->exit_at, &bad);
  str_field(&a->config, "misbehave", f->misbehave, sizeof f->misbehave, &bad);
  char say[128];
  str_field(&a->config, "say", say, sizeof say, &bad);
  if (say[0]) fprintf(stderr, "%s\n", say);
  char needed[8]; /* the FAULT_REQUIRED_DEFAULT variant's field: only checked */
  str_field(&a->config, "needed", needed, sizeof needed, &bad);
  if ((v = member(&a->config, "fail_code"))) {
    if (v->kind == TREMOR_VALUE_INT) f->fail_code = (int32_t)v->as.i;
    else bad = "fail_code";
  }
  if ((v = member(&a->config, "count"))) {
    if (v->kind == TREMOR_VALUE_UINT) f->count = v->as.u;
    else bad = "count";
  }
  /* a range the host cannot check: the plugin's own refusal */
  int too_many = !bad && f->count > 1000000000u;
  if (too_many) bad = "count";
  if (bad) {
    /* what the contract asks for, unless told to misbehave */
    int32_t code = TREMOR_ERR_CONFIG;
    char msg[128];
    if (too_many) snprintf(msg, sizeof msg, "fault: config field \"count\" is above 1000000000 \xe2\x9c\x97\xe2\x9c\x97");
    else snprintf(msg, sizeof msg, "fault: config field \"%s\" has the wrong type \xe2\x9c\x97\xe2\x9c\x97", bad);
    if (is(f->misbehave, "config_ok")) goto created;
    if (is(f->misbehave, "config_code")) code = TREMOR_ERR_FAILED;
    int no_msg = is(f->misbehave, "config_no_msg"), bad_trunc = is(f->misbehave, "config_bad_trunc");
    free(f);
    if (no_msg) return TREMOR_ERR_CONFIG;
    if (bad_trunc) {
      /* copies cap bytes of a message with multi-byte characters: a cut
       * in the middle of one (and with cap 0 it writes anyway) */
      static const char m[] = "\xe2\x9c\x97\xe2\x9c\x97\xe2\x9c\x97 wrong type";
      size_t n = err->cap < sizeof m - 1 ? (size_t)err->cap : sizeof m - 1;
      if (n == 0) n = 2;
      memcpy(err->msg, m, n);
      err->len = n;
      return code;
    }
    return fail(err, code, msg);
  }
created:;
  int32_t rc = faults_at(f, "create", err);
  if (rc != -1000) {
    free(f);
    return rc;
  }
  if (is(f->misbehave, "leak")) {
    /* 1 MiB, touched, then forgotten: never freed. (Through a volatile
     * global, or the compiler may drop the unused allocation.) */
    leak_sink = malloc(1 << 20);
    if (leak_sink) memset(leak_sink, 0x5A, 1 << 20);
  }
  if (is(f->misbehave, "leak_small")) { /* 32 KiB a time: a warning, not an error */
    leak_sink = malloc(32 << 10);
    if (leak_sink) memset(leak_sink, 0x5A, 32 << 10);
  }
  if (is(f->misbehave, "fd_leak")) open("/dev/null", O_RDONLY); /* never closed */
  if (is(f->misbehave, "bad_log")) {
    static const char msg[] = "bad level and \xff\xfe bytes";
    f->host->log(f->ctx, 42, (const uint8_t *)msg, sizeof msg - 1);
  }
  if (is(f->misbehave, "modify_config")) ((tremor_value *)a->config.nodes)[0].len = 0;
  if (is(f->misbehave, "keep_config")) f->kept = (const uint8_t *)a->config.nodes;
  *instance = f;
  return TREMOR_OK;
}

__attribute__((unused)) static void fault_destroy(void *instance) {
  fault *f = instance;
  if (is(f->misbehave, "log_after_destroy")) {
    late_log *l = malloc(sizeof *l);
    if (l) {
      l->host = f->host;
      l->ctx = f->ctx;
      pthread_t t;
      if (pthread_create(&t, NULL, late_logger, l) == 0) pthread_detach(t);
      else free(l);
    }
  }
  if (f->scribbler_up) {
    atomic_store(&f->stop, 1);
    pthread_join(f->scribbler, NULL);
  }
  if (f->fd >= 0) close(f->fd);
  free(f);
}

/* ---- steps ---------------------------------------------------------------- */

static int32_t fault_connect(void *instance, uint32_t attempt, tremor_error *err) {
  fault *f = instance;
  (void)attempt;
  int32_t rc = faults_at(f, "connect", err);
  if (rc != -1000) return rc;
  if (is(f->misbehave, "end_from_connect")) return TREMOR_END;
  return TREMOR_OK;
}

#define STEP(name)                                                       \
  static int32_t fault_##name(void *instance, tremor_error *err) {       \
    fault *f = instance;                                                 \
    int32_t rc = faults_at(f, #name, err);                               \
    if (rc != -1000) return rc;                                          \
    return step_extra(f, #name, err);                                    \
  }

static int32_t step_extra(fault *f, const char *name, tremor_error *err) {
  if (is(name, "start")) {
    if (is(f->misbehave, "retry_from_start")) return TREMOR_RETRY;
    if (is(f->misbehave, "unknown_code")) return -42;
    if (is(f->misbehave, "msg_on_ok")) {
      fail(err, TREMOR_OK, "all is well");
      return TREMOR_OK;
    }
  }
  return TREMOR_OK;
}

STEP(start)
STEP(pause)
STEP(resume)
STEP(drain)
STEP(stop)

/* ---- pull ------------------------------------------------------------------ */

/* Appends event "fault-<n>" with meta {"n": n}; 0 when it does not fit. */
static int put(fault *f, tremor_batch *b, uint64_t id) {
  char p[32];
  int n = snprintf(p, sizeof p, "fault-%llu", (unsigned long long)f->next);
  uint64_t need = (uint64_t)n + 1; /* payload + key "n" */
  if (b->events_len >= b->events_cap || b->bytes_cap - b->bytes_len < need || b->values_cap - b->values_len < 2)
    return 0;
  tremor_event *ev = &b->events[b->events_len++];
  memset(ev, 0, sizeof *ev);
  ev->id = id;
  ev->payload.offset = b->bytes_len;
  ev->payload.len = (uint64_t)n;
  memcpy(b->bytes + b->bytes_len, p, (size_t)n);
  b->bytes_len += (uint64_t)n;
  uint64_t koff = b->bytes_len;
  b->bytes[b->bytes_len++] = 'n';
  tremor_value *v = &b->values[b->values_len];
  memset(v, 0, 2 * sizeof *v);
  v[0].kind = TREMOR_VALUE_OBJECT;
  v[0].len = 1;
  v[0].as.descendants = 1;
  v[1].kind = TREMOR_VALUE_UINT;
  v[1].key_offset = koff;
  v[1].key_len = 1;
  v[1].as.u = f->next;
  ev->meta.offset = b->values_len;
  ev->meta.len = 2;
  b->values_len += 2;
  f->next++;
  return 1;
}

/* Fills the room as a good source does. */
static int32_t produce(fault *f, tremor_batch *b) {
  int dup = is(f->misbehave, "dup_ids");
  while (f->count == 0 || f->next <= f->count) {
    if (!put(f, b, dup ? 1 : f->next)) {
      if (b->events_len > 0) return TREMOR_OK;
      if (is(f->misbehave, "silent_tiny")) return TREMOR_OK;
      b->bytes_needed = 32;
      b->values_needed = 2;
      if (b->bytes_needed <= b->bytes_cap && b->values_needed <= b->values_cap) b->bytes_needed = b->bytes_cap + 1;
      return TREMOR_ERR_NO_ROOM;
    }
  }
  return TREMOR_END;
}

static int32_t misbehave_pull(fault *f, tremor_batch *b, tremor_error *err) {
  const char *m = f->misbehave;
  if (is(m, "bad_utf8_msg")) return fail(err, TREMOR_ERR_FAILED, "fault: \xff\xfe is not UTF-8");
  if (is(m, "msg_len_past_cap")) {
    fail(err, TREMOR_ERR_FAILED, "fault: len past cap");
    err->len = err->cap + 100;
    return TREMOR_ERR_FAILED;
  }
  if (is(m, "msg_past_cap")) {
    memset(err->msg, 'E', err->cap + 16); /* 16 bytes past msg[cap-1] */
    err->len = err->cap;
    return TREMOR_ERR_FAILED;
  }
  if (is(m, "unsupported_pull")) return TREMOR_ERR_UNSUPPORTED; /* and no message */
  if (is(m, "end_at_once")) return TREMOR_END;                 /* a source with nothing to give */
  if (is(m, "retry_from_pull")) {
    int32_t rc = produce(f, b);
    return rc == TREMOR_ERR_NO_ROOM ? rc : TREMOR_RETRY;
  }
  if (is(m, "no_room_no_needed")) return TREMOR_ERR_NO_ROOM;
  if (is(m, "no_room_loop")) {
    b->bytes_needed = b->bytes_cap + 1; /* whatever the room, a bit more */
    return TREMOR_ERR_NO_ROOM;
  }
  if (is(m, "no_room_with_events")) {
    put(f, b, f->next);
    b->bytes_needed = b->bytes_cap + 1;
    return TREMOR_ERR_NO_ROOM;
  }
  if (is(m, "more_events_than_room")) {
    /* really writes events_cap + 1 events: one past the events arena */
    uint64_t cap = b->events_cap;
    for (uint64_t i = 0; i <= cap; i++) {
      tremor_event *ev = &b->events[i];
      memset(ev, 0, sizeof *ev);
      ev->id = f->next++;
    }
    b->events_len = cap + 1;
    return TREMOR_OK;
  }
  static const char *const corrupting[] = {"events_len_past_cap", "bytes_past_cap", "payload_past_arena", "bad_port",
                                           "bad_flags", "bad_descendants", "value_reserved", "structured_on_bytes", NULL};
  int corrupts = 0;
  for (int i = 0; corrupting[i]; i++) corrupts |= is(m, corrupting[i]);
  int32_t rc = produce(f, b); /* other modes are not about pulling */
  if (!corrupts || rc == TREMOR_ERR_NO_ROOM || b->events_len == 0) return rc;
  tremor_event *ev = &b->events[0];
  if (is(m, "events_len_past_cap")) b->events_len = b->events_cap + 1;
  else if (is(m, "bytes_past_cap")) b->bytes_len = b->bytes_cap + 1;
  else if (is(m, "payload_past_arena")) ev->payload.offset = b->bytes_len;
  else if (is(m, "bad_port")) ev->port = 7;
  else if (is(m, "bad_flags")) ev->flags = 0x80;
  else if (is(m, "bad_descendants")) b->values[ev->meta.offset].as.descendants = 5;
  else if (is(m, "value_reserved")) b->values[ev->meta.offset].reserved[0] = 1;
  else if (is(m, "structured_on_bytes")) {
    /* a valid value ({"n": ...}, the meta tree) flagged as a structured payload */
    ev->flags = TREMOR_EVENT_STRUCTURED;
    ev->payload = ev->meta;
  }
  return rc;
}

__attribute__((unused)) static int32_t fault_pull(void *instance, tremor_batch *b, uint32_t wait_ms, tremor_error *err) {
  fault *f = instance;
  (void)wait_ms;
  int32_t rc = faults_at(f, "pull", err);
  if (rc != -1000) return rc;
  if (is(f->misbehave, "scribble")) {
    atomic_store(&f->scribbling, 0);
    /* the mapping as the host lays it out: the header at its start, the
     * event array at the next 64-byte boundary, the bytes arena last */
    size_t hdr = (sizeof(tremor_batch) + 63) & ~(size_t)63;
    atomic_store(&f->lo, (uint8_t *)b->events - hdr);
    atomic_store(&f->hi, b->bytes + b->bytes_cap);
    if (!f->scribbler_up && pthread_create(&f->scribbler, NULL, scribble, f) == 0) f->scribbler_up = 1;
    rc = produce(f, b);
    f->pulls++;
    if (f->pulls % 4 == 0) atomic_store(&f->scribbling, 1); /* from now until the next pull */
    return rc;
  }
  if (is(f->misbehave, "slow_pull") && !f->slept) {
    /* ignores wait_ms once: blocks for 1.5 s */
    struct timespec ts = {1, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    f->slept = 1;
  }
  if (is(f->misbehave, "keep_room")) f->kept = (const uint8_t *)b->events;
  if (f->misbehave[0]) return misbehave_pull(f, b, err);
  return produce(f, b);
}

static int32_t fault_ack(void *instance, const uint64_t *ids, uint64_t count, tremor_error *err) {
  fault *f = instance;
  int32_t rc = faults_at(f, "ack", err);
  if (rc != -1000) return rc;
  if (is(f->misbehave, "modify_ids") && count > 0) ((uint64_t *)ids)[0] = 0;
  if (is(f->misbehave, "keep_ids") && count > 0) f->kept = (const uint8_t *)ids;
  return TREMOR_OK;
}

static int32_t fault_fail(void *instance, const uint64_t *ids, uint64_t count, tremor_error *err) {
  fault *f = instance;
  (void)ids;
  (void)count;
  int32_t rc = faults_at(f, "fail", err);
  if (rc != -1000) return rc;
  return TREMOR_OK;
}

/* ---- send ------------------------------------------------------------------ */

static int32_t fault_send(void *instance, const tremor_batch *b, uint8_t *outcomes, tremor_error *err) {
  fault *f = instance;
  int32_t rc = faults_at(f, "send", err);
  if (rc != -1000) return rc;
  if (is(f->misbehave, "no_outcomes")) return TREMOR_OK;
  uint8_t outcome = is(f->misbehave, "retry_forever") ? TREMOR_OUTCOME_RETRY : TREMOR_OUTCOME_OK;
  for (uint64_t i = 0; i < b->events_len; i++) outcomes[i] = outcome;
  if (is(f->misbehave, "send_modifies")) ((tremor_batch *)b)->events_len = 0;
  if (is(f->misbehave, "send_writes_payload") && b->bytes_len > 0) ((uint8_t *)b->bytes)[0] ^= 1;
  if (is(f->misbehave, "keep_batch") && b->events_len > 0) f->kept = (const uint8_t *)b->events;
  if (is(f->misbehave, "bad_outcome") && b->events_len > 0) outcomes[0] = 7;
  if (is(f->misbehave, "outcomes_past_len")) outcomes[b->events_len] = TREMOR_OUTCOME_OK;
  if (is(f->misbehave, "end_from_send")) return TREMOR_END;
  return TREMOR_OK;
}

/* ---- the descriptor -------------------------------------------------------- */

static const tremor_connector_vtable fault_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
#ifdef FAULT_RESERVED
    .reserved0 = 1,
#endif
    .on_create = fault_create,
#ifndef FAULT_NULL_DESTROY
    .on_destroy = fault_destroy,
#endif
    .on_connect = fault_connect,
    .on_start = fault_start,
    .on_pause = fault_pause,
    .on_resume = fault_resume,
    .on_drain = fault_drain,
    .on_stop = fault_stop,
#ifndef FAULT_NULL_PULL
    .on_pull = fault_pull,
#endif
    .on_ack = fault_ack,
    .on_fail = fault_fail,
    .on_send = fault_send,
};

static const tremor_config_field fault_fields[] = {
    {.name = "fail_at", .type = TREMOR_VALUE_STRING, .default_json = "\"\"", .doc = "hook that answers fail_code"},
    {.name = "fail_code", .type = TREMOR_VALUE_INT, .default_json = "-1", .doc = "code answered at fail_at"},
    {.name = "hang_at", .type = TREMOR_VALUE_STRING, .default_json = "\"\"", .doc = "hook that never returns"},
    {.name = "crash_at", .type = TREMOR_VALUE_STRING, .default_json = "\"\"", .doc = "hook that segfaults"},
    {.name = "exit_at", .type = TREMOR_VALUE_STRING, .default_json = "\"\"", .doc = "hook that calls exit(0)"},
    {.name = "misbehave", .type = TREMOR_VALUE_STRING, .default_json = "\"\"", .doc = "how to break the contract"},
    {.name = "count", .type = TREMOR_VALUE_UINT, .default_json = "0", .doc = "events before TREMOR_END (0: endless)"},
    {.name = "say", .type = TREMOR_VALUE_STRING, .default_json = "\"\"", .doc = "a line on_create writes to stderr"},
#ifdef FAULT_REQUIRED_DEFAULT
    {.name = "needed", .type = TREMOR_VALUE_STRING, .flags = TREMOR_FIELD_REQUIRED, .default_json = "\"x\"",
     .doc = "required, yet with a default"},
#endif
};

/* Variants carry their own name (plugin and connector), so that a
 * directory of them does not claim one connector name several times. */
#ifndef FAULT_NAME
#define FAULT_NAME "fault"
#endif

static const tremor_connector_type fault_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SOURCE | TREMOR_KIND_SINK,
    .name = FAULT_NAME,
    .description = "breaks the contract on request (tests/faults)",
    .payload = TREMOR_PAYLOAD_BYTES,
    .fields_len = sizeof fault_fields / sizeof fault_fields[0],
    .fields = fault_fields,
    .vtable = &fault_vtable,
};

static const tremor_connector_type *const fault_connectors[] = {&fault_type};

static const tremor_plugin_descriptor fault_descriptor = {
    .struct_size = sizeof(tremor_plugin_descriptor),
    .abi_major = TREMOR_ABI_MAJOR,
    .abi_minor = TREMOR_ABI_MINOR,
    .name = FAULT_NAME,
    .version = "0.1.0",
    .description = "a plugin that breaks the contract on request",
    .license = "Apache-2.0",
    .sdk = "none (plain C)",
    .connectors_len = 1,
    .connectors = fault_connectors,
};

#ifdef FAULT_UNSTABLE
/* A descriptor that is not the same from one call to the next: every call
 * returns the other of two copies, the second with another version. */
static const tremor_plugin_descriptor fault_descriptor2 = {
    .struct_size = sizeof(tremor_plugin_descriptor),
    .abi_major = TREMOR_ABI_MAJOR,
    .abi_minor = TREMOR_ABI_MINOR,
    .name = FAULT_NAME,
    .version = "0.1.1",
    .connectors_len = 1,
    .connectors = fault_connectors,
};
static int flip;
#endif

TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *tremor_plugin_get_descriptor(void) {
#ifdef FAULT_UNSTABLE
  flip = !flip;
  return flip ? &fault_descriptor : &fault_descriptor2;
#else
  return &fault_descriptor;
#endif
}
