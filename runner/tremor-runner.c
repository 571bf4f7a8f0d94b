/*
 * tremor-runner: runs one Tremor connector plugin (include/tremor/plugin.h)
 * in a process of its own, for a host that does not want to load it into
 * itself (host/isolate). Plain C11 + POSIX, links only libc, libdl and
 * libpthread, so that a Go plugin's runtime is the only Go runtime in this
 * process.
 *
 *   tremor-runner --describe FILE
 *       loads FILE and prints its descriptor, as read and not checked, as
 *       one JSON object on stdout (the host checks it exactly as it checks a
 *       descriptor it read itself). A plugin that crashes or hangs here
 *       takes down this process only: the host reports it as that file's
 *       error (the gst-plugin-scanner idea).
 *
 *   tremor-runner --serve FILE CONNECTOR FD
 *       serves one instance of connector type CONNECTOR of FILE over the
 *       connected AF_UNIX stream socket FD: one request at a time from the
 *       host, each answered in order; the batch arenas are memfds the host
 *       passes with SCM_RIGHTS and both processes map; log lines from any
 *       thread of the plugin go back on the same socket.
 *
 * The wire protocol is documented in runner/PROTOCOL.md. The runner checks
 * nothing the host does not check again: it relays what the plugin wrote.
 */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <tremor/plugin.h>

#include "limits.h"

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static void die(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tremor-runner: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  _exit(status);
}

typedef struct {
  char *p;
  size_t len, cap;
} buf;

static void buf_grow(buf *b, size_t more) {
  if (b->len + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) die(70, "out of memory");
  b->p = p;
  b->cap = cap;
}

static void buf_put(buf *b, const void *p, size_t n) {
  buf_grow(b, n);
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[128];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0) buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ------------------------------------------------------------------------ */
/* --describe                                                               */
/* ------------------------------------------------------------------------ */

/* Valid UTF-8 exactly as Go's utf8.Valid sees it (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (n - i - 1 < need) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k <= need; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    i += need + 1;
  }
  return 1;
}

/* A C string as the host reads it: NULL, or up to `max` bytes and whether a
 * NUL came within max + 1 bytes. JSON: null, a string, or
 * {"hex": "...", "unterminated": bool} when not valid UTF-8 or unterminated. */
static void json_cstring(buf *b, const char *p, size_t max) {
  if (!p) {
    buf_puts(b, "null");
    return;
  }
  size_t n = strnlen(p, max + 1);
  int terminated = n <= max;
  if (!terminated) n = max;
  const unsigned char *s = (const unsigned char *)p;
  if (terminated && utf8_valid(s, n)) {
    buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
      unsigned char c = s[i];
      if (c == '"' || c == '\\') {
        char esc[2] = {'\\', (char)c};
        buf_put(b, esc, 2);
      } else if (c < 0x20) {
        buf_printf(b, "\\u%04x", c);
      } else {
        buf_put(b, &c, 1);
      }
    }
    buf_puts(b, "\"");
    return;
  }
  static const char hexd[] = "0123456789abcdef";
  buf_puts(b, "{\"hex\":\"");
  for (size_t i = 0; i < n; i++) {
    char h[2] = {hexd[s[i] >> 4], hexd[s[i] & 15]};
    buf_put(b, h, 2);
  }
  buf_printf(b, "\",\"unterminated\":%s}", terminated ? "false" : "true");
}

static void json_string(buf *b, const char *s) { json_cstring(b, s, strlen(s)); }

/* Copies min(size, sizeof *out) bytes of a struct (honouring struct_size)
 * and zeroes the rest. */
static void read_prefix(void *out, size_t out_size, const void *p, size_t size) {
  memset(out, 0, out_size);
  memcpy(out, p, size < out_size ? size : out_size);
}

static uint32_t hooks_of(const tremor_connector_vtable *vt) {
  int present[] = {
      vt->on_create != NULL, vt->on_destroy != NULL, vt->on_connect != NULL, vt->on_start != NULL,
      vt->on_pause != NULL,  vt->on_resume != NULL,  vt->on_drain != NULL,   vt->on_stop != NULL,
      vt->on_pull != NULL,   vt->on_ack != NULL,     vt->on_fail != NULL,    vt->on_send != NULL,
  };
  uint32_t bits = 0;
  for (unsigned i = 0; i < sizeof present / sizeof present[0]; i++)
    if (present[i]) bits |= 1u << i;
  return bits;
}

