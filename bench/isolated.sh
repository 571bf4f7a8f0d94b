#!/usr/bin/env bash
# Whole-program cost of process isolation (issue 14, target 1): 1M JSON
# lines of ~97 bytes read by the `file` plugin, an empty pipeline, counted
# by the C `bench_sink`, with codec `string` (raw) and `json`, each once
# with both connectors in the host (isolation = "none") and once in
# tremor-runner children (isolation = "process"). Each round runs every
# variant once, in turn, so that all see the same load; the table gives
# each variant's median time and the median (and quartiles) of its
# per-round ratio to the in-process run of the same round: in-process ms
# / its ms, so that >= 0.9x meets the target. On a shared machine whose
# speed drifts between rounds the per-round ratio is steadier than a
# ratio of medians. Not part of `make test`.
#
#   make build && bench/isolated.sh [RUNS]      (RUNS pairs per flow, default 5)
#
# CPUS="0, 1" adds both flows pinned with the flow setting cpus = [CPUS]
# (CPUS=auto: cpus = "auto", which on two CPUs makes the same plan)
# (the source on the first CPU, the sink and the plugins' processes on
# the second), in-process and isolated.
#
# BASE=/path/to/an/older/tremorctl adds its isolated runs to each round
# (before/after a change, same plugins from build/plugins; the older
# tremorctl uses the tremor-runner next to it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
events=$(bench/events-1m.sh)
cpus_value="[${CPUS:-}]"
if [ "${CPUS:-}" = auto ]; then cpus_value='"auto"'; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for codec in string json; do
  for iso in none process; do
    bench/passthrough-flow.sh "iso-$codec-$iso" "$codec" "$iso" "$PWD/$events" >"$tmp/$codec-$iso.toml"
    if [ -n "${CPUS:-}" ]; then
      sed "s/^\[flow\]\$/[flow]\ncpus = $cpus_value/" "$tmp/$codec-$iso.toml" >"$tmp/$codec-$iso-pinned.toml"
    fi
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
# quartiles: "q1 median q3" of the numbers on stdin.
quartiles() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 3) / 4)], a[int((NR + 1) / 2)], a[int((3 * NR + 3) / 4)]}'; }

# The variants: a name, the flow (by its isolation and pinning), the binary.
variants=("in-process|none|" "isolated|process|")
if [ -n "${BASE:-}" ]; then
  variants+=("isolated, $BASE|process|$BASE")
fi
if [ -n "${CPUS:-}" ]; then
  variants+=("in-process, cpus = $cpus_value|none-pinned|" "isolated, cpus = $cpus_value|process-pinned|")
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; $RUNS rounds" >&2
echo "| flow | variant | median ms | in-process / it, per round: median (q1-q3) |"
echo "|---|---|---:|---:|"
for codec in string json; do
  declare -A ms=()
  for round in $(seq "$RUNS"); do
    line="  $codec round $round:"
    for v in "${variants[@]}"; do
      IFS='|' read -r name flow bin <<<"$v"
      t=$(run "$tmp/$codec-$flow.toml" "$bin")
      ms[$name]+="$t "
      line+=" $name $t ms;"
    done
    echo "$line" >&2
  done
  ref=(${ms[in-process]})
  for v in "${variants[@]}"; do
    IFS='|' read -r name _ _ <<<"$v"
    these=(${ms[$name]})
    read -r _ med _ < <(printf '%s\n' "${these[@]}" | quartiles)
    read -r q1 r q3 < <(for i in "${!these[@]}"; do awk -v a="${ref[$i]}" -v b="${these[$i]}" 'BEGIN { printf("%.3f\n", a / b) }'; done | quartiles)
    awk -v c="$codec" -v n="$name" -v m="$med" -v q1="$q1" -v r="$r" -v q3="$q3" \
      'BEGIN { printf("| codec `%s` | %s | %.0f | %.2fx (%.2f-%.2f) |\n", c, n, m, r, q1, q3) }'
  done
  unset ms
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
