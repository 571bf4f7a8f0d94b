/* What one hand-off between two processes costs on this machine: process A
 * wakes process B, which is blocked waiting, and B answers at once; A
 * measures how long B took to run (the wake-up) and the whole round trip.
 * B waits either in recv(2) on a unix socket (what tremor-runner does for
 * every request) or in read(2) on an eventfd. Both pinned to one CPU, then
 * to two different CPUs (when there are two). A sleeps 200 us between
 * rounds, so that B's CPU has gone idle each time: the case of a flow's
 * child between two batches. Run by bench/wakeup.sh; not part of the tests.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  if (sched_setaffinity(0, sizeof s, &s) != 0) {
    perror("sched_setaffinity");
    exit(1);
  }
}

static void must(ssize_t n, size_t want, const char *what) {
  if (n != (ssize_t)want) {
    perror(what);
    exit(1);
  }
}

/* One measurement: rounds hand-offs from a process on cpu_a to one on
 * cpu_b that waits on a socket (eventfd = 0) or an eventfd (1). */
static void measure(int eventfd_wait, int cpu_a, int cpu_b, int rounds) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    perror("socketpair");
    exit(1);
  }
  int bell = eventfd(0, 0);
  pid_t pid = fork();
  if (pid == 0) {
    pin(cpu_b);
    for (int i = 0; i < rounds; i++) {
      int64_t v;
      if (eventfd_wait) {
        uint64_t n;
        must(read(bell, &n, sizeof n), sizeof n, "read eventfd");
      } else {
        must(read(sv[1], &v, sizeof v), sizeof v, "read socket");
      }
      v = now_ns();
      must(write(sv[1], &v, sizeof v), sizeof v, "write socket");
    }
    _exit(0);
  }
  pin(cpu_a);
  int64_t wake = 0, trip = 0;
  for (int i = 0; i < rounds; i++) {
    usleep(200);
    int64_t t0 = now_ns(), ran;
    if (eventfd_wait) {
      uint64_t one = 1;
      must(write(bell, &one, sizeof one), sizeof one, "write eventfd");
    } else {
      must(write(sv[0], &t0, sizeof t0), sizeof t0, "write socket");
    }
    must(read(sv[0], &ran, sizeof ran), sizeof ran, "read socket");
    wake += ran - t0;
    trip += now_ns() - t0;
  }
  waitpid(pid, NULL, 0);
  close(sv[0]);
  close(sv[1]);
  close(bell);
  printf("| %s | %s | %.1f | %.1f |\n", eventfd_wait ? "eventfd" : "unix socket",
         cpu_a == cpu_b ? "same CPU" : "other CPU", (double)wake / rounds / 1e3, (double)trip / rounds / 1e3);
  fflush(stdout);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  printf("| B waits in | B runs on | wake-up us | round trip us |\n|---|---|---:|---:|\n");
  for (int e = 0; e < 2; e++) {
    measure(e, 0, 0, rounds);
    if (cpus > 1) measure(e, 0, 1, rounds);
  }
  return 0;
}