static const char *const hook_names[] = {"on_create", "on_destroy", "on_connect", "on_start",
                                         "on_pause",  "on_resume",  "on_drain",   "on_stop",
                                         "on_pull",   "on_ack",     "on_fail",    "on_send"};
#define NUM_HOOKS 12

/* Writes one connector; returns 0 when the host's checker refuses it on
 * structure alone (nothing after it is read). Mirrors readRawConnector in
 * host/plugin/descriptor.go. */
static int json_connector(buf *b, const tremor_connector_type *cp) {
  if (!cp) {
    buf_puts(b, "{\"null\":true}");
    return 0;
  }
  uint32_t size = cp->struct_size;
  buf_printf(b, "{\"struct_size\":%u", size);
  if (size < sizeof(tremor_connector_type)) {
    buf_puts(b, "}");
    return 0;
  }
  tremor_connector_type t;
  read_prefix(&t, sizeof t, cp, size);
  buf_printf(b, ",\"kinds\":%u,\"payload\":%u,\"name\":", t.kinds, t.payload);
  json_cstring(b, t.name, MAX_NAME_LEN);
  buf_puts(b, ",\"description\":");
  json_cstring(b, t.description, MAX_TEXT_LEN);
  buf_printf(b, ",\"vtable_null\":%s", t.vtable ? "false" : "true");
  if (!t.vtable) {
    buf_puts(b, "}");
    return 0;
  }
  uint32_t vsize = t.vtable->struct_size;
  buf_printf(b, ",\"vtable_size\":%u", vsize);
  if (vsize < sizeof(tremor_connector_vtable)) {
    buf_puts(b, "}");
    return 0;
  }
  tremor_connector_vtable vt;
  read_prefix(&vt, sizeof vt, t.vtable, vsize);
  uint32_t hooks = hooks_of(&vt);
  buf_puts(b, ",\"hooks\":[");
  int first = 1;
  for (unsigned i = 0; i < NUM_HOOKS; i++) {
    if (!(hooks & (1u << i))) continue;
    if (!first) buf_puts(b, ",");
    first = 0;
    json_string(b, hook_names[i]);
  }
  buf_printf(b, "],\"fields_len\":%u,\"fields_null\":%s", t.fields_len, t.fields ? "false" : "true");
  if (t.fields_len > MAX_FIELDS || (t.fields_len > 0 && !t.fields)) {
    buf_puts(b, "}");
    return 0;
  }
  buf_puts(b, ",\"fields\":[");
  for (uint32_t i = 0; i < t.fields_len; i++) {
    const tremor_config_field *f = &t.fields[i];
    if (i) buf_puts(b, ",");
    buf_puts(b, "{\"name\":");
    json_cstring(b, f->name, MAX_NAME_LEN);
    buf_printf(b, ",\"type\":%u,\"flags\":%u,\"default_json\":", f->type, f->flags);
    json_cstring(b, f->default_json, MAX_DEFAULT_JSON);
    buf_puts(b, ",\"doc\":");
    json_cstring(b, f->doc, MAX_TEXT_LEN);
    buf_puts(b, "}");
  }
  buf_puts(b, "]}");
  return 1;
}

