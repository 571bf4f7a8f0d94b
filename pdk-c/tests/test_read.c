/* Reading sent batches and walking values: every span is checked, every
 * malformed tree is caught instead of read past its end. */
#include "check.h"
#include "testdoc.h"
#include "tremor/pdk.h"

static testdoc d;

/* values: [0] "x"  [1..] {"k": [1, 2], "s": "str", "k": true} */
static void build(void) {
  td_string(&d, NULL, "x");
  uint64_t obj = td_open(&d, NULL, TREMOR_VALUE_OBJECT);
  uint64_t arr = td_open(&d, "k", TREMOR_VALUE_ARRAY);
  td_uint(&d, NULL, 1);
  td_uint(&d, NULL, 2);
  td_close(&d, arr, 2);
  td_string(&d, "s", "str");
  td_bool(&d, "k", 1);
  td_close(&d, obj, 3);
}

static tremor_batch batch_of(tremor_event *events, uint64_t n) {
  tremor_batch b;
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  b.events = events;
  b.events_len = b.events_cap = n;
  b.values = d.nodes;
  b.values_len = b.values_cap = d.n;
  b.bytes = d.bytes;
  b.bytes_len = b.bytes_cap = d.nb;
  return b;
}

static tremor_event raw_event(uint64_t offset, uint64_t len) {
  tremor_event ev;
  memset(&ev, 0, sizeof ev);
  ev.payload.offset = offset;
  ev.payload.len = len;
  return ev;
}

static void check_event_bytes(void) {
  tremor_event evs[1];
  tremor_batch b = batch_of(evs, 1);
  tremor_pdk_bytes p;

  evs[0] = raw_event(0, 1);
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_OK);
  CHECK_BYTES(p.ptr, p.len, "x");

  evs[0] = raw_event(d.nb - 4, 4); /* up to the very end */
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_OK);
  CHECK_BYTES(p.ptr, p.len, "strk");

  evs[0] = raw_event(d.nb, 0); /* empty, at the end */
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_OK);
  CHECK_EQ_U(p.len, 0);

  evs[0] = raw_event(d.nb - 4, 5); /* one past the end */
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_ERR_INVALID);
  CHECK(p.ptr == NULL && p.len == 0);

  evs[0] = raw_event(d.nb + 1, 0);
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_ERR_INVALID);

  evs[0] = raw_event(UINT64_MAX, 2); /* offset + len wraps around */
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_ERR_INVALID);
  evs[0] = raw_event(2, UINT64_MAX);
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_ERR_INVALID);

  evs[0] = raw_event(0, 1);
  evs[0].flags = TREMOR_EVENT_STRUCTURED; /* not bytes */
  CHECK_EQ_I(tremor_event_bytes(&b, &evs[0], &p), TREMOR_ERR_INVALID);

  tremor_batch nobytes = b;
  nobytes.bytes = NULL;
  evs[0] = raw_event(0, 1);
  CHECK_EQ_I(tremor_event_bytes(&nobytes, &evs[0], &p), TREMOR_ERR_INVALID);
}

static void check_event_values(void) {
  tremor_event evs[1];
  tremor_batch b = batch_of(evs, 1);
  tremor_value_doc doc;

  evs[0] = raw_event(1, d.n - 1);
  evs[0].flags = TREMOR_EVENT_STRUCTURED;
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_OK);
  CHECK(doc.nodes == d.nodes + 1);
  CHECK_EQ_U(doc.nodes_len, d.n - 1);
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_OK);

  evs[0].payload.len = d.n; /* runs past the value array */
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_ERR_INVALID);
  CHECK(doc.nodes == NULL);
  evs[0].payload.len = 2; /* cuts the object short */
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_ERR_INVALID);
  evs[0].payload = (tremor_span){0, 2}; /* two values, not one */
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_ERR_INVALID);
  evs[0].payload = (tremor_span){0, 0};
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_ERR_INVALID);
  evs[0].payload = (tremor_span){0, 1};
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_OK);
  tremor_pdk_bytes s;
  CHECK(tremor_doc_string(&doc, 0, &s));
  CHECK_BYTES(s.ptr, s.len, "x");
  evs[0].flags = 0;
  CHECK_EQ_I(tremor_event_value(&b, &evs[0], &doc), TREMOR_ERR_INVALID);

  /* Metadata: absent, present, out of bounds. */
  evs[0] = raw_event(0, 1);
  CHECK_EQ_I(tremor_event_meta(&b, &evs[0], &doc), TREMOR_OK);
  CHECK_EQ_U(doc.nodes_len, 0);
  evs[0].meta = (tremor_span){1, d.n - 1};
  CHECK_EQ_I(tremor_event_meta(&b, &evs[0], &doc), TREMOR_OK);
  CHECK_EQ_U(doc.nodes_len, d.n - 1);
  evs[0].meta = (tremor_span){UINT64_MAX, 2};
  CHECK_EQ_I(tremor_event_meta(&b, &evs[0], &doc), TREMOR_ERR_INVALID);
}

