/*
 * tremor/pdk.h -- pdk-c, a small C SDK for writing Tremor connector plugins
 * against tremor/plugin.h (ABI 1.1). Version 0.1.
 *
 * It removes the boilerplate of the raw contract, and nothing else: a plugin
 * written with it is still a set of tremor_connector_vtable hooks operating
 * on the header's plain data. What it offers:
 *
 *   TREMOR_PLUGIN_DEFINE     the descriptor and the exported entry point
 *   tremor_pdk_fail          format an error into the host's buffer
 *   tremor_pdk_host, tremor_log
 *                            keep the host table and ctx, write log lines
 *   tremor_config_*          read config fields by key, with type checks
 *   tremor_pdk_batch_push_*, tremor_builder_*
 *                            fill a pull batch: raw bytes events, and
 *                            structured values (payloads and metadata)
 *   tremor_event_*, tremor_doc_*, tremor_iter_*
 *                            read a sent batch and walk values, every span
 *                            checked against its arena
 *
 * Rules: no function allocates except tremor_pdk_strdup (and tremor_log for
 * lines over 1 KiB), none keeps global state, all are safe to call from any
 * thread on distinct objects. Pointers handed out (tremor_pdk_bytes, docs)
 * point into the arenas they were read from and live exactly as long.
 *
 * Symbols of the static library are compiled with hidden visibility, so two
 * plugins built with different pdk-c versions never bind to each other's
 * copies: a plugin's only export is tremor_plugin_get_descriptor.
 */
#ifndef TREMOR_PDK_H
#define TREMOR_PDK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tremor/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TREMOR_PDK_VERSION "0.1.0"
/* What TREMOR_PLUGIN_DEFINE puts in tremor_plugin_descriptor.sdk. */
#define TREMOR_PDK_SDK "pdk-c 0.1"

#if defined(__GNUC__) || defined(__clang__)
#define TREMOR_PDK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define TREMOR_PDK_PRINTF(fmt, args)
#endif

/* Number of elements of a true array (not of a pointer). */
#define TREMOR_COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* ------------------------------------------------------------------------ */
/* Declaring the plugin                                                     */
/* ------------------------------------------------------------------------ */

/* Defines the plugin's static descriptor and exports the entry point
 * tremor_plugin_get_descriptor() returning it. Use once per plugin, at file
 * scope, followed by a semicolon:
 *
 *   TREMOR_PLUGIN_DEFINE("metronome", "0.1.0", "periodic events",
 *                        "Apache-2.0", &metronome_type);
 *
 * name, version: NUL-terminated string literals, non-empty.
 * description, license: string literals or NULL.
 * ...: one or more `const tremor_connector_type *`, all with static storage.
 * struct_size, abi_major/abi_minor (from the header this plugin is built
 * with) and sdk (TREMOR_PDK_SDK) are filled in. */
#define TREMOR_PLUGIN_DEFINE(name, version, description, license, ...)        \
  static const tremor_connector_type *const tremor_pdk_connectors_[] = {    \
      __VA_ARGS__};                                                        \
  static const tremor_plugin_descriptor tremor_pdk_descriptor_ = {         \
      sizeof(tremor_plugin_descriptor),                                    \
      TREMOR_ABI_MAJOR,                                                    \
      TREMOR_ABI_MINOR,                                                    \
      name,                                                                \
      version,                                                             \
      description,                                                         \
      license,                                                             \
      TREMOR_PDK_SDK,                                                      \
      TREMOR_COUNT_OF(tremor_pdk_connectors_),                             \
      tremor_pdk_connectors_};                                             \
  TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *                    \
  tremor_plugin_get_descriptor(void) {                                     \
    return &tremor_pdk_descriptor_;                                        \
  }                                                                        \
  TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *                    \
  tremor_plugin_get_descriptor(void)

/* ------------------------------------------------------------------------ */
/* Byte views                                                               */
/* ------------------------------------------------------------------------ */

