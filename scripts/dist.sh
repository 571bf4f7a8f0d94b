#!/usr/bin/env bash
# make dist: a relocatable tarball of what `make build` built, in the
# layout of `make install`:
#
#   $DIST_DIR/tremorhost-VERSION-linux-ARCH.tar.gz         (DIST_DIR: build/dist)
#   $DIST_DIR/tremorhost-VERSION-linux-ARCH.tar.gz.sha256  (sha256sum -c)
#
# VERSION is the one tremorctl was stamped with (build/version, written by
# scripts/build-go.sh), so the name and `tremorctl --version` agree. After
# unpacking anywhere, bin/tremorctl finds its runner and plugins relative to
# itself and the pkg-config and CMake files relative to themselves. The
# systemd unit names /opt/tremorhost/bin/tremorctl: unpack (or link) the
# tree there, or edit ExecStart.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
umask 022

die() { echo "dist.sh: $*" >&2; exit 1; }

build=${BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
out=${DIST_DIR:-$build/dist}
case "$out" in /*) ;; *) out="$root/$out" ;; esac

[ -f "$build/version" ] || die "$build/version is missing: build first (make build), then run make dist again"
version=$(cat "$build/version")
stamped=$("$build/bin/tremorctl" --version | sed -n '1s/^tremorctl //p') \
  || die "$build/bin/tremorctl --version failed: build first (make build)"
[ "$stamped" = "$version" ] \
  || die "$build/bin/tremorctl says version $stamped, $build/version says $version: rebuild (make build), then run make dist again"

case "$(uname -m)" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
name="tremorhost-$version-linux-$arch"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage" PREFIX=/opt/tremorhost BUILD_DIR="$build" ./scripts/install.sh install >/dev/null
# A tarball is removed with rm -r, not make uninstall.
rm -f "$stage/opt/tremorhost/share/tremor/install-manifest.txt"
mv "$stage/opt/tremorhost" "$stage/$name"

mkdir -p "$out"
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
  --mode='go-w' -czf "$out/$name.tar.gz.tmp" "$name"
mv -f "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
(cd "$out" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")
echo "dist.sh: $out/$name.tar.gz"
echo "dist.sh: $out/$name.tar.gz.sha256"
