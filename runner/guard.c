/* Memory the runner lends the plugin under rules it can enforce with the
 * MMU (runner/PROTOCOL.md, "Read-only sends and the error buffer"): a
 * batch a sink is sent is read-only (shm.c's slots), and an inaccessible
 * page follows the error buffer's canary. A write there faults; the fault
 * handler writes one line naming the region and the rule to stderr (the
 * host shows the child's last output lines with its death) and lets the
 * signal kill the process as it would have. */
#define _GNU_SOURCE

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"

static struct {
  uintptr_t lo, hi; /* [lo, hi); hi == 0: not guarded now */
} regions[GUARD_N];

static const char *const reports[GUARD_N] = {
    [GUARD_BATCH] = "tremor-runner: the plugin faulted writing into the batch it was sent (on_send may only read "
                    "it: rule send.read_only); a sent batch is read-only in the plugin's process\n",
    [GUARD_ERROR] = "tremor-runner: the plugin faulted writing past the error buffer (cap 4096) and its canary "
                    "(a plugin never writes past msg[cap-1]: rule error.cap)\n",
};

void guard_region(int which, const void *base, size_t len) {
  uintptr_t lo = (uintptr_t)base;
  __atomic_store_n(&regions[which].hi, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&regions[which].lo, lo, __ATOMIC_SEQ_CST);
  __atomic_store_n(&regions[which].hi, len ? lo + len : 0, __ATOMIC_SEQ_CST);
}

static void on_fault(int sig, siginfo_t *si, void *uctx) {
  (void)uctx;
  uintptr_t a = (uintptr_t)si->si_addr;
  for (int i = 0; i < GUARD_N; i++) {
    if (i == GUARD_BATCH) {
      if (in_read_only_slot(a)) {
        ssize_t w = write(2, reports[i], strlen(reports[i]));
        (void)w;
        break;
      }
      continue;
    }
    uintptr_t lo = __atomic_load_n(&regions[i].lo, __ATOMIC_SEQ_CST);
    uintptr_t hi = __atomic_load_n(&regions[i].hi, __ATOMIC_SEQ_CST);
    if (hi != 0 && a >= lo && a < hi) {
      ssize_t w = write(2, reports[i], strlen(reports[i]));
      (void)w;
      break;
    }
  }
  /* The faulting instruction runs again on return and the default action
   * ends the process with the signal, as without this handler. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, NULL);
}

/* Installed before the plugin is loaded: a Go runtime in the plugin keeps
 * it and forwards faults outside Go code to it. */
void install_fault_report(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
}
