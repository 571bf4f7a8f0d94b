/* The plugin's hooks, one request each (runner/PROTOCOL.md): the one
 * instance this process serves, the host API it is given, and the rule that
 * an instance that panicked or broke the contract is called no more. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runner.h"

/* The one instance this process serves. */
const tremor_connector_vtable *vt;
static void *instance;
int created;
static volatile int ctx_valid; /* log calls are taken while 1 */
static int poisoned;           /* a hook panicked or broke the contract */
static int32_t poison_code;
static char poison_msg[512];

struct tremor_host_ctx {
  int unused;
};
static struct tremor_host_ctx the_ctx;

static void host_log(tremor_host_ctx *ctx, int32_t level, const uint8_t *msg, uint64_t len) {
  struct {
    int32_t level;
    uint32_t flags; /* bit 0: the ctx is not (or no longer) the instance's */
  } head = {level, (ctx != &the_ctx || !ctx_valid) ? 1u : 0u};
  if (!msg) len = 0;
  if (len > MAX_LOG_LINE) len = MAX_LOG_LINE;
  struct iovec parts[2] = {{&head, sizeof head}, {(void *)msg, (size_t)len}};
  send_frame(MSG_LOG, parts, 2);
}

/* ABI 1.1 metrics: each call becomes one METRIC frame, sent from the
 * calling thread as it comes (send_frame keeps frames whole), which the
 * host applies to the instance's metrics exactly as for a plugin in its
 * own process, rules checked there. The runner only bounds what it copies:
 * texts at METRIC_TEXT bytes (one past the host's 256, so that the host
 * still refuses an over-long name or label and cuts an over-long help text,
 * as in process), at most MAX_METRIC_LABELS_READ labels (more is refused
 * here, as the host refuses a wild count in process). */
#define METRIC_TEXT (MAX_NAME_LEN + 1)

static uint32_t cut(uint64_t n, const void *p) { return !p ? 0 : n > METRIC_TEXT ? METRIC_TEXT : (uint32_t)n; }

static int32_t host_metric(uint32_t kind, tremor_host_ctx *ctx, const uint8_t *name, uint64_t name_len,
                           const uint8_t *help, uint64_t help_len, const tremor_metric_label *labels,
                           uint64_t labels_len, int64_t value) {
  if (ctx != &the_ctx || !ctx_valid) return TREMOR_ERR_UNSUPPORTED;
  if (labels_len > MAX_METRIC_LABELS_READ || (!labels && labels_len > 0)) return TREMOR_ERR_INVALID;
  struct {
    uint32_t kind;
    uint32_t labels_len;
    int64_t value;
    uint32_t name_len;
    uint32_t help_len;
  } head = {kind, (uint32_t)labels_len, value, cut(name_len, name), cut(help_len, help)};
  size_t size = sizeof head + head.name_len + head.help_len + labels_len * 2 * sizeof(uint32_t);
  for (uint64_t i = 0; i < labels_len; i++)
    size += cut(labels[i].name_len, labels[i].name) + cut(labels[i].value_len, labels[i].value);
  uint8_t *body = malloc(size);
  if (!body) return TREMOR_ERR_FAILED;
  size_t off = 0;
#define PUT(p, n) (memcpy(body + off, (p), (n)), off += (n))
  PUT(&head, sizeof head);
  PUT(name, head.name_len);
  PUT(help, head.help_len);
  for (uint64_t i = 0; i < labels_len; i++) {
    uint32_t lens[2] = {cut(labels[i].name_len, labels[i].name), cut(labels[i].value_len, labels[i].value)};
    PUT(lens, sizeof lens);
    PUT(labels[i].name, lens[0]);
    PUT(labels[i].value, lens[1]);
  }
#undef PUT
  struct iovec part = {body, off};
  send_frame(MSG_METRIC, &part, 1);
  free(body);
  return TREMOR_OK;
}

static int32_t host_counter_add(tremor_host_ctx *ctx, const uint8_t *name, uint64_t name_len, const uint8_t *help,
                                uint64_t help_len, const tremor_metric_label *labels, uint64_t labels_len,
                                int64_t value) {
  return host_metric(TREMOR_METRIC_COUNTER, ctx, name, name_len, help, help_len, labels, labels_len, value);
}

static int32_t host_gauge_set(tremor_host_ctx *ctx, const uint8_t *name, uint64_t name_len, const uint8_t *help,
                              uint64_t help_len, const tremor_metric_label *labels, uint64_t labels_len,
                              int64_t value) {
  return host_metric(TREMOR_METRIC_GAUGE, ctx, name, name_len, help, help_len, labels, labels_len, value);
}

