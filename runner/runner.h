/* tremor-runner's parts (runner/PROTOCOL.md): what one file of the runner
 * uses from another. The concerns, one file each:
 *   main.c      arguments, loading the connector, the serve loop
 *   describe.c  --describe: the descriptor as JSON (the scanner)
 *   protocol.c  frames on the socket: reading requests, writing replies
 *   shm.c       the shared batch mappings (MAP, wire headers)
 *   calls.c     the plugin's hooks, one request each
 *   guard.c     memory lent read-only (sent batches, past the error
 *               buffer) and the report of a fault in it
 * limits.h holds the limits shared with the host. */
#ifndef TREMOR_RUNNER_H
#define TREMOR_RUNNER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <tremor/plugin.h>

#include "limits.h"

/* main.c */
void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
uint32_t hooks_of(const tremor_connector_vtable *vt);
extern const char *const hook_names[];
#define NUM_HOOKS 12

/* describe.c */
int describe(const char *file, char **libs, int nlibs);
const char *preload(char **libs, int n);

/* protocol.c */
enum {
  /* host -> runner */
  REQ_CREATE = 1,
  REQ_CONNECT = 2,
  REQ_STEP = 3,
  REQ_MAP = 4,
  REQ_PULL = 5,
  REQ_IDS = 6,
  REQ_SEND = 7,
  REQ_DESTROY = 8,
  REQ_AHEAD = 9,
  REQ_RETURN = 10,
  /* runner -> host */
  MSG_READY = 100,
  MSG_REPLY = 101,
  MSG_LOG = 102,
  MSG_NOTICE = 103,
  MSG_PULLED = 104,
  MSG_METRIC = 105,
};

/* Hook numbers on the wire: the order of tremor_connector_vtable. */
enum { H_CREATE, H_DESTROY, H_CONNECT, H_START, H_PAUSE, H_RESUME, H_DRAIN, H_STOP, H_PULL, H_ACK, H_FAIL, H_SEND };

/* tremor_batch with offsets into the mapping in place of the three
 * pointers: how a header crosses the socket. */
typedef struct {
  uint32_t struct_size;
  uint32_t reserved0;
  uint64_t events;
  uint64_t events_len;
  uint64_t events_cap;
  uint64_t values;
  uint64_t values_len;
  uint64_t values_cap;
  uint64_t bytes;
  uint64_t bytes_len;
  uint64_t bytes_cap;
  uint64_t bytes_needed;
  uint64_t values_needed;
} wire_batch;

_Static_assert(sizeof(wire_batch) == sizeof(tremor_batch), "wire_batch mirrors tremor_batch");

typedef struct {
  uint32_t len; /* bytes after this header */
  uint16_t type;
  uint16_t flags;
} frame_hdr;

/* The fixed part of a REPLY (and of a NOTICE after its hook number). */
typedef struct {
  int32_t rc;
  uint32_t flags; /* REPLY_BUF_CHANGED, REPLY_OVERRAN */
  uint64_t msg_len;
  uint64_t msg_cap;
} reply_head;

enum {
  REPLY_BUF_CHANGED = 1, /* the plugin changed the error buffer's msg or cap */
  REPLY_OVERRAN = 2,     /* the canary after the error buffer changed */
};

extern int sock;
/* The frame type of the answer to the request being handled: REPLY, or
 * PULLED for AHEAD. */
extern uint16_t reply_type;
extern uint8_t *err_msg; /* ERROR_CAP bytes, then the canary */
extern tremor_error err;
void init_err_buffer(void);
int canary_intact(void);
void send_frame(uint16_t type, const struct iovec *parts, int nparts);
void reset_err(void);
reply_head head_of(int32_t rc, size_t *text_len);
void reply(int32_t rc, const struct iovec *extra, int nextra);
void reply_msg(int32_t rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int next_request(uint16_t *type, uint8_t **body, uint32_t *len);
int take_fd(void);
int get(const uint8_t *body, uint32_t len, size_t off, void *out, size_t n);

/* shm.c */
void do_map(const uint8_t *body, uint32_t len);
int to_batch(uint32_t slot, const wire_batch *w, tremor_batch *b);
void to_wire(uint32_t slot, const tremor_batch *b, wire_batch *w);
int protect_slot(uint32_t slot, int read_only);
int in_read_only_slot(uintptr_t addr);

/* guard.c */
enum { GUARD_BATCH, GUARD_ERROR, GUARD_N };
void guard_region(int which, const void *base, size_t len);
void install_fault_report(void);

/* calls.c */
extern const tremor_connector_vtable *vt;
extern int created;
void do_create(const uint8_t *body, uint32_t len);
void do_connect(const uint8_t *body, uint32_t len);
void do_step(const uint8_t *body, uint32_t len);
void do_pull(const uint8_t *body, uint32_t len);
void do_ahead(const uint8_t *body, uint32_t len);
void do_return(const uint8_t *body, uint32_t len);
void do_ids(const uint8_t *body, uint32_t len);
void do_send(const uint8_t *body, uint32_t len);
void destroy_instance(void);

#endif
