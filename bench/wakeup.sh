#!/usr/bin/env bash
# What one hand-off between two processes costs on this machine (see
# bench/wakeup/wakeup.c): the wake-up of a process blocked on a unix socket
# (as tremor-runner is between requests) or an eventfd, on the same CPU as
# the waker and on another one. An isolated flow makes a few such
# hand-offs per batch; docs/benchmarks.md ("Why isolated flows wait")
# reads the numbers. Not part of `make test`.
#
#   bench/wakeup.sh [ROUNDS]    (default 2000 per row)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cc >/dev/null || { echo "wakeup.sh: needs a C compiler (cc); scripts/bootstrap.sh installs one" >&2; exit 1; }
mkdir -p build/bench
cc -O2 -std=c11 -o build/bench/wakeup bench/wakeup/wakeup.c
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; cpuidle: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo unknown)" >&2
build/bench/wakeup "${1:-2000}"
