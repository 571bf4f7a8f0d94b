/* Filling pull batches. The one invariant that keeps this simple: while a
 * builder's status is TREMOR_OK, everything it was asked for has been
 * written, so batch lengths == marks + needs. After the first failure it
 * only counts, and a rollback restores the marks and publishes the needs. */
#include <string.h>

#include "pdk_internal.h"

static bool fits(uint64_t len, uint64_t add, uint64_t cap) {
  return add <= cap && len <= cap - add;
}

static bool events_full(const tremor_batch *room) {
  return room->events == NULL || room->events_len >= room->events_cap;
}

static void append_event(tremor_batch *room, uint64_t id, uint32_t flags,
                         tremor_span payload, const tremor_span *meta) {
  tremor_event *ev = &room->events[room->events_len++];
  ev->id = id;
  ev->stream = 0;
  ev->ingest_ns = 0;
  ev->port = TREMOR_PORT_OUT;
  ev->flags = flags;
  ev->payload = payload;
  ev->meta.offset = meta != NULL ? meta->offset : 0;
  ev->meta.len = meta != NULL ? meta->len : 0;
}

static bool value_span_ok(const tremor_batch *room, const tremor_span *s) {
  return s->len > 0 && tremor_pdk_span_ok(s->offset, s->len, room->values_len);
}

int32_t tremor_pdk_batch_reserve_bytes(tremor_batch *room, uint64_t id,
                                   uint64_t len, uint8_t **payload) {
  if (payload != NULL) *payload = NULL;
  if (room == NULL) return TREMOR_ERR_INVALID;
  if (events_full(room) || !fits(room->bytes_len, len, room->bytes_cap) ||
      (room->bytes == NULL && len > 0)) {
    room->bytes_needed = len;
    room->values_needed = 0;
    return TREMOR_ERR_NO_ROOM;
  }
  tremor_span span = {room->bytes_len, len};
  append_event(room, id, 0, span, NULL);
  room->bytes_len += len;
  if (payload != NULL && room->bytes != NULL) *payload = room->bytes + span.offset;
  return TREMOR_OK;
}

int32_t tremor_pdk_batch_push_bytes(tremor_batch *room, uint64_t id,
                                const void *data, uint64_t len) {
  uint8_t *dst;
  int32_t rc = tremor_pdk_batch_reserve_bytes(room, id, len, &dst);
  if (rc == TREMOR_OK && len > 0) memcpy(dst, data, (size_t)len);
  return rc;
}

int32_t tremor_pdk_batch_push_value(tremor_batch *room, uint64_t id,
                                tremor_span payload, const tremor_span *meta) {
  if (room == NULL || !value_span_ok(room, &payload) ||
      (meta != NULL && meta->len > 0 && !value_span_ok(room, meta)))
    return TREMOR_ERR_INVALID;
  if (events_full(room)) return TREMOR_ERR_NO_ROOM;
  append_event(room, id, TREMOR_EVENT_STRUCTURED, payload, meta);
  return TREMOR_OK;
}

/* ---- the value builder ---- */

void tremor_builder_init(tremor_pdk_builder *vb, tremor_batch *room) {
  vb->batch = room;
  vb->status = room != NULL ? TREMOR_OK : TREMOR_ERR_INVALID;
  vb->depth = 0;
  vb->mark_values = room != NULL ? room->values_len : 0;
  vb->mark_bytes = room != NULL ? room->bytes_len : 0;
  vb->need_values = 0;
  vb->need_bytes = 0;
  vb->root = vb->mark_values;
  vb->root_done = false;
  vb->has_key = false;
  vb->key_len = 0;
  vb->key_offset = 0;
}

static void misuse(tremor_pdk_builder *vb) {
  vb->status = TREMOR_ERR_INVALID;
}

/* Appends bytes; returns their offset in the arena (meaningful only while
 * the status stays OK). */
static uint64_t add_bytes(tremor_pdk_builder *vb, const void *data,
                          uint64_t len) {
  uint64_t offset = vb->mark_bytes + vb->need_bytes;
  vb->need_bytes += len;
  if (vb->status != TREMOR_OK) return offset;
  tremor_batch *b = vb->batch;
  if (!fits(b->bytes_len, len, b->bytes_cap) || (b->bytes == NULL && len > 0)) {
    vb->status = TREMOR_ERR_NO_ROOM;
    return offset;
  }
  if (len > 0) memcpy(b->bytes + b->bytes_len, data, (size_t)len);
  b->bytes_len += len;
  return offset;
}

