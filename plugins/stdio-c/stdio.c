/* stdio: the process's standard streams as connectors.
 *
 *   stdin  (source, bytes): reads standard input in chunks of at most
 *          buf_size bytes, each chunk one event (framing, such as lines, is
 *          the job of the host's pre-processors). Reads go straight into
 *          the host's arena: no copy, no allocation. pull waits for input
 *          with poll() for at most wait_ms, so it never blocks longer. At end
 *          of input the source answers TREMOR_END. Standard input cannot be
 *          read twice: events that fail downstream are logged and counted,
 *          not replayed. Only one stdin instance may be connected at a time
 *          in a process (two would split the input between them).
 *
 *   stdout (sink, bytes): writes each event's payload as-is to standard
 *          output, or to standard error with stream = "stderr". A batch is
 *          written with writev() straight from the host's arena (no copy)
 *          before its outcomes say OK. Nothing is buffered in the plugin, so
 *          drain only has to push a regular file's data to disk (fdatasync).
 *          Pipes and sockets are written without blocking (a pipe through
 *          a non-blocking descriptor of the sink's own, so the stream's
 *          flags, shared with the parent process, stay as they are): when
 *          the stream takes no data for write_timeout_ms (a reader that
 *          does not read), the events not yet written are answered RETRY
 *          and sent again after the host's backoff, and the hook returns.
 *          When the reader is gone (EPIPE) the rest of the batch fails;
 *          SIGPIPE is blocked around the write (MSG_NOSIGNAL for sockets),
 *          so a closed pipe never kills the host.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tremor/pdk.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

#define MAX_BUF_SIZE (UINT64_C(64) << 20)

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ======================================================================== */
/* stdin                                                                    */
/* ======================================================================== */

/* Set while a stdin instance is connected: one reader per process. */
static atomic_bool stdin_claimed;

typedef struct stdin_source {
  tremor_pdk_host host;
  int fd;
  uint64_t chunk;   /* bytes read at most per event */
  bool claimed;     /* this instance holds stdin_claimed */
  bool eof;
  uint64_t next_id; /* ids count from 0 */
  uint64_t bytes, acked, failed;
} stdin_source;

static int32_t stdin_create(const tremor_create_args *args, void **instance,
                            tremor_error *err) {
  uint64_t chunk = 65536;
  int32_t rc = tremor_config_uint(&args->config, "buf_size", &chunk, NULL, err);
  if (rc != TREMOR_OK) return rc;
  if (chunk == 0 || chunk > MAX_BUF_SIZE)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "buf_size must be between 1 and %" PRIu64 " bytes, not %" PRIu64,
                       MAX_BUF_SIZE, chunk);
  stdin_source *s = calloc(1, sizeof *s);
  if (s == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
  tremor_pdk_host_init(&s->host, args);
  s->fd = STDIN_FILENO;
  s->chunk = chunk;
  *instance = s;
  return TREMOR_OK;
}

static void stdin_release(stdin_source *s) {
  if (s->claimed) {
    atomic_store(&stdin_claimed, false);
    s->claimed = false;
  }
}

static void stdin_destroy(void *instance) {
  stdin_source *s = instance;
  stdin_release(s);
  free(s);
}

static int32_t stdin_connect(void *instance, uint32_t attempt,
                             tremor_error *err) {
  stdin_source *s = instance;
  (void)attempt;
  if (!s->claimed) {
    bool expected = false;
    if (!atomic_compare_exchange_strong(&stdin_claimed, &expected, true))
      return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                         "standard input is already read by another stdin "
                         "connector in this process; use one");
    s->claimed = true;
  }
  if (fcntl(s->fd, F_GETFL) < 0) {
    int e = errno;
    stdin_release(s);
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG, "standard input is not open: %s",
                       strerror(e));
  }
  return TREMOR_OK;
}

/* Takes back the event reserved last (its read brought nothing). */
static void unreserve(tremor_batch *room) {
  room->events_len--;
  room->bytes_len = room->events[room->events_len].payload.offset;
}

