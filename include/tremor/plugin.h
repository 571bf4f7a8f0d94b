/*
 * tremor/plugin.h -- the plugin contract between a Tremor-style host and its
 * connector plugins. ABI 1.1.
 *
 * This one header is the whole contract. A plugin is a shared library that
 * exports one function, tremor_plugin_get_descriptor(), returning a static
 * description of the plugin and of the connector types it provides. Each
 * connector type carries a table of hooks (tremor_connector_vtable) that the
 * host calls to drive Tremor's connector lifecycle:
 *
 *   create -> connect(attempt 1, 2, ...) -> start
 *          -> { pull / ack / fail (source side), send (sink side),
 *               pause / resume } ...
 *          -> drain -> stop -> destroy
 *
 * The plugin never links against the host: everything the host offers a
 * plugin arrives as a table of function pointers (tremor_host_api), the way
 * SQLite hands sqlite3_api_routines to its loadable extensions.
 *
 * NAMING
 *   tremor_*            plain data types shared by both sides
 *   tremor_on_*_fn      hooks the PLUGIN implements and the host calls
 *   tremor_host_*_fn    functions the HOST implements and the plugin calls
 *   TREMOR_*            constants
 *
 * RULES THAT HOLD EVERYWHERE (each hook's comment only adds to these)
 *   1. Results. Every hook that can fail returns an int32_t result code
 *      (TREMOR_OK is 0, see TREMOR_RESULT_CODES). Negative codes are errors;
 *      TREMOR_END (on_pull only) and TREMOR_RETRY (on_connect only) are
 *      positive, non-error answers; from any other hook the host takes a
 *      positive code as a broken contract. On an
 *      error the plugin may write a human-readable UTF-8 message into the
 *      tremor_error buffer the host passes; the host adds the plugin name,
 *      file and connector when it reports it.
 *   2. Memory. Whoever allocates frees. A pointer the host passes into a hook
 *      is owned by the host and is valid only until that hook returns: copy
 *      what you keep. Pointers the plugin returns from
 *      tremor_plugin_get_descriptor() (the descriptor, its strings, arrays and
 *      vtables) must stay valid and unchanged for as long as the library is
 *      loaded; static storage is the natural choice. The instance pointer a
 *      plugin returns from on_create is opaque to the host and owned by the
 *      plugin until on_destroy.
 *   3. Data. Everything crossing the boundary is plain data with explicit
 *      lengths. Strings are UTF-8 and NOT NUL-terminated unless the field is
 *      a `const char *` in the descriptor (those are NUL-terminated). Event
 *      payloads, keys and string values are (offset, length) spans into the
 *      byte arena of the batch that carries them, never raw pointers, so a
 *      batch can be copied as-is into shared memory or through a pipe.
 *   4. Threads. The host calls at most ONE hook of a given instance at a
 *      time, but successive calls may come from different OS threads: keep
 *      no per-instance state in thread-locals. Different instances (even of
 *      the same connector type) may be called at the same time from different
 *      threads, so shared plugin globals need locking.
 *      tremor_plugin_get_descriptor() may be called from any thread at any
 *      time. A plugin may run threads of its own; from them it may call only
 *      tremor_host_api.log, counter_add and gauge_set, and only while the
 *      instance's ctx is valid (see tremor_host_ctx).
 *   5. Blocking. Hooks should return promptly. on_pull may wait for data up
 *      to the wait_ms it is given (what waiting and not waiting cost is
 *      said at tremor_on_pull_fn); no other hook should block for long.
 *   6. Layout. Structs use fixed-width integers (never C enums) and no
 *      bitfields. Fields marked "zero" or reserved are written as zero and
 *      ignored by readers. Structs that may grow start with a struct_size field that
 *      the side creating the struct sets to sizeof(the struct it was built
 *      with); the reader must not touch fields past struct_size. A minor ABI
 *      version only ever appends fields, hooks or host functions.
 *      By rule 7 the host's minor is never older than the one a plugin
 *      declares, so the structs the host builds (tremor_host_api,
 *      tremor_create_args, tremor_batch) always have every field of that
 *      minor: a plugin that declares the minor of the header it was built
 *      with never needs a struct_size check to read them. They may be
 *      LARGER, built by a host of a newer minor: never assume struct_size
 *      equals sizeof, and never copy one by its struct_size into a struct
 *      of your own. A plugin needs the checks only when it declares an
 *      older minor than its header (to load in older hosts too) and uses
 *      what is newer only when struct_size shows it is there. The host
 *      checks struct_size in every struct a plugin builds (descriptor,
 *      connector types, vtables), which may come from an older minor.
 *   7. Versioning. A host of ABI major M, minor N loads a plugin built for
 *      major M and minor <= N. Anything else is refused at load time with a
 *      message saying which header to rebuild against.
 *   8. Contract breaks. When the host finds that a plugin broke this
 *      contract (a result code the hook may not return, a field of a batch
 *      or an outcome it may not write, a span outside an arena, ...), it
 *      reports the break as an error naming the plugin, file, connector and
 *      what was wrong, and stops using the instance: no more on_connect,
 *      on_pull, on_send, on_ack, on_fail, on_pause or on_resume. It still
 *      ends the instance in order, on_drain (a sink writes out what it
 *      already reported delivered), on_stop and on_destroy, each once.
 *      The events of the offending call are not taken on trust: those an
 *      on_pull wrote are discarded (never routed, acked or failed), and
 *      every event of the batch given to on_send is failed back to its
 *      source, whatever outcomes were written, as are the events routed
 *      to that sink afterwards. Events pulled earlier still go on to
 *      their sinks, but their acks and fails no longer reach the plugin.
 *      The connector stops, the rest of the flow goes on, and the run
 *      ends with an error. After TREMOR_ERR_PANIC (the plugin's own word
 *      that the instance is unusable) only on_destroy follows.
 */