/* Appends one node in the right place, or only counts it. NULL unless it
 * was written. Containers are pushed on the open stack either way, so that
 * misuse is caught even after the room ran out. */
static tremor_value *add_node(tremor_pdk_builder *vb, uint8_t kind) {
  if (vb->status == TREMOR_ERR_INVALID) return NULL;
  bool container = kind == TREMOR_VALUE_ARRAY || kind == TREMOR_VALUE_OBJECT;
  if (vb->depth == 0) {
    if (vb->root_done) {
      misuse(vb); /* a second value without finishing the first */
      return NULL;
    }
  } else if ((vb->open_kind[vb->depth - 1] == TREMOR_VALUE_OBJECT) !=
             vb->has_key) {
    misuse(vb); /* object members need a key, array elements must not */
    return NULL;
  }
  if (container && vb->depth >= TREMOR_PDK_MAX_DEPTH) {
    misuse(vb);
    return NULL;
  }

  uint64_t index = vb->mark_values + vb->need_values;
  vb->need_values++;
  bool keyed = vb->has_key;
  vb->has_key = false;
  if (vb->depth == 0) {
    vb->root = index;
    vb->root_done = !container;
  }
  if (container) {
    vb->open[vb->depth] = index;
    vb->open_kind[vb->depth] = kind;
    vb->depth++;
  }

  if (vb->status != TREMOR_OK) return NULL;
  tremor_batch *b = vb->batch;
  if (b->values == NULL || b->values_len >= b->values_cap) {
    vb->status = TREMOR_ERR_NO_ROOM;
    return NULL;
  }
  tremor_value *v = &b->values[b->values_len++];
  memset(v, 0, sizeof *v);
  v->kind = kind;
  if (keyed) {
    v->key_offset = vb->key_offset;
    v->key_len = vb->key_len;
  }
  uint32_t parent_depth = container ? vb->depth - 1 : vb->depth;
  if (parent_depth > 0) b->values[vb->open[parent_depth - 1]].len++;
  return v;
}

void tremor_builder_object(tremor_pdk_builder *vb) {
  add_node(vb, TREMOR_VALUE_OBJECT);
}

void tremor_builder_array(tremor_pdk_builder *vb) {
  add_node(vb, TREMOR_VALUE_ARRAY);
}

void tremor_builder_end(tremor_pdk_builder *vb) {
  if (vb->status == TREMOR_ERR_INVALID) return;
  if (vb->depth == 0 || vb->has_key) {
    misuse(vb);
    return;
  }
  vb->depth--;
  if (vb->status == TREMOR_OK) {
    tremor_batch *b = vb->batch;
    uint64_t at = vb->open[vb->depth];
    b->values[at].as.descendants = b->values_len - at - 1;
  }
  if (vb->depth == 0) vb->root_done = true;
}

void tremor_builder_keyn(tremor_pdk_builder *vb, const void *key,
                         uint64_t len) {
  if (vb->status == TREMOR_ERR_INVALID) return;
  if (vb->depth == 0 || vb->open_kind[vb->depth - 1] != TREMOR_VALUE_OBJECT ||
      vb->has_key || len > UINT32_MAX || (key == NULL && len > 0)) {
    misuse(vb);
    return;
  }
  vb->key_offset = add_bytes(vb, key, len);
  vb->key_len = (uint32_t)len;
  vb->has_key = true;
}

void tremor_builder_key(tremor_pdk_builder *vb, const char *key) {
  if (key == NULL) {
    misuse(vb);
    return;
  }
  tremor_builder_keyn(vb, key, strlen(key));
}

void tremor_builder_null(tremor_pdk_builder *vb) {
  add_node(vb, TREMOR_VALUE_NULL);
}

void tremor_builder_bool(tremor_pdk_builder *vb, bool v) {
  tremor_value *n = add_node(vb, TREMOR_VALUE_BOOL);
  if (n != NULL) n->as.boolean = v ? 1 : 0;
}

