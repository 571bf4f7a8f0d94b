#!/usr/bin/env bash
# Runs every test: C (ctest), Rust (cargo test), Go (go vet, then go test,
# including the end-to-end tests that load the plugins built by
# scripts/build.sh), then a bounded fuzz run of every Fuzz* target.
#
#   scripts/test.sh              all of it (what `make test` runs)
#   scripts/test.sh fuzz         only the named parts: c, rust, go, fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(c rust go fuzz)
for p in "${parts[@]}"; do
  case "$p" in
    c|rust|go|fuzz) ;;
    *) echo "test.sh: unknown part '$p'; the parts are c, rust, go and fuzz" >&2; exit 2 ;;
  esac
done
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

# Tests run Go plugins in a child process by default, as tremorctl does:
# the runner is next to tremorctl in production, named here for test binaries.
export TREMOR_RUNNER="$PWD/build/bin/tremor-runner"

if want c; then
  echo "== C tests (ctest)"
  ctest --test-dir build/cmake --output-on-failure
fi
if want rust; then
  echo "== Rust tests (cargo test)"
  cargo test --quiet --target-dir build/cargo
fi
if want go; then
  echo "== go vet"
  go vet ./...
  # The Kafka tests (tests/kafka_test.go) need a local broker: started here
  # so that a missing Java or jar fails loudly before the tests, stopped
  # after them whatever their result.
  echo "== Kafka broker for the Go tests (scripts/kafka.sh)"
  scripts/kafka.sh start
  echo "== Go tests (go test)"
  status=0
  go test -count=1 ./... || status=$?
  scripts/kafka.sh stop
  [ "$status" = 0 ] || exit "$status"
fi
want fuzz || exit 0

# Every Fuzz* target in the tree: flow files, codecs, pre-processors, and the
# host's reading of plugin-written values and batches. The seed corpus also
# runs as ordinary tests above; this explores beyond it for a while.
#
# Budgets are counts of inputs, not durations: with a duration the fuzz
# coordinator can race its own deadline and fail with "context deadline
# exceeded" although nothing was found (golang/go#75804, fixed in Go 1.27).
# Each count takes 2-4 s on a loaded 2-core machine (measured, including
# the ~1 s to start the fuzzer). A target not listed gets the default.
# FUZZTIME, when set, replaces every budget (say FUZZTIME=1000000x).
declare -A fuzz_budget=(
  [FuzzCheckDecode]=60000x
  [FuzzJSONDecode]=20000x
  [FuzzMsgpackDecode]=20000x
  [FuzzCSVDecode]=20000x
  [FuzzStringDecode]=25000x
  [FuzzBinaryDecode]=15000x
  [FuzzParse]=40000x
  [FuzzLines]=25000x
  [FuzzLengthPrefixed]=25000x
  [FuzzAdoptPulled]=40000x
)
default_budget=20000x
echo "== Fuzzing, bounded (${FUZZTIME:-a count of inputs per target})"
fuzzlog=$(mktemp)
trap 'rm -f "$fuzzlog"' EXIT
fuzzed=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    budget=${FUZZTIME:-${fuzz_budget[$target]:-$default_budget}}
    start=$SECONDS
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" "$pkg" >"$fuzzlog" 2>&1; then
      cat "$fuzzlog"
      echo "FAIL $pkg $target ($budget)"
      echo "fuzz: $fuzzed passed, 1 failed"
      exit 1
    fi
    echo "ok  $pkg $target ($budget, $((SECONDS - start)) s)"
    fuzzed=$((fuzzed + 1))
  done
done
echo "fuzz: $fuzzed passed, 0 failed"
