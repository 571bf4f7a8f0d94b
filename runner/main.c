/*
 * tremor-runner: runs one Tremor connector plugin (include/tremor/plugin.h)
 * in a process of its own, for a host that does not want to load it into
 * itself (host/isolate). Plain C11 + POSIX, links only libc, libdl and
 * libpthread, so that a Go plugin's runtime is the only Go runtime in this
 * process.
 *
 *   tremor-runner --describe FILE [LIB...]
 *       loads each LIB (the libraries the host found through FILE's
 *       $ORIGIN rpath, in order), then FILE, and prints its descriptor, as
 *       read and not checked, as one JSON object on stdout (the host checks it exactly as it checks a
 *       descriptor it read itself). A plugin that crashes or hangs here
 *       takes down this process only: the host reports it as that file's
 *       error (the gst-plugin-scanner idea).
 *
 *   tremor-runner --serve FILE CONNECTOR FD [LIB...]
 *       loads each LIB and FILE likewise, then serves one instance of
 *       connector type CONNECTOR of FILE over the connected AF_UNIX
 *       stream socket FD: one request at a time from the
 *       host, each answered in order; the batch arenas are memfds the host
 *       passes with SCM_RIGHTS and both processes map; log lines from any
 *       thread of the plugin go back on the same socket.
 *
 * The wire protocol is documented in runner/PROTOCOL.md. The runner checks
 * nothing the host does not check again: it relays what the plugin wrote.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

void die(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("tremor-runner: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  _exit(status);
}

uint32_t hooks_of(const tremor_connector_vtable *vt) {
  int present[] = {
      vt->on_create != NULL, vt->on_destroy != NULL, vt->on_connect != NULL, vt->on_start != NULL,
      vt->on_pause != NULL,  vt->on_resume != NULL,  vt->on_drain != NULL,   vt->on_stop != NULL,
      vt->on_pull != NULL,   vt->on_ack != NULL,     vt->on_fail != NULL,    vt->on_send != NULL,
  };
  uint32_t bits = 0;
  for (unsigned i = 0; i < sizeof present / sizeof present[0]; i++)
    if (present[i]) bits |= 1u << i;
  return bits;
}

const char *const hook_names[] = {"on_create", "on_destroy", "on_connect", "on_start",
                                         "on_pause",  "on_resume",  "on_drain",   "on_stop",
                                         "on_pull",   "on_ack",     "on_fail",    "on_send"};

/* Ends this process when the host goes away, even while a hook hangs: the
 * main thread, when it is not stuck in a hook, sees the end of the socket
 * first and ends the instance with on_destroy; after 2 s the watcher ends
 * the process without waiting any longer. */
static void *watch_host(void *arg) {
  (void)arg;
  for (;;) {
    struct pollfd p = {sock, POLLRDHUP, 0};
    int n = poll(&p, 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) break;
  }
  struct timespec grace = {2, 0};
  while (nanosleep(&grace, &grace) != 0 && errno == EINTR) {
  }
  _exit(0);
}

/* Loads the libraries the host found through the plugin's $ORIGIN rpath
 * (runner/PROTOCOL.md, "Libraries found through $ORIGIN"), in the order
 * given; returns NULL, or what failed (in a static buffer). */
const char *preload(char **libs, int n) {
  static char msg[1024];
  for (int i = 0; i < n; i++) {
    if (!dlopen(libs[i], RTLD_NOW | RTLD_LOCAL)) {
      const char *e = dlerror();
      snprintf(msg, sizeof msg, "cannot load %s, a library the plugin needs: %s", libs[i], e ? e : "dlopen failed");
      return msg;
    }
  }
  return NULL;
}

