/* tremor_pdk_fail truncation, tremor_log through a host table, byte helpers. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "tremor/pdk.h"

#define CANARY 0xAB

static void check_fail_caps(void) {
  uint8_t buf[64];
  tremor_error err;

  memset(buf, CANARY, sizeof buf);
  err = (tremor_error){buf, 0, 99};
  CHECK_EQ_I(tremor_pdk_fail(&err, TREMOR_ERR_CONFIG, "hello %s", "world"),
             TREMOR_ERR_CONFIG);
  CHECK_EQ_U(err.len, 0);
  CHECK_EQ_U(buf[0], CANARY);

  memset(buf, CANARY, sizeof buf);
  err = (tremor_error){buf, 5, 0};
  CHECK_EQ_I(tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "hello %s", "world"),
             TREMOR_ERR_FAILED);
  CHECK_BYTES(buf, err.len, "hello");
  CHECK_EQ_U(buf[5], CANARY); /* never past msg[cap-1], not even a NUL */

  memset(buf, CANARY, sizeof buf);
  err = (tremor_error){buf, 11, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "hello %s", "world");
  CHECK_BYTES(buf, err.len, "hello world"); /* an exact fit is not cut */
  CHECK_EQ_U(buf[11], CANARY);

  err = (tremor_error){buf, sizeof buf, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_INVALID, "%s=%d", "n", -3);
  CHECK_BYTES(buf, err.len, "n=-3");

  /* Nowhere to write: only the code comes back. */
  CHECK_EQ_I(tremor_pdk_fail(NULL, TREMOR_ERR_CONFIG, "x"), TREMOR_ERR_CONFIG);
  err = (tremor_error){NULL, 16, 7};
  CHECK_EQ_I(tremor_pdk_fail(&err, TREMOR_ERR_NO_ROOM, "x"), TREMOR_ERR_NO_ROOM);
  CHECK_EQ_U(err.len, 0);
}

static void check_fail_utf8(void) {
  uint8_t buf[16];
  tremor_error err;
  const char *word = "h\xC3\xA9llo"; /* héllo */

  err = (tremor_error){buf, 2, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "%s", word);
  CHECK_BYTES(buf, err.len, "h"); /* not half of the é */

  err = (tremor_error){buf, 3, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "%s", word);
  CHECK_BYTES(buf, err.len, "h\xC3\xA9");

  err = (tremor_error){buf, 3, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "\xF0\x9F\x98\x80!"); /* 😀! */
  CHECK_EQ_U(err.len, 0);

  err = (tremor_error){buf, 4, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "\xF0\x9F\x98\x80!");
  CHECK_BYTES(buf, err.len, "\xF0\x9F\x98\x80");
}

static void check_fail_long(void) {
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  uint8_t *buf = malloc(4096);
  tremor_error err = {buf, 4096, 0};
  tremor_pdk_fail(&err, TREMOR_ERR_FAILED, "%s", big);
  CHECK_EQ_U(err.len, 1023);
  CHECK(buf[0] == 'a' && buf[1022] == 'a');
  free(buf);
}

/* ---- logging ---- */

typedef struct log_sink {
  int calls;
  int32_t level;
  tremor_host_ctx *ctx;
  char line[4096];
  uint64_t len;
} log_sink;

static log_sink sink;

static void host_log(tremor_host_ctx *ctx, int32_t level, const uint8_t *msg,
                     uint64_t len) {
  sink.calls++;
  sink.level = level;
  sink.ctx = ctx;
  sink.len = len < sizeof sink.line ? len : sizeof sink.line;
  memcpy(sink.line, msg, (size_t)sink.len);
}

static void check_log(void) {
  tremor_host_api api = {sizeof(tremor_host_api), TREMOR_ABI_MAJOR,
                         TREMOR_ABI_MINOR, host_log, NULL, NULL};
  tremor_host_ctx *ctx = (tremor_host_ctx *)&api; /* any distinct pointer */
  tremor_create_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host = &api;
  args.ctx = ctx;

  tremor_pdk_host h;
  tremor_pdk_host_init(&h, &args);
  CHECK(h.api == &api);
  CHECK(h.ctx == ctx);

  tremor_log(&h, TREMOR_LOG_WARN, "%d events dropped on %s", 3, "out");
  CHECK_EQ_I(sink.calls, 1);
  CHECK_EQ_I(sink.level, TREMOR_LOG_WARN);
  CHECK(sink.ctx == ctx);
  CHECK_BYTES(sink.line, sink.len, "3 events dropped on out");

  /* Longer than the stack buffer: still delivered whole. */
  char big[3001];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  tremor_log(&h, TREMOR_LOG_DEBUG, "%s", big);
  CHECK_EQ_I(sink.calls, 2);
  CHECK_EQ_U(sink.len, 3000);

  tremor_log(NULL, TREMOR_LOG_INFO, "nobody listens");
  CHECK_EQ_I(sink.calls, 2);

  /* A host table that ends before `log` must not be read past its size. */
  tremor_host_api old = api;
  old.struct_size = offsetof(tremor_host_api, log);
  args.host = &old;
  tremor_pdk_host_init(&h, &args);
  CHECK(h.api == NULL);
  tremor_log(&h, TREMOR_LOG_ERROR, "dropped");
  CHECK_EQ_I(sink.calls, 2);

  /* Create args too short to hold host and ctx. */
  args.host = &api;
  args.struct_size = offsetof(tremor_create_args, host);
  tremor_pdk_host_init(&h, &args);
  CHECK(h.api == NULL && h.ctx == NULL);

  args.struct_size = sizeof args;
  args.host = NULL;
  tremor_pdk_host_init(&h, &args);
  CHECK(h.api == NULL);
  tremor_log(&h, TREMOR_LOG_ERROR, "dropped");
  CHECK_EQ_I(sink.calls, 2);
}