static void check_walk(void) {
  tremor_value_doc doc = td_doc(&d);
  doc.nodes += 1; /* the object */
  doc.nodes_len -= 1;

  tremor_pdk_iter it;
  uint64_t child, seen[8], n = 0;
  CHECK(tremor_iter_init(&it, &doc, 0));
  while (tremor_iter_next(&it, &child)) seen[n++] = child;
  CHECK(!it.broken);
  CHECK_EQ_U(n, 3);
  CHECK_EQ_U(seen[0], 1); /* the array... */
  CHECK_EQ_U(seen[1], 4); /* ...skipped as a whole */
  CHECK_EQ_U(seen[2], 5);

  tremor_pdk_bytes k;
  CHECK(tremor_doc_key(&doc, 4, &k));
  CHECK_BYTES(k.ptr, k.len, "s");

  n = 0;
  CHECK(tremor_iter_init(&it, &doc, 1));
  while (tremor_iter_next(&it, &child)) {
    CHECK_EQ_U(tremor_doc_node(&doc, child)->as.u, n + 1);
    n++;
  }
  CHECK_EQ_U(n, 2);
  CHECK(!it.broken);

  CHECK(!tremor_iter_init(&it, &doc, 2)); /* a scalar */
  CHECK(it.broken);
  CHECK(!tremor_iter_next(&it, &child));
  CHECK(!tremor_iter_init(&it, &doc, 99));

  uint64_t member;
  CHECK(tremor_doc_find(&doc, 0, "k", &member));
  CHECK_EQ_U(member, 5); /* the last "k" wins */
  CHECK(!tremor_doc_find(&doc, 0, "nope", &member));
  CHECK(!tremor_doc_find(&doc, 1, "k", &member)); /* an array has no keys */

  CHECK_EQ_U(tremor_doc_size(&doc, 0), 6);
  CHECK_EQ_U(tremor_doc_size(&doc, 1), 3);
  CHECK_EQ_U(tremor_doc_size(&doc, 2), 1);
  CHECK_EQ_U(tremor_doc_size(&doc, 6), 0);
  CHECK(tremor_doc_node(&doc, 6) == NULL);

  tremor_pdk_bytes s;
  CHECK(!tremor_doc_string(&doc, 2, &s)); /* a uint */
  CHECK(tremor_doc_string(&doc, 4, &s));
  CHECK_BYTES(s.ptr, s.len, "str");
}

/* Copies the sample object and breaks one thing in it. */
static testdoc broken;
static tremor_value_doc broken_doc(void) {
  broken = d;
  tremor_value_doc doc = td_doc(&broken);
  doc.nodes += 1;
  doc.nodes_len -= 1;
  return doc;
}

static void check_malformed(void) {
  tremor_value_doc doc = broken_doc();
  tremor_value *n = broken.nodes + 1;
  tremor_pdk_iter it;
  uint64_t child;
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_OK);

  n[1].as.descendants = 1; /* the array hides its second element */
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);
  CHECK(tremor_iter_init(&it, &doc, 1));
  while (tremor_iter_next(&it, &child)) {
  }
  CHECK(it.broken);

  doc = broken_doc();
  n[1].len = 1; /* fewer children than descendants */
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);
  CHECK(tremor_iter_init(&it, &doc, 1));
  while (tremor_iter_next(&it, &child)) {
  }
  CHECK(it.broken);

  doc = broken_doc();
  n[0].as.descendants = 99; /* past the end of the doc */
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);
  CHECK_EQ_U(tremor_doc_size(&doc, 0), 0);
  CHECK(!tremor_iter_init(&it, &doc, 0));
  CHECK(!tremor_doc_find(&doc, 0, "s", &child));

  doc = broken_doc();
  n[0].as.descendants = UINT64_MAX; /* would wrap */
  CHECK_EQ_U(tremor_doc_size(&doc, 0), 0);

  doc = broken_doc();
  n[4].as.offset = d.nb - 1; /* string runs off the arena */
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);
  tremor_pdk_bytes s;
  CHECK(!tremor_doc_string(&doc, 4, &s));

  doc = broken_doc();
  n[5].key_offset = UINT64_MAX; /* key off the arena */
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);
  CHECK(!tremor_doc_find(&doc, 0, "k", &child));

  doc = broken_doc();
  n[5].as.boolean = 2;
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);

  doc = broken_doc();
  n[2].kind = 42;
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_ERR_INVALID);

  tremor_value_doc empty = {NULL, 0, NULL, 0};
  CHECK_EQ_I(tremor_doc_check(&empty), TREMOR_ERR_INVALID);

  /* Nesting: TREMOR_PDK_MAX_DEPTH levels pass, one more does not. */
  static tremor_value deep[TREMOR_PDK_MAX_DEPTH + 2];
  for (uint64_t levels = TREMOR_PDK_MAX_DEPTH; levels <= TREMOR_PDK_MAX_DEPTH + 1;
       levels++) {
    memset(deep, 0, sizeof deep);
    for (uint64_t i = 0; i < levels; i++) {
      deep[i].kind = TREMOR_VALUE_ARRAY;
      deep[i].len = 1;
      deep[i].as.descendants = levels - i;
    }
    deep[levels].kind = TREMOR_VALUE_NULL;
    tremor_value_doc dd = {deep, levels + 1, NULL, 0};
    CHECK_EQ_I(tremor_doc_check(&dd), levels <= TREMOR_PDK_MAX_DEPTH
                                          ? TREMOR_OK
                                          : TREMOR_ERR_INVALID);
  }
}

int main(void) {
  build();
  check_event_bytes();
  check_event_values();
  check_walk();
  check_malformed();
  return check_result("test_read");
}