#ifndef TREMOR_PLUGIN_H
#define TREMOR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Versioning                                                               */
/* ------------------------------------------------------------------------ */

/* The ABI this header describes. Bump MAJOR for any incompatible change;
 * bump MINOR when appending fields, hooks or host functions. */
#define TREMOR_ABI_MAJOR 1
#define TREMOR_ABI_MINOR 1
#define TREMOR_ABI_VERSION_STRING "1.1"

/* The one symbol every plugin exports (see tremor_plugin_get_descriptor). */
#define TREMOR_PLUGIN_ENTRY_SYMBOL "tremor_plugin_get_descriptor"

/* Marks a symbol for export from the shared library even when it is built
 * with -fvisibility=hidden. */
#if defined(_WIN32)
#define TREMOR_PLUGIN_EXPORT __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define TREMOR_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define TREMOR_PLUGIN_EXPORT
#endif

/* ------------------------------------------------------------------------ */
/* Result codes                                                             */
/* ------------------------------------------------------------------------ */

/* The list of result codes, written once: X(NAME, value, description).
 * The enum below, tremor_result_str() and the Go and Rust mirrors are all
 * derived from (or tested against) this table. */
#define TREMOR_RESULT_CODES(X)                                                   \
  X(OK, 0, "ok")                                                                 \
  X(END, 1, "end of input: the source will produce no more events")              \
  X(RETRY, 2, "not ready yet: the host should try again later")                  \
  X(ERR_FAILED, -1, "the operation failed")                                      \
  X(ERR_CONFIG, -2, "the configuration is invalid")                              \
  X(ERR_NO_ROOM, -3, "the room given is too small for even one event")           \
  X(ERR_DISCONNECTED, -4, "the connection was lost: the host should reconnect") \
  X(ERR_UNSUPPORTED, -5, "the connector does not support this operation")        \
  X(ERR_INVALID, -6, "an argument broke the contract")                           \
  X(ERR_PANIC, -7, "the plugin panicked; the instance is unusable")

/* Result codes as constants. The enum type itself never appears in a struct
 * or signature: results travel as int32_t. */
enum {
#define TREMOR_X_ENUM(name, value, text) TREMOR_##name = value,
  TREMOR_RESULT_CODES(TREMOR_X_ENUM)
#undef TREMOR_X_ENUM
  TREMOR_RESULT_CODES_END_ = 0x7fffffff
};

/* Describes a result code in English. Returns a static string (never NULL). */
static inline const char *tremor_result_str(int32_t code) {
  switch (code) {
#define TREMOR_X_STR(name, value, text) \
  case value:                           \
    return text;
    TREMOR_RESULT_CODES(TREMOR_X_STR)
#undef TREMOR_X_STR
  default:
    return "unknown result code";
  }
}

/* An error message buffer, owned by the host and valid for the duration of
 * the hook it is passed to. On failure the plugin MAY copy up to `cap` bytes
 * of UTF-8 text into `msg` and set `len` to the number written (no NUL
 * needed). If the message does not fit, truncate it at a UTF-8 character
 * boundary. The plugin must never write past msg[cap-1]; `cap` may be 0.
 * The host sets `len` to 0 before every hook (on success the plugin leaves
 * it alone) and treats the text as untrusted: it clamps `len` to `cap` and
 * replaces invalid UTF-8 before showing it. */
