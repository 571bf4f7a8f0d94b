/* Errors, logging and byte views: everything that turns text into bytes for
 * the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdk_internal.h"

/* Cutting a formatted message must not leave half a UTF-8 character at the
 * end: the host treats messages as UTF-8 and may reject or mangle them. */
uint64_t tremor_pdk_utf8_cut(const uint8_t *s, uint64_t len) {
  if (len == 0) return 0;
  uint64_t start = len - 1;
  while (start > 0 && len - start < 4 && (s[start] & 0xC0u) == 0x80u) start--;
  uint8_t lead = s[start];
  uint64_t want = 1;
  if ((lead & 0xE0u) == 0xC0u) {
    want = 2;
  } else if ((lead & 0xF0u) == 0xE0u) {
    want = 3;
  } else if ((lead & 0xF8u) == 0xF0u) {
    want = 4;
  }
  return start + want > len ? start : len;
}

int32_t tremor_pdk_vfail(tremor_error *err, int32_t code, const char *fmt,
                     va_list ap) {
  if (err == NULL) return code;
  err->len = 0;
  if (err->msg == NULL || err->cap == 0 || fmt == NULL) return code;

  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  if (n <= 0) return code;
  uint64_t full = (uint64_t)n;
  uint64_t len = full < sizeof buf - 1 ? full : sizeof buf - 1;
  if (len > err->cap) len = err->cap;
  if (len < full) len = tremor_pdk_utf8_cut((const uint8_t *)buf, len);
  memcpy(err->msg, buf, (size_t)len);
  err->len = len;
  return code;
}

int32_t tremor_pdk_fail(tremor_error *err, int32_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tremor_pdk_vfail(err, code, fmt, ap);
  va_end(ap);
  return code;
}

void tremor_pdk_host_init(tremor_pdk_host *h, const tremor_create_args *args) {
  if (h == NULL) return;
  h->api = NULL;
  h->ctx = NULL;
  if (args == NULL ||
      args->struct_size < offsetof(tremor_create_args, ctx) + sizeof args->ctx)
    return;
  const tremor_host_api *api = args->host;
  /* Rule 6: never read a field past the struct_size the host built. */
  if (api != NULL &&
      api->struct_size >= offsetof(tremor_host_api, log) + sizeof api->log &&
      api->log != NULL)
    h->api = api;
  h->ctx = args->ctx;
}

void tremor_vlog(const tremor_pdk_host *h, int32_t level, const char *fmt,
                 va_list ap) {
  if (h == NULL || h->api == NULL || fmt == NULL) return;

  char buf[1024];
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  if (n < 0) {
    va_end(again);
    return;
  }
  uint64_t len = (uint64_t)n;
  if (len < sizeof buf) {
    h->api->log(h->ctx, level, (const uint8_t *)buf, len);
  } else {
    char *big = malloc((size_t)len + 1);
    if (big != NULL && vsnprintf(big, (size_t)len + 1, fmt, again) == n) {
      h->api->log(h->ctx, level, (const uint8_t *)big, len);
    } else {
      len = tremor_pdk_utf8_cut((const uint8_t *)buf, sizeof buf - 1);
      h->api->log(h->ctx, level, (const uint8_t *)buf, len);
    }
    free(big);
  }
  va_end(again);
}

void tremor_log(const tremor_pdk_host *h, int32_t level, const char *fmt,
                ...) {
  va_list ap;
  va_start(ap, fmt);
  tremor_vlog(h, level, fmt, ap);
  va_end(ap);
}

bool tremor_bytes_eq(tremor_pdk_bytes b, const char *s) {
  if (s == NULL) return false;
  size_t n = strlen(s);
  if (b.len != n) return false;
  return n == 0 || memcmp(b.ptr, s, n) == 0;
}

char *tremor_pdk_strdup(tremor_pdk_bytes b) {
  if (b.len >= SIZE_MAX) return NULL;
  char *s = malloc((size_t)b.len + 1);
  if (s == NULL) return NULL;
  if (b.len > 0) memcpy(s, b.ptr, (size_t)b.len);
  s[b.len] = '\0';
  return s;
}