/* A read-only view of bytes owned by someone else (an arena, a config doc).
 * Not NUL-terminated. Valid as long as what it points into. */
typedef struct tremor_pdk_bytes {
  const uint8_t *ptr;
  uint64_t len;
} tremor_pdk_bytes;

/* True when `b` holds exactly the bytes of the NUL-terminated `s`. */
bool tremor_bytes_eq(tremor_pdk_bytes b, const char *s);

/* Copies `b` into a new NUL-terminated string from malloc (free() it).
 * Returns NULL when out of memory. Embedded NULs are copied as they are. */
char *tremor_pdk_strdup(tremor_pdk_bytes b);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Formats a message (printf-style) into the host's error buffer and returns
 * `code`, so a hook can `return tremor_pdk_fail(err, TREMOR_ERR_CONFIG, ...)`.
 * The message is cut to fit err->cap (which may be 0) at a UTF-8 character
 * boundary, and to at most 1023 bytes; err->len is set to what was written.
 * `err` may be NULL, or have a NULL msg: then only `code` is returned. */
int32_t tremor_pdk_fail(tremor_error *err, int32_t code, const char *fmt, ...)
    TREMOR_PDK_PRINTF(3, 4);
int32_t tremor_pdk_vfail(tremor_error *err, int32_t code, const char *fmt,
                         va_list ap) TREMOR_PDK_PRINTF(3, 0);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

/* What an instance keeps of its host: the host table and the instance's ctx.
 * Both stay valid until on_destroy returns; nothing here needs freeing. */
typedef struct tremor_pdk_host {
  const tremor_host_api *api; /* NULL when the host offered no usable log */
  tremor_host_ctx *ctx;
} tremor_pdk_host;

/* Captures args->host and args->ctx (call it in on_create). A host table too
 * old or too small for `log` leaves h->api NULL: logging is then a no-op. */
void tremor_pdk_host_init(tremor_pdk_host *h, const tremor_create_args *args);

/* Writes one printf-formatted line to the host log at `level`
 * (TREMOR_LOG_*). Safe from any thread while the instance lives (rule 4 of
 * plugin.h). Lines up to 1 KiB are formatted on the stack; longer ones are
 * allocated, or cut at 1 KiB when allocation fails. `h` may be NULL. */
void tremor_log(const tremor_pdk_host *h, int32_t level, const char *fmt, ...)
    TREMOR_PDK_PRINTF(3, 4);
void tremor_vlog(const tremor_pdk_host *h, int32_t level, const char *fmt,
                 va_list ap) TREMOR_PDK_PRINTF(3, 0);

/* ------------------------------------------------------------------------ */
/* Metrics (ABI 1.1)                                                        */
/* ------------------------------------------------------------------------ */

/* One label of a metric series, as NUL-terminated strings. */
typedef struct tremor_pdk_label {
  const char *name;
  const char *value;
} tremor_pdk_label;

/* Adds `delta` to the counter `name` (exported by the host as
 * tremor_plugin_<name>{flow, connector, labels...}), or sets the gauge
 * `name` to `value`; see tremor_host_metric_fn in plugin.h for the rules on
 * names, help text and labels (at most TREMOR_PDK_MAX_LABELS). Safe from any
 * thread while the instance lives. On a 1.0 host, whose table has no metric
 * functions, both do nothing, return TREMOR_ERR_UNSUPPORTED and say so once
 * per process at DEBUG. `h` may be NULL (TREMOR_ERR_INVALID). */
#define TREMOR_PDK_MAX_LABELS 8
int32_t tremor_counter_add(const tremor_pdk_host *h, const char *name,
                           const char *help, const tremor_pdk_label *labels,
                           size_t labels_len, uint64_t delta);
int32_t tremor_gauge_set(const tremor_pdk_host *h, const char *name,
                         const char *help, const tremor_pdk_label *labels,
                         size_t labels_len, int64_t value);

/* ------------------------------------------------------------------------ */
/* Reading config                                                           */
/* ------------------------------------------------------------------------ */