/* ---- metrics (ABI 1.1) ---- */

static struct {
  int calls;
  tremor_host_ctx *ctx;
  char name[64], help[64], label[64];
  uint64_t labels_len;
  int64_t value;
} msink;

static int32_t record_metric(tremor_host_ctx *ctx, const uint8_t *name,
                             uint64_t name_len, const uint8_t *help,
                             uint64_t help_len, const tremor_metric_label *labels,
                             uint64_t labels_len, int64_t value) {
  msink.calls++;
  msink.ctx = ctx;
  snprintf(msink.name, sizeof msink.name, "%.*s", (int)name_len, (const char *)name);
  snprintf(msink.help, sizeof msink.help, "%.*s", (int)help_len, (const char *)help);
  msink.label[0] = '\0';
  if (labels_len > 0)
    snprintf(msink.label, sizeof msink.label, "%.*s=%.*s", (int)labels[0].name_len,
             (const char *)labels[0].name, (int)labels[0].value_len,
             (const char *)labels[0].value);
  msink.labels_len = labels_len;
  msink.value = value;
  return TREMOR_OK;
}

static void check_metrics(void) {
  tremor_host_api api = {sizeof(tremor_host_api), TREMOR_ABI_MAJOR, TREMOR_ABI_MINOR,
                         host_log, record_metric, record_metric};
  tremor_host_ctx *ctx = (tremor_host_ctx *)&api;
  tremor_create_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host = &api;
  args.ctx = ctx;
  tremor_pdk_host h;
  tremor_pdk_host_init(&h, &args);

  tremor_pdk_label status[] = {{"status", "200"}};
  CHECK_EQ_I(tremor_counter_add(&h, "requests_total", "Requests.", status, 1, 3), TREMOR_OK);
  CHECK_EQ_I(msink.calls, 1);
  CHECK(msink.ctx == ctx);
  CHECK(strcmp(msink.name, "requests_total") == 0);
  CHECK(strcmp(msink.help, "Requests.") == 0);
  CHECK(strcmp(msink.label, "status=200") == 0);
  CHECK_EQ_I(msink.value, 3);
  CHECK_EQ_I(tremor_gauge_set(&h, "connections", NULL, NULL, 0, -2), TREMOR_OK);
  CHECK_EQ_I(msink.calls, 2);
  CHECK_EQ_U(msink.labels_len, 0);
  CHECK_EQ_I(msink.value, -2);
  CHECK_EQ_I(tremor_counter_add(&h, "x_total", "", status, TREMOR_PDK_MAX_LABELS + 1, 1),
             TREMOR_ERR_INVALID);
  CHECK_EQ_I(msink.calls, 2);

  /* A 1.0 host: its table ends after `log`. What lies past it (here a
   * recorder, in a real 1.0 host whatever memory follows) is never called;
   * the SDK says so once, at DEBUG. */
  tremor_host_api old = api;
  old.struct_size = offsetof(tremor_host_api, counter_add);
  old.abi_minor = 0;
  args.host = &old;
  tremor_pdk_host_init(&h, &args);
  int logged = sink.calls;
  CHECK_EQ_I(tremor_counter_add(&h, "requests_total", "Requests.", status, 1, 1),
             TREMOR_ERR_UNSUPPORTED);
  CHECK_EQ_I(tremor_gauge_set(&h, "connections", "", NULL, 0, 1), TREMOR_ERR_UNSUPPORTED);
  CHECK_EQ_I(msink.calls, 2);
  CHECK_EQ_I(sink.calls, logged + 1);
  CHECK_EQ_I(sink.level, TREMOR_LOG_DEBUG);
  CHECK_EQ_I(tremor_counter_add(NULL, "x_total", "", NULL, 0, 1), TREMOR_ERR_INVALID);
}

static void check_bytes_helpers(void) {
  const uint8_t raw[] = {'a', 'b', 'c'};
  tremor_pdk_bytes b = {raw, 3};
  CHECK(tremor_bytes_eq(b, "abc"));
  CHECK(!tremor_bytes_eq(b, "ab"));
  CHECK(!tremor_bytes_eq(b, "abcd"));
  CHECK(!tremor_bytes_eq(b, NULL));
  tremor_pdk_bytes empty = {NULL, 0};
  CHECK(tremor_bytes_eq(empty, ""));

  char *s = tremor_pdk_strdup(b);
  CHECK(s != NULL && strcmp(s, "abc") == 0);
  free(s);
  s = tremor_pdk_strdup(empty);
  CHECK(s != NULL && s[0] == '\0');
  free(s);
}

/* The 0.1 names still build and are the same functions. */
static void check_deprecated_names(void) {
  uint8_t buf[16];
  tremor_error err = {buf, sizeof buf, 0};
  CHECK_EQ_I(tremor_fail(&err, TREMOR_ERR_CONFIG, "old %d", 1),
             TREMOR_ERR_CONFIG);
  CHECK_BYTES(buf, err.len, "old 1");
  CHECK(tremor_batch_push_bytes == tremor_pdk_batch_push_bytes);
  CHECK(tremor_batch_reserve_bytes == tremor_pdk_batch_reserve_bytes);
  CHECK(tremor_batch_push_value == tremor_pdk_batch_push_value);
}

int main(void) {
  check_fail_caps();
  check_deprecated_names();
  check_fail_utf8();
  check_fail_long();
  check_log();
  check_metrics();
  check_bytes_helpers();
  return check_result("test_message");
}
