#!/usr/bin/env bash
# Builds the C side with CMake: pdk-c, the C plugins (build/plugins), the
# fixture plugins (build/test-plugins) and the C tests (build/cmake), then
# installs the header, SDK, pkg-config and CMake package into build/install.
# Rerunnable: an existing build/cmake is reconfigured and rebuilt in place.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cmake -S . -B build/cmake -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$root/build/install"
cmake --build build/cmake -j2
cmake --install build/cmake
