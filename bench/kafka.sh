#!/usr/bin/env bash
# Kafka plugin throughput beside Kafka's own tools, from the same jars, on
# the same local broker (scripts/kafka.sh) and the same topic:
#
#   1. kafka.tools ProducerPerformance: N records of SIZE bytes, acks=all
#   2. kafka_sink:  tremorctl run, C bench_source -> kafka_sink (binary codec)
#   3. kafka.tools ConsumerPerformance: the N records of step 1
#   4. kafka_source: tremorctl run, kafka_source -> C bench_sink (binary
#      codec), with each event's meta and without (meta = false), rate from the per-second stats between the first record and
#      the N-th (group join excluded, as ConsumerPerformance's fetch rate
#      excludes it)
#
# Not part of the test command. Prints a markdown table. Environment: N
# (default 1000000), SIZE (default 100), SKIP_BUILD=1 to skip scripts/build.sh,
# ROUNDS (default 1): steps 3 and 4 that many times, interleaved, medians;
# BUILDS (default "build"): directories holding a bin/ and plugins/ (copies
# of earlier builds, for a before/after pair), each timed in every round of
# step 4 with its own tremorctl and plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-1000000}
SIZE=${SIZE:-100}
ROUNDS=${ROUNDS:-1}
BUILDS=${BUILDS:-build}
[ "${SKIP_BUILD:-}" = 1 ] || scripts/build.sh >/dev/null
addr=$(scripts/kafka.sh start)
lib=$(scripts/kafka.sh jars)
out=build/bench/kafka
mkdir -p "$out"
ts=$(date +%s)
topic="bench-$ts"
java_tool() { java -Xmx512m -cp "$lib/*" "$@"; }

# The topic, with 4 partitions (the broker's default), made by a first record.
java_tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records 1 --record-size "$SIZE" \
  --throughput -1 --producer-props bootstrap.servers="$addr" >/dev/null

echo "== ProducerPerformance: $N records of $SIZE bytes" >&2
java_tool org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$N" --record-size "$SIZE" \
  --throughput -1 --producer-props bootstrap.servers="$addr" acks=all linger.ms=5 >"$out/producer-perf.txt"
prod_java=$(tail -n 1 "$out/producer-perf.txt" | sed -E 's/.* ([0-9.]+) records\/sec.*/\1/')

echo "== kafka_sink: $N records of $SIZE bytes" >&2
bench_flow kafka-sink-bench bench_source "{ count = $N, size = $SIZE }" kafka_sink "{ brokers = \"$addr\", topic = \"$topic-sink\" }" >"$out/sink.toml"
build/bin/tremorctl --log-format json run "$out/sink.toml" >"$out/sink.log" 2>&1
prod_plugin=$(python3 -c "print(round($N / $(ran_for_seconds "$out/sink.log")))")

# consumer_perf ROUND: ConsumerPerformance's fetch records/s over the topic
consumer_perf() {
  java_tool org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$addr" --topic "$topic" \
    --messages "$N" --group "perf-$ts-$1" --timeout 60000 >"$out/consumer-perf.txt"
  # the CSV line: start, end, MB, MB/s, records, records/s, rebalance ms, fetch ms, fetch MB/s, fetch records/s
  tail -n 1 "$out/consumer-perf.txt" | awk -F', *' '{printf "%d\n", $NF}'
}

# kafka_source_rate BUILD META GROUP: records/s of kafka_source -> bench_sink
kafka_source_rate() {
  local build=$1 meta=$2 group=$3
  bench_flow kafka-source-bench kafka_source "{ brokers = \"$addr\", topics = \"$topic\", group_id = \"$group\", meta = $meta }" bench_sink >"$out/source.toml"
  source_rate "$build/bin/tremorctl" "$out/source.toml" "$out/source-$meta.log" "$N" kafka_source
}

declare -A rates
for round in $(seq "$ROUNDS"); do
  echo "== round $round/$ROUNDS: ConsumerPerformance, then kafka_source of each build, with meta and without ($N records)" >&2
  rates[java]+=" $(consumer_perf "$round")"
  for b in $BUILDS; do
    for meta in true false; do
      rates[$b-$meta]+=" $(kafka_source_rate "$b" "$meta" "tremor-$ts-$round-$meta-${b//\//_}")"
    done
  done
done
echo "records/s per round: $(for k in "${!rates[@]}"; do printf '%s:%s; ' "$k" "${rates[$k]}"; done)" >&2
cons_java=$(median ${rates[java]})

cat <<EOF
| what ($N records of $SIZE B, 4 partitions, one local broker; medians of $ROUNDS rounds) | records/s | ratio |
| --- | ---: | ---: |
| ProducerPerformance (acks=all, linger 5 ms) | $prod_java | 1.00 |
| kafka_sink (bench_source -> kafka_sink, binary, batch 1024) | $prod_plugin | $(ratio "$prod_plugin" "$prod_java") |
| ConsumerPerformance (fetch records/s) | $cons_java | 1.00 |
EOF
for b in $BUILDS; do
  label=kafka_source
  [ "$BUILDS" = build ] || label="kafka_source ($b)"
  for meta in true false; do
    r=$(median ${rates[$b-$meta]})
    if [ "$meta" = true ]; then what="$label (kafka_source -> bench_sink, binary, batch 1024, meta)"; else what="$label, meta = false"; fi
    echo "| $what | $r | $(ratio "$r" "$cons_java") |"
  done
done