static const tremor_host_api host_api = {
    .struct_size = sizeof(tremor_host_api),
    .abi_major = TREMOR_ABI_MAJOR,
    .abi_minor = TREMOR_ABI_MINOR,
    .log = host_log,
    .counter_add = host_counter_add,
    .gauge_set = host_gauge_set,
};

/* After a panic or a broken contract the instance is unusable: every hook
 * but on_destroy is answered here without calling the plugin. */
static int refuse_if_poisoned(void) {
  if (!poisoned) return 0;
  reply_msg(poison_code, "the instance is unusable: %s", poison_msg);
  return 1;
}

static void poison(int32_t rc, const char *hook) {
  if (poisoned) return;
  poisoned = 1;
  poison_code = TREMOR_ERR_PANIC;
  if (rc == TREMOR_ERR_PANIC) {
    size_t text;
    head_of(rc, &text);
    snprintf(poison_msg, sizeof poison_msg, "%s panicked: %.*s", hook, (int)(text < 400 ? text : 400), err_msg);
  } else {
    snprintf(poison_msg, sizeof poison_msg, "%s returned %d, which is not a result code of ABI %s", hook, rc,
             TREMOR_ABI_VERSION_STRING);
  }
}

void do_create(const uint8_t *body, uint32_t len) {
  uint64_t sizes[3]; /* alias_len, nodes_len, bytes_len */
  if (created) {
    reply_msg(TREMOR_ERR_INVALID, "tremor-runner: the instance was already created");
    return;
  }
  if (!get(body, len, 0, sizes, sizeof sizes)) die(76, "protocol error: short CREATE");
  size_t off = sizeof sizes;
  uint64_t alias_len = sizes[0], nodes_len = sizes[1], bytes_len = sizes[2];
  if (alias_len > len || nodes_len > len / sizeof(tremor_value) || bytes_len > len ||
      off + alias_len + nodes_len * sizeof(tremor_value) + bytes_len > len)
    die(76, "protocol error: CREATE sizes past the frame");
  uint8_t *alias = malloc(alias_len + 1);
  tremor_value *nodes = malloc(nodes_len * sizeof(tremor_value) + 1);
  uint8_t *bytes = malloc(bytes_len + 1);
  if (!alias || !nodes || !bytes) die(70, "out of memory");
  memcpy(alias, body + off, alias_len);
  off += alias_len;
  memcpy(nodes, body + off, nodes_len * sizeof(tremor_value));
  off += nodes_len * sizeof(tremor_value);
  memcpy(bytes, body + off, bytes_len);
  tremor_create_args a;
  memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  a.host = &host_api;
  a.ctx = &the_ctx;
  a.alias = alias;
  a.alias_len = alias_len;
  a.config.nodes = nodes;
  a.config.nodes_len = nodes_len;
  a.config.bytes = bytes;
  a.config.bytes_len = bytes_len;
  void *inst = NULL;
  reset_err();
  ctx_valid = 1;
  int32_t rc = vt->on_create(&a, &inst, &err);
  if (rc == TREMOR_OK) {
    instance = inst;
    created = 1;
  } else {
    ctx_valid = 0;
  }
  free(alias);
  free(nodes);
  free(bytes);
  reply(rc, NULL, 0);
}

void do_connect(const uint8_t *body, uint32_t len) {
  uint32_t attempt;
  if (!get(body, len, 0, &attempt, sizeof attempt)) die(76, "protocol error: short CONNECT");
  if (refuse_if_poisoned()) return;
  if (!vt->on_connect) {
    reply(TREMOR_OK, NULL, 0);
    return;
  }
  reset_err();
  int32_t rc = vt->on_connect(instance, attempt, &err);
  if (rc == TREMOR_ERR_PANIC) poison(rc, "on_connect");
  reply(rc, NULL, 0);
}

void do_step(const uint8_t *body, uint32_t len) {
  uint32_t hook;
  if (!get(body, len, 0, &hook, sizeof hook)) die(76, "protocol error: short STEP");
  if (refuse_if_poisoned()) return;
  tremor_on_step_fn fn = NULL;
  switch (hook) {
  case H_START: fn = vt->on_start; break;
  case H_PAUSE: fn = vt->on_pause; break;
  case H_RESUME: fn = vt->on_resume; break;
  case H_DRAIN: fn = vt->on_drain; break;
  case H_STOP: fn = vt->on_stop; break;
  default: die(76, "protocol error: STEP with hook %u", hook);
  }
  if (!fn) {
    reply(TREMOR_OK, NULL, 0);
    return;
  }
  reset_err();
  int32_t rc = fn(instance, &err);
  if (rc == TREMOR_ERR_PANIC) poison(rc, hook_names[hook]);
  reply(rc, NULL, 0);
}

