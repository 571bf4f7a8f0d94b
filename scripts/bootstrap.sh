#!/usr/bin/env bash
# Checks for (and where possible installs) what the build needs: a C compiler,
# a C++ compiler (the C tests compile the headers as C++17), cmake,
# pkg-config, nm (binutils), Java and Maven (the Kafka tests' broker),
# Prometheus (the service tests' scraper), systemd-analyze (the install
# test verifies the shipped unit), Go >= 1.26 and cargo. Safe to run repeatedly.
set -euo pipefail

missing_apt=()
command -v cc >/dev/null 2>&1 || missing_apt+=(gcc)
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 || missing_apt+=(g++)
command -v nm >/dev/null 2>&1 || missing_apt+=(binutils)
command -v cmake >/dev/null 2>&1 || missing_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing_apt+=(pkg-config)
command -v make >/dev/null 2>&1 || missing_apt+=(make)
# Java and Maven: the local Kafka broker of the Kafka tests (scripts/kafka.sh).
command -v java >/dev/null 2>&1 || missing_apt+=(default-jre-headless)
command -v mvn >/dev/null 2>&1 || missing_apt+=(maven)
# Prometheus: the service tests scrape tremorctl serve with a real one
# (scripts/prometheus.sh).
command -v prometheus >/dev/null 2>&1 || missing_apt+=(prometheus)
# systemd-analyze: the install test verifies the shipped tremor.service.
command -v systemd-analyze >/dev/null 2>&1 || missing_apt+=(systemd)

if [ ${#missing_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${missing_apt[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  else
    echo "bootstrap: missing ${missing_apt[*]}; install them with your package manager (e.g. sudo apt-get install ${missing_apt[*]})" >&2
    exit 1
  fi
fi

if ! command -v go >/dev/null 2>&1; then
  echo "bootstrap: Go is not installed. Install Go 1.26 or newer from https://go.dev/dl/ and put it on PATH." >&2
  exit 1
fi
gover=$(go env GOVERSION | sed 's/^go//')
case "$gover" in
  1.2[6-9]*|1.[3-9][0-9]*|[2-9].*) ;;
  *) echo "bootstrap: Go $gover found, 1.26 or newer needed (go.mod); install a newer Go or set GOTOOLCHAIN=auto." >&2; exit 1 ;;
esac

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$d/cargo" ] && export PATH="$d:$PATH"
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "bootstrap: cargo is not installed. Install the Rust toolchain (https://rustup.rs), then run this again." >&2
  exit 1
fi
