/* check_plugin: loads a plugin the way the host does and checks what a
 * stranger's build must get right.
 *
 *   check_plugin <plugin.so> <expected name> [--hidden <symbol>]...
 *
 * Checks: dlopen with RTLD_NOW (no unresolved symbols), the entry point
 * exported under TREMOR_PLUGIN_ENTRY_SYMBOL, a descriptor of this ABI
 * major and a minor no newer than this header, the expected name, sane
 * connector types, on_create/on_destroy of each working with an empty
 * config, and each --hidden symbol NOT exported (the SDK stays private).
 * Exit 0 when everything holds; messages on stderr otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "tremor/plugin.h"

static int failures;

static void fail(const char *what, const char *detail) {
  fprintf(stderr, "check_plugin: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  failures++;
}

static void host_log(tremor_host_ctx *ctx, int32_t level, const uint8_t *msg,
                     uint64_t len) {
  (void)ctx;
  printf("  plugin log (level %d): %.*s\n", (int)level, (int)len,
         (const char *)msg);
}

/* ABI 1.1 metrics: this test host takes them and keeps nothing. */
static int32_t host_metric(tremor_host_ctx *ctx, const uint8_t *name, uint64_t name_len,
                           const uint8_t *help, uint64_t help_len,
                           const tremor_metric_label *labels, uint64_t labels_len,
                           int64_t value) {
  (void)ctx, (void)name, (void)name_len, (void)help, (void)help_len, (void)labels,
      (void)labels_len, (void)value;
  return TREMOR_OK;
}

static const tremor_host_api host_api = {sizeof(tremor_host_api),
                                         TREMOR_ABI_MAJOR, TREMOR_ABI_MINOR,
                                         host_log, host_metric, host_metric};

/* Creates and destroys one instance with an empty config object. */
static void try_create(const tremor_connector_type *t) {
  tremor_value root;
  memset(&root, 0, sizeof root);
  root.kind = TREMOR_VALUE_OBJECT;
  tremor_create_args args;
  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host = &host_api;
  args.ctx = (tremor_host_ctx *)&root;
  args.config.nodes = &root;
  args.config.nodes_len = 1;
  uint8_t msg[256];
  tremor_error err = {msg, sizeof msg, 0};
  void *instance = NULL;
  int32_t rc = t->vtable->on_create(&args, &instance, &err);
  if (rc != TREMOR_OK) {
    fprintf(stderr, "check_plugin: on_create of %s: %s: %.*s\n", t->name,
            tremor_result_str(rc), (int)err.len, (const char *)msg);
    failures++;
    return;
  }
  t->vtable->on_destroy(instance);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <plugin.so> <name> [--hidden <symbol>]...\n",
            argv[0]);
    return 2;
  }
  const char *path = argv[1], *name = argv[2];
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fail("dlopen failed", dlerror());
    return 1;
  }
  void *sym = dlsym(lib, TREMOR_PLUGIN_ENTRY_SYMBOL);
  if (sym == NULL) {
    fail("entry point not exported", dlerror());
    return 1;
  }
  tremor_plugin_get_descriptor_fn get;
  memcpy(&get, &sym, sizeof get);
  const tremor_plugin_descriptor *d = get();
  if (d == NULL) {
    fail("descriptor is NULL", NULL);
    return 1;
  }
  if (d->struct_size < sizeof *d) fail("descriptor struct_size too small", NULL);
  if (d->abi_major != TREMOR_ABI_MAJOR) fail("wrong ABI major", NULL);
  if (d->abi_minor > TREMOR_ABI_MINOR) fail("ABI minor newer than header", NULL);
  if (d->name == NULL || strcmp(d->name, name) != 0) fail("unexpected name", d->name);
  if (d->version == NULL || d->version[0] == '\0') fail("no version", NULL);
  if (d->connectors_len == 0 || d->connectors == NULL) fail("no connectors", NULL);
  for (uint64_t i = 0; failures == 0 && i < d->connectors_len; i++) {
    const tremor_connector_type *t = d->connectors[i];
    if (t == NULL || t->name == NULL || t->vtable == NULL ||
        t->vtable->on_create == NULL || t->vtable->on_destroy == NULL ||
        (t->kinds & (TREMOR_KIND_SOURCE | TREMOR_KIND_SINK)) == 0) {
      fail("malformed connector type", t != NULL ? t->name : NULL);
      continue;
    }
    try_create(t);
  }
  for (int i = 3; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--hidden") != 0) {
      fail("unknown option", argv[i]);
      continue;
    }
    if (dlsym(lib, argv[i + 1]) != NULL) fail("symbol should not be exported", argv[i + 1]);
  }
  if (failures > 0) return 1;
  printf("check_plugin: %s ok: plugin %s %s, ABI %u.%u, sdk %s, %llu connector(s)\n",
         path, d->name, d->version, (unsigned)d->abi_major,
         (unsigned)d->abi_minor, d->sdk != NULL ? d->sdk : "(none)",
         (unsigned long long)d->connectors_len);
  return 0;
}