/* Mirrors readRawDescriptor in host/plugin/descriptor.go. */
static void json_descriptor(buf *b, const tremor_plugin_descriptor *d) {
  uint32_t size = d->struct_size;
  buf_printf(b, "{\"struct_size\":%u", size);
  if (size < 8) {
    buf_puts(b, "}");
    return;
  }
  uint16_t major = d->abi_major, minor = d->abi_minor;
  buf_printf(b, ",\"abi_major\":%u,\"abi_minor\":%u", major, minor);
  if (major != TREMOR_ABI_MAJOR || minor > TREMOR_ABI_MINOR || size < sizeof(tremor_plugin_descriptor)) {
    buf_puts(b, "}");
    return;
  }
  tremor_plugin_descriptor desc;
  read_prefix(&desc, sizeof desc, d, size);
  buf_puts(b, ",\"name\":");
  json_cstring(b, desc.name, MAX_NAME_LEN);
  buf_puts(b, ",\"version\":");
  json_cstring(b, desc.version, MAX_NAME_LEN);
  buf_puts(b, ",\"description\":");
  json_cstring(b, desc.description, MAX_TEXT_LEN);
  buf_puts(b, ",\"license\":");
  json_cstring(b, desc.license, MAX_TEXT_LEN);
  buf_puts(b, ",\"sdk\":");
  json_cstring(b, desc.sdk, MAX_TEXT_LEN);
  buf_printf(b, ",\"connectors_len\":%llu,\"connectors_null\":%s", (unsigned long long)desc.connectors_len,
             desc.connectors ? "false" : "true");
  if (desc.connectors_len == 0 || !desc.connectors || desc.connectors_len > MAX_CONNECTORS) {
    buf_puts(b, "}");
    return;
  }
  buf_puts(b, ",\"connectors\":[");
  for (uint64_t i = 0; i < desc.connectors_len; i++) {
    if (i) buf_puts(b, ",");
    if (!json_connector(b, desc.connectors[i])) break;
  }
  buf_puts(b, "]}");
}

static int describe(const char *file) {
  buf b = {0};
  buf_printf(&b, "{\"runner_abi\":\"%s\"", TREMOR_ABI_VERSION_STRING);
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    buf_puts(&b, ",\"dlopen_error\":");
    json_string(&b, e ? e : "dlopen failed");
  } else {
    tremor_plugin_get_descriptor_fn entry;
    void *sym = dlsym(h, TREMOR_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* object pointer to function pointer, as POSIX allows */
    if (!sym) {
      buf_puts(&b, ",\"no_entry\":true");
    } else {
      const tremor_plugin_descriptor *d = entry();
      if (!d) {
        buf_puts(&b, ",\"null_descriptor\":true");
      } else {
        buf_puts(&b, ",\"descriptor\":");
        json_descriptor(&b, d);
      }
    }
  }
  buf_puts(&b, "}\n");
  /* Written at once, at the end: a plugin that crashes half-way leaves no
   * partial JSON behind. */
  size_t off = 0;
  while (off < b.len) {
    ssize_t n = write(1, b.p + off, b.len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(74, "writing the description: %s", strerror(errno));
    }
    off += (size_t)n;
  }
  /* _exit: no atexit handlers or library destructors of the plugin. */
  _exit(0);
}

/* ------------------------------------------------------------------------ */
/* --serve: the wire protocol (runner/PROTOCOL.md)                          */
/* ------------------------------------------------------------------------ */

enum {
  /* host -> runner */
  REQ_CREATE = 1,
  REQ_CONNECT = 2,
  REQ_STEP = 3,
  REQ_MAP = 4,
  REQ_PULL = 5,
  REQ_IDS = 6,
  REQ_SEND = 7,
  REQ_DESTROY = 8,
  /* runner -> host */
  MSG_READY = 100,
  MSG_REPLY = 101,
  MSG_LOG = 102,
  MSG_NOTICE = 103,
};

/* Hook numbers on the wire: the order of tremor_connector_vtable. */
enum { H_CREATE, H_DESTROY, H_CONNECT, H_START, H_PAUSE, H_RESUME, H_DRAIN, H_STOP, H_PULL, H_ACK, H_FAIL, H_SEND };

/* tremor_batch with offsets into the mapping in place of the three
 * pointers: how a header crosses the socket. */
typedef struct {
  uint32_t struct_size;
  uint32_t reserved0;
  uint64_t events;
  uint64_t events_len;
  uint64_t events_cap;
  uint64_t values;
  uint64_t values_len;
  uint64_t values_cap;
  uint64_t bytes;
  uint64_t bytes_len;
  uint64_t bytes_cap;
  uint64_t bytes_needed;
  uint64_t values_needed;
} wire_batch;

_Static_assert(sizeof(wire_batch) == sizeof(tremor_batch), "wire_batch mirrors tremor_batch");

typedef struct {
  uint32_t len; /* bytes after this header */
  uint16_t type;
  uint16_t flags;
} frame_hdr;