typedef struct tremor_error {
  uint8_t *msg;
  uint64_t cap;
  uint64_t len;
} tremor_error;

/* ------------------------------------------------------------------------ */
/* Plain data: spans, values, events, batches                               */
/* ------------------------------------------------------------------------ */

/* A range inside an arena: for bytes, `offset` and `len` count bytes into a
 * byte arena; for value nodes, they count nodes into a value array. */
typedef struct tremor_span {
  uint64_t offset;
  uint64_t len;
} tremor_span;

/* Kinds of structured value (tremor_value.kind), also used as the types of
 * config fields (tremor_config_field.type), written once:
 * X(NAME, value, the kind's name in messages). Where each kind keeps its
 * data is said at tremor_value below. */
#define TREMOR_VALUE_KINDS(X)    \
  X(VALUE_NULL, 0, "null")     \
  X(VALUE_BOOL, 1, "bool")     \
  X(VALUE_INT, 2, "int")       \
  X(VALUE_UINT, 3, "uint")     \
  X(VALUE_FLOAT, 4, "float")   \
  X(VALUE_STRING, 5, "string") \
  X(VALUE_BYTES, 6, "bytes")   \
  X(VALUE_ARRAY, 7, "array")   \
  X(VALUE_OBJECT, 8, "object")
enum {
#define TREMOR_X_ENUM(name, value, text) TREMOR_##name = value,
  TREMOR_VALUE_KINDS(TREMOR_X_ENUM)
#undef TREMOR_X_ENUM
};

/* One node of a structured value.
 *
 * A value is a tree stored flat, in pre-order, in an array of nodes: an
 * array or object node is followed directly by its children, each child by
 * its own children, and so on. For ARRAY and OBJECT nodes `len` is the
 * number of direct children and `as.descendants` the number of nodes in the
 * whole subtree below this node (so a reader can skip a subtree by jumping
 * descendants + 1 nodes). A value occupies nodes [root, root + 1 +
 * descendants) of its array.
 *
 * Children of an OBJECT carry their key as a span (key_offset, key_len) into
 * the same byte arena that holds string data; keys are UTF-8 and should be
 * unique within an object (when they are not, the last one wins). For all
 * other nodes key_offset and key_len are 0.
 *
 * Strings and byte strings live in the byte arena at [as.offset, as.offset +
 * len). Values the host hands a plugin (the config, the events of a batch
 * given to on_send) were built by the host and are already checked: every
 * span lies inside its arena, every tree is well-formed, strings and keys
 * are valid UTF-8. The host checks every value a plugin writes the same
 * way. Values from anywhere else: check every span against the arena's
 * length before reading it. */
typedef struct tremor_value {
  uint8_t kind;        /* TREMOR_VALUE_*: NULL; BOOL (as.boolean); INT
                          (signed 64-bit, as.i); UINT (unsigned 64-bit,
                          as.u); FLOAT (IEEE-754 double, as.f); STRING
                          (UTF-8) and BYTES at arena[as.offset .. +len];
                          ARRAY, OBJECT (with keys): `len` direct children
                          follow this node */
  uint8_t reserved[3]; /* zero */
  uint32_t key_len;    /* key length in bytes, when the parent is an object */
  uint64_t key_offset; /* key offset in the byte arena */
  uint64_t len;        /* STRING/BYTES: byte length; ARRAY/OBJECT: children;
                          0 for the other kinds */
  union {
    uint64_t boolean;     /* BOOL: 0 or 1 */
    int64_t i;            /* INT */
    uint64_t u;           /* UINT */
    double f;             /* FLOAT */
    uint64_t offset;      /* STRING, BYTES: byte offset in the arena */
    uint64_t descendants; /* ARRAY, OBJECT: nodes in the subtree below */
  } as;
} tremor_value;

/* A read-only structured value together with its arenas (used for config).
 * Owned by the host; valid only during the hook it is passed to. The root
 * node is nodes[0]; when nodes_len is 0 the value is absent. */
typedef struct tremor_value_doc {
  const tremor_value *nodes;
  uint64_t nodes_len;
  const uint8_t *bytes;
  uint64_t bytes_len;
} tremor_value_doc;

/* Ports an event can be emitted on (tremor_event.port), written once:
 * X(NAME, value, the port's name in a flow's links): OUT is the regular
 * output, ERR the error output. */
#define TREMOR_PORTS(X)    \
  X(PORT_OUT, 0, "out") \
  X(PORT_ERR, 1, "err")
enum {
#define TREMOR_X_ENUM(name, value, text) TREMOR_##name = value,
  TREMOR_PORTS(TREMOR_X_ENUM)
#undef TREMOR_X_ENUM
};

