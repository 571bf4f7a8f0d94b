/* Writing pull batches: bytes events, structured values, metadata, the
 * NO_ROOM protocol (nothing half-written, needs reported) and misuse. */
#include "check.h"
#include "tremor/pdk.h"

typedef struct room {
  tremor_event events[8];
  tremor_value values[128];
  uint8_t bytes[512];
  tremor_batch b;
} room;

static void room_init(room *r, uint64_t events_cap, uint64_t values_cap,
                      uint64_t bytes_cap) {
  memset(r, 0, sizeof *r);
  r->b.struct_size = sizeof r->b;
  r->b.events = r->events;
  r->b.events_cap = events_cap;
  r->b.values = r->values;
  r->b.values_cap = values_cap;
  r->b.bytes = r->bytes;
  r->b.bytes_cap = bytes_cap;
}

/* {"a": [1, {"b": true}, "s"], "c": null, "f": -1.5, "raw": b"\x00\x01"} */
static void build_nested(tremor_pdk_builder *vb) {
  tremor_builder_object(vb);
  tremor_builder_key(vb, "a");
  tremor_builder_array(vb);
  tremor_builder_int(vb, 1);
  tremor_builder_object(vb);
  tremor_builder_key(vb, "b");
  tremor_builder_bool(vb, true);
  tremor_builder_end(vb);
  tremor_builder_string(vb, "s");
  tremor_builder_end(vb);
  tremor_builder_key(vb, "c");
  tremor_builder_null(vb);
  tremor_builder_keyn(vb, "f", 1);
  tremor_builder_float(vb, -1.5);
  tremor_builder_key(vb, "raw");
  tremor_builder_bytes(vb, "\x00\x01", 2);
  tremor_builder_end(vb);
}
#define NESTED_NODES 9
#define NESTED_BYTES (1 + 1 + 1 + 1 + 1 + 3 + 2) /* a b s c f raw \0\1 */

static void check_nested(void) {
  room r;
  room_init(&r, 8, 128, 512);
  tremor_pdk_builder vb;
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  tremor_span span;
  CHECK_EQ_I(tremor_builder_finish(&vb, &span), TREMOR_OK);
  CHECK_EQ_U(span.offset, 0);
  CHECK_EQ_U(span.len, NESTED_NODES);
  CHECK_EQ_U(r.b.values_len, NESTED_NODES);
  CHECK_EQ_U(r.b.bytes_len, NESTED_BYTES);

  const tremor_value *v = r.values;
  CHECK_EQ_U(v[0].kind, TREMOR_VALUE_OBJECT);
  CHECK_EQ_U(v[0].len, 4);
  CHECK_EQ_U(v[0].as.descendants, 8);
  CHECK_EQ_U(v[1].kind, TREMOR_VALUE_ARRAY);
  CHECK_EQ_U(v[1].len, 3);
  CHECK_EQ_U(v[1].as.descendants, 4);
  CHECK_BYTES(r.bytes + v[1].key_offset, v[1].key_len, "a");
  CHECK_EQ_U(v[2].kind, TREMOR_VALUE_INT);
  CHECK_EQ_I(v[2].as.i, 1);
  CHECK_EQ_U(v[2].key_len, 0); /* array elements carry no key */
  CHECK_EQ_U(v[3].kind, TREMOR_VALUE_OBJECT);
  CHECK_EQ_U(v[3].len, 1);
  CHECK_EQ_U(v[3].as.descendants, 1);
  CHECK_EQ_U(v[4].kind, TREMOR_VALUE_BOOL);
  CHECK_EQ_U(v[4].as.boolean, 1);
  CHECK_BYTES(r.bytes + v[4].key_offset, v[4].key_len, "b");
  CHECK_EQ_U(v[5].kind, TREMOR_VALUE_STRING);
  CHECK_BYTES(r.bytes + v[5].as.offset, v[5].len, "s");
  CHECK_EQ_U(v[6].kind, TREMOR_VALUE_NULL);
  CHECK_BYTES(r.bytes + v[6].key_offset, v[6].key_len, "c");
  CHECK_EQ_U(v[7].kind, TREMOR_VALUE_FLOAT);
  CHECK(v[7].as.f == -1.5);
  CHECK_EQ_U(v[8].kind, TREMOR_VALUE_BYTES);
  CHECK_EQ_U(v[8].len, 2);
  CHECK(r.bytes[v[8].as.offset] == 0 && r.bytes[v[8].as.offset + 1] == 1);
  for (int i = 0; i < NESTED_NODES; i++) {
    CHECK_EQ_U(v[i].reserved[0] | v[i].reserved[1] | v[i].reserved[2], 0);
  }

  /* The readers agree with the writer. */
  tremor_value_doc doc = {r.values, r.b.values_len, r.bytes, r.b.bytes_len};
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_OK);
  uint64_t member;
  CHECK(tremor_doc_find(&doc, 0, "raw", &member));
  CHECK_EQ_U(member, 8);
}