static int sock = -1;
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

/* The one instance this process serves. */
static const tremor_connector_vtable *vt;
static void *instance;
static int created;
static volatile int ctx_valid; /* log calls are taken while 1 */
static int poisoned;           /* a hook panicked or broke the contract */
static int32_t poison_code;
static char poison_msg[512];

struct tremor_host_ctx {
  int unused;
};
static struct tremor_host_ctx the_ctx;

static struct {
  uint8_t *base;
  uint64_t size;
  uint64_t id;
} slots[SLOTS];

/* Writes a whole frame (header + parts) atomically with respect to other
 * threads; the host going away ends this process. */
static void send_frame(uint16_t type, const struct iovec *parts, int nparts) {
  frame_hdr h = {0, type, 0};
  struct iovec iov[8];
  iov[0].iov_base = &h;
  iov[0].iov_len = sizeof h;
  size_t total = 0;
  for (int i = 0; i < nparts; i++) {
    iov[i + 1] = parts[i];
    total += parts[i].iov_len;
  }
  h.len = (uint32_t)total;
  int n = nparts + 1;
  pthread_mutex_lock(&write_mu);
  struct iovec *v = iov;
  while (n > 0) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(sock, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(0); /* the host is gone */
    }
    size_t left = (size_t)w;
    while (n > 0 && left >= v->iov_len) {
      left -= v->iov_len;
      v++;
      n--;
    }
    if (n > 0) {
      v->iov_base = (uint8_t *)v->iov_base + left;
      v->iov_len -= left;
    }
  }
  pthread_mutex_unlock(&write_mu);
}

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

static const tremor_host_api host_api = {
    .struct_size = sizeof(tremor_host_api),
    .abi_major = TREMOR_ABI_MAJOR,
    .abi_minor = TREMOR_ABI_MINOR,
    .log = host_log,
};

/* The error buffer every hook gets. */
static uint8_t err_msg[ERROR_CAP];
static tremor_error err;

static void reset_err(void) {
  err.msg = err_msg;
  err.cap = ERROR_CAP;
  err.len = 0;
}

/* The fixed part of a REPLY (and of a NOTICE after its hook number). */
typedef struct {
  int32_t rc;
  uint32_t flags; /* bit 0: the plugin changed the error buffer's msg or cap */
  uint64_t msg_len;
  uint64_t msg_cap;
} reply_head;

static reply_head head_of(int32_t rc, size_t *text_len) {
  reply_head r = {rc, 0, 0, ERROR_CAP};
  *text_len = 0;
  if (rc < 0) {
    r.msg_len = err.len;
    if (err.msg != err_msg || err.cap != ERROR_CAP)
      r.flags |= 1;
    else
      *text_len = err.len < ERROR_CAP ? (size_t)err.len : ERROR_CAP;
  }
  return r;
}

/* REPLY: head, then the op's extra parts, then the error text. */
static void reply(int32_t rc, const struct iovec *extra, int nextra) {
  size_t text;
  reply_head r = head_of(rc, &text);
  struct iovec parts[6];
  int n = 0;
  parts[n].iov_base = &r;
  parts[n++].iov_len = sizeof r;
  for (int i = 0; i < nextra; i++) parts[n++] = extra[i];
  parts[n].iov_base = err_msg;
  parts[n++].iov_len = text;
  send_frame(MSG_REPLY, parts, n);
}

static void reply_msg(int32_t rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_msg(int32_t rc, const char *fmt, ...) {
  reset_err();
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf((char *)err_msg, ERROR_CAP, fmt, ap);
  va_end(ap);
  err.len = n < 0 ? 0 : (n >= ERROR_CAP ? ERROR_CAP - 1 : (uint64_t)n);
  reply(rc, NULL, 0);
}

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

/* Reading requests: a buffer refilled with recvmsg; file descriptors that
 * arrive with the bytes (SCM_RIGHTS) queue up for REQ_MAP in order. */
static uint8_t *rbuf;
static size_t rcap, rlen, rpos;
static int fdq[64];
static int fdq_len;

static void take_fds(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *fds = (int *)(void *)CMSG_DATA(c);
    for (size_t i = 0; i < n; i++) {
      if (fdq_len < (int)(sizeof fdq / sizeof fdq[0]))
        fdq[fdq_len++] = fds[i];
      else
        close(fds[i]);
    }
  }
}

