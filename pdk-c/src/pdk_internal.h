/* Shared between the pdk-c sources; not installed. */
#ifndef TREMOR_PDK_INTERNAL_H
#define TREMOR_PDK_INTERNAL_H

#include "tremor/pdk.h"

/* The longest prefix of s[0 .. len) that does not end inside a UTF-8
 * character, for cutting text that was valid UTF-8 before the cut. */
uint64_t tremor_pdk_utf8_cut(const uint8_t *s, uint64_t len);

/* True when [offset, offset + len) lies inside an arena of arena_len units,
 * without overflowing. */
static inline bool tremor_pdk_span_ok(uint64_t offset, uint64_t len,
                                      uint64_t arena_len) {
  return offset <= arena_len && len <= arena_len - offset;
}

#endif /* TREMOR_PDK_INTERNAL_H */