/* Event flags (tremor_event.flags), written once: X(NAME, bit, meaning).
 * END_STREAM: the last event of its stream (e.g. a TCP connection closed):
 * after it the host flushes and forgets what it keeps per stream, such as a
 * partial last line held by the lines pre-processor. The payload may be
 * empty. A source that finishes (on_pull answers TREMOR_END) need not flag
 * its last events: the end of the source ends every one of its streams,
 * and so does the host stopping to pull it for any other reason (flagging
 * them anyway is harmless). */
#define TREMOR_EVENT_FLAGS(X)                                           \
  X(EVENT_STRUCTURED, 0x1, "the payload spans value nodes, not bytes") \
  X(EVENT_END_STREAM, 0x2, "the last event of its stream")
enum {
#define TREMOR_X_ENUM(name, value, text) TREMOR_##name = value,
  TREMOR_EVENT_FLAGS(TREMOR_X_ENUM)
#undef TREMOR_X_ENUM
};

/* One event inside a batch.
 *
 * `payload`: when flags lacks TREMOR_EVENT_STRUCTURED, a span of bytes in
 * the batch's byte arena (raw data, to be decoded by the connector's codec);
 * when it has TREMOR_EVENT_STRUCTURED, a span of nodes in the batch's value
 * array holding exactly one value (offset = root index, len = node count).
 * Only sources of TREMOR_PAYLOAD_STRUCTURED connectors set that flag, and
 * only sinks of such connectors receive it.
 *
 * `meta`: a span of nodes in the batch's value array holding one value
 * (normally an object, but any kind is allowed), or len 0 when the event has
 * no metadata. */
typedef struct tremor_event {
  uint64_t id;        /* set by the source; echoed back in ack and fail */
  uint64_t stream;    /* stream the event belongs to (0 if unused) */
  uint64_t ingest_ns; /* ns since the Unix epoch; 0 = the host stamps it */
  uint32_t port;      /* TREMOR_PORT_* */
  uint32_t flags;     /* TREMOR_EVENT_* bits; unknown bits must be zero */
  tremor_span payload;
  tremor_span meta;
} tremor_event;

/* A batch of events and the arenas their data lives in. All memory behind a
 * batch is allocated and owned by the host; a batch passed into a hook is
 * valid only until that hook returns.
 *
 * Filling a batch (on_pull): on entry every *_len and *_needed field is 0,
 * events_cap is at least 1 and every *_cap says how much room there is. The
 * arenas are NOT zeroed: they hold whatever earlier pulls left there, so
 * write every field of each event you append (id, stream, ingest_ns, port,
 * flags, payload, meta) and of each value node (reserved, key_len and
 * key_offset zero where they are unused). The plugin appends events, value
 * nodes and bytes, never beyond a *_cap, and sets the *_len fields to what
 * it wrote.
 * Reading a batch (on_send): the plugin reads events[0 .. events_len) and
 * must not modify anything. The host built the batch and checked it: every
 * payload and meta span lies inside the *_len part of its arena and every
 * value is well-formed (see tremor_value), so a sink need not check them
 * again. */
typedef struct tremor_batch {
  uint32_t struct_size; /* sizeof(tremor_batch) as built by the host */
  uint32_t reserved0;   /* zero */
  tremor_event *events;
  uint64_t events_len;
  uint64_t events_cap;
  tremor_value *values;
  uint64_t values_len;
  uint64_t values_cap;
  uint8_t *bytes;
  uint64_t bytes_len;
  uint64_t bytes_cap;
  /* Set by on_pull together with TREMOR_ERR_NO_ROOM: how many bytes (in
   * bytes_needed) and value nodes (in values_needed) the next single event
   * needs in an otherwise empty batch (its total, not the shortfall). The
   * host grows the room to at least that and pulls again. */
  uint64_t bytes_needed;
  uint64_t values_needed;
} tremor_batch;

/* Per-event outcomes reported by a sink (on_send's `outcomes` array). */
#define TREMOR_OUTCOME_OK 0     /* delivered: the source gets an ack */
#define TREMOR_OUTCOME_FAILED 1 /* not delivered, will not be: a fail */
#define TREMOR_OUTCOME_RETRY 2  /* not delivered now: send it again later */

/* ------------------------------------------------------------------------ */
/* What the host offers a plugin                                            */
/* ------------------------------------------------------------------------ */

/* Opaque, host-owned context of one connector instance; handed to on_create
 * and passed back to host functions so the host knows who is talking.
 * Valid from the moment on_create is called until on_destroy returns, or,
 * when on_create fails, until on_create returns. */