/* Makes at least `need` unread bytes available; returns 0 at EOF. */
static int fill(size_t need) {
  if (rlen - rpos >= need) return 1;
  if (rpos > 0) {
    memmove(rbuf, rbuf + rpos, rlen - rpos);
    rlen -= rpos;
    rpos = 0;
  }
  if (need > rcap) {
    size_t cap = rcap ? rcap : 65536;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(rbuf, cap);
    if (!p) die(70, "out of memory");
    rbuf = p;
    rcap = cap;
  }
  while (rlen < need) {
    union {
      struct cmsghdr align;
      char data[CMSG_SPACE(sizeof(int) * 8)];
    } ctl;
    struct iovec iov = {rbuf + rlen, rcap - rlen};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.data;
    m.msg_controllen = sizeof ctl.data;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(74, "reading from the host: %s", strerror(errno));
    }
    take_fds(&m);
    if (n == 0) return 0;
    rlen += (size_t)n;
  }
  return 1;
}

/* The next request: its type and body (valid until the next call). */
static int next_request(uint16_t *type, uint8_t **body, uint32_t *len) {
  if (!fill(sizeof(frame_hdr))) return 0;
  frame_hdr h;
  memcpy(&h, rbuf + rpos, sizeof h);
  if (h.len > MAX_FRAME) die(76, "protocol error: a frame of %u bytes", h.len);
  if (!fill(sizeof h + h.len)) return 0;
  *type = h.type;
  *len = h.len;
  *body = rbuf + rpos + sizeof h;
  rpos += sizeof h + h.len;
  return 1;
}

/* Copies n bytes at off of the body into out; 0 when the body is short. */
static int get(const uint8_t *body, uint32_t len, size_t off, void *out, size_t n) {
  if (off > len || n > len - off) return 0;
  memcpy(out, body + off, n);
  return 1;
}