static int32_t stdin_pull(void *instance, tremor_batch *room, uint32_t wait_ms,
                          tremor_error *err) {
  stdin_source *s = instance;
  if (s->eof) return TREMOR_END;
  int timeout = wait_ms > INT_MAX ? INT_MAX : (int)wait_ms;
  while (room->events_len < room->events_cap) {
    uint64_t free_bytes = room->bytes_cap - room->bytes_len;
    if (free_bytes == 0) {
      if (room->events_len > 0) break;
      room->bytes_needed = s->chunk;
      room->values_needed = 0;
      return tremor_pdk_fail(err, TREMOR_ERR_NO_ROOM, "an event needs up to %" PRIu64 " bytes",
                         s->chunk);
    }
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    int r = poll(&p, 1, timeout);
    timeout = 0; /* wait for the first chunk only */
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) break;
      return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "poll on standard input: %s",
                         strerror(errno));
    }
    if (p.revents & POLLNVAL)
      return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "standard input was closed");
    uint64_t want = s->chunk < free_bytes ? s->chunk : free_bytes;
    uint8_t *dst;
    if (tremor_pdk_batch_reserve_bytes(room, s->next_id, want, &dst) != TREMOR_OK)
      break; /* cannot happen: the room was checked above */
    ssize_t n = read(s->fd, dst, (size_t)want);
    if (n > 0) {
      tremor_event *ev = &room->events[room->events_len - 1];
      ev->payload.len = (uint64_t)n;
      room->bytes_len = ev->payload.offset + (uint64_t)n;
      s->next_id++;
      s->bytes += (uint64_t)n;
      continue;
    }
    unreserve(room);
    if (n == 0) {
      s->eof = true;
      tremor_log(&s->host, TREMOR_LOG_DEBUG,
                 "end of standard input after %" PRIu64 " bytes in %" PRIu64 " events",
                 s->bytes, s->next_id);
      return TREMOR_END;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) break;
    return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "read standard input: %s",
                       strerror(errno));
  }
  return TREMOR_OK;
}

static int32_t stdin_ack(void *instance, const uint64_t *ids, uint64_t count,
                         tremor_error *err) {
  stdin_source *s = instance;
  (void)ids;
  (void)err;
  s->acked += count;
  return TREMOR_OK;
}

/* Standard input cannot be read again: say what was lost. */
static int32_t stdin_fail(void *instance, const uint64_t *ids, uint64_t count,
                          tremor_error *err) {
  stdin_source *s = instance;
  (void)err;
  s->failed += count;
  if (count > 0)
    tremor_log(&s->host, TREMOR_LOG_WARN,
               "%" PRIu64 " chunk(s) of standard input were not delivered and "
               "cannot be read again (first id %" PRIu64 ")",
               count, ids[0]);
  return TREMOR_OK;
}

static int32_t stdin_stop(void *instance, tremor_error *err) {
  stdin_source *s = instance;
  (void)err;
  tremor_log(&s->host, TREMOR_LOG_INFO,
             "stdin: read %" PRIu64 " bytes in %" PRIu64 " events, %" PRIu64
             " acked, %" PRIu64 " failed",
             s->bytes, s->next_id, s->acked, s->failed);
  stdin_release(s);
  return TREMOR_OK;
}

/* ======================================================================== */
/* stdout / stderr                                                          */
/* ======================================================================== */

typedef struct stdout_sink {
  tremor_pdk_host host;
  int fd;
  const char *name;   /* "stdout" or "stderr" */
  int timeout_ms;     /* how long the stream may refuse data */
  int wfd;            /* what is written to: fd, or a non-blocking reopen */
  bool pipe;          /* a pipe: EPIPE and SIGPIPE are possible */
  bool socket;        /* a socket: written with MSG_DONTWAIT | MSG_NOSIGNAL */
  bool regular;       /* a regular file: drain syncs it */
  bool broken;        /* the reader is gone */
  struct iovec *iov;  /* reused for every batch */
  uint64_t iov_cap;
  uint64_t events, bytes;
} stdout_sink;

