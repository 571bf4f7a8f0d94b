/* tremor-runner --describe: prints a plugin file's descriptor, as read and
 * not checked, as one JSON object (runner/PROTOCOL.md, "the scanner"). */
#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"

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
  if (size < offsetof(tremor_connector_type, framing)) { /* ABI 1.0's size */
    buf_puts(b, "}");
    return 0;
  }
  tremor_connector_type t;
  read_prefix(&t, sizeof t, cp, size);
  if (size >= sizeof t) { /* since 1.1 */
    buf_puts(b, ",\"framing\":");
    json_cstring(b, t.framing, MAX_NAME_LEN);
  }
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
  /* Another major may lay out what follows differently; a newer minor of
   * this one only appends, so what this runner knows of it is read (and
   * shown) although the host refuses the plugin. */
  if (major != TREMOR_ABI_MAJOR || size < sizeof(tremor_plugin_descriptor)) {
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

int describe(const char *file, char **libs, int nlibs) {
  buf b = {0};
  buf_printf(&b, "{\"runner_abi\":\"%s\"", TREMOR_ABI_VERSION_STRING);
  const char *failed = preload(libs, nlibs);
  void *h = failed ? NULL : dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = failed ? failed : dlerror();
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
