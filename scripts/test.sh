#!/usr/bin/env bash
# Runs every test: C (ctest), Rust (cargo test), Go (go test, including the
# end-to-end tests that load the plugins built by scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
echo "== C tests (ctest)"
ctest --test-dir build/cmake --output-on-failure
echo "== Rust tests (cargo test)"
cargo test --quiet --target-dir build/cargo
echo "== Go tests (go test)"
go test -count=1 ./...