static int32_t stdout_create(const tremor_create_args *args, void **instance,
                             tremor_error *err) {
  tremor_pdk_bytes stream = {(const uint8_t *)"stdout", 6};
  uint64_t timeout_ms = 1000;
  int32_t rc = tremor_config_string(&args->config, "stream", &stream, NULL, err);
  if (rc == TREMOR_OK)
    rc = tremor_config_uint(&args->config, "write_timeout_ms", &timeout_ms, NULL, err);
  if (rc != TREMOR_OK) return rc;
  int fd;
  const char *name;
  if (tremor_bytes_eq(stream, "stdout")) {
    fd = STDOUT_FILENO;
    name = "stdout";
  } else if (tremor_bytes_eq(stream, "stderr")) {
    fd = STDERR_FILENO;
    name = "stderr";
  } else {
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "stream must be \"stdout\" or \"stderr\", not \"%.*s\"",
                       (int)(stream.len > 64 ? 64 : stream.len),
                       (const char *)stream.ptr);
  }
  if (timeout_ms == 0 || timeout_ms > INT_MAX)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG,
                       "write_timeout_ms must be between 1 and %d, not %" PRIu64,
                       INT_MAX, timeout_ms);
  stdout_sink *k = calloc(1, sizeof *k);
  if (k == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
  tremor_pdk_host_init(&k->host, args);
  k->fd = fd;
  k->wfd = -1;
  k->name = name;
  k->timeout_ms = (int)timeout_ms;
  *instance = k;
  return TREMOR_OK;
}

static void close_wfd(stdout_sink *k) {
  if (k->wfd >= 0 && k->wfd != k->fd) close(k->wfd);
  k->wfd = -1;
}

static void stdout_destroy(void *instance) {
  stdout_sink *k = instance;
  close_wfd(k);
  free(k->iov);
  free(k);
}

