#!/usr/bin/env bash
# NATS JetStream plugin throughput beside plain nats.go clients
# (bench/natsbaseline), on one local server with JetStream and one stream
# (BENCH, subjects bench.>), N messages of SIZE bytes:
#
#   1. natsbaseline publish: async publishes, every publish ack awaited
#   2. nats_sink: tremorctl run, C bench_source -> nats_sink (binary codec)
#   3. natsbaseline consume: a durable pull consumer as nats_source makes
#      it, fetches of 1024, each message acked, over step 1's subject
#   4. nats_source: tremorctl run, nats_source -> C bench_sink (binary
#      codec) on its own durable over the same subject, rate from the
#      per-second stats between the first message and the N-th
#
# The server is nats-server from PATH when there is one (NATS_SERVER=path
# to choose), else natsbaseline's embedded one (the nats-server module the
# tests embed, at go.mod's version). Not part of the test command. Prints
# a markdown table. Environment: N (default 1000000), SIZE (default 100),
# SKIP_BUILD=1 to skip scripts/build.sh, ROUNDS (default 3): steps 3 and 4
# that many times, interleaved, medians; BUILDS (default "build"):
# directories holding a bin/ and plugins/, each timed in every round of
# step 4 with its own tremorctl and plugins (a before/after pair).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-1000000}
SIZE=${SIZE:-100}
ROUNDS=${ROUNDS:-3}
BUILDS=${BUILDS:-build}
[ "${SKIP_BUILD:-}" = 1 ] || scripts/build.sh >/dev/null
out=build/bench/nats
rm -rf "$out"
mkdir -p "$out/store"
base="$out/natsbaseline"
go build -o "$base" ./bench/natsbaseline

NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || true)}
if [ -n "$NATS_SERVER" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$NATS_SERVER" -a 127.0.0.1 -p "$port" -js -sd "$PWD/$out/store" >"$out/server.log" 2>&1 &
  server=$!
  url="nats://127.0.0.1:$port"
  server_what="$("$NATS_SERVER" --version 2>&1 | head -n 1)"
else
  "$base" server "$PWD/$out/store" >"$out/server.url" 2>"$out/server.log" &
  server=$!
  server_what="embedded nats-server $(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
fi
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  if [ -z "${url:-}" ] && [ -s "$out/server.url" ]; then url=$(head -n 1 "$out/server.url"); fi
  if [ -n "${url:-}" ] && python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "${url##*:}" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { cat "$out/server.log" >&2; echo "nats.sh: the NATS server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "nats.sh: the NATS server did not start in 30 s (see $out/server.log)" >&2; exit 1; }

echo "== natsbaseline publish: $N messages of $SIZE bytes to $url" >&2
pub_base=$("$base" publish "$url" bench.pub "$N" "$SIZE")

echo "== nats_sink: $N messages of $SIZE bytes" >&2
bench_flow nats-sink-bench bench_source "{ count = $N, size = $SIZE }" nats_sink "{ url = \"$url\", subject = \"bench.sink\" }" >"$out/sink.toml"
build/bin/tremorctl --log-format json run "$out/sink.toml" >"$out/sink.log" 2>&1
pub_plugin=$(python3 -c "print(round($N / $(ran_for_seconds "$out/sink.log")))")

# nats_source_rate BUILD DURABLE: records/s of nats_source -> bench_sink
nats_source_rate() {
  local build=$1 durable=$2
  bench_flow nats-source-bench nats_source "{ url = \"$url\", stream = \"BENCH\", durable = \"$durable\", filter_subject = \"bench.pub\" }" bench_sink >"$out/source.toml"
  source_rate "$build/bin/tremorctl" "$out/source.toml" "$out/source-$durable.log" "$N" nats_source
}

declare -A rates
for round in $(seq "$ROUNDS"); do
  echo "== round $round/$ROUNDS: natsbaseline consume, then nats_source of each build ($N messages)" >&2
  rates[base]+=" $("$base" consume "$url" BENCH "base-$round" bench.pub "$N")"
  i=0
  for b in $BUILDS; do
    i=$((i + 1))
    rates[$b]+=" $(nats_source_rate "$b" "tremor-$round-$i")"
  done
done
echo "records/s per round: $(for k in "${!rates[@]}"; do printf '%s:%s; ' "$k" "${rates[$k]}"; done)" >&2
cons_base=$(median ${rates[base]})

cat <<EOF
| what ($N messages of $SIZE B, one stream, $server_what; medians of $ROUNDS rounds) | records/s | ratio |
| --- | ---: | ---: |
| nats.go publisher (async, every publish ack awaited, 1024 in flight) | $pub_base | 1.00 |
| nats_sink (bench_source -> nats_sink, binary, batch 1024) | $pub_plugin | $(ratio "$pub_plugin" "$pub_base") |
| nats.go pull consumer (durable, fetch 1024, ack each) | $cons_base | 1.00 |
EOF
for b in $BUILDS; do
  label=nats_source
  [ "$BUILDS" = build ] || label="nats_source ($b)"
  r=$(median ${rates[$b]})
  echo "| $label (nats_source -> bench_sink, binary, batch 1024, meta) | $r | $(ratio "$r" "$cons_base") |"
done
