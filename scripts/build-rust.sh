#!/usr/bin/env bash
# Builds the Rust side: the tremor-pdk binding crate and every Rust plugin in
# plugins/*-rs (cargo workspace, target dir build/cargo), then copies each
# plugin's cdylib to build/plugins/libtremor_<name>.so, and the test plugins
# (tests/faults/rust-faults) to build/test-plugins.
#
# Convention: plugins/<name>-rs is a package called tremor_<name> with
# crate-type "cdylib", so cargo produces libtremor_<name>.so.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$d/cargo" ] && export PATH="$d:$PATH"
  done
fi
command -v cargo >/dev/null 2>&1 || {
  echo "build-rust: cargo not found; install the Rust toolchain (https://rustup.rs)" >&2
  exit 1
}

mkdir -p build/plugins
# Copy to a temporary name, then rename: a process that has the old library
# loaded keeps its (unchanged) inode instead of seeing it rewritten under it.
install_so() { cp "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"; }

cargo build --release --workspace --target-dir build/cargo

case "$(uname -s)" in
  Darwin) ext=dylib ;;
  *) ext=so ;;
esac

for dir in plugins/*-rs; do
  [ -f "$dir/Cargo.toml" ] || continue
  name=$(basename "$dir" -rs)
  lib="build/cargo/release/libtremor_${name}.${ext}"
  if [ ! -f "$lib" ]; then
    echo "build-rust: $lib was not built: $dir must be package tremor_${name} with crate-type cdylib" >&2
    exit 1
  fi
  install_so "$lib" "build/plugins/libtremor_${name}.so"
  echo "build-rust: build/plugins/libtremor_${name}.so"
done

# Test plugins: members of the same workspace, but not bundled plugins.
mkdir -p build/test-plugins
for pkg in tremor_faults_rs; do
  lib="build/cargo/release/lib${pkg}.${ext}"
  if [ ! -f "$lib" ]; then
    echo "build-rust: $lib was not built (a workspace member with crate-type cdylib)" >&2
    exit 1
  fi
  install_so "$lib" "build/test-plugins/lib${pkg}.so"
  echo "build-rust: build/test-plugins/lib${pkg}.so"
done