static int32_t stdout_connect(void *instance, uint32_t attempt,
                              tremor_error *err) {
  stdout_sink *k = instance;
  (void)attempt;
  struct stat st;
  if (fstat(k->fd, &st) != 0)
    return tremor_pdk_fail(err, TREMOR_ERR_CONFIG, "%s is not open: %s", k->name,
                       strerror(errno));
  k->pipe = S_ISFIFO(st.st_mode);
  k->socket = S_ISSOCK(st.st_mode);
  k->regular = S_ISREG(st.st_mode);
  close_wfd(k);
  k->wfd = k->fd;
  if (k->pipe) {
    /* A pipe written while its reader does not read would block the hook
     * for as long as that lasts. Setting O_NONBLOCK on fd itself would
     * change the stream for everyone sharing it (the parent shell too), so
     * the sink opens the pipe anew, non-blocking, for itself. Where that
     * is not possible it writes to fd, blocking. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", k->fd);
    int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0) k->wfd = w;
  }
  return TREMOR_OK;
}

/* Writes what it can of iov without blocking (but see stdout_connect),
 * and without SIGPIPE: a reader that went away gives EPIPE instead of a
 * signal that would end the process. Sockets have MSG_NOSIGNAL; for pipes
 * SIGPIPE is blocked for this thread around the write, and a SIGPIPE the
 * write raised is consumed before the mask is restored. */
static ssize_t write_some(stdout_sink *k, const struct iovec *iov, int n) {
  if (k->socket) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = (struct iovec *)(uintptr_t)iov;
    m.msg_iovlen = (size_t)n;
    return sendmsg(k->wfd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
  }
  if (!k->pipe) return writev(k->wfd, iov, n);
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0) return writev(k->wfd, iov, n);
  sigemptyset(&pending);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t r = writev(k->wfd, iov, n);
  int saved = errno;
  if (r < 0 && saved == EPIPE && !was_pending) {
    static const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = saved;
  return r;
}

static int32_t stdout_send(void *instance, const tremor_batch *batch,
                           uint8_t *outcomes, tremor_error *err) {
  stdout_sink *k = instance;
  uint64_t n = batch->events_len;
  if (k->wfd < 0) {
    for (uint64_t i = 0; i < n; i++) outcomes[i] = TREMOR_OUTCOME_RETRY;
    return tremor_pdk_fail(err, TREMOR_ERR_DISCONNECTED, "%s is not open: connect first", k->name);
  }
  if (k->broken)
    return tremor_pdk_fail(err, TREMOR_ERR_FAILED,
                       "the reader of %s is gone (broken pipe)", k->name);
  if (n > k->iov_cap) {
    struct iovec *iov = realloc(k->iov, (size_t)n * sizeof *iov);
    if (iov == NULL) return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "out of memory");
    k->iov = iov;
    k->iov_cap = n;
  }
  /* iov[i] is event i's payload. Events that cannot be read stay FAILED
   * and get {NULL, 0}; an empty iovec with a non-NULL base (`written`) is
   * an event completely written (or empty). */
  static uint8_t written;
  for (uint64_t i = 0; i < n; i++) {
    tremor_pdk_bytes p;
    if (tremor_event_bytes(batch, &batch->events[i], &p) != TREMOR_OK) {
      k->iov[i].iov_base = NULL;
      k->iov[i].iov_len = 0;
      continue;
    }
    k->iov[i].iov_base = p.len > 0 ? (void *)(uintptr_t)p.ptr : &written;
    k->iov[i].iov_len = (size_t)p.len;
  }

  /* Write in order; `next` is the first event not completely written. */
  uint64_t next = 0;
  uint64_t deadline = 0;
  int32_t rc = TREMOR_OK;
  for (;;) {
    while (next < n && k->iov[next].iov_len == 0) {
      if (k->iov[next].iov_base != NULL) outcomes[next] = TREMOR_OUTCOME_OK;
      next++;
    }
    if (next == n) break;
    uint64_t cnt = n - next;
    if (cnt > IOV_MAX) cnt = IOV_MAX;
    ssize_t w = write_some(k, &k->iov[next], (int)cnt);
    if (w >= 0) {
      size_t left = (size_t)w;
      k->bytes += (uint64_t)w;
      for (uint64_t j = next; left > 0 && j < n; j++) {
        struct iovec *v = &k->iov[j];
        if (v->iov_len == 0) continue; /* empty, written or invalid */
        if (left < v->iov_len) {
          v->iov_base = (uint8_t *)v->iov_base + left;
          v->iov_len -= left;
          left = 0;
        } else {
          left -= v->iov_len;
          v->iov_len = 0;
          v->iov_base = &written; /* marked OK by the loop above */
        }
      }
      deadline = 0;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      /* A non-blocking stream that is full: wait for room, up to the
       * timeout for the whole stall. */
      uint64_t now = mono_ms();
      if (deadline == 0) deadline = now + (uint64_t)k->timeout_ms;
      if (now >= deadline) {
        rc = TREMOR_RETRY;
        break;
      }
      struct pollfd p = {.fd = k->wfd, .events = POLLOUT};
      poll(&p, 1, (int)(deadline - now));
      continue;
    }
    if (errno == EPIPE) {
      k->broken = true;
      tremor_log(&k->host, TREMOR_LOG_ERROR,
                 "the reader of %s is gone (broken pipe): %" PRIu64
                 " event(s) of this batch and all later ones fail",
                 k->name, n - next);
      rc = tremor_pdk_fail(err, TREMOR_ERR_FAILED, "write to %s: broken pipe", k->name);
    } else {
      rc = tremor_pdk_fail(err, TREMOR_ERR_FAILED, "write to %s: %s", k->name,
                       strerror(errno));
    }
    break;
  }
  if (rc == TREMOR_RETRY) {
    /* The stream did not take data in time: what is left goes again. A
     * partly written event is sent whole again (the host resends events,
     * not bytes), so its first part appears twice. */
    for (uint64_t i = next; i < n; i++)
      if (outcomes[i] != TREMOR_OUTCOME_OK && k->iov[i].iov_base != NULL)
        outcomes[i] = TREMOR_OUTCOME_RETRY;
    tremor_log(&k->host, TREMOR_LOG_WARN,
               "%s took no data for %d ms; %" PRIu64 " event(s) will be sent again",
               k->name, k->timeout_ms, n - next);
    rc = TREMOR_OK;
  }
  for (uint64_t i = 0; i < next; i++)
    if (outcomes[i] == TREMOR_OUTCOME_OK) k->events++;
  return rc;
}

static int32_t stdout_drain(void *instance, tremor_error *err) {
  stdout_sink *k = instance;
  if (k->regular && fdatasync(k->wfd) != 0 && errno != EINVAL && errno != EROFS)
    return tremor_pdk_fail(err, TREMOR_ERR_FAILED, "sync %s: %s", k->name,
                       strerror(errno));
  return TREMOR_OK;
}

static int32_t stdout_stop(void *instance, tremor_error *err) {
  stdout_sink *k = instance;
  (void)err;
  tremor_log(&k->host, TREMOR_LOG_INFO,
             "%s: wrote %" PRIu64 " bytes of %" PRIu64 " events", k->name,
             k->bytes, k->events);
  close_wfd(k);
  return TREMOR_OK;
}

/* ======================================================================== */
/* declarations                                                             */
/* ======================================================================== */

static const tremor_config_field stdin_fields[] = {
    {.name = "buf_size",
     .type = TREMOR_VALUE_UINT,
     .default_json = "65536",
     .doc = "bytes read at most per event"},
};

static const tremor_config_field stdout_fields[] = {
    {.name = "stream",
     .type = TREMOR_VALUE_STRING,
     .default_json = "\"stdout\"",
     .doc = "\"stdout\" or \"stderr\""},
    {.name = "write_timeout_ms",
     .type = TREMOR_VALUE_UINT,
     .default_json = "1000",
     .doc = "how long the stream may refuse data before the rest of a batch is retried"},
};

static const tremor_connector_vtable stdin_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = stdin_create,
    .on_destroy = stdin_destroy,
    .on_connect = stdin_connect,
    .on_stop = stdin_stop,
    .on_pull = stdin_pull,
    .on_ack = stdin_ack,
    .on_fail = stdin_fail,
};