/* The batches pulled ahead (AHEAD) that the host may not have taken yet:
 * the ids of their events, by the AHEAD's sequence number modulo SLOTS
 * (the host has fewer than SLOTS out at once), so that RETURN can fail
 * back those the host will not take. A PULL means the host took all. */
struct ahead_ids {
  uint64_t *ids;
  size_t len, cap;
};
static struct ahead_ids ahead[SLOTS];
static uint64_t aheads; /* AHEADs served since the last PULL */
/* A pull ahead that ended the run (an error, END, RETRY, no events):
 * the AHEADs after it, sent before the host saw that answer, are answered
 * "no events" without calling on_pull, as a plugin in the host is not
 * pulled again after such an answer until the host asks. */
static int ahead_stopped;

static void pull(uint32_t slot, const wire_batch *w, uint32_t wait_ms, int is_ahead) {
  if (!is_ahead) {
    aheads = 0;
    ahead_stopped = 0;
  }
  struct ahead_ids *a = NULL; /* where this AHEAD's ids are kept */
  if (is_ahead) {
    a = &ahead[aheads++ % SLOTS];
    a->len = 0;
  }
  if (refuse_if_poisoned()) return;
  tremor_batch b;
  if (!vt->on_pull || !to_batch(slot, w, &b)) {
    if (is_ahead) ahead_stopped = 1;
    reply_msg(TREMOR_ERR_INVALID, "tremor-runner: PULL with a room outside the mapped batch (slot %u)", slot);
    return;
  }
  if (!protect_slot(slot, 0)) die(70, "cannot make a batch writable: %s", strerror(errno));
  if (is_ahead && ahead_stopped) {
    reset_err();
    wire_batch out;
    to_wire(slot, &b, &out);
    struct iovec extra = {&out, sizeof out};
    reply(TREMOR_OK, &extra, 1);
    return;
  }
  tremor_event *room = b.events;
  uint64_t room_cap = b.events_cap;
  reset_err();
  int32_t rc = vt->on_pull(instance, &b, wait_ms, &err);
  if (rc == TREMOR_ERR_PANIC) poison(rc, "on_pull");
  wire_batch out;
  to_wire(slot, &b, &out);
  if (is_ahead && (rc != TREMOR_OK || b.events_len == 0)) ahead_stopped = 1;
  if (is_ahead && rc != TREMOR_ERR_PANIC && b.events_len > 0) {
    /* Read from the room as given: the header the plugin left is the
     * host's to check. */
    size_t n = (size_t)(b.events_len < room_cap ? b.events_len : room_cap);
    if (n > a->cap) {
      uint64_t *p = realloc(a->ids, n * sizeof *p);
      if (!p) die(70, "out of memory");
      a->ids = p;
      a->cap = n;
    }
    for (size_t i = 0; i < n; i++) a->ids[i] = room[i].id;
    a->len = n;
  }
  struct iovec extra = {&out, sizeof out};
  reply(rc, &extra, 1);
}

void do_pull(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t slot;
    uint32_t wait_ms;
    wire_batch w;
  } r;
  if (!get(body, len, 0, &r, sizeof r)) die(76, "protocol error: short PULL");
  pull(r.slot, &r.w, r.wait_ms, 0);
}

/* AHEAD: on_pull with wait_ms 0 while the host works on an earlier
 * batch; answered with PULLED, which the host reads at a later pull. */
void do_ahead(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t slot;
    uint32_t reserved;
    wire_batch w;
  } r;
  if (!get(body, len, 0, &r, sizeof r)) die(76, "protocol error: short AHEAD");
  pull(r.slot, &r.w, 0, 1);
}

/* RETURN: the host will not take the batches of the last `untaken` AHEADs
 * (1 when the body is empty): their events are failed back (on_fail), so
 * that none is lost. */
