/* A source written with pdk-c: emits `count` events "hello <n>". */
#include <stdio.h>
#include <stdlib.h>

#include "tremor/pdk.h"

typedef struct hello {
  tremor_pdk_host host;
  uint64_t count, next;
} hello;

static int32_t hello_create(const tremor_create_args *args, void **instance,
                            tremor_error *err) {
  uint64_t count = 3;
  int32_t rc = tremor_config_uint(&args->config, "count", &count, NULL, err);
  if (rc != TREMOR_OK) return rc;
  hello *h = calloc(1, sizeof *h);
  if (h == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
  tremor_pdk_host_init(&h->host, args);
  h->count = count;
  *instance = h;
  tremor_log(&h->host, TREMOR_LOG_DEBUG, "hello: %llu events",
             (unsigned long long)count);
  return TREMOR_OK;
}

static void hello_destroy(void *instance) { free(instance); }

static int32_t hello_pull(void *instance, tremor_batch *room, uint32_t wait_ms,
                          tremor_error *err) {
  hello *h = instance;
  (void)wait_ms;
  (void)err;
  for (; h->next < h->count; h->next++) {
    char line[32];
    int n = snprintf(line, sizeof line, "hello %llu", (unsigned long long)h->next);
    if (tremor_pdk_batch_push_bytes(room, h->next, line, (uint64_t)n) != TREMOR_OK)
      return room->events_len > 0 ? TREMOR_OK : TREMOR_ERR_NO_ROOM;
  }
  return TREMOR_END;
}

static const tremor_config_field hello_fields[] = {
    {.name = "count", .type = TREMOR_VALUE_UINT, .default_json = "3"},
};

static const tremor_connector_vtable hello_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = hello_create,
    .on_destroy = hello_destroy,
    .on_pull = hello_pull,
};

static const tremor_connector_type hello_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SOURCE,
    .name = "hello",
    .payload = TREMOR_PAYLOAD_BYTES,
    .fields_len = TREMOR_COUNT_OF(hello_fields),
    .fields = hello_fields,
    .vtable = &hello_vtable,
};

TREMOR_PLUGIN_DEFINE("hello", "1.2.3", "says hello", "MIT", &hello_type);