typedef struct tremor_host_ctx tremor_host_ctx;

/* Log levels for tremor_host_api.log. */
#define TREMOR_LOG_ERROR 1
#define TREMOR_LOG_WARN 2
#define TREMOR_LOG_INFO 3
#define TREMOR_LOG_DEBUG 4
#define TREMOR_LOG_TRACE 5

/* Writes one line into the host's log, tagged with the plugin, connector
 * type and instance that `ctx` belongs to. `msg` is UTF-8 of `len` bytes
 * (no NUL needed), owned by the caller, and only read during the call.
 * One call is one log record: the host keeps at most the first 65536 bytes,
 * replaces invalid UTF-8 and drops trailing newlines ("\n", "\r"), so end
 * the line with one or not, as you like; a newline inside it is kept, so
 * log one line per call. `level` is a TREMOR_LOG_* value; any other value
 * is logged at INFO with the plugin's number beside it. Whether a line is
 * shown is the host's log level: tremorctl run and serve show INFO and
 * above unless told otherwise (--log-level), its other commands WARN and
 * above. Never log the value of a TREMOR_FIELD_SECRET field.
 * Thread-safe: may be called from any thread while `ctx` is valid. */
typedef void (*tremor_host_log_fn)(tremor_host_ctx *ctx, int32_t level,
                                   const uint8_t *msg, uint64_t len);

/* Metric kinds, for the names a plugin reports (tremor_host_metric_fn). */
#define TREMOR_METRIC_COUNTER 1 /* only goes up: counter_add adds delta */
#define TREMOR_METRIC_GAUGE 2   /* goes up and down: gauge_set sets it */

/* One label of a metric series: name and value, UTF-8 of explicit length
 * (no NUL needed), owned by the caller and read only during the call. */
typedef struct tremor_metric_label {
  const uint8_t *name;
  uint64_t name_len;
  const uint8_t *value;
  uint64_t value_len;
} tremor_metric_label;

/* Reports one of the instance's own metrics (since 1.1). counter_add adds
 * `value` (read as unsigned) to a counter; gauge_set sets a gauge to
 * `value` (read as signed). `name` (e.g. "tcp_connections_total") must
 * match [a-zA-Z_][a-zA-Z0-9_]* and is exported as tremor_plugin_<name>,
 * with the labels `flow` and `connector` (the instance's) added by the
 * host, then the plugin's labels. `help` is the one-line description
 * shown beside it. A name keeps its kind, help text and label names
 * (in order) for as long as the plugin is loaded; label names follow the
 * rule for metric names, must not be `flow` or `connector`, and at most 8
 * are allowed. Returns TREMOR_OK, or TREMOR_ERR_INVALID when a rule above
 * is broken (the host logs a warning once per name and drops the call).
 * A series lives as long as its instance and is gone after on_destroy.
 * Cheap enough for every event, but a plugin counting per event may as
 * well add once per batch. Thread-safe: may be called from any thread
 * while `ctx` is valid. Never put a secret in a name, label or help. */
typedef int32_t (*tremor_host_metric_fn)(tremor_host_ctx *ctx,
                                         const uint8_t *name, uint64_t name_len,
                                         const uint8_t *help, uint64_t help_len,
                                         const tremor_metric_label *labels,
                                         uint64_t labels_len, int64_t value);

/* The table of host functions, owned by the host, valid while the plugin is
 * loaded. APPEND-ONLY: new functions go at the end, each marked with the ABI
 * version that added it. Every function of the minor a plugin declares is
 * there (rule 7); check struct_size before calling one that is newer than
 * that minor (see rule 6). */
typedef struct tremor_host_api {
  uint32_t struct_size; /* sizeof(tremor_host_api) as built by the host */
  uint16_t abi_major;   /* the host's ABI version */
  uint16_t abi_minor;
  tremor_host_log_fn log; /* since 1.0 */
  /* Since 1.1. A plugin that declares 1.0 (to load in 1.0 hosts too)
   * calls them only when struct_size >= offsetof(tremor_host_api,
   * gauge_set) + sizeof(tremor_host_metric_fn): a 1.0 host's table ends
   * after `log`. The SDKs do this check for the author. */
  tremor_host_metric_fn counter_add;
  tremor_host_metric_fn gauge_set;
} tremor_host_api;

/* ------------------------------------------------------------------------ */
/* What a plugin implements: the connector hooks                            */
/* ------------------------------------------------------------------------ */

/* Arguments to on_create; owned by the host, valid during on_create only
 * (except `host` and `ctx`, see their comments). */
