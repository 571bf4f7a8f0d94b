/* A minimal test harness: CHECK keeps going after a failure so one run
 * shows every broken expectation; main returns check_result(). */
#ifndef TREMOR_PDK_TEST_CHECK_H
#define TREMOR_PDK_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,    \
              #cond);                                                     \
      check_failures++;                                                   \
    }                                                                     \
  } while (0)

#define CHECK_EQ_U(a, b)                                                  \
  do {                                                                    \
    uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);          \
    if (check_a_ != check_b_) {                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%" PRIu64          \
              " != %" PRIu64 ")\n", __FILE__, __LINE__, #a, #b,           \
              check_a_, check_b_);                                        \
      check_failures++;                                                   \
    }                                                                     \
  } while (0)

#define CHECK_EQ_I(a, b)                                                  \
  do {                                                                    \
    int64_t check_a_ = (int64_t)(a), check_b_ = (int64_t)(b);             \
    if (check_a_ != check_b_) {                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%" PRId64          \
              " != %" PRId64 ")\n", __FILE__, __LINE__, #a, #b,           \
              check_a_, check_b_);                                        \
      check_failures++;                                                   \
    }                                                                     \
  } while (0)

/* Compares `len` bytes at `p` with the NUL-terminated `s`. */
#define CHECK_BYTES(p, len, s)                                            \
  do {                                                                    \
    const char *check_s_ = (s);                                           \
    uint64_t check_n_ = (uint64_t)(len);                                  \
    if (check_n_ != strlen(check_s_) ||                                   \
        (check_n_ > 0 && memcmp((p), check_s_, (size_t)check_n_) != 0)) { \
      fprintf(stderr, "%s:%d: CHECK failed: %s == \"%s\" (got \"%.*s\")\n", \
              __FILE__, __LINE__, #p, check_s_, (int)check_n_,            \
              (const char *)(p));                                         \
      check_failures++;                                                   \
    }                                                                     \
  } while (0)

static int check_result(const char *name) {
  if (check_failures > 0) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

#endif