/* Each reader looks up member `key` of the config's root object (the last
 * one wins if a key repeats) and:
 *   - present with a usable type: stores it in *out, sets *found = true,
 *     returns TREMOR_OK;
 *   - absent, or JSON null: leaves *out untouched (so it can hold the
 *     default), sets *found = false, returns TREMOR_OK;
 *   - present with an unusable type or value, or a malformed doc: writes a
 *     message naming the key into `err`, returns TREMOR_ERR_CONFIG.
 * `found` and `err` may be NULL. Numbers convert when the value is exact:
 * uint accepts a non-negative INT, int accepts a UINT up to INT64_MAX, both
 * accept an integral FLOAT in range; float accepts INT and UINT.
 * The string view points into the doc: copy it before on_create returns. */
int32_t tremor_config_string(const tremor_value_doc *config, const char *key,
                             tremor_pdk_bytes *out, bool *found,
                             tremor_error *err);
int32_t tremor_config_int(const tremor_value_doc *config, const char *key,
                          int64_t *out, bool *found, tremor_error *err);
int32_t tremor_config_uint(const tremor_value_doc *config, const char *key,
                           uint64_t *out, bool *found, tremor_error *err);
int32_t tremor_config_float(const tremor_value_doc *config, const char *key,
                            double *out, bool *found, tremor_error *err);
int32_t tremor_config_bool(const tremor_value_doc *config, const char *key,
                           bool *out, bool *found, tremor_error *err);

/* ------------------------------------------------------------------------ */
/* Filling a pull batch: raw bytes events                                   */
/* ------------------------------------------------------------------------ */

/* Each appends one event (port OUT, stream 0, ingest_ns 0 so the host
 * stamps it, no metadata; change them through the returned slot if needed:
 * room->events[room->events_len - 1]) or, when the event or its bytes do
 * not fit, writes nothing, sets room->bytes_needed / values_needed to what
 * this event needs and returns TREMOR_ERR_NO_ROOM. on_pull then returns
 * TREMOR_OK if it already wrote events (keeping this one for the next pull)
 * or TREMOR_ERR_NO_ROOM if not. */

/* Copies `len` bytes of `data` as the payload. */
int32_t tremor_pdk_batch_push_bytes(tremor_batch *room, uint64_t id,
                                    const void *data, uint64_t len);

/* Reserves a `len`-byte payload and points *payload at it, for the caller
 * to fill in place (no copy). *payload is NULL on TREMOR_ERR_NO_ROOM. */
int32_t tremor_pdk_batch_reserve_bytes(tremor_batch *room, uint64_t id,
                                       uint64_t len, uint8_t **payload);

/* Appends a structured event whose payload is the value at node span
 * `payload` (from tremor_builder_finish) and whose metadata is the value at
 * `meta`, or none when `meta` is NULL. Returns TREMOR_ERR_NO_ROOM when the
 * events array is full, TREMOR_ERR_INVALID when a span is not inside
 * values[0 .. values_len). Prefer tremor_builder_emit, which also undoes
 * the value on failure. */
int32_t tremor_pdk_batch_push_value(tremor_batch *room, uint64_t id,
                                    tremor_span payload,
                                    const tremor_span *meta);

/* ------------------------------------------------------------------------ */
/* Filling a pull batch: structured values                                  */
/* ------------------------------------------------------------------------ */

/* Deepest nesting of arrays and objects the builder accepts. */
#define TREMOR_PDK_MAX_DEPTH 64

