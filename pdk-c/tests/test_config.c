/* Config readers over hand-built docs: types, conversions, missing keys,
 * duplicate keys, nested values skipped, malformed docs refused. */
#include <stdlib.h>

#include "check.h"
#include "testdoc.h"
#include "tremor/pdk.h"

static testdoc d;
static tremor_value_doc doc;

static void build(void) {
  uint64_t root = td_open(&d, NULL, TREMOR_VALUE_OBJECT);
  td_uint(&d, "interval_ms", 250);
  td_string(&d, "name", "hello");
  td_int(&d, "neg", -5);
  td_int(&d, "pos", 7);
  td_float(&d, "ratio", 0.5);
  td_float(&d, "whole", 3.0);
  td_bool(&d, "flag", 1);
  td_node(&d, "nothing", TREMOR_VALUE_NULL);
  td_uint(&d, "dup", 1);
  td_uint(&d, "big", UINT64_C(1) << 63);
  uint64_t nested = td_open(&d, "nested", TREMOR_VALUE_OBJECT);
  td_uint(&d, "inner", 1);
  uint64_t arr = td_open(&d, "deep", TREMOR_VALUE_ARRAY);
  td_uint(&d, NULL, 1);
  td_uint(&d, NULL, 2);
  td_close(&d, arr, 2);
  td_close(&d, nested, 2);
  td_uint(&d, "after", 9);
  td_uint(&d, "dup", 2);
  td_close(&d, root, 13);
  doc = td_doc(&d);
}

static uint8_t msg[256];
static tremor_error err;

static void reset_err(void) { err = (tremor_error){msg, sizeof msg, 0}; }

static void check_found(void) {
  bool found = false;
  uint64_t u = 0;
  reset_err();
  CHECK_EQ_I(tremor_config_uint(&doc, "interval_ms", &u, &found, &err), TREMOR_OK);
  CHECK(found);
  CHECK_EQ_U(u, 250);
  CHECK_EQ_U(err.len, 0);

  /* The value after a nested object and array: its subtree was skipped. */
  CHECK_EQ_I(tremor_config_uint(&doc, "after", &u, &found, &err), TREMOR_OK);
  CHECK(found);
  CHECK_EQ_U(u, 9);

  CHECK_EQ_I(tremor_config_uint(&doc, "dup", &u, NULL, NULL), TREMOR_OK);
  CHECK_EQ_U(u, 2); /* the last one wins */

  tremor_pdk_bytes s = {NULL, 0};
  CHECK_EQ_I(tremor_config_string(&doc, "name", &s, &found, &err), TREMOR_OK);
  CHECK(found);
  CHECK_BYTES(s.ptr, s.len, "hello");
  char *copy = tremor_pdk_strdup(s);
  CHECK(copy != NULL && strcmp(copy, "hello") == 0);
  free(copy);

  int64_t i = 0;
  CHECK_EQ_I(tremor_config_int(&doc, "neg", &i, &found, &err), TREMOR_OK);
  CHECK_EQ_I(i, -5);
  double f = 0;
  CHECK_EQ_I(tremor_config_float(&doc, "ratio", &f, &found, &err), TREMOR_OK);
  CHECK(f == 0.5);
  bool b = false;
  CHECK_EQ_I(tremor_config_bool(&doc, "flag", &b, &found, &err), TREMOR_OK);
  CHECK(b);
}

static void check_missing(void) {
  bool found = true;
  uint64_t u = 42;
  reset_err();
  CHECK_EQ_I(tremor_config_uint(&doc, "absent", &u, &found, &err), TREMOR_OK);
  CHECK(!found);
  CHECK_EQ_U(u, 42); /* the default survives */
  CHECK_EQ_U(err.len, 0);

  /* Members of nested objects are not root members. */
  found = true;
  CHECK_EQ_I(tremor_config_uint(&doc, "inner", &u, &found, &err), TREMOR_OK);
  CHECK(!found);

  /* null counts as absent. */
  found = true;
  tremor_pdk_bytes s = {NULL, 0};
  CHECK_EQ_I(tremor_config_string(&doc, "nothing", &s, &found, &err), TREMOR_OK);
  CHECK(!found);
  CHECK(s.ptr == NULL);

  /* No config at all. */
  tremor_value_doc empty = {NULL, 0, NULL, 0};
  found = true;
  CHECK_EQ_I(tremor_config_uint(&empty, "interval_ms", &u, &found, &err), TREMOR_OK);
  CHECK(!found);
  CHECK_EQ_U(u, 42);
}

