/* Builds value docs by hand, node by node, without pdk-c: the readers are
 * tested against the layout plugin.h describes, not against our writer. */
#ifndef TREMOR_PDK_TEST_DOC_H
#define TREMOR_PDK_TEST_DOC_H

#include <string.h>

#include "tremor/plugin.h"

typedef struct testdoc {
  tremor_value nodes[128];
  uint64_t n;
  uint8_t bytes[2048];
  uint64_t nb;
} testdoc;

static inline uint64_t td_bytes(testdoc *d, const char *s) {
  uint64_t off = d->nb, len = strlen(s);
  memcpy(d->bytes + d->nb, s, len);
  d->nb += len;
  return off;
}

/* Appends a node; `key` is NULL for nodes outside objects. */
static inline tremor_value *td_node(testdoc *d, const char *key, uint8_t kind) {
  tremor_value *v = &d->nodes[d->n++];
  memset(v, 0, sizeof *v);
  v->kind = kind;
  if (key != NULL) {
    v->key_len = (uint32_t)strlen(key);
    v->key_offset = td_bytes(d, key);
  }
  return v;
}

static inline uint64_t td_uint(testdoc *d, const char *key, uint64_t u) {
  td_node(d, key, TREMOR_VALUE_UINT)->as.u = u;
  return d->n - 1;
}

static inline uint64_t td_int(testdoc *d, const char *key, int64_t i) {
  td_node(d, key, TREMOR_VALUE_INT)->as.i = i;
  return d->n - 1;
}

static inline uint64_t td_float(testdoc *d, const char *key, double f) {
  td_node(d, key, TREMOR_VALUE_FLOAT)->as.f = f;
  return d->n - 1;
}

static inline uint64_t td_bool(testdoc *d, const char *key, int b) {
  td_node(d, key, TREMOR_VALUE_BOOL)->as.boolean = b ? 1 : 0;
  return d->n - 1;
}

static inline uint64_t td_string(testdoc *d, const char *key, const char *s) {
  tremor_value *v = td_node(d, key, TREMOR_VALUE_STRING);
  v->len = strlen(s);
  v->as.offset = td_bytes(d, s);
  return d->n - 1;
}

/* Opens a container: returns its index; close with td_close. */
static inline uint64_t td_open(testdoc *d, const char *key, uint8_t kind) {
  td_node(d, key, kind);
  return d->n - 1;
}

/* Sets len (children) and descendants of container `at`. */
static inline void td_close(testdoc *d, uint64_t at, uint64_t children) {
  d->nodes[at].len = children;
  d->nodes[at].as.descendants = d->n - at - 1;
}

static inline tremor_value_doc td_doc(const testdoc *d) {
  tremor_value_doc doc = {d->nodes, d->n, d->bytes, d->nb};
  return doc;
}

#endif
