/* Config readers. The host has already checked the config against the
 * declared fields, so a wrong type here is a host bug or a field the plugin
 * forgot to declare; either way the message names the key. */
#include "pdk_internal.h"

static const char *kind_name(uint8_t kind) {
  switch (kind) {
  case TREMOR_VALUE_NULL: return "null";
  case TREMOR_VALUE_BOOL: return "a bool";
  case TREMOR_VALUE_INT: return "an integer";
  case TREMOR_VALUE_UINT: return "an unsigned integer";
  case TREMOR_VALUE_FLOAT: return "a float";
  case TREMOR_VALUE_STRING: return "a string";
  case TREMOR_VALUE_BYTES: return "bytes";
  case TREMOR_VALUE_ARRAY: return "an array";
  case TREMOR_VALUE_OBJECT: return "an object";
  default: return "an unknown kind";
  }
}

/* Finds `key` in the root object. *node is NULL when it is absent or null. */
static int32_t lookup(const tremor_value_doc *config, const char *key,
                      const tremor_value **node, uint64_t *index,
                      bool *found, tremor_error *err) {
  *node = NULL;
  if (found != NULL) *found = false;
  if (key == NULL)
    return tremor_pdk_fail(err, TREMOR_ERR_INVALID, "config key is NULL");
  if (config == NULL || config->nodes_len == 0) return TREMOR_OK;

  const tremor_value *root = tremor_doc_node(config, 0);
  tremor_pdk_iter it;
  if (root == NULL || root->kind != TREMOR_VALUE_OBJECT ||
      !tremor_iter_init(&it, config, 0))
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "config is not a well-formed object");
  uint64_t child;
  bool any = false;
  while (tremor_iter_next(&it, &child)) {
    tremor_pdk_bytes k;
    if (!tremor_doc_key(config, child, &k)) {
      it.broken = true;
      break;
    }
    if (tremor_bytes_eq(k, key)) {
      *index = child;
      any = true;
    }
  }
  if (it.broken)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "config is malformed (looking for '%s')", key);
  if (any && config->nodes[*index].kind != TREMOR_VALUE_NULL) {
    *node = &config->nodes[*index];
    if (found != NULL) *found = true;
  }
  return TREMOR_OK;
}

static int32_t wrong_type(tremor_error *err, const char *key,
                          const char *want, const tremor_value *v) {
  return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                     "config field '%s' must be %s, not %s", key, want,
                     kind_name(v->kind));
}

int32_t tremor_config_string(const tremor_value_doc *config, const char *key,
                             tremor_pdk_bytes *out, bool *found,
                             tremor_error *err) {
  const tremor_value *v;
  uint64_t i = 0;
  int32_t rc = lookup(config, key, &v, &i, found, err);
  if (rc != TREMOR_OK || v == NULL) return rc;
  if (v->kind != TREMOR_VALUE_STRING) return wrong_type(err, key, "a string", v);
  tremor_pdk_bytes s;
  if (!tremor_doc_string(config, i, &s))
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "config field '%s' points outside the config", key);
  if (out != NULL) *out = s;
  return TREMOR_OK;
}

int32_t tremor_config_uint(const tremor_value_doc *config, const char *key,
                           uint64_t *out, bool *found, tremor_error *err) {
  const tremor_value *v;
  uint64_t i = 0, u;
  int32_t rc = lookup(config, key, &v, &i, found, err);
  if (rc != TREMOR_OK || v == NULL) return rc;
  switch (v->kind) {
  case TREMOR_VALUE_UINT:
    u = v->as.u;
    break;
  case TREMOR_VALUE_INT:
    if (v->as.i < 0)
      return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                         "config field '%s' must not be negative", key);
    u = (uint64_t)v->as.i;
    break;
  case TREMOR_VALUE_FLOAT:
    /* JSON has one number type; a host may hand over 1e3 as a float. */
    if (!(v->as.f >= 0.0 && v->as.f < 18446744073709551616.0) ||
        (double)(uint64_t)v->as.f != v->as.f)
      return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                         "config field '%s' must be a whole number >= 0", key);
    u = (uint64_t)v->as.f;
    break;
  default:
    return wrong_type(err, key, "an unsigned integer", v);
  }
  if (out != NULL) *out = u;
  return TREMOR_OK;
}

int32_t tremor_config_int(const tremor_value_doc *config, const char *key,
                          int64_t *out, bool *found, tremor_error *err) {
  const tremor_value *v;
  uint64_t i = 0;
  int64_t n;
  int32_t rc = lookup(config, key, &v, &i, found, err);
  if (rc != TREMOR_OK || v == NULL) return rc;
  switch (v->kind) {
  case TREMOR_VALUE_INT:
    n = v->as.i;
    break;
  case TREMOR_VALUE_UINT:
    if (v->as.u > (uint64_t)INT64_MAX)
      return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                         "config field '%s' is too large", key);
    n = (int64_t)v->as.u;
    break;
  case TREMOR_VALUE_FLOAT:
    if (!(v->as.f >= -9223372036854775808.0 &&
          v->as.f < 9223372036854775808.0) ||
        (double)(int64_t)v->as.f != v->as.f)
      return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                         "config field '%s' must be a whole number", key);
    n = (int64_t)v->as.f;
    break;
  default:
    return wrong_type(err, key, "an integer", v);
  }
  if (out != NULL) *out = n;
  return TREMOR_OK;
}

int32_t tremor_config_float(const tremor_value_doc *config, const char *key,
                            double *out, bool *found, tremor_error *err) {
  const tremor_value *v;
  uint64_t i = 0;
  double f;
  int32_t rc = lookup(config, key, &v, &i, found, err);
  if (rc != TREMOR_OK || v == NULL) return rc;
  switch (v->kind) {
  case TREMOR_VALUE_FLOAT: f = v->as.f; break;
  case TREMOR_VALUE_INT: f = (double)v->as.i; break;
  case TREMOR_VALUE_UINT: f = (double)v->as.u; break;
  default: return wrong_type(err, key, "a number", v);
  }
  if (out != NULL) *out = f;
  return TREMOR_OK;
}

int32_t tremor_config_bool(const tremor_value_doc *config, const char *key,
                           bool *out, bool *found, tremor_error *err) {
  const tremor_value *v;
  uint64_t i = 0;
  int32_t rc = lookup(config, key, &v, &i, found, err);
  if (rc != TREMOR_OK || v == NULL) return rc;
  if (v->kind != TREMOR_VALUE_BOOL) return wrong_type(err, key, "a bool", v);
  if (out != NULL) *out = v->as.boolean != 0;
  return TREMOR_OK;
}
