// A host-less runner: loads a plugin .so in a plain C process (no Go
// runtime but the plugin's), creates a source and a sink, pipes the source
// into the sink until it ends, then stops and destroys both and prints the
// counts and the log lines. Built by the bench_go-go tests:
//
//   cc -O2 -I include -I pdk-go/pdktest runner.c ../driver.c -ldl -lpthread
//   ./runner lib.so SOURCE_TYPE SINK_TYPE COUNT SIZE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver.h"

static const tremor_connector_type *find(const tremor_plugin_descriptor *d, const char *name) {
  for (uint64_t i = 0; i < d->connectors_len; i++)
    if (strcmp(d->connectors[i]->name, name) == 0) return d->connectors[i];
  return NULL;
}

// Creates an instance whose config is {"count": count, "size": size}, or {}
// when count is 0.
static void *create(const tremor_connector_type *t, uint64_t id, uint64_t count, uint64_t size) {
  static const uint8_t keys[] = "countsize";
  tremor_value nodes[3];
  memset(nodes, 0, sizeof nodes);
  nodes[0].kind = TREMOR_VALUE_OBJECT;
  nodes[0].len = count ? 2 : 0;
  nodes[0].as.descendants = count ? 2 : 0;
  nodes[1].kind = TREMOR_VALUE_UINT;
  nodes[1].key_offset = 0;
  nodes[1].key_len = 5;
  nodes[1].as.u = count;
  nodes[2].kind = TREMOR_VALUE_UINT;
  nodes[2].key_offset = 5;
  nodes[2].key_len = 4;
  nodes[2].as.u = size;
  tremor_create_args a;
  memset(&a, 0, sizeof a);
  a.struct_size = sizeof a;
  a.host = &drv_host_api;
  a.ctx = drv_ctx_new(id);
  a.alias = (const uint8_t *)t->name;
  a.alias_len = strlen(t->name);
  a.config = (tremor_value_doc){nodes, count ? 3 : 1, keys, 9};
  uint8_t msg[256];
  tremor_error err = {msg, sizeof msg, 0};
  void *inst = NULL;
  int32_t rc = t->vtable->on_create(&a, &inst, &err);
  if (rc != TREMOR_OK) {
    fprintf(stderr, "create %s: %s: %.*s\n", t->name, tremor_result_str(rc), (int)err.len, (char *)msg);
    exit(1);
  }
  rc = drv_connect(t->vtable, inst, 1, &err);
  if (rc == TREMOR_OK) rc = drv_step(t->vtable, 0, inst, &err);
  if (rc != TREMOR_OK) {
    fprintf(stderr, "connect/start %s: %s\n", t->name, tremor_result_str(rc));
    exit(1);
  }
  return inst;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s LIB SOURCE SINK COUNT SIZE\n", argv[0]);
    return 2;
  }
  char err[512];
  const tremor_plugin_descriptor *d = drv_open(argv[1], err, sizeof err);
  if (d == NULL) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  const tremor_connector_type *src_t = find(d, argv[2]), *sink_t = find(d, argv[3]);
  if (!src_t || !sink_t) {
    fprintf(stderr, "connector types not found\n");
    return 1;
  }
  printf("plugin %s %s sdk %s abi %u.%u\n", d->name, d->version, d->sdk ? d->sdk : "-", d->abi_major, d->abi_minor);
  uint64_t count = strtoull(argv[4], NULL, 10), size = strtoull(argv[5], NULL, 10);
  void *src = create(src_t, 1, count, size);
  void *sink = create(sink_t, 2, 0, 0);

  struct timespec t0, t1;
  drv_pipe_stats st;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  drv_pipe(src_t->vtable, src, sink_t->vtable, sink, 1024, 0, 1024 * (size + 16), 10, 0, 0, &st);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

  uint8_t msg[256];
  tremor_error e = {msg, sizeof msg, 0};
  drv_step(src_t->vtable, 4, src, &e);
  drv_step(sink_t->vtable, 4, sink, &e);
  src_t->vtable->on_destroy(src);
  sink_t->vtable->on_destroy(sink);

  printf("pipe: pulls=%llu sends=%llu events=%llu bytes=%llu ok=%llu retry=%llu failed=%llu pull_rc=%d send_rc=%d err=%s\n",
         (unsigned long long)st.pulls, (unsigned long long)st.sends, (unsigned long long)st.events,
         (unsigned long long)st.bytes, (unsigned long long)st.ok, (unsigned long long)st.retry,
         (unsigned long long)st.failed, st.pull_rc, st.send_rc, st.err[0] ? st.err : "-");
  printf("rate: %.0f events/s, %.1f MB/s\n", (double)st.events / secs, (double)st.bytes / secs / 1e6);
  size_t n;
  uint8_t *logs = drv_logs_take(&n);
  for (size_t off = 0; off + 16 <= n;) {
    uint64_t id;
    int32_t level;
    uint32_t len;
    memcpy(&id, logs + off, 8);
    memcpy(&level, logs + off + 8, 4);
    memcpy(&len, logs + off + 12, 4);
    printf("log ctx=%llu level=%d %.*s\n", (unsigned long long)id, level, (int)len, (char *)logs + off + 16);
    off += 16 + len;
  }
  free(logs);
  return st.pull_rc == TREMOR_END && st.send_rc == 0 ? 0 : 1;
}