typedef struct tremor_create_args {
  uint32_t struct_size; /* sizeof(tremor_create_args) as built by the host */
  uint32_t reserved0;
  const tremor_host_api *host; /* valid while the plugin is loaded */
  tremor_host_ctx *ctx;        /* valid until on_destroy returns */
  const uint8_t *alias;        /* the instance's name in the flow (UTF-8) */
  uint64_t alias_len;
  /* The instance's config: always an OBJECT (nodes_len >= 1, possibly with
   * no members) whose members the host has already checked against the
   * connector type's declared fields: required fields are present, defaults
   * are filled in, unknown keys are refused, and every value has exactly
   * the declared TREMOR_VALUE_* kind (the host converts numbers when the
   * conversion is exact, e.g. 5 for a FLOAT field arrives as 5.0, and
   * refuses the rest). This is a promise the plugin may rely on: it need
   * not check a member's kind (a wrong kind never reaches on_create, so a
   * plugin is not expected to refuse one). An optional field without a
   * default is absent when the flow does not set it (a null in the flow
   * counts as not set). What the host cannot check, such as ranges, one of
   * a set of strings, or fields that only work together, the plugin
   * refuses with TREMOR_ERR_CONFIG and a message naming the field. */
  tremor_value_doc config;
} tremor_create_args;

/* Creates one connector instance from its config. Stores the plugin's own
 * instance pointer in *instance (the host passes it back to every other
 * hook and never dereferences it). Returns TREMOR_OK, or TREMOR_ERR_CONFIG /
 * another error with a message in *err; on error *instance is ignored and
 * on_destroy is not called. Must not do network or file I/O that may block:
 * that belongs in on_connect. */
typedef int32_t (*tremor_on_create_fn)(const tremor_create_args *args,
                                       void **instance, tremor_error *err);

/* Destroys an instance, releasing everything it owns. Called exactly once
 * per successful on_create, last of all hooks, also after errors, after
 * TREMOR_ERR_PANIC and after a contract break (rule 8). No hook but
 * on_destroy follows on_stop. After it
 * returns the plugin must no longer use the instance's ctx. */
typedef void (*tremor_on_destroy_fn)(void *instance);

/* Connects to the outside world (opens the file, the socket, ...).
 * `attempt` counts from 1 and restarts at 1 after each successful connect.
 * Returns TREMOR_OK when connected, TREMOR_RETRY when not yet possible (the
 * host waits with backoff and calls again with attempt + 1; the plugin may
 * say why in *err, as for an error, and the host names the last such reason
 * when it gives up or the connector never connected), or an error
 * (logged; the host also retries, except after TREMOR_ERR_CONFIG, which
 * stops the connector). Called again after any hook returned
 * TREMOR_ERR_DISCONNECTED. Optional (NULL: always connected). */
typedef int32_t (*tremor_on_connect_fn)(void *instance, uint32_t attempt,
                                        tremor_error *err);

/* A lifecycle step without arguments: start (after the first successful
 * connect, before the first pull or send), pause (the host stops pulling
 * because downstream is slow: stop reading from the outside if you can),
 * resume, drain (no more pulls or sends will come: flush what is buffered
 * and return when it is written out; called once, after the last on_pull
 * and the last on_send; on_ack and on_fail may still follow it for events
 * in flight), stop (last step before on_destroy; every on_ack and on_fail
 * the host makes comes before it). Each is optional (NULL: nothing to
 * do). */
typedef int32_t (*tremor_on_step_fn)(void *instance, tremor_error *err);

/* Source side: fills `room` with up to room->events_cap events (see
 * tremor_batch for how). May wait up to `wait_ms` milliseconds for data when
 * none is available; returning TREMOR_OK with room->events_len == 0 means
 * "nothing yet". Both are allowed; each has a cost. The host pulls again as
 * soon as on_pull returns, so a source that answers "nothing yet" at once
 * while idle makes the host spin (a busy core; when isolated, a round trip
 * per pull). While on_pull waits, nothing else reaches the instance (rule
 * 4): acks, fails, pause and shutdown wait for it to return, so never wait
 * past wait_ms. Best: wait for data with wait_ms as the timeout and return
 * as soon as there is some. wait_ms may be 0 (do not wait); the host
 * shortens it while events of the source are in flight, so that their acks
 * and fails are not held up.
 * Returns TREMOR_END when the source has no more events (it
 * may return events together with TREMOR_END), TREMOR_ERR_DISCONNECTED when
 * the connection was lost (the events written so far are still taken), or
 * TREMOR_ERR_NO_ROOM when not even the first event fits (set
 * room->bytes_needed / values_needed first). An event that does not fit
 * after others were written is kept for the next pull, never dropped.
 * After TREMOR_END the host calls on_pull, on_pause and on_resume of the
 * instance no more; on_ack and on_fail go on for the events in flight,
 * then on_drain, on_stop and on_destroy follow (an instance that is also a
 * sink still gets on_send until then). A plugin need not expect a pull
 * after TREMOR_END; answering one with TREMOR_END again is right.
 * Each event id must be unique among this instance's unacknowledged events.
 * With every result except TREMOR_ERR_NO_ROOM and TREMOR_ERR_PANIC, the
 * events written so far (events_len) are taken by the host, so a plugin
 * that fails half-way must not offer them again.
 * A connector of both kinds whose config makes an instance a sink only
 * answers TREMOR_ERR_UNSUPPORTED with a message; the host then stops using
 * the instance as a source and reports the message (likewise on_send).
 * Required for connectors of kind TREMOR_KIND_SOURCE. */