static int serve(const char *file, const char *connector, int fd, char **libs, int nlibs) {
  sock = fd;
  /* Not inherited by processes the plugin starts: they would keep the
   * socket open after this process is gone. */
  fcntl(sock, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  init_err_buffer();
  install_fault_report();
  const char *failed = preload(libs, nlibs);
  if (failed) die(3, "%s", failed);
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    die(3, "cannot load %s: %s", file, e ? e : "dlopen failed");
  }
  void *sym = dlsym(h, TREMOR_PLUGIN_ENTRY_SYMBOL);
  if (!sym) die(3, "%s does not export %s", file, TREMOR_PLUGIN_ENTRY_SYMBOL);
  tremor_plugin_get_descriptor_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const tremor_plugin_descriptor *d = entry();
  if (!d || d->struct_size < sizeof *d || d->abi_major != TREMOR_ABI_MAJOR || d->abi_minor > TREMOR_ABI_MINOR)
    die(3, "%s: the descriptor is not one this runner can read", file);
  const tremor_connector_type *t = NULL;
  for (uint64_t i = 0; i < d->connectors_len && i < MAX_CONNECTORS; i++) {
    const tremor_connector_type *c = d->connectors[i];
    if (c && c->struct_size >= offsetof(tremor_connector_type, framing) && c->name && strcmp(c->name, connector) == 0) {
      t = c;
      break;
    }
  }
  if (!t) die(3, "%s has no connector type %s", file, connector);
  if (!t->vtable || t->vtable->struct_size < sizeof(tremor_connector_vtable) || !t->vtable->on_create ||
      !t->vtable->on_destroy)
    die(3, "%s: connector type %s has no usable vtable", file, connector);
  vt = t->vtable;

  pthread_t watcher;
  if (pthread_create(&watcher, NULL, watch_host, NULL) != 0) die(71, "cannot start a thread");
  pthread_detach(watcher);

  struct {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t hooks;
    uint32_t pid;
    uint32_t reserved;
  } ready = {TREMOR_ABI_MAJOR, TREMOR_ABI_MINOR, hooks_of(vt), (uint32_t)getpid(), 0};
  struct iovec part = {&ready, sizeof ready};
  send_frame(MSG_READY, &part, 1);

  for (;;) {
    uint16_t type;
    uint8_t *body;
    uint32_t len;
    if (!next_request(&type, &body, &len)) break; /* the host closed: end */
    if (!created && type != REQ_CREATE && type != REQ_MAP && type != REQ_DESTROY) {
      reply_msg(TREMOR_ERR_INVALID, "tremor-runner: no instance yet (request %u before CREATE)", type);
      continue;
    }
    reply_type = type == REQ_AHEAD ? MSG_PULLED : MSG_REPLY;
    switch (type) {
    case REQ_CREATE: do_create(body, len); break;
    case REQ_CONNECT: do_connect(body, len); break;
    case REQ_STEP: do_step(body, len); break;
    case REQ_MAP: do_map(body, len); break;
    case REQ_PULL: do_pull(body, len); break;
    case REQ_AHEAD: do_ahead(body, len); break;
    case REQ_RETURN: do_return(body, len); break;
    case REQ_IDS: do_ids(body, len); break;
    case REQ_SEND: do_send(body, len); break;
    case REQ_DESTROY:
      destroy_instance();
      reply(TREMOR_OK, NULL, 0);
      _exit(0);
    default: die(76, "protocol error: unknown request type %u", type);
    }
  }
  destroy_instance();
  _exit(0);
}

static const char usage[] =
    "usage: tremor-runner --describe FILE [LIB...]\n"
    "       tremor-runner --serve FILE CONNECTOR FD [LIB...]\n"
    "\n"
    "Runs a Tremor connector plugin in a process of its own for a host\n"
    "(tremorctl); see runner/PROTOCOL.md. Not meant to be run by hand, but\n"
    "--describe is safe to try: it prints what FILE says about itself.\n";

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--describe") == 0) return describe(argv[2], argv + 3, argc - 3);
  if (argc >= 5 && strcmp(argv[1], "--serve") == 0) {
    char *end;
    long fd = strtol(argv[4], &end, 10);
    if (*end || fd < 0 || fd > 1 << 20) die(2, "--serve: FD %s is not a file descriptor number", argv[4]);
    return serve(argv[2], argv[3], (int)fd, argv + 5, argc - 5);
  }
  if (argc == 2 && (strcmp(argv[1], "--version") == 0)) {
    printf("tremor-runner (plugin ABI %s)\n", TREMOR_ABI_VERSION_STRING);
    return 0;
  }
  fputs(usage, argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
  return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