static void do_create(const uint8_t *body, uint32_t len) {
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

static void do_connect(const uint8_t *body, uint32_t len) {
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

static void do_step(const uint8_t *body, uint32_t len) {
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

static void do_map(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t slot;
    uint32_t reserved;
    uint64_t size;
    uint64_t id;
  } m;
  if (!get(body, len, 0, &m, sizeof m)) die(76, "protocol error: short MAP");
  if (fdq_len == 0) die(76, "protocol error: MAP without a file descriptor");
  int fd = fdq[0];
  memmove(fdq, fdq + 1, (size_t)(--fdq_len) * sizeof fdq[0]);
  if (m.slot >= SLOTS) die(76, "protocol error: MAP slot %u", m.slot);
  if (slots[m.slot].base) munmap(slots[m.slot].base, (size_t)slots[m.slot].size);
  slots[m.slot].base = NULL;
  void *p = mmap(NULL, (size_t)m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) {
    reply_msg(TREMOR_ERR_FAILED, "tremor-runner: mmap of %llu bytes: %s", (unsigned long long)m.size, strerror(e));
    return;
  }
  slots[m.slot].base = p;
  slots[m.slot].size = m.size;
  slots[m.slot].id = m.id;
  reply(TREMOR_OK, NULL, 0);
}

/* Builds the plugin's header from a wire header, checking that the room it
 * describes lies inside the slot's mapping. */
static int to_batch(uint32_t slot, const wire_batch *w, tremor_batch *b) {
  if (slot >= SLOTS || !slots[slot].base) return 0;
  uint8_t *base = slots[slot].base;
  uint64_t size = slots[slot].size;
#define IN_MAP(off, n, elem) ((off) <= size && (n) <= (size - (off)) / (elem))
  if (!IN_MAP(w->events, w->events_cap, sizeof(tremor_event)) || !IN_MAP(w->values, w->values_cap, sizeof(tremor_value)) ||
      !IN_MAP(w->bytes, w->bytes_cap, 1) || w->events_len > w->events_cap || w->values_len > w->values_cap ||
      w->bytes_len > w->bytes_cap)
    return 0;
#undef IN_MAP
  memset(b, 0, sizeof *b);
  b->struct_size = w->struct_size;
  b->reserved0 = w->reserved0;
  b->events = (tremor_event *)(void *)(base + w->events);
  b->events_len = w->events_len;
  b->events_cap = w->events_cap;
  b->values = (tremor_value *)(void *)(base + w->values);
  b->values_len = w->values_len;
  b->values_cap = w->values_cap;
  b->bytes = base + w->bytes;
  b->bytes_len = w->bytes_len;
  b->bytes_cap = w->bytes_cap;
  b->bytes_needed = w->bytes_needed;
  b->values_needed = w->values_needed;
  return 1;
}

/* The header as the plugin left it, pointers turned back into offsets
 * (whatever the plugin put there: the host checks them). */
static void to_wire(uint32_t slot, const tremor_batch *b, wire_batch *w) {
  uintptr_t base = (uintptr_t)slots[slot].base;
  w->struct_size = b->struct_size;
  w->reserved0 = b->reserved0;
  w->events = (uint64_t)((uintptr_t)b->events - base);
  w->events_len = b->events_len;
  w->events_cap = b->events_cap;
  w->values = (uint64_t)((uintptr_t)b->values - base);
  w->values_len = b->values_len;
  w->values_cap = b->values_cap;
  w->bytes = (uint64_t)((uintptr_t)b->bytes - base);
  w->bytes_len = b->bytes_len;
  w->bytes_cap = b->bytes_cap;
  w->bytes_needed = b->bytes_needed;
  w->values_needed = b->values_needed;
}

static void do_pull(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t slot;
    uint32_t wait_ms;
    wire_batch w;
  } r;
  if (!get(body, len, 0, &r, sizeof r)) die(76, "protocol error: short PULL");
  if (refuse_if_poisoned()) return;
  tremor_batch b;
  if (!vt->on_pull || !to_batch(r.slot, &r.w, &b)) {
    reply_msg(TREMOR_ERR_INVALID, "tremor-runner: PULL with a room outside the mapped batch (slot %u)", r.slot);
    return;
  }
  reset_err();
  int32_t rc = vt->on_pull(instance, &b, r.wait_ms, &err);
  if (rc == TREMOR_ERR_PANIC) poison(rc, "on_pull");
  wire_batch out;
  to_wire(r.slot, &b, &out);
  struct iovec extra = {&out, sizeof out};
  reply(rc, &extra, 1);
}

static uint8_t *outcomes;
static size_t outcomes_cap;
static uint64_t *idbuf;
static size_t idbuf_cap;

static void do_send(const uint8_t *body, uint32_t len) {
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
  reset_err();
  int32_t rc = vt->on_send(instance, &b, outcomes, &err);
  if (rc == TREMOR_ERR_PANIC) poison(rc, "on_send");
  wire_batch out;
  to_wire(r.slot, &b, &out);
  struct iovec extra[2] = {{&out, sizeof out}, {outcomes, n}};
  reply(rc, extra, 2);
}

/* IDS is one-way: no reply unless the hook fails, then a NOTICE. */
static void do_ids(const uint8_t *body, uint32_t len) {
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
  if (rc == TREMOR_OK) return;
  size_t text;
  reply_head h = head_of(rc, &text);
  uint32_t hook[2] = {r.hook, 0};
  struct iovec parts[3] = {{hook, sizeof hook}, {&h, sizeof h}, {err_msg, text}};
  send_frame(MSG_NOTICE, parts, 3);
  if (rc == TREMOR_ERR_PANIC || rc > 0) poison(rc, hook_names[r.hook]);
}

static void destroy_instance(void) {
  if (created) {
    vt->on_destroy(instance);
    created = 0;
  }
  ctx_valid = 0;
}

/* Ends this process when the host goes away, even while a hook hangs: the
 * main thread, when it is not stuck in a hook, sees the end of the socket
 * first and ends the instance with on_destroy; after 2 s the watcher ends
 * the process without waiting any longer. */
static void *watch_host(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd p = {sock, POLLRDHUP, 0};
    int n = poll(&p, 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) break;
  }
  struct timespec grace = {2, 0};
  while (nanosleep(&grace, &grace) != 0 && errno == EINTR) {
  }
  _exit(0);
}

