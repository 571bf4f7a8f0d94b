/* The runner's side of the socket (runner/PROTOCOL.md, "Frames"): whole
 * frames out from any thread, requests in with the descriptors that come
 * with them, and the REPLY every request but IDS gets. */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runner.h"

int sock = -1;
uint16_t reply_type = MSG_REPLY;
static pthread_mutex_t write_mu = PTHREAD_MUTEX_INITIALIZER;

/* Writes a whole frame (header + parts) atomically with respect to other
 * threads; the host going away ends this process. */
void send_frame(uint16_t type, const struct iovec *parts, int nparts) {
  frame_hdr h = {0, type, 0};
  struct iovec iov[8];
  iov[0].iov_base = &h;
  iov[0].iov_len = sizeof h;
  size_t total = 0;
  for (int i = 0; i < nparts; i++) {
    iov[i + 1] = parts[i];
    total += parts[i].iov_len;
  }
  h.len = (uint32_t)total;
  int n = nparts + 1;
  pthread_mutex_lock(&write_mu);
  struct iovec *v = iov;
  while (n > 0) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = v;
    m.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(sock, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      _exit(0); /* the host is gone */
    }
    size_t left = (size_t)w;
    while (n > 0 && left >= v->iov_len) {
      left -= v->iov_len;
      v++;
      n--;
    }
    if (n > 0) {
      v->iov_base = (uint8_t *)v->iov_base + left;
      v->iov_len -= left;
    }
  }
  pthread_mutex_unlock(&write_mu);
}

/* The error buffer every hook gets, mapped so that ERROR_CANARY canary
 * bytes follow it and an inaccessible page follows them: a write just past
 * the buffer changes the canary (reported in the reply's flags, bit 1), one
 * further faults (guard.c names the error buffer). */
uint8_t *err_msg;
tremor_error err;
static uint8_t *err_canary;

#define CANARY_BYTE 0xCB

void init_err_buffer(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t room = (ERROR_CAP + ERROR_CANARY + page - 1) / page * page;
  uint8_t *p = mmap(NULL, room + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || mprotect(p + room, page, PROT_NONE) != 0) die(70, "cannot map the error buffer");
  err_canary = p + room - ERROR_CANARY;
  err_msg = err_canary - ERROR_CAP;
  guard_region(GUARD_ERROR, p + room, page);
}

void reset_err(void) {
  err.msg = err_msg;
  err.cap = ERROR_CAP;
  err.len = 0;
  memset(err_canary, CANARY_BYTE, ERROR_CANARY);
}

int canary_intact(void) {
  for (int i = 0; i < ERROR_CANARY; i++)
    if (err_canary[i] != CANARY_BYTE) return 0;
  return 1;
}

reply_head head_of(int32_t rc, size_t *text_len) {
  reply_head r = {rc, 0, 0, ERROR_CAP};
  *text_len = 0;
  if (!canary_intact()) r.flags |= REPLY_OVERRAN;
  if (rc < 0 || rc == TREMOR_RETRY) { /* a RETRY may say why not yet */
    r.msg_len = err.len;
    if (err.msg != err_msg || err.cap != ERROR_CAP)
      r.flags |= REPLY_BUF_CHANGED;
    else
      *text_len = err.len < ERROR_CAP ? (size_t)err.len : ERROR_CAP;
  }
  return r;
}

/* REPLY (or PULLED): head, then the op's extra parts, then the error text. */
void reply(int32_t rc, const struct iovec *extra, int nextra) {
  size_t text;
  reply_head r = head_of(rc, &text);
  struct iovec parts[6];
  int n = 0;
  parts[n].iov_base = &r;
  parts[n++].iov_len = sizeof r;
  for (int i = 0; i < nextra; i++) parts[n++] = extra[i];
  parts[n].iov_base = err_msg;
  parts[n++].iov_len = text;
  send_frame(reply_type, parts, n);
}

void reply_msg(int32_t rc, const char *fmt, ...) {
  reset_err();
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf((char *)err_msg, ERROR_CAP, fmt, ap);
  va_end(ap);
  err.len = n < 0 ? 0 : (n >= ERROR_CAP ? ERROR_CAP - 1 : (uint64_t)n);
  reply(rc, NULL, 0);
}

/* Reading requests: a buffer refilled with recvmsg; file descriptors that
 * arrive with the bytes (SCM_RIGHTS) queue up for REQ_MAP in order. */
static uint8_t *rbuf;
static size_t rcap, rlen, rpos;
static int fdq[64];
static int fdq_len;

static void take_fds(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *fds = (int *)(void *)CMSG_DATA(c);
    for (size_t i = 0; i < n; i++) {
      if (fdq_len < (int)(sizeof fdq / sizeof fdq[0]))
        fdq[fdq_len++] = fds[i];
      else
        close(fds[i]);
    }
  }
}

/* Makes at least `need` unread bytes available; returns 0 at EOF. */
static int fill(size_t need) {
  if (rlen - rpos >= need) return 1;
  if (rpos > 0) {
    memmove(rbuf, rbuf + rpos, rlen - rpos);
    rlen -= rpos;
    rpos = 0;
  }
  if (need > rcap) {
    size_t cap = rcap ? rcap : 65536;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(rbuf, cap);
    if (!p) die(70, "out of memory");
    rbuf = p;
    rcap = cap;
  }
  while (rlen < need) {
    union {
      struct cmsghdr align;
      char data[CMSG_SPACE(sizeof(int) * 8)];
    } ctl;
    struct iovec iov = {rbuf + rlen, rcap - rlen};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.data;
    m.msg_controllen = sizeof ctl.data;
    ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(74, "reading from the host: %s", strerror(errno));
    }
    take_fds(&m);
    if (n == 0) return 0;
    rlen += (size_t)n;
  }
  return 1;
}

/* The next request: its type and body (valid until the next call). */
int next_request(uint16_t *type, uint8_t **body, uint32_t *len) {
  if (!fill(sizeof(frame_hdr))) return 0;
  frame_hdr h;
  memcpy(&h, rbuf + rpos, sizeof h);
  if (h.len > MAX_FRAME) die(76, "protocol error: a frame of %u bytes", h.len);
  if (!fill(sizeof h + h.len)) return 0;
  *type = h.type;
  *len = h.len;
  *body = rbuf + rpos + sizeof h;
  rpos += sizeof h + h.len;
  return 1;
}

/* Copies n bytes at off of the body into out; 0 when the body is short. */
int get(const uint8_t *body, uint32_t len, size_t off, void *out, size_t n) {
  if (off > len || n > len - off) return 0;
  memcpy(out, body + off, n);
  return 1;
}

/* The oldest descriptor that came with a request and was not taken yet
 * (MAP's); -1 when none came. */
int take_fd(void) {
  if (fdq_len == 0) return -1;
  int fd = fdq[0];
  memmove(fdq, fdq + 1, (size_t)(--fdq_len) * sizeof fdq[0]);
  return fd;
}
