#!/usr/bin/env bash
# tremorctl against Benthos v4 on the same file (issue 14): 1M JSON lines
# of ~97 bytes (bench/events-1m.sh), two flows each:
#   raw:  tremorctl file (codec string) -> empty pipeline -> C bench_sink;
#         Benthos file input (lines scanner) -> drop output
#   json: tremorctl the same with codec json;
#         Benthos the same with a `mapping: root = this` processor
# Both in one process (tremorctl's connectors in the host, as
# bench/isolated.sh's in-process rows). Runs are paired and interleaved
# (tremorctl, Benthos, tremorctl, ...) so that both see the same load; the
# table gives the median wall time of each (process start to exit), the
# events/s it makes and the ratio tremorctl/Benthos. Not part of
# `make test`.
#
#   make build && bench/benthos.sh [RUNS]       (RUNS pairs per flow, default 5)
#
# Benthos is `benthos` or `redpanda-connect` on PATH, or BENTHOS=path.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
BENTHOS=${BENTHOS:-$(command -v benthos || command -v redpanda-connect || true)}
if [ -z "$BENTHOS" ] || [ ! -x "$BENTHOS" ]; then
  cat >&2 <<'MSG'
benthos.sh: no Benthos binary: put `benthos` or `redpanda-connect` on PATH,
or set BENTHOS=/path/to/benthos. To build one (Go >= 1.25.2):
  mkdir /tmp/benthos && cd /tmp/benthos && go mod init benthos &&
  go get github.com/redpanda-data/benthos/v4/cmd/benthos@v4.60.0 &&
  go build -o /tmp/benthos/benthos github.com/redpanda-data/benthos/v4/cmd/benthos
then: BENTHOS=/tmp/benthos/benthos bench/benthos.sh
MSG
  exit 2
fi
if [ ! -x build/bin/tremorctl ] || [ ! -e build/plugins/libtremor_bench.so ]; then
  echo "benthos.sh: build/bin/tremorctl or build/plugins/libtremor_bench.so (bench_sink) is missing: run make build first" >&2
  exit 2
fi
events=$(bench/events-1m.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for codec in string json; do
  bench/passthrough-flow.sh "benthos-$codec" "$codec" none "$PWD/$events" >"$tmp/$codec.toml"
  processors="[]"
  if [ "$codec" = json ]; then
    processors="[ { mapping: 'root = this' } ]"
  fi
  # The metrics logger prints the output's message count at shutdown, so
  # that a short run is caught rather than timed.
  cat >"$tmp/$codec.yaml" <<YAML
http: { enabled: false }
logger: { level: INFO, format: logfmt }
metrics:
  logger: { push_interval: "", flush_metrics: false }
input:
  file:
    paths: [ "$PWD/$events" ]
    scanner: { lines: {} }
pipeline:
  processors: $processors
output:
  drop: {}
YAML
done

now_ms() { date +%s%3N; }
fail() {
  printf '%s\n' "$2" >&2
  echo "benthos.sh: $1 did not deliver 1000000 events (output above)" >&2
  exit 1
}
# tremor FLOW: prints the wall ms, after checking that all events arrived.
tremor() {
  local t0 log delivered
  t0=$(now_ms)
  log=$(TREMOR_PLUGIN_PATH=$PWD/build/plugins build/bin/tremorctl --log-format json run "$1" 2>&1) || fail "tremorctl run $1" "$log"
  echo $(($(now_ms) - t0))
  delivered=$(printf '%s\n' "$log" | awk '$1 == "out" {print $3}')
  [ "$delivered" = 1000000 ] || fail "tremorctl run $1" "$log"
}
# benthos CONFIG: the same for Benthos (output_sent counted by its metrics).
benthos() {
  local t0 log sent
  t0=$(now_ms)
  log=$("$BENTHOS" -c "$1" 2>&1) || fail "$BENTHOS -c $1" "$log"
  echo $(($(now_ms) - t0))
  sent=$(printf '%s\n' "$log" | grep -o 'output_sent[^0-9]*[0-9]*' | grep -o '[0-9]*$' | tail -1)
  [ "$sent" = 1000000 ] || fail "$BENTHOS -c $1" "$log"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "benthos.sh: $BENTHOS ($("$BENTHOS" --version 2>&1 | head -1)); $RUNS pairs per flow" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs" >&2
echo "| flow | tremorctl ms | tremorctl events/s | Benthos ms | Benthos events/s | tremorctl vs Benthos |"
echo "|---|---:|---:|---:|---:|---:|"
for codec in string json; do
  tr=() bt=()
  for _ in $(seq "$RUNS"); do
    tr+=("$(tremor "$tmp/$codec.toml")")
    bt+=("$(benthos "$tmp/$codec.yaml")")
    echo "  $codec: tremorctl ${tr[-1]} ms, Benthos ${bt[-1]} ms" >&2
  done
  t=$(printf '%s\n' "${tr[@]}" | median)
  b=$(printf '%s\n' "${bt[@]}" | median)
  name=raw
  [ "$codec" = json ] && name=json
  awk -v n="$name" -v c="$codec" -v t="$t" -v b="$b" 'BEGIN {
    printf("| %s (codec `%s`) | %d | %.0f | %d | %.0f | %.1fx |\n", n, c, t, 1e9 / t, b, 1e9 / b, b / t) }'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