static void check_events(void) {
  room r;
  room_init(&r, 8, 128, 512);
  tremor_pdk_builder vb;

  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 7, "hello", 5), TREMOR_OK);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  CHECK_EQ_I(tremor_builder_emit(&vb, 8, NULL), TREMOR_OK);
  /* After an emit the builder starts the next event by itself. */
  tremor_builder_uint(&vb, 99);
  CHECK_EQ_I(tremor_builder_emit(&vb, 9, NULL), TREMOR_OK);

  CHECK_EQ_U(r.b.events_len, 3);
  const tremor_event *e = r.events;
  CHECK_EQ_U(e[0].id, 7);
  CHECK_EQ_U(e[0].flags, 0);
  CHECK_EQ_U(e[0].port, TREMOR_PORT_OUT);
  CHECK_EQ_U(e[0].ingest_ns, 0);
  CHECK_EQ_U(e[0].meta.len, 0);
  CHECK_BYTES(r.bytes + e[0].payload.offset, e[0].payload.len, "hello");
  CHECK_EQ_U(e[1].id, 8);
  CHECK_EQ_U(e[1].flags, TREMOR_EVENT_STRUCTURED);
  CHECK_EQ_U(e[1].payload.offset, 0);
  CHECK_EQ_U(e[1].payload.len, NESTED_NODES);
  CHECK_EQ_U(e[2].payload.offset, NESTED_NODES);
  CHECK_EQ_U(e[2].payload.len, 1);
  CHECK_EQ_U(r.values[NESTED_NODES].as.u, 99);
  /* The nested value's bytes follow the bytes event's. */
  CHECK_BYTES(r.bytes + r.values[1].key_offset, r.values[1].key_len, "a");
  CHECK_EQ_U(r.values[1].key_offset, 5);

  /* Zero-copy reservation. */
  uint8_t *p = NULL;
  CHECK_EQ_I(tremor_pdk_batch_reserve_bytes(&r.b, 10, 3, &p), TREMOR_OK);
  CHECK(p == r.bytes + r.events[3].payload.offset);
  memcpy(p, "xyz", 3);
  CHECK_BYTES(r.bytes + r.events[3].payload.offset, r.events[3].payload.len, "xyz");

  /* An empty payload is an event too. */
  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 11, NULL, 0), TREMOR_OK);
  CHECK_EQ_U(r.events[4].payload.len, 0);
}

static void check_meta(void) {
  room r;
  room_init(&r, 8, 128, 512);
  tremor_pdk_builder vb;
  tremor_span meta, payload;

  tremor_builder_init(&vb, &r.b);
  tremor_builder_object(&vb);
  tremor_builder_key(&vb, "topic");
  tremor_builder_string(&vb, "t1");
  tremor_builder_end(&vb);
  CHECK_EQ_I(tremor_builder_finish(&vb, &meta), TREMOR_OK);
  tremor_builder_string(&vb, "payload");
  CHECK_EQ_I(tremor_builder_emit(&vb, 1, &meta), TREMOR_OK);
  CHECK_EQ_U(r.events[0].meta.offset, 0);
  CHECK_EQ_U(r.events[0].meta.len, 2);
  CHECK_EQ_U(r.events[0].payload.offset, 2);
  CHECK_EQ_U(r.events[0].payload.len, 1);

  /* Bytes payload with metadata. */
  tremor_builder_object(&vb);
  tremor_builder_end(&vb);
  CHECK_EQ_I(tremor_builder_finish(&vb, &meta), TREMOR_OK);
  CHECK_EQ_I(tremor_builder_emit_bytes(&vb, 2, "line", 4, &meta), TREMOR_OK);
  CHECK_EQ_U(r.events[1].flags, 0);
  CHECK_EQ_U(r.events[1].meta.offset, 3);
  CHECK_EQ_U(r.events[1].meta.len, 1);
  CHECK_BYTES(r.bytes + r.events[1].payload.offset, r.events[1].payload.len, "line");

  /* The manual path: finish twice, then push_value. */
  tremor_builder_uint(&vb, 5);
  CHECK_EQ_I(tremor_builder_finish(&vb, &payload), TREMOR_OK);
  tremor_builder_uint(&vb, 6);
  CHECK_EQ_I(tremor_builder_finish(&vb, &meta), TREMOR_OK);
  CHECK_EQ_I(tremor_pdk_batch_push_value(&r.b, 3, payload, &meta), TREMOR_OK);
  CHECK_EQ_U(r.events[2].payload.offset, 4);
  CHECK_EQ_U(r.events[2].meta.offset, 5);

  /* Spans outside the written values are refused. */
  tremor_span bad = {5, 2};
  CHECK_EQ_I(tremor_pdk_batch_push_value(&r.b, 4, bad, NULL), TREMOR_ERR_INVALID);
  tremor_span empty = {0, 0};
  CHECK_EQ_I(tremor_pdk_batch_push_value(&r.b, 4, empty, NULL), TREMOR_ERR_INVALID);
  CHECK_EQ_I(tremor_pdk_batch_push_value(&r.b, 4, payload, &bad), TREMOR_ERR_INVALID);
  CHECK_EQ_U(r.b.events_len, 3);
}