typedef int32_t (*tremor_on_pull_fn)(void *instance, tremor_batch *room,
                                     uint32_t wait_ms, tremor_error *err);

/* Source side, guaranteed delivery: the events with these ids were
 * delivered (ack) or will not be delivered (fail; a source that can replay
 * should offer them again, others may log and drop). Every event id the
 * source produced is eventually acked or failed exactly once, except that
 * none are reported after a contract break (rule 8) or TREMOR_ERR_PANIC,
 * and the ids of a call that returned an error are not reported again.
 * They arrive between other hooks (rule 4), may follow TREMOR_END and
 * on_drain, and all come before on_stop: events still in flight when the
 * drain timeout ends are failed. `ids` is owned by the host, valid during
 * the call. Optional (NULL: the source does not track delivery). */
typedef int32_t (*tremor_on_ids_fn)(void *instance, const uint64_t *ids,
                                    uint64_t count, tremor_error *err);

/* Sink side: delivers the events in `batch` (read-only). Writes one
 * TREMOR_OUTCOME_* into outcomes[i] for each events[i]; `outcomes` is owned
 * by the host, has batch->events_len entries and is pre-set to
 * TREMOR_OUTCOME_FAILED. Returns TREMOR_OK when outcomes were written:
 * an outcome left as pre-set fails its event back to its source, so a sink
 * that answers TREMOR_OK without writing outcomes fails every event while
 * saying OK (the host warns once per sink). TREMOR_ERR_DISCONNECTED when
 * the connection was lost (events marked OK
 * are taken as delivered; all the others, FAILED and RETRY alike, are sent
 * again after reconnecting), or another error (every event not marked OK is
 * failed back to its source).
 * The batch was built and checked by the host (see tremor_batch); its
 * event ids are the host's, unique within the batch, not the source's.
 * A flow sends at least one event, but a sink must also answer an empty
 * batch (events_len 0, as tremorctl check-plugin sends) with TREMOR_OK.
 * Required for connectors of kind TREMOR_KIND_SINK. */
typedef int32_t (*tremor_on_send_fn)(void *instance, const tremor_batch *batch,
                                     uint8_t *outcomes, tremor_error *err);

/* The hooks of one connector type. Owned by the plugin, static, valid while
 * the library is loaded. Optional hooks may be NULL. */
typedef struct tremor_connector_vtable {
  uint32_t struct_size; /* sizeof(tremor_connector_vtable) the plugin built */
  uint32_t reserved0;   /* zero */
  tremor_on_create_fn on_create;   /* required */
  tremor_on_destroy_fn on_destroy; /* required */
  tremor_on_connect_fn on_connect; /* optional */
  tremor_on_step_fn on_start;      /* optional */
  tremor_on_step_fn on_pause;      /* optional */
  tremor_on_step_fn on_resume;     /* optional */
  tremor_on_step_fn on_drain;      /* optional */
  tremor_on_step_fn on_stop;       /* optional */
  tremor_on_pull_fn on_pull;       /* required for sources */
  tremor_on_ids_fn on_ack;         /* optional, sources only */
  tremor_on_ids_fn on_fail;        /* optional, sources only */
  tremor_on_send_fn on_send;       /* required for sinks */
} tremor_connector_vtable;

/* ------------------------------------------------------------------------ */
/* What a plugin declares: descriptor, connector types, config fields      */
/* ------------------------------------------------------------------------ */

/* Connector kinds (tremor_connector_type.kinds), bit flags. */
#define TREMOR_KIND_SOURCE 0x1u
#define TREMOR_KIND_SINK 0x2u

