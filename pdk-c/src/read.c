/* Reading sent batches and walking values. Everything here distrusts its
 * input: a span is checked against its arena before any byte is touched,
 * and a malformed value ends a walk instead of running off the array. */
#include <string.h>

#include "pdk_internal.h"

static bool is_container(uint8_t kind) {
  return kind == TREMOR_VALUE_ARRAY || kind == TREMOR_VALUE_OBJECT;
}

/* A doc over exactly the node span `span` of the batch, which must hold
 * one value. */
static int32_t doc_from_span(const tremor_batch *batch, tremor_span span,
                             tremor_value_doc *out) {
  if (span.len == 0 || batch->values == NULL ||
      !tremor_pdk_span_ok(span.offset, span.len, batch->values_len))
    return TREMOR_ERR_INVALID;
  if (batch->bytes == NULL && batch->bytes_len != 0) return TREMOR_ERR_INVALID;
  out->nodes = batch->values + span.offset;
  out->nodes_len = span.len;
  out->bytes = batch->bytes;
  out->bytes_len = batch->bytes_len;
  if (tremor_doc_size(out, 0) != span.len) {
    memset(out, 0, sizeof *out);
    return TREMOR_ERR_INVALID;
  }
  return TREMOR_OK;
}

int32_t tremor_event_bytes(const tremor_batch *batch, const tremor_event *ev,
                           tremor_pdk_bytes *out) {
  if (out == NULL) return TREMOR_ERR_INVALID;
  out->ptr = NULL;
  out->len = 0;
  if (batch == NULL || ev == NULL || (ev->flags & TREMOR_EVENT_STRUCTURED))
    return TREMOR_ERR_INVALID;
  if (batch->bytes == NULL && batch->bytes_len != 0) return TREMOR_ERR_INVALID;
  if (!tremor_pdk_span_ok(ev->payload.offset, ev->payload.len,
                          batch->bytes_len))
    return TREMOR_ERR_INVALID;
  out->ptr = batch->bytes != NULL ? batch->bytes + ev->payload.offset : NULL;
  out->len = ev->payload.len;
  return TREMOR_OK;
}

int32_t tremor_event_value(const tremor_batch *batch, const tremor_event *ev,
                           tremor_value_doc *out) {
  if (out == NULL) return TREMOR_ERR_INVALID;
  memset(out, 0, sizeof *out);
  if (batch == NULL || ev == NULL || !(ev->flags & TREMOR_EVENT_STRUCTURED))
    return TREMOR_ERR_INVALID;
  return doc_from_span(batch, ev->payload, out);
}

int32_t tremor_event_meta(const tremor_batch *batch, const tremor_event *ev,
                          tremor_value_doc *out) {
  if (out == NULL) return TREMOR_ERR_INVALID;
  memset(out, 0, sizeof *out);
  if (batch == NULL || ev == NULL) return TREMOR_ERR_INVALID;
  if (ev->meta.len == 0) return TREMOR_OK;
  return doc_from_span(batch, ev->meta, out);
}

const tremor_value *tremor_doc_node(const tremor_value_doc *doc, uint64_t i) {
  if (doc == NULL || doc->nodes == NULL || i >= doc->nodes_len) return NULL;
  return &doc->nodes[i];
}

uint64_t tremor_doc_size(const tremor_value_doc *doc, uint64_t i) {
  const tremor_value *v = tremor_doc_node(doc, i);
  if (v == NULL) return 0;
  if (!is_container(v->kind)) return 1;
  if (v->as.descendants > doc->nodes_len - i - 1) return 0;
  return v->as.descendants + 1;
}

static bool bytes_at(const tremor_value_doc *doc, uint64_t offset,
                     uint64_t len, tremor_pdk_bytes *out) {
  if (doc->bytes == NULL && doc->bytes_len != 0) return false;
  if (!tremor_pdk_span_ok(offset, len, doc->bytes_len)) return false;
  out->ptr = doc->bytes != NULL ? doc->bytes + offset : NULL;
  out->len = len;
  return true;
}

