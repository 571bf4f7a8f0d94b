#!/usr/bin/env bash
# Runs every test: C (ctest), Rust (cargo test), Go (go test, including the
# end-to-end tests that load the plugins built by scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
echo "== C tests (ctest)"
ctest --test-dir build/cmake --output-on-failure
echo "== Rust tests (cargo test)"
cargo test --quiet --target-dir build/cargo
echo "== Go tests (go test)"
# Tests run Go plugins in a child process by default, as tremorctl does:
# the runner is next to tremorctl in production, named here for test binaries.
export TREMOR_RUNNER="$PWD/build/bin/tremor-runner"
go test -count=1 ./...
echo "== Fuzzing, bounded (FUZZTIME=${FUZZTIME:=3s} per target)"
# Every Fuzz* target in the tree: flow files, codecs, pre-processors, and the
# host's reading of plugin-written values and batches. The seed corpus also
# runs as ordinary tests above; this explores beyond it for a short while.
fuzzlog=$(mktemp)
fuzzed=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$fuzzlog" 2>&1 || { cat "$fuzzlog"; exit 1; }
    echo "ok  $pkg $target"
    fuzzed=$((fuzzed + 1))
  done
done
rm -f "$fuzzlog"
echo "fuzz: $fuzzed passed, 0 failed"
