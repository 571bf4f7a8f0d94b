#!/usr/bin/env bash
# Soak: a long run (default 3 minutes; ./scripts/soak.sh 10m for longer) of a
# flow through C, Rust and Go plugins, in the host and in child processes,
# with sources and sinks segfaulting over and over and a TCP peer restarting
# every second. Checks that every event is acked or failed back, that what
# was acked was delivered, and that the host's memory stays flat
# (tests/soak_test.go; the test command runs the same test for 4 seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/bin/tremor-runner ] || ./scripts/build.sh
export TREMOR_RUNNER="$PWD/build/bin/tremor-runner"
TREMOR_SOAK="${1:-3m}" go test -count=1 -run '^TestSoak$' -v -timeout 2h ./tests