bool tremor_doc_string(const tremor_value_doc *doc, uint64_t i,
                       tremor_pdk_bytes *out) {
  const tremor_value *v = tremor_doc_node(doc, i);
  if (v == NULL || out == NULL) return false;
  if (v->kind != TREMOR_VALUE_STRING && v->kind != TREMOR_VALUE_BYTES)
    return false;
  return bytes_at(doc, v->as.offset, v->len, out);
}

bool tremor_doc_key(const tremor_value_doc *doc, uint64_t i,
                    tremor_pdk_bytes *out) {
  const tremor_value *v = tremor_doc_node(doc, i);
  if (v == NULL || out == NULL) return false;
  return bytes_at(doc, v->key_offset, v->key_len, out);
}

bool tremor_iter_init(tremor_pdk_iter *it, const tremor_value_doc *doc,
                      uint64_t i) {
  it->doc = doc;
  it->next = it->end = it->left = 0;
  it->broken = true;
  const tremor_value *v = tremor_doc_node(doc, i);
  if (v == NULL || !is_container(v->kind)) return false;
  uint64_t size = tremor_doc_size(doc, i);
  if (size == 0) return false;
  it->next = i + 1;
  it->end = i + size;
  it->left = v->len;
  it->broken = false;
  return true;
}

bool tremor_iter_next(tremor_pdk_iter *it, uint64_t *child) {
  if (it->broken) return false;
  if (it->left == 0) {
    /* Fewer children than descendants claim: the counts disagree. */
    it->broken = it->next != it->end;
    return false;
  }
  uint64_t size = it->next < it->end ? tremor_doc_size(it->doc, it->next) : 0;
  if (size == 0 || size > it->end - it->next) {
    it->broken = true;
    return false;
  }
  *child = it->next;
  it->next += size;
  it->left--;
  return true;
}

bool tremor_doc_find(const tremor_value_doc *doc, uint64_t obj,
                     const char *key, uint64_t *member) {
  const tremor_value *v = tremor_doc_node(doc, obj);
  if (v == NULL || v->kind != TREMOR_VALUE_OBJECT || key == NULL) return false;
  tremor_pdk_iter it;
  uint64_t child, found = 0;
  bool any = false;
  tremor_iter_init(&it, doc, obj);
  while (tremor_iter_next(&it, &child)) {
    tremor_pdk_bytes k;
    if (!tremor_doc_key(doc, child, &k)) return false;
    if (tremor_bytes_eq(k, key)) {
      found = child; /* keep going: the last duplicate wins */
      any = true;
    }
  }
  if (it.broken || !any) return false;
  if (member != NULL) *member = found;
  return true;
}

/* Nodes in the valid value at `i`, or 0 when anything in it is malformed. */
static uint64_t check_value(const tremor_value_doc *doc, uint64_t i,
                            uint32_t depth, bool is_member) {
  const tremor_value *v = tremor_doc_node(doc, i);
  tremor_pdk_bytes unused;
  if (v == NULL) return 0;
  if (is_member && !tremor_doc_key(doc, i, &unused)) return 0;
  switch (v->kind) {
  case TREMOR_VALUE_BOOL:
    return v->as.boolean <= 1 ? 1 : 0;
  case TREMOR_VALUE_NULL:
  case TREMOR_VALUE_INT:
  case TREMOR_VALUE_UINT:
  case TREMOR_VALUE_FLOAT:
    return 1;
  case TREMOR_VALUE_STRING:
  case TREMOR_VALUE_BYTES:
    return tremor_doc_string(doc, i, &unused) ? 1 : 0;
  case TREMOR_VALUE_ARRAY:
  case TREMOR_VALUE_OBJECT: {
    uint64_t size = tremor_doc_size(doc, i);
    if (size == 0 || depth >= TREMOR_PDK_MAX_DEPTH) return 0;
    uint64_t next = i + 1, end = i + size;
    for (uint64_t c = 0; c < v->len; c++) {
      if (next >= end) return 0;
      uint64_t s = check_value(doc, next, depth + 1,
                               v->kind == TREMOR_VALUE_OBJECT);
      if (s == 0 || s > end - next) return 0;
      next += s;
    }
    return next == end ? size : 0;
  }
  default:
    return 0;
  }
}

int32_t tremor_doc_check(const tremor_value_doc *doc) {
  return check_value(doc, 0, 0, false) != 0 ? TREMOR_OK : TREMOR_ERR_INVALID;
}