static const tremor_connector_vtable stdout_vtable = {
    .struct_size = sizeof(tremor_connector_vtable),
    .on_create = stdout_create,
    .on_destroy = stdout_destroy,
    .on_connect = stdout_connect,
    .on_drain = stdout_drain,
    .on_stop = stdout_stop,
    .on_send = stdout_send,
};

static const tremor_connector_type stdin_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SOURCE,
    .name = "stdin",
    .description = "reads standard input in chunks of at most buf_size bytes; ends at end of input. Acks are counted; a failed chunk cannot be read again: it is logged and dropped",
    .payload = TREMOR_PAYLOAD_BYTES,
    .framing = "lines", /* natural framing: one event per line */
    .fields_len = TREMOR_COUNT_OF(stdin_fields),
    .fields = stdin_fields,
    .vtable = &stdin_vtable,
};

static const tremor_connector_type stdout_type = {
    .struct_size = sizeof(tremor_connector_type),
    .kinds = TREMOR_KIND_SINK,
    .name = "stdout",
    .description = "writes each payload as-is to standard output (or standard error); ack = writev() took every byte (the reader may not have read it yet)",
    .payload = TREMOR_PAYLOAD_BYTES,
    .framing = "lines", /* natural framing: one event per line */
    .fields_len = TREMOR_COUNT_OF(stdout_fields),
    .fields = stdout_fields,
    .vtable = &stdout_vtable,
};

TREMOR_PLUGIN_DEFINE("stdio", "0.1.0",
                     "standard input as a source, standard output or error as a sink",
                     "Apache-2.0", &stdin_type, &stdout_type);