static void check_conversions(void) {
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  reset_err();
  CHECK_EQ_I(tremor_config_uint(&doc, "pos", &u, NULL, &err), TREMOR_OK);
  CHECK_EQ_U(u, 7);
  CHECK_EQ_I(tremor_config_uint(&doc, "whole", &u, NULL, &err), TREMOR_OK);
  CHECK_EQ_U(u, 3);
  CHECK_EQ_I(tremor_config_int(&doc, "interval_ms", &i, NULL, &err), TREMOR_OK);
  CHECK_EQ_I(i, 250);
  CHECK_EQ_I(tremor_config_int(&doc, "whole", &i, NULL, &err), TREMOR_OK);
  CHECK_EQ_I(i, 3);
  CHECK_EQ_I(tremor_config_float(&doc, "neg", &f, NULL, &err), TREMOR_OK);
  CHECK(f == -5.0);
  CHECK_EQ_I(tremor_config_float(&doc, "interval_ms", &f, NULL, &err), TREMOR_OK);
  CHECK(f == 250.0);
  CHECK_EQ_U(err.len, 0);
}

static void check_refused(void) {
  uint64_t u = 11;
  int64_t i = 11;
  bool b = false;
  tremor_pdk_bytes s = {NULL, 0};

  reset_err();
  CHECK_EQ_I(tremor_config_uint(&doc, "neg", &u, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config field 'neg' must not be negative");
  CHECK_EQ_U(u, 11);

  reset_err();
  CHECK_EQ_I(tremor_config_uint(&doc, "ratio", &u, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config field 'ratio' must be a whole number >= 0");

  reset_err();
  CHECK_EQ_I(tremor_config_uint(&doc, "name", &u, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len,
              "config field 'name' must be an unsigned integer, not a string");

  reset_err();
  CHECK_EQ_I(tremor_config_int(&doc, "big", &i, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config field 'big' is too large");
  CHECK_EQ_I(i, 11);

  reset_err();
  CHECK_EQ_I(tremor_config_bool(&doc, "pos", &b, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config field 'pos' must be a bool, not an integer");

  reset_err();
  CHECK_EQ_I(tremor_config_string(&doc, "nested", &s, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config field 'nested' must be a string, not an object");

  /* Works without an error buffer too. */
  CHECK_EQ_I(tremor_config_float(&doc, "name", NULL, NULL, NULL), TREMOR_ERR_CONFIG);
}

static void check_malformed(void) {
  testdoc bad;
  tremor_value_doc bd;
  uint64_t u = 0;

  /* Root is not an object. */
  memset(&bad, 0, sizeof bad);
  td_uint(&bad, NULL, 1);
  bd = td_doc(&bad);
  reset_err();
  CHECK_EQ_I(tremor_config_uint(&bd, "x", &u, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config is not a well-formed object");

  /* Root claims more descendants than there are nodes. */
  memset(&bad, 0, sizeof bad);
  uint64_t root = td_open(&bad, NULL, TREMOR_VALUE_OBJECT);
  td_uint(&bad, "x", 1);
  td_close(&bad, root, 1);
  bad.nodes[root].as.descendants = 5;
  bd = td_doc(&bad);
  CHECK_EQ_I(tremor_config_uint(&bd, "x", &u, NULL, NULL), TREMOR_ERR_CONFIG);

  /* More children than descendants. */
  bad.nodes[root].as.descendants = 1;
  bad.nodes[root].len = 2;
  CHECK_EQ_I(tremor_config_uint(&bd, "x", &u, NULL, NULL), TREMOR_ERR_CONFIG);

  /* A key outside the byte arena. */
  bad.nodes[root].len = 1;
  bad.nodes[1].key_offset = 1000;
  CHECK_EQ_I(tremor_config_uint(&bd, "x", &u, NULL, NULL), TREMOR_ERR_CONFIG);

  /* A string whose bytes run past the arena. */
  memset(&bad, 0, sizeof bad);
  root = td_open(&bad, NULL, TREMOR_VALUE_OBJECT);
  td_string(&bad, "s", "abc");
  td_close(&bad, root, 1);
  bad.nodes[1].len = 100;
  bd = td_doc(&bad);
  tremor_pdk_bytes s;
  reset_err();
  CHECK_EQ_I(tremor_config_string(&bd, "s", &s, NULL, &err), TREMOR_ERR_CONFIG);
  CHECK_BYTES(msg, err.len, "config field 's' points outside the config");
  bad.nodes[1].len = 3;
  CHECK_EQ_I(tremor_config_string(&bd, "s", &s, NULL, &err), TREMOR_OK);
  CHECK_BYTES(s.ptr, s.len, "abc");
}

int main(void) {
  build();
  CHECK_EQ_I(tremor_doc_check(&doc), TREMOR_OK);
  check_found();
  check_missing();
  check_conversions();
  check_refused();
  check_malformed();
  return check_result("test_config");
}
