#!/usr/bin/env bash
# A local Prometheus server that scrapes one tremorctl admin API, for the
# service tests and for trying the metrics by hand.
#
#   scripts/prometheus.sh install             apt-get install prometheus (as root), or say how
#   scripts/prometheus.sh run DIR TARGET [PORT]
#                                             write DIR/prometheus.yml scraping TARGET
#                                             (HOST:PORT of tremorctl --api) every second
#                                             and run Prometheus in the foreground on
#                                             127.0.0.1:PORT (default 19090), data in DIR/data;
#                                             its process replaces this script's (exec)
#
# The scrape config is the one README.md "Running as a service" shows, with
# a shorter interval.
set -euo pipefail

die() { echo "prometheus.sh: $*" >&2; exit 1; }

install() {
  if command -v prometheus >/dev/null 2>&1; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "prometheus is not installed: run 'sudo apt-get install prometheus' (Debian/Ubuntu) or get it from https://prometheus.io/download/"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null ||
    die "apt-get install prometheus failed: run apt-get update first, or get it from https://prometheus.io/download/"
}

run() {
  local dir=$1 target=$2 port=${3:-19090}
  command -v prometheus >/dev/null 2>&1 ||
    die "prometheus is not installed: run scripts/prometheus.sh install as root (apt-get install prometheus)"
  mkdir -p "$dir/data"
  cat >"$dir/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tremor
    static_configs:
      - targets: ["$target"]
YML
  exec prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn
}

case "${1:-}" in
  install) install ;;
  run) [ $# -ge 3 ] || die "usage: scripts/prometheus.sh run DIR TARGET [PORT]"; run "$2" "$3" "${4:-}" ;;
  *) die "usage: scripts/prometheus.sh install | run DIR TARGET [PORT]" ;;
esac
