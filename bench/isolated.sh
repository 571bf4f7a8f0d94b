#!/usr/bin/env bash
# Whole-program cost of process isolation (issue 14, target 1): 1M JSON
# lines of ~97 bytes read by the `file` plugin, an empty pipeline, counted
# by the C `bench_sink`, with codec `string` (raw) and `json`, each once
# with both connectors in the host (isolation = "none") and once in
# tremor-runner children (isolation = "process"). Runs are paired and
# interleaved (none, process, none, ...) so that both see the same load;
# the table gives the median of each and the ratio in-process/isolated
# elapsed (>= 0.9x is the target). Not part of `make test`.
#
#   make build && bench/isolated.sh [RUNS]      (RUNS pairs per flow, default 5)
#
# BASE=/path/to/an/older/tremorctl adds its isolated runs to each round
# (before/after a change, same plugins from build/plugins; the older
# tremorctl uses the tremor-runner next to it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
events=$(bench/events-1m.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for codec in string json; do
  for iso in none process; do
    bench/passthrough-flow.sh "iso-$codec-$iso" "$codec" "$iso" "$PWD/$events" >"$tmp/$codec-$iso.toml"
  done
done

# run FLOW [TREMORCTL]: prints the elapsed ms, after checking that all
# events arrived.
run() {
  local log ms delivered
  log=$(TREMOR_PLUGIN_PATH=$PWD/build/plugins "${2:-build/bin/tremorctl}" --log-format json run "$1" 2>&1)
  ms=$(printf '%s\n' "$log" | sed -n 's/^flow "[^"]*" ran for \(.*\)$/\1/p' |
    awk '/ms$/ {sub("ms", ""); print; next} /[0-9]s$/ {sub("s", ""); print $0 * 1000}')
  delivered=$(printf '%s\n' "$log" | awk '$1 == "out" {print $3}')
  if [ -z "$ms" ] || [ "$delivered" != 1000000 ]; then
    printf '%s\n' "$log" >&2
    echo "isolated.sh: $1 did not deliver 1000000 events" >&2
    exit 1
  fi
  echo "$ms"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >&2
BASE=${BASE:-}
if [ -n "$BASE" ]; then
  echo "| flow | in-process ms | isolated ms | isolated vs in-process | isolated ms, $BASE | that vs in-process |"
  echo "|---|---:|---:|---:|---:|---:|"
else
  echo "| flow | in-process ms | isolated ms | isolated vs in-process |"
  echo "|---|---:|---:|---:|"
fi
for codec in string json; do
  none=() proc=() base=()
  for _ in $(seq "$RUNS"); do
    none+=("$(run "$tmp/$codec-none.toml")")
    proc+=("$(run "$tmp/$codec-process.toml")")
    if [ -n "$BASE" ]; then
      base+=("$(run "$tmp/$codec-process.toml" "$BASE")")
      echo "  $codec: none ${none[-1]} ms, process ${proc[-1]} ms, base process ${base[-1]} ms" >&2
    else
      echo "  $codec: none ${none[-1]} ms, process ${proc[-1]} ms" >&2
    fi
  done
  n=$(printf '%s\n' "${none[@]}" | median)
  p=$(printf '%s\n' "${proc[@]}" | median)
  if [ -n "$BASE" ]; then
    b=$(printf '%s\n' "${base[@]}" | median)
    awk -v c="$codec" -v n="$n" -v p="$p" -v b="$b" 'BEGIN { printf("| codec `%s` | %.0f | %.0f | %.2fx | %.0f | %.2fx |\n", c, n, p, n / p, b, n / b) }'
  else
    awk -v c="$codec" -v n="$n" -v p="$p" 'BEGIN { printf("| codec `%s` | %.0f | %.0f | %.2fx |\n", c, n, p, n / p) }'
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