static void check_no_room(void) {
  room r;
  tremor_pdk_builder vb;

  /* Bytes that do not fit: nothing written, the need reported. */
  room_init(&r, 8, 128, 10);
  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 1, "0123456", 7), TREMOR_OK);
  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 2, "0123456", 7), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(r.b.events_len, 1);
  CHECK_EQ_U(r.b.bytes_len, 7);
  CHECK_EQ_U(r.b.bytes_needed, 7);
  CHECK_EQ_U(r.b.values_needed, 0);
  uint8_t *p = r.bytes;
  CHECK_EQ_I(tremor_pdk_batch_reserve_bytes(&r.b, 2, 4, &p), TREMOR_ERR_NO_ROOM);
  CHECK(p == NULL);
  CHECK_EQ_I(tremor_pdk_batch_reserve_bytes(&r.b, 2, 3, &p), TREMOR_OK);
  CHECK_EQ_U(r.b.bytes_len, 10); /* exactly full is fine */

  /* A full events array. */
  room_init(&r, 1, 128, 512);
  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 1, "a", 1), TREMOR_OK);
  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 2, "b", 1), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(r.b.bytes_len, 1);
  tremor_builder_init(&vb, &r.b);
  tremor_builder_string(&vb, "abc");
  CHECK_EQ_I(tremor_builder_emit(&vb, 3, NULL), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(r.b.values_len, 0); /* the value was taken back */
  CHECK_EQ_U(r.b.bytes_len, 1);
  CHECK_EQ_U(r.b.values_needed, 1);
  CHECK_EQ_U(r.b.bytes_needed, 3);

  /* Too few value nodes, after an event already in the batch: the batch
   * keeps that event and nothing of the new one. */
  room_init(&r, 8, NESTED_NODES + 3, 512);
  tremor_builder_init(&vb, &r.b);
  tremor_builder_uint(&vb, 1);
  CHECK_EQ_I(tremor_builder_emit(&vb, 1, NULL), TREMOR_OK);
  CHECK_EQ_I(tremor_pdk_batch_push_bytes(&r.b, 2, "zz", 2), TREMOR_OK);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  tremor_builder_end(&vb); /* one end too many */
  CHECK_EQ_I(vb.status, TREMOR_ERR_INVALID);
  CHECK_EQ_I(tremor_builder_finish(&vb, NULL), TREMOR_ERR_INVALID);
  CHECK_EQ_U(r.b.values_len, 1);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  tremor_builder_object(&vb); /* a second value without finish: misuse */
  CHECK_EQ_I(tremor_builder_finish(&vb, NULL), TREMOR_ERR_INVALID);
  CHECK_EQ_U(r.b.values_len, 1);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  CHECK_EQ_I(tremor_builder_emit(&vb, 3, NULL), TREMOR_OK);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  CHECK_EQ_I(vb.status, TREMOR_ERR_NO_ROOM);
  CHECK_EQ_I(tremor_builder_emit(&vb, 4, NULL), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(r.b.events_len, 3);
  CHECK_EQ_U(r.b.values_len, 1 + NESTED_NODES);
  CHECK_EQ_U(r.b.bytes_len, 2 + NESTED_BYTES);
  CHECK_EQ_U(r.b.values_needed, NESTED_NODES); /* the whole event, not the shortfall */
  CHECK_EQ_U(r.b.bytes_needed, NESTED_BYTES);

  /* Too few bytes: same. */
  room_init(&r, 8, 128, NESTED_BYTES - 1);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  CHECK_EQ_I(tremor_builder_emit(&vb, 1, NULL), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(r.b.events_len, 0);
  CHECK_EQ_U(r.b.values_len, 0);
  CHECK_EQ_U(r.b.bytes_len, 0);
  CHECK_EQ_U(r.b.values_needed, NESTED_NODES);
  CHECK_EQ_U(r.b.bytes_needed, NESTED_BYTES);

  /* With the needs granted, the same event fits exactly. */
  room_init(&r, 1, NESTED_NODES, NESTED_BYTES);
  tremor_builder_init(&vb, &r.b);
  build_nested(&vb);
  CHECK_EQ_I(tremor_builder_emit(&vb, 1, NULL), TREMOR_OK);

  /* Bytes event with metadata that does not fit. */
  room_init(&r, 8, 128, 4);
  tremor_builder_init(&vb, &r.b);
  tremor_builder_string(&vb, "ab");
  tremor_span meta;
  CHECK_EQ_I(tremor_builder_finish(&vb, &meta), TREMOR_OK);
  CHECK_EQ_I(tremor_builder_emit_bytes(&vb, 1, "xyz", 3, &meta), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(r.b.values_len, 0);
  CHECK_EQ_U(r.b.bytes_len, 0);
  CHECK_EQ_U(r.b.values_needed, 1);
  CHECK_EQ_U(r.b.bytes_needed, 5);
}

static int32_t misuse_result(void (*steps)(tremor_pdk_builder *)) {
  room r;
  room_init(&r, 8, 128, 512);
  tremor_pdk_builder vb;
  tremor_builder_init(&vb, &r.b);
  steps(&vb);
  int32_t rc = tremor_builder_emit(&vb, 1, NULL);
  if (r.b.values_len != 0 || r.b.bytes_len != 0 || r.b.events_len != 0)
    return 12345; /* a failed build must leave nothing behind */
  return rc;
}

static void key_at_top(tremor_pdk_builder *vb) {
  tremor_builder_key(vb, "k");
  tremor_builder_uint(vb, 1);
}
static void member_without_key(tremor_pdk_builder *vb) {
  tremor_builder_object(vb);
  tremor_builder_uint(vb, 1);
  tremor_builder_end(vb);
}
static void element_with_key(tremor_pdk_builder *vb) {
  tremor_builder_array(vb);
  tremor_builder_key(vb, "k");
  tremor_builder_uint(vb, 1);
  tremor_builder_end(vb);
}
static void end_without_open(tremor_pdk_builder *vb) {
  tremor_builder_uint(vb, 1);
  tremor_builder_end(vb);
}
static void left_open(tremor_pdk_builder *vb) {
  tremor_builder_array(vb);
  tremor_builder_uint(vb, 1);
}
static void dangling_key(tremor_pdk_builder *vb) {
  tremor_builder_object(vb);
  tremor_builder_key(vb, "k");
  tremor_builder_end(vb);
}
static void two_keys(tremor_pdk_builder *vb) {
  tremor_builder_object(vb);
  tremor_builder_key(vb, "k");
  tremor_builder_key(vb, "l");
  tremor_builder_uint(vb, 1);
  tremor_builder_end(vb);
}
static void two_roots(tremor_pdk_builder *vb) {
  tremor_builder_uint(vb, 1);
  tremor_builder_uint(vb, 2);
}
static void nothing(tremor_pdk_builder *vb) { (void)vb; }
static void too_deep(tremor_pdk_builder *vb) {
  for (int i = 0; i <= TREMOR_PDK_MAX_DEPTH; i++) tremor_builder_array(vb);
  for (int i = 0; i <= TREMOR_PDK_MAX_DEPTH; i++) tremor_builder_end(vb);
}
static void deepest(tremor_pdk_builder *vb) {
  for (int i = 0; i < TREMOR_PDK_MAX_DEPTH; i++) tremor_builder_array(vb);
  for (int i = 0; i < TREMOR_PDK_MAX_DEPTH; i++) tremor_builder_end(vb);
}

static void check_misuse(void) {
  CHECK_EQ_I(misuse_result(key_at_top), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(member_without_key), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(element_with_key), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(end_without_open), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(left_open), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(dangling_key), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(two_keys), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(two_roots), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(nothing), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(too_deep), TREMOR_ERR_INVALID);
  CHECK_EQ_I(misuse_result(deepest), 12345); /* allowed: it was emitted */

  /* emit_bytes with a value still open. */
  room r;
  room_init(&r, 8, 128, 512);
  tremor_pdk_builder vb;
  tremor_builder_init(&vb, &r.b);
  tremor_builder_array(&vb);
  CHECK_EQ_I(tremor_builder_emit_bytes(&vb, 1, "x", 1, NULL), TREMOR_ERR_INVALID);
  CHECK_EQ_U(r.b.values_len, 0);
  CHECK_EQ_U(r.b.bytes_len, 0);

  tremor_builder_init(&vb, NULL);
  tremor_builder_uint(&vb, 1);
  CHECK_EQ_I(tremor_builder_finish(&vb, NULL), TREMOR_ERR_INVALID);
}

int main(void) {
  check_nested();
  check_events();
  check_meta();
  check_no_room();
  check_misuse();
  return check_result("test_builder");
}
