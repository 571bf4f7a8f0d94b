#!/usr/bin/env bash
# Runs the benchmarks of issue 4 and prints the tables of docs/benchmarks.md
# (also written to build/bench/results.md, with the raw go test output in
# build/bench/go-bench.txt):
#
#   1. flows (package bench, BenchmarkFlow): Go in-process vs C, Rust and Go
#      plugins; raw (binary codec) and json flows; batch 1, 64, 1024 and
#      the default; payloads 100 B, 1 KiB, 64 KiB; each row's ratio to the
#      Go in-process row of the same configuration, measured in the same run;
#   2. the boundary alone (BenchmarkBoundary): Pull / Send per event;
#   3. whole program: tremorctl runs bench/flows/file-json.toml over a file
#      of 1M JSON lines of about 100 bytes (generated into build/bench/);
#   4. load cost: one plugin.Load, and list-plugins over 100 plugin files;
#   5. isolation (BenchmarkFlowIsolated): each plugin flow at the default
#      batch with both connectors in the host, then both in tremor-runner
#      child processes, and the ratio of the two.
#
# Not part of the test command. Takes about 9 minutes on 2 cores.
#
# Environment:
#   BENCHTIME   -benchtime of the flow and boundary benchmarks (default 0.5s)
#   COUNT       runs of the whole matrix; tables show medians (default 3)
#   BENCH       -bench regexp of the first step (default '^Benchmark(Flow|Boundary)$')
#   SKIP_BUILD  1: do not run ./scripts/build.sh first
#   RUNS        tremorctl runs of the whole-program flow (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."

BENCHTIME=${BENCHTIME:-0.5s}
COUNT=${COUNT:-3}
BENCH=${BENCH:-^Benchmark(Flow|Boundary)$}
RUNS=${RUNS:-3}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  ./scripts/build.sh >/dev/null
fi
out=build/bench
mkdir -p "$out"
raw="$out/go-bench.txt"
results="$out/results.md"

machine() {
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs ($(uname -sm)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
  echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- $(go version | sed 's/^go version //;s/^/Go /'), $(rustc --version 2>/dev/null || echo 'rustc ?'), $(cc --version | head -1)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' + uncommitted changes')"
}

{
  echo "## Run"
  echo
  machine
  echo "- command: \`./scripts/bench.sh\` (BENCHTIME=$BENCHTIME COUNT=$COUNT)"
  echo
} >"$results"
cat "$results"

echo "== flows and boundary: go test -run '^\$' -bench '$BENCH' -benchtime $BENCHTIME -count $COUNT ./bench/" >&2
go test -run '^$' -bench "$BENCH" -benchtime "$BENCHTIME" -count "$COUNT" -timeout 60m ./bench/ | tee "$raw" >&2
if ! grep -q '^Benchmark' "$raw"; then
  echo "bench: no benchmark matched -bench '$BENCH'" >&2
  exit 1
fi

echo "== load cost: go test -run '^\$' -bench 'LoadPlugin|ListPlugins100' -benchtime 100x ./bench/" >&2
go test -run '^$' -bench 'LoadPlugin|ListPlugins100' -benchtime 100x -count "$COUNT" ./bench/ | tee -a "$raw" >&2

echo "== isolation: go test -run '^\$' -bench '^BenchmarkFlowIsolated\$' -benchtime $BENCHTIME -count $COUNT ./bench/" >&2
go test -run '^$' -bench '^BenchmarkFlowIsolated$' -benchtime "$BENCHTIME" -count "$COUNT" -timeout 60m ./bench/ | tee -a "$raw" >&2

echo "== whole program: build/bin/tremorctl run bench/flows/file-json.toml" >&2
events=$(bench/events-1m.sh)
bytes=$(wc -c <"$events")
whole=()
for _ in $(seq "$RUNS"); do
  log=$(build/bin/tremorctl --log-format json run bench/flows/file-json.toml 2>&1)
  ms=$(printf '%s\n' "$log" | sed -n 's/^flow "file-json" ran for \(.*\)$/\1/p' |
    awk '/ms$/ {sub("ms", ""); print; next} /[0-9]s$/ {sub("s", ""); print $0 * 1000}')
  delivered=$(printf '%s\n' "$log" | awk '$1 == "out" {print $3}')
  if [ -z "$ms" ] || [ "$delivered" != 1000000 ]; then
    printf '%s\n' "$log" >&2
    echo "bench: the whole-program flow did not deliver 1000000 events" >&2
    exit 1
  fi
  whole+=("$ms")
  echo "   ran for ${ms} ms: $(awk -v ms="$ms" 'BEGIN {printf "%.0f", 1e6 / (ms / 1000)}') events/s" >&2
done
median=$(printf '%s\n' "${whole[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')

{
  go run ./bench/benchtable <"$raw"
  echo "### Whole program"
  echo
  echo "| what | events | bytes | elapsed (median of $RUNS) | events/s | MB/s |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -v ms="$median" -v b="$bytes" 'BEGIN {
    printf("| `tremorctl run bench/flows/file-json.toml`: file (Rust) -> json -> pipeline -> json -> bench_sink (C) | 1000000 | %d | %d ms | %.2fM | %.0f |\n",
           b, ms, 1e6 / (ms / 1000) / 1e6, b / (ms / 1000) / 1e6) }'
  echo
  echo "- load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$results"
echo >&2
echo "bench: tables in $results, raw output in $raw" >&2
