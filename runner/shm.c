/* The shared batch mappings (runner/PROTOCOL.md, "Batches in shared
 * memory"): MAP puts a memfd the host passed into a slot; a wire header
 * (offsets into a slot's mapping) becomes the plugin's tremor_batch and
 * back. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runner.h"

/* read_only: the slot is mapped PROT_READ (it was sent and not pulled into
 * since); read by the fault handler, hence the atomic accesses. */
static struct {
  uint8_t *base;
  uint64_t size;
  uint64_t id;
  int read_only;
} slots[SLOTS];

void do_map(const uint8_t *body, uint32_t len) {
  struct {
    uint32_t slot;
    uint32_t reserved;
    uint64_t size;
    uint64_t id;
  } m;
  if (!get(body, len, 0, &m, sizeof m)) die(76, "protocol error: short MAP");
  int fd = take_fd();
  if (fd < 0) die(76, "protocol error: MAP without a file descriptor");
  if (m.slot >= SLOTS) die(76, "protocol error: MAP slot %u", m.slot);
  __atomic_store_n(&slots[m.slot].read_only, 0, __ATOMIC_SEQ_CST);
  if (slots[m.slot].base) munmap(slots[m.slot].base, (size_t)slots[m.slot].size);
  slots[m.slot].base = NULL;
  void *p = mmap(NULL, (size_t)m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) {
    reply_msg(TREMOR_ERR_FAILED, "tremor-runner: mmap of %llu bytes: %s", (unsigned long long)m.size, strerror(e));
    return;
  }
  slots[m.slot].base = p;
  slots[m.slot].size = m.size;
  slots[m.slot].id = m.id;
  reply(TREMOR_OK, NULL, 0);
}

/* Builds the plugin's header from a wire header, checking that the room it
 * describes lies inside the slot's mapping. */
int to_batch(uint32_t slot, const wire_batch *w, tremor_batch *b) {
  if (slot >= SLOTS || !slots[slot].base) return 0;
  uint8_t *base = slots[slot].base;
  uint64_t size = slots[slot].size;
#define IN_MAP(off, n, elem) ((off) <= size && (n) <= (size - (off)) / (elem))
  if (!IN_MAP(w->events, w->events_cap, sizeof(tremor_event)) || !IN_MAP(w->values, w->values_cap, sizeof(tremor_value)) ||
      !IN_MAP(w->bytes, w->bytes_cap, 1) || w->events_len > w->events_cap || w->values_len > w->values_cap ||
      w->bytes_len > w->bytes_cap)
    return 0;
#undef IN_MAP
  memset(b, 0, sizeof *b);
  b->struct_size = w->struct_size;
  b->reserved0 = w->reserved0;
  b->events = (tremor_event *)(void *)(base + w->events);
  b->events_len = w->events_len;
  b->events_cap = w->events_cap;
  b->values = (tremor_value *)(void *)(base + w->values);
  b->values_len = w->values_len;
  b->values_cap = w->values_cap;
  b->bytes = base + w->bytes;
  b->bytes_len = w->bytes_len;
  b->bytes_cap = w->bytes_cap;
  b->bytes_needed = w->bytes_needed;
  b->values_needed = w->values_needed;
  return 1;
}

/* The header as the plugin left it, pointers turned back into offsets
 * (whatever the plugin put there: the host checks them). */
void to_wire(uint32_t slot, const tremor_batch *b, wire_batch *w) {
  uintptr_t base = (uintptr_t)slots[slot].base;
  w->struct_size = b->struct_size;
  w->reserved0 = b->reserved0;
  w->events = (uint64_t)((uintptr_t)b->events - base);
  w->events_len = b->events_len;
  w->events_cap = b->events_cap;
  w->values = (uint64_t)((uintptr_t)b->values - base);
  w->values_len = b->values_len;
  w->values_cap = b->values_cap;
  w->bytes = (uint64_t)((uintptr_t)b->bytes - base);
  w->bytes_len = b->bytes_len;
  w->bytes_cap = b->bytes_cap;
  w->bytes_needed = b->bytes_needed;
  w->values_needed = b->values_needed;
}


/* Makes a slot read-only (a sink's on_send only reads the batch it is
 * sent) or writable again (a source's on_pull writes into it). A slot keeps
 * its protection until a request needs the other one: a sink's slots stay
 * read-only from their first send on, without two mprotect calls per send.
 * A fault in a read-only slot is reported as a write into a sent batch
 * (guard.c), at any time: the plugin may not touch a batch after the hook
 * it was lent to returns either. */
int protect_slot(uint32_t slot, int read_only) {
  if (slot >= SLOTS || !slots[slot].base) return 0;
  if (slots[slot].read_only == read_only) return 1;
  if (!read_only) __atomic_store_n(&slots[slot].read_only, 0, __ATOMIC_SEQ_CST);
  int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  if (mprotect(slots[slot].base, (size_t)slots[slot].size, prot) != 0) return 0;
  if (read_only) __atomic_store_n(&slots[slot].read_only, 1, __ATOMIC_SEQ_CST);
  return 1;
}

/* Whether addr is in a read-only slot; for the fault handler. */
int in_read_only_slot(uintptr_t addr) {
  for (int i = 0; i < SLOTS; i++) {
    if (!__atomic_load_n(&slots[i].read_only, __ATOMIC_SEQ_CST)) continue;
    uintptr_t lo = (uintptr_t)__atomic_load_n(&slots[i].base, __ATOMIC_SEQ_CST);
    uint64_t size = __atomic_load_n(&slots[i].size, __ATOMIC_SEQ_CST);
    if (lo && addr >= lo && addr - lo < size) return 1;
  }
  return 0;
}