/* What a connector exchanges with the host (tremor_connector_type.payload).
 * BYTES: raw bytes; the host runs the configured pre/post-processors and
 * codec. STRUCTURED: events carry TREMOR_EVENT_STRUCTURED values; no codec. */
#define TREMOR_PAYLOAD_BYTES 0
#define TREMOR_PAYLOAD_STRUCTURED 1

/* Config field flags (tremor_config_field.flags), bit flags. */
#define TREMOR_FIELD_REQUIRED 0x1u /* must be present in the flow config */
#define TREMOR_FIELD_SECRET 0x2u   /* never printed in logs */

/* One config field a connector type accepts. */
typedef struct tremor_config_field {
  const char *name;         /* NUL-terminated, non-empty, UTF-8 */
  uint32_t type;            /* TREMOR_VALUE_BOOL .. _OBJECT (not NULL) */
  uint32_t flags;           /* TREMOR_FIELD_* bits */
  const char *default_json; /* default as JSON text (for BYTES: a JSON string,
                               taken as its UTF-8 bytes), or NULL for none;
                               NULL for REQUIRED fields */
  const char *doc;          /* one-line description, or NULL */
  void *reserved[2];        /* NULL */
} tremor_config_field;

/* One connector type a plugin provides. */
typedef struct tremor_connector_type {
  uint32_t struct_size; /* sizeof(tremor_connector_type) the plugin built */
  uint32_t kinds;       /* TREMOR_KIND_* bits, at least one */
  const char *name;     /* NUL-terminated, non-empty, unique in the host */
  const char *description; /* NUL-terminated, or NULL */
  uint32_t payload;        /* TREMOR_PAYLOAD_* */
  uint32_t fields_len;     /* entries in `fields` */
  const tremor_config_field *fields;
  const tremor_connector_vtable *vtable; /* required */
  /* Since 1.1: the connector's natural framing, the name of a processor
   * (e.g. "lines") that the host uses as the pre-processor of an instance
   * used as a source when the flow does not set `preprocessors`, and as
   * the post-processor of one used as a sink when the flow does not set
   * `postprocessors` (`preprocessors = []` in a flow means none).
   * NUL-terminated, or NULL for none: a connector that exchanges whole
   * messages (an HTTP body, a UDP datagram, a file read whole). Only for
   * TREMOR_PAYLOAD_BYTES connectors. The host reads it only when
   * struct_size covers it (a 1.0 plugin declares none). */
  const char *framing;
} tremor_connector_type;

/* The plugin descriptor: who the plugin is and what it provides. Owned by
 * the plugin, static, valid and unchanged while the library is loaded. */
/* struct_size, abi_major and abi_minor stay at offsets 0, 4 and 6 in every
 * future ABI version, so that any host can read a plugin's version and
 * refuse it cleanly. */
typedef struct tremor_plugin_descriptor {
  uint32_t struct_size; /* sizeof(tremor_plugin_descriptor) the plugin built */
  uint16_t abi_major;   /* TREMOR_ABI_MAJOR the plugin was built with */
  uint16_t abi_minor;   /* TREMOR_ABI_MINOR the plugin was built with */
  const char *name;        /* NUL-terminated, non-empty, e.g. "metronome" */
  const char *version;     /* NUL-terminated, non-empty, e.g. "0.1.0" */
  const char *description; /* NUL-terminated, or NULL */
  const char *license;     /* NUL-terminated SPDX id, or NULL */
  const char *sdk;         /* NUL-terminated, e.g. "pdk-c 0.1", or NULL */
  uint64_t connectors_len; /* entries in `connectors`, at least one */
  /* Array of pointers (not of structs) so that tremor_connector_type can
   * grow in a minor version without changing the array's stride. */
  const tremor_connector_type *const *connectors;
} tremor_plugin_descriptor;

/* The entry point every plugin exports under exactly this name
 * (TREMOR_PLUGIN_ENTRY_SYMBOL). Returns the plugin's descriptor; never NULL.
 * Must be cheap and free of side effects: the host calls it to list and
 * check plugins before deciding to use them, possibly more than once and
 * from any thread. Do not start threads of your own or touch the outside
 * world here (threads a language runtime starts when the library is loaded,
 * as Go's does, are fine). */
typedef const tremor_plugin_descriptor *(*tremor_plugin_get_descriptor_fn)(
    void);

/* Declared here so that the compiler checks a plugin's definition against
 * the contract; only plugins define it (the host looks it up with dlsym). */
TREMOR_PLUGIN_EXPORT const tremor_plugin_descriptor *
tremor_plugin_get_descriptor(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TREMOR_PLUGIN_H */