/* Appends structured values to a batch's value and byte arenas.
 *
 *   tremor_pdk_builder vb;
 *   tremor_builder_init(&vb, room);
 *   tremor_builder_object(&vb);
 *   tremor_builder_key(&vb, "id");
 *   tremor_builder_uint(&vb, 42);
 *   tremor_builder_end(&vb);
 *   rc = tremor_builder_emit(&vb, 42, NULL);  // a structured event
 *
 * The calls after init return nothing: the first failure sticks in
 * `status` and later calls only keep counting what the values need, so the
 * whole sequence is checked once, by tremor_builder_finish or _emit.
 * Failures: TREMOR_ERR_NO_ROOM (an arena is full) and TREMOR_ERR_INVALID
 * (misuse: a member without a key, a key outside an object, end without a
 * matching begin, nesting deeper than TREMOR_PDK_MAX_DEPTH, a value left
 * open). On either, the batch is put back as it was at init and
 * room->bytes_needed / values_needed say what everything built since init
 * needs. One builder may build several values (say a payload, then its
 * metadata) before emitting them as one event. Fields are private. */
typedef struct tremor_pdk_builder {
  tremor_batch *batch;
  int32_t status;
  uint32_t depth;
  uint64_t mark_values, mark_bytes; /* arena lengths at init */
  uint64_t need_values, need_bytes; /* needed since init, room or not */
  uint64_t root;                    /* first node of the current value */
  bool root_done;                   /* the current value is complete */
  bool has_key;                     /* a key waits for its member */
  uint32_t key_len;
  uint64_t key_offset;
  uint64_t open[TREMOR_PDK_MAX_DEPTH]; /* node of each open container */
  uint8_t open_kind[TREMOR_PDK_MAX_DEPTH];
} tremor_pdk_builder;

void tremor_builder_init(tremor_pdk_builder *vb, tremor_batch *room);

/* Open an object or array; each needs a matching tremor_builder_end. */
void tremor_builder_object(tremor_pdk_builder *vb);
void tremor_builder_array(tremor_pdk_builder *vb);
void tremor_builder_end(tremor_pdk_builder *vb);

/* The key of the next member of the innermost object. */
void tremor_builder_key(tremor_pdk_builder *vb, const char *key);
void tremor_builder_keyn(tremor_pdk_builder *vb, const void *key,
                         uint64_t len);

/* Scalars. Strings are copied into the byte arena; `s` must be UTF-8. */
void tremor_builder_null(tremor_pdk_builder *vb);
void tremor_builder_bool(tremor_pdk_builder *vb, bool v);
void tremor_builder_int(tremor_pdk_builder *vb, int64_t v);
void tremor_builder_uint(tremor_pdk_builder *vb, uint64_t v);
void tremor_builder_float(tremor_pdk_builder *vb, double v);
void tremor_builder_string(tremor_pdk_builder *vb, const char *s);
void tremor_builder_stringn(tremor_pdk_builder *vb, const void *s,
                            uint64_t len);
void tremor_builder_bytes(tremor_pdk_builder *vb, const void *data,
                          uint64_t len);

/* Completes the current value: stores its node span (root index, node
 * count) in *out and returns TREMOR_OK; the builder is then ready for the
 * next value. On failure see tremor_pdk_builder. */
int32_t tremor_builder_finish(tremor_pdk_builder *vb, tremor_span *out);

/* Completes the current value and appends a structured event with it as
 * payload, `meta` (a span from an earlier finish, or NULL) as metadata.
 * On success the builder is ready for the next event, as if initialised
 * again. On any failure, including a full events array, undoes everything
 * since init and returns the error. */
int32_t tremor_builder_emit(tremor_pdk_builder *vb, uint64_t id,
                            const tremor_span *meta);

/* Appends a raw bytes event carrying `len` bytes of `data`, with `meta` (a
 * span from tremor_builder_finish, or NULL) as metadata. No value may be
 * open or left unfinished. Success and failure as tremor_builder_emit. */
int32_t tremor_builder_emit_bytes(tremor_pdk_builder *vb, uint64_t id,
                                  const void *data, uint64_t len,
                                  const tremor_span *meta);

/* Undoes everything appended since init and reports what it needed in
 * room->bytes_needed / values_needed. */
void tremor_builder_rollback(tremor_pdk_builder *vb);

/* ------------------------------------------------------------------------ */
/* Reading a sent batch                                                     */
/* ------------------------------------------------------------------------ */