static int serve(const char *file, const char *connector, int fd) {
  sock = fd;
  /* Not inherited by processes the plugin starts: they would keep the
   * socket open after this process is gone. */
  fcntl(sock, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    die(3, "cannot load %s: %s", file, e ? e : "dlopen failed");
  }
  void *sym = dlsym(h, TREMOR_PLUGIN_ENTRY_SYMBOL);
  if (!sym) die(3, "%s does not export %s", file, TREMOR_PLUGIN_ENTRY_SYMBOL);
  tremor_plugin_get_descriptor_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const tremor_plugin_descriptor *d = entry();
  if (!d || d->struct_size < sizeof *d || d->abi_major != TREMOR_ABI_MAJOR || d->abi_minor > TREMOR_ABI_MINOR)
    die(3, "%s: the descriptor is not one this runner can read", file);
  const tremor_connector_type *t = NULL;
  for (uint64_t i = 0; i < d->connectors_len && i < MAX_CONNECTORS; i++) {
    const tremor_connector_type *c = d->connectors[i];
    if (c && c->struct_size >= sizeof *c && c->name && strcmp(c->name, connector) == 0) {
      t = c;
      break;
    }
  }
  if (!t) die(3, "%s has no connector type %s", file, connector);
  if (!t->vtable || t->vtable->struct_size < sizeof(tremor_connector_vtable) || !t->vtable->on_create ||
      !t->vtable->on_destroy)
    die(3, "%s: connector type %s has no usable vtable", file, connector);
  vt = t->vtable;

  pthread_t watcher;
  if (pthread_create(&watcher, NULL, watch_host, NULL) != 0) die(71, "cannot start a thread");
  pthread_detach(watcher);

  struct {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t hooks;
    uint32_t pid;
    uint32_t reserved;
  } ready = {TREMOR_ABI_MAJOR, TREMOR_ABI_MINOR, hooks_of(vt), (uint32_t)getpid(), 0};
  struct iovec part = {&ready, sizeof ready};
  send_frame(MSG_READY, &part, 1);

  for (;;) {
    uint16_t type;
    uint8_t *body;
    uint32_t len;
    if (!next_request(&type, &body, &len)) break; /* the host closed: end */
    if (!created && type != REQ_CREATE && type != REQ_MAP && type != REQ_DESTROY) {
      reply_msg(TREMOR_ERR_INVALID, "tremor-runner: no instance yet (request %u before CREATE)", type);
      continue;
    }
    switch (type) {
    case REQ_CREATE: do_create(body, len); break;
    case REQ_CONNECT: do_connect(body, len); break;
    case REQ_STEP: do_step(body, len); break;
    case REQ_MAP: do_map(body, len); break;
    case REQ_PULL: do_pull(body, len); break;
    case REQ_IDS: do_ids(body, len); break;
    case REQ_SEND: do_send(body, len); break;
    case REQ_DESTROY:
      destroy_instance();
      reply(TREMOR_OK, NULL, 0);
      _exit(0);
    default: die(76, "protocol error: unknown request type %u", type);
    }
  }
  destroy_instance();
  _exit(0);
}

static const char usage[] =
    "usage: tremor-runner --describe FILE\n"
    "       tremor-runner --serve FILE CONNECTOR FD\n"
    "\n"
    "Runs a Tremor connector plugin in a process of its own for a host\n"
    "(tremorctl); see runner/PROTOCOL.md. Not meant to be run by hand, but\n"
    "--describe is safe to try: it prints what FILE says about itself.\n";

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--describe") == 0) return describe(argv[2]);
  if (argc == 5 && strcmp(argv[1], "--serve") == 0) {
    char *end;
    long fd = strtol(argv[4], &end, 10);
    if (*end || fd < 0 || fd > 1 << 20) die(2, "--serve: FD %s is not a file descriptor number", argv[4]);
    return serve(argv[2], argv[3], (int)fd);
  }
  if (argc == 2 && (strcmp(argv[1], "--version") == 0)) {
    printf("tremor-runner (plugin ABI %s)\n", TREMOR_ABI_VERSION_STRING);
    return 0;
  }
  fputs(usage, argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
  return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
