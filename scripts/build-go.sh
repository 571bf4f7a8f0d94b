#!/usr/bin/env bash
# Builds the Go side: the host CLI (build/bin/tremorctl) and every Go plugin
# in plugins/<name>-go (c-shared libraries, build/plugins/libtremor_<name>.so;
# as for C and Rust, a plugin's directory is its plugin name plus a language
# suffix), and the Go test plugins (tests/faults/go-faults ->
# build/test-plugins/libtremor_faults_go.so).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bin build/plugins

# The version tremorctl reports (tremorctl --version), also kept in
# build/version for scripts/dist.sh, so a tarball is named as its binary says.
version=$(./scripts/version.sh)
go build -ldflags "-X main.version=$version" -o build/bin/tremorctl ./host/cmd/tremorctl
printf '%s\n' "$version" > build/version

# Builds a c-shared plugin to a temporary name, then renames it over OUT, so
# that a running process that has the old library loaded is not disturbed.
build_so() { # OUT PACKAGE
  local tmp="$1.tmp$$" # not *.so: a directory scan must not take it for a plugin
  CGO_ENABLED=1 go build -buildmode=c-shared -o "$tmp" "$2"
  rm -f "$tmp.h" "${tmp%.so}.h" # cgo's generated header: the contract is include/tremor/plugin.h
  mv -f "$tmp" "$1"
}

for dir in plugins/*-go; do
  [ -d "$dir" ] || continue
  name=$(basename "$dir" -go)
  out="build/plugins/libtremor_${name}.so"
  build_so "$out" "./$dir"
done

# Test plugins (not bundled): the Go fault plugin of tests/faults.
mkdir -p build/test-plugins
if [ -d tests/faults/go-faults ]; then
  out="build/test-plugins/libtremor_faults_go.so"
  build_so "$out" ./tests/faults/go-faults
fi