/* The payload bytes of a raw event. TREMOR_ERR_INVALID when the event is
 * structured or its span leaves the byte arena. */
int32_t tremor_event_bytes(const tremor_batch *batch, const tremor_event *ev,
                           tremor_pdk_bytes *out);

/* The payload of a structured event as a doc whose nodes are exactly the
 * payload span (root at nodes[0]) and whose bytes are the batch's arena.
 * TREMOR_ERR_INVALID when the event is raw, the span leaves the value
 * array, or it does not hold exactly one value. */
int32_t tremor_event_value(const tremor_batch *batch, const tremor_event *ev,
                           tremor_value_doc *out);

/* The metadata of an event as a doc, like tremor_event_value; an event
 * without metadata gives TREMOR_OK and an empty doc (nodes_len 0). */
int32_t tremor_event_meta(const tremor_batch *batch, const tremor_event *ev,
                          tremor_value_doc *out);

/* ------------------------------------------------------------------------ */
/* Walking values                                                           */
/* ------------------------------------------------------------------------ */

/* Node `i` of the doc, or NULL when out of range. */
const tremor_value *tremor_doc_node(const tremor_value_doc *doc, uint64_t i);

/* Nodes in the value rooted at `i` (1 + descendants for containers, 1
 * otherwise), or 0 when `i` is out of range or the value overruns the doc.
 * i + tremor_doc_size(doc, i) is the next sibling. */
uint64_t tremor_doc_size(const tremor_value_doc *doc, uint64_t i);

/* The bytes of STRING or BYTES node `i`. False for other kinds and for
 * spans outside the byte arena. */
bool tremor_doc_string(const tremor_value_doc *doc, uint64_t i,
                       tremor_pdk_bytes *out);

/* The key of node `i` (a member of an object). False when out of bounds. */
bool tremor_doc_key(const tremor_value_doc *doc, uint64_t i,
                    tremor_pdk_bytes *out);

/* The member `key` of OBJECT node `obj`, the last one if it repeats. */
bool tremor_doc_find(const tremor_value_doc *doc, uint64_t obj,
                     const char *key, uint64_t *member);

/* Checks the whole value at nodes[0] once, so later walks cannot fail:
 * known kinds, every container's children exactly filling its descendants,
 * every string, byte and key span inside the arena, nesting up to
 * TREMOR_PDK_MAX_DEPTH. TREMOR_OK or TREMOR_ERR_INVALID (also for an empty
 * doc). */
int32_t tremor_doc_check(const tremor_value_doc *doc);

/* Iterates over the direct children of an ARRAY or OBJECT node:
 *
 *   tremor_pdk_iter it;
 *   uint64_t child;
 *   tremor_iter_init(&it, doc, i);
 *   while (tremor_iter_next(&it, &child)) { ... }
 *   if (it.broken) { the doc was malformed }
 *
 * Fields are private except `broken`. */
typedef struct tremor_pdk_iter {
  const tremor_value_doc *doc;
  uint64_t next, end, left;
  bool broken;
} tremor_pdk_iter;

/* False (and it->broken) when `i` is not a container that fits the doc. */
bool tremor_iter_init(tremor_pdk_iter *it, const tremor_value_doc *doc,
                      uint64_t i);
bool tremor_iter_next(tremor_pdk_iter *it, uint64_t *child);

/* Deprecated names of pdk-c 0.1, kept for one release: the tremor_ prefix
 * belongs to the contract's shared data types (tremor/plugin.h), the SDK's
 * functions take tremor_pdk_. Define TREMOR_PDK_NO_DEPRECATED to drop them. */
#ifndef TREMOR_PDK_NO_DEPRECATED
#define tremor_fail tremor_pdk_fail
#define tremor_vfail tremor_pdk_vfail
#define tremor_batch_push_bytes tremor_pdk_batch_push_bytes
#define tremor_batch_reserve_bytes tremor_pdk_batch_reserve_bytes
#define tremor_batch_push_value tremor_pdk_batch_push_value
#endif

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TREMOR_PDK_H */