void do_return(const uint8_t *body, uint32_t len) {
  uint32_t untaken = 1;
  if (len > 0 && !get(body, len, 0, &untaken, sizeof untaken)) die(76, "protocol error: short RETURN");
  if (untaken >= SLOTS || untaken > aheads) die(76, "protocol error: RETURN of %u batches pulled ahead", untaken);
  uint64_t first = aheads - untaken;
  aheads = 0;
  ahead_stopped = 0;
  if (untaken == 0 || poisoned || !vt->on_fail) {
    reply(TREMOR_OK, NULL, 0);
    return;
  }
  int32_t rc = TREMOR_OK;
  for (uint64_t s = first; s < first + untaken && rc == TREMOR_OK; s++) {
    struct ahead_ids *a = &ahead[s % SLOTS];
    for (size_t off = 0; off < a->len && rc == TREMOR_OK; off += MAX_IDS_PER_CALL) {
      size_t k = a->len - off < MAX_IDS_PER_CALL ? a->len - off : MAX_IDS_PER_CALL;
      reset_err();
      rc = vt->on_fail(instance, a->ids + off, k, &err);
    }
    a->len = 0;
  }
  if (rc == TREMOR_ERR_PANIC || rc > 0) poison(rc, "on_fail");
  reply(rc, NULL, 0);
}

static uint8_t *outcomes;
static size_t outcomes_cap;
static uint64_t *idbuf;
static size_t idbuf_cap;

void do_send(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t slot;
    uint32_t reserved;
    wire_batch w;
  } r;
  if (!get(body, len, 0, &r, sizeof r)) die(76, "protocol error: short SEND");
  if (refuse_if_poisoned()) return;
  tremor_batch b;
  if (!vt->on_send || !to_batch(r.slot, &r.w, &b)) {
    reply_msg(TREMOR_ERR_INVALID, "tremor-runner: SEND with a batch outside the mapped memory (slot %u)", r.slot);
    return;
  }
  size_t n = (size_t)b.events_len;
  if (n > outcomes_cap) {
    uint8_t *p = realloc(outcomes, n);
    if (!p) die(70, "out of memory");
    outcomes = p;
    outcomes_cap = n;
  }
  memset(outcomes, TREMOR_OUTCOME_FAILED, n);
  /* The events are the plugin's to read only: their mapping is read-only
   * (guard.c reports a write). The header is a copy of the runner's: a
   * change to it is found by the host's comparison. */
  if (!protect_slot(r.slot, 1)) die(70, "cannot make a sent batch read-only: %s", strerror(errno));
  reset_err();
  int32_t rc = vt->on_send(instance, &b, outcomes, &err);
  if (rc == TREMOR_ERR_PANIC) poison(rc, "on_send");
  wire_batch out;
  to_wire(r.slot, &b, &out);
  struct iovec extra[2] = {{&out, sizeof out}, {outcomes, n}};
  reply(rc, extra, 2);
}

/* IDS is one-way: no reply unless the hook fails, then a NOTICE. */
void do_ids(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t hook;
    uint32_t reserved;
    uint64_t count;
  } r;
  if (!get(body, len, 0, &r, sizeof r)) die(76, "protocol error: short IDS");
  if (r.count > (len - sizeof r) / sizeof(uint64_t)) die(76, "protocol error: IDS count past the frame");
  if (poisoned) return;
  tremor_on_ids_fn fn = r.hook == H_ACK ? vt->on_ack : r.hook == H_FAIL ? vt->on_fail : NULL;
  if (r.hook != H_ACK && r.hook != H_FAIL) die(76, "protocol error: IDS with hook %u", r.hook);
  if (!fn || r.count == 0) return;
  if (r.count > idbuf_cap) {
    uint64_t *p = realloc(idbuf, (size_t)r.count * sizeof *p);
    if (!p) die(70, "out of memory");
    idbuf = p;
    idbuf_cap = (size_t)r.count;
  }
  memcpy(idbuf, body + sizeof r, (size_t)r.count * sizeof(uint64_t));
  reset_err();
  int32_t rc = fn(instance, idbuf, r.count, &err);
  if (rc == TREMOR_OK && canary_intact()) return;
  size_t text;
  reply_head h = head_of(rc, &text);
  uint32_t hook[2] = {r.hook, 0};
  struct iovec parts[3] = {{hook, sizeof hook}, {&h, sizeof h}, {err_msg, text}};
  send_frame(MSG_NOTICE, parts, 3);
  if (rc == TREMOR_ERR_PANIC || rc > 0) poison(rc, hook_names[r.hook]);
}

void destroy_instance(void) {
  if (created) {
    vt->on_destroy(instance);
    created = 0;
  }
  ctx_valid = 0;
}
