#!/usr/bin/env bash
# One local Apache Kafka broker (KRaft, broker and controller in one node,
# loopback only) for the Kafka tests and benchmarks.
#
#   scripts/kafka.sh start    fetch the jars (once, cached in build/kafka), format
#                             the log directory (once), start the broker, wait
#                             until it accepts a produce, print its address
#   scripts/kafka.sh stop     stop it (SIGTERM, then SIGKILL after 30 s)
#   scripts/kafka.sh status   print the address and exit 0 when it runs, 1 when not
#   scripts/kafka.sh reset    stop it and delete its data (topics, offsets)
#   scripts/kafka.sh jars     only fetch the jars; print the lib directory
#
# KAFKA_PORT (default 19092) is the client port, KAFKA_PORT+1 the controller's.
# Needs java (17 or newer) and mvn: scripts/bootstrap.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir="$root/build/kafka"
lib="$dir/lib"
data="$dir/data"
pidfile="$dir/broker.pid"
logfile="$dir/broker.log"
port=${KAFKA_PORT:-19092}
cport=$((port + 1))
addr="127.0.0.1:$port"

die() { echo "kafka.sh: $*" >&2; exit 1; }

need() {
  command -v java >/dev/null 2>&1 || die "java is not installed (Kafka needs Java 17 or newer): run scripts/bootstrap.sh as root, or apt-get install openjdk-17-jre-headless"
  command -v mvn >/dev/null 2>&1 || die "mvn is not installed (it fetches the Kafka jars from Maven Central): run scripts/bootstrap.sh as root, or apt-get install maven"
}

# The jars are fetched again only when kafka/pom.xml changes.
jars() {
  local stamp="$lib/.pom.sha256" want
  want=$(sha256sum kafka/pom.xml | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  need
  echo "kafka.sh: fetching the Kafka jars into $lib (kafka/pom.xml)" >&2
  rm -rf "$lib"
  mkdir -p "$lib"
  if ! mvn -B -q -f kafka/pom.xml -Dmaven.repo.local="$dir/m2" \
      dependency:copy-dependencies -DoutputDirectory="$lib" -DincludeScope=runtime >"$dir/mvn.log" 2>&1; then
    tail -n 30 "$dir/mvn.log" >&2
    die "mvn could not fetch the Kafka jars (log: $dir/mvn.log); Maven Central must be reachable"
  fi
  echo "$want" >"$stamp"
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

java_tool() { # CLASS ARGS...: a Kafka tool from the same jars, with a small heap
  java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$lib/*" "$@"
}

# A produce of one record to the topic _ready (created on first use).
accepts_produce() {
  java_tool org.apache.kafka.tools.ProducerPerformance --topic _ready --num-records 1 \
    --record-size 8 --throughput -1 \
    --producer-props bootstrap.servers="$addr" acks=all max.block.ms=5000 delivery.timeout.ms=8000 request.timeout.ms=5000 \
    >"$dir/probe.log" 2>&1 && grep -q '1 records sent' "$dir/probe.log"
}

write_config() {
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.min.session.timeout.ms=1000
group.consumer.min.heartbeat.interval.ms=250
group.min.session.timeout.ms=1000
auto.create.topics.enable=true
log.flush.interval.messages=9223372036854775807
# The log cleaner (it compacts the consumer offsets) takes a 128 MiB
# buffer by default: half of this broker's heap, which failed with an
# OutOfMemoryError at a restart once the data held many test topics.
log.cleaner.dedupe.buffer.size=16777216
EOF
  cat >"$dir/log4j2.yaml" <<'EOF'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
EOF
}

start() {
  if running; then
    echo "$addr"
    return
  fi
  need
  jars
  mkdir -p "$dir"
  write_config
  if [ ! -f "$data/meta.properties" ]; then
    rm -rf "$data"
    java_tool kafka.tools.StorageTool format -t tremorhost-test-cluster-01 \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
      { cat "$dir/format.log" >&2; die "could not format $data (log above)"; }
  fi
  local t0=$SECONDS
  # setsid: the broker is not in the caller's process group, so a Ctrl-C
  # of a test run does not take it down half-way; stop does.
  setsid java -Xmx256m -XX:+UseSerialGC -Dlog4j2.configurationFile="$dir/log4j2.yaml" \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-120}))
  until accepts_produce; do
    if ! running; then
      tail -n 30 "$logfile" >&2
      die "the broker exited while starting (log: $logfile)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$logfile" >&2
      stop
      die "the broker did not accept a produce on $addr within ${KAFKA_START_TIMEOUT:-120} s (log: $logfile, probe: $dir/probe.log)"
    fi
    sleep 0.5
  done
  echo "kafka.sh: broker up on $addr in $((SECONDS - t0)) s (pid $(cat "$pidfile"), log $logfile)" >&2
  echo "$addr"
}

stop() {
  running || { rm -f "$pidfile"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.5
  done
  echo "kafka.sh: the broker (pid $pid) did not stop within 30 s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "$addr"; else echo "kafka.sh: no broker running" >&2; exit 1; fi ;;
  reset) stop; rm -rf "$data" ;;
  jars) jars; echo "$lib" ;;
  *) echo "usage: scripts/kafka.sh start|stop|status|reset|jars" >&2; exit 2 ;;
esac
