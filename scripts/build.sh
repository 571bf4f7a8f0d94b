#!/usr/bin/env bash
# Builds everything into build/:
#   build/bin/tremorctl          the host CLI
#   build/plugins/*.so           every bundled plugin (C, Rust, Go)
#   build/test-plugins/*.so      deliberately broken plugins for the tests
#   build/install/               the installed header, pkg-config and CMake files
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
mkdir -p build/bin build/plugins build/test-plugins
./scripts/build-c.sh
./scripts/build-rust.sh
./scripts/build-go.sh