void tremor_builder_int(tremor_pdk_builder *vb, int64_t v) {
  tremor_value *n = add_node(vb, TREMOR_VALUE_INT);
  if (n != NULL) n->as.i = v;
}

void tremor_builder_uint(tremor_pdk_builder *vb, uint64_t v) {
  tremor_value *n = add_node(vb, TREMOR_VALUE_UINT);
  if (n != NULL) n->as.u = v;
}

void tremor_builder_float(tremor_pdk_builder *vb, double v) {
  tremor_value *n = add_node(vb, TREMOR_VALUE_FLOAT);
  if (n != NULL) n->as.f = v;
}

static void add_string(tremor_pdk_builder *vb, uint8_t kind, const void *s,
                       uint64_t len) {
  if (s == NULL && len > 0) {
    misuse(vb);
    return;
  }
  tremor_value *n = add_node(vb, kind);
  if (vb->status == TREMOR_ERR_INVALID) return;
  uint64_t offset = add_bytes(vb, s, len);
  if (n != NULL) {
    n->len = len;
    n->as.offset = offset;
  }
}

void tremor_builder_stringn(tremor_pdk_builder *vb, const void *s,
                            uint64_t len) {
  add_string(vb, TREMOR_VALUE_STRING, s, len);
}

void tremor_builder_string(tremor_pdk_builder *vb, const char *s) {
  if (s == NULL) {
    misuse(vb);
    return;
  }
  add_string(vb, TREMOR_VALUE_STRING, s, strlen(s));
}

void tremor_builder_bytes(tremor_pdk_builder *vb, const void *data,
                          uint64_t len) {
  add_string(vb, TREMOR_VALUE_BYTES, data, len);
}

void tremor_builder_rollback(tremor_pdk_builder *vb) {
  tremor_batch *b = vb->batch;
  if (b == NULL) return;
  b->values_len = vb->mark_values;
  b->bytes_len = vb->mark_bytes;
  b->values_needed = vb->need_values;
  b->bytes_needed = vb->need_bytes;
}

int32_t tremor_builder_finish(tremor_pdk_builder *vb, tremor_span *out) {
  if (vb->status == TREMOR_OK &&
      (!vb->root_done || vb->depth != 0 || vb->has_key))
    misuse(vb);
  if (vb->status != TREMOR_OK) {
    tremor_builder_rollback(vb);
    return vb->status;
  }
  tremor_span span = {vb->root, vb->batch->values_len - vb->root};
  if (out != NULL) *out = span;
  vb->root_done = false;
  return TREMOR_OK;
}

/* Ends a failed emit: the batch goes back to where init found it. */
static int32_t emit_failed(tremor_pdk_builder *vb, int32_t rc) {
  vb->status = rc;
  tremor_builder_rollback(vb);
  return rc;
}

int32_t tremor_builder_emit(tremor_pdk_builder *vb, uint64_t id,
                            const tremor_span *meta) {
  tremor_span payload;
  int32_t rc = tremor_builder_finish(vb, &payload);
  if (rc != TREMOR_OK) return rc;
  rc = tremor_pdk_batch_push_value(vb->batch, id, payload, meta);
  if (rc != TREMOR_OK) return emit_failed(vb, rc);
  tremor_builder_init(vb, vb->batch);
  return TREMOR_OK;
}

int32_t tremor_builder_emit_bytes(tremor_pdk_builder *vb, uint64_t id,
                                  const void *data, uint64_t len,
                                  const tremor_span *meta) {
  if (vb->status == TREMOR_OK &&
      (vb->root_done || vb->depth != 0 || vb->has_key || (data == NULL && len > 0)))
    misuse(vb);
  if (vb->status == TREMOR_ERR_INVALID) return emit_failed(vb, vb->status);
  tremor_span payload = {add_bytes(vb, data, len), len};
  if (vb->status != TREMOR_OK) return emit_failed(vb, vb->status);
  tremor_batch *b = vb->batch;
  if (meta != NULL && meta->len > 0 && !value_span_ok(b, meta))
    return emit_failed(vb, TREMOR_ERR_INVALID);
  if (events_full(b)) return emit_failed(vb, TREMOR_ERR_NO_ROOM);
  append_event(b, id, 0, payload, meta);
  tremor_builder_init(vb, b);
  return TREMOR_OK;
}
