#!/usr/bin/env bash
# Installs what `make build` built, or removes it again:
#
#   scripts/install.sh install     (make install)
#   scripts/install.sh uninstall   (make uninstall)
#
# Environment: PREFIX (default /usr/local), DESTDIR (staging root, default
# none), BUILD_DIR (default build). The files land in $DESTDIR$PREFIX in the
# layout tremorctl expects (cmake/TremorInstall.cmake): bin/tremorctl,
# libexec/tremor/tremor-runner, lib/tremor/plugins, include/tremor,
# lib/pkgconfig, lib/cmake/TremorPlugin, share/tremor, share/doc/tremor,
# lib/systemd/system/tremor.service.
#
# Every installed file, and every directory the install created, is listed
# in share/tremor/install-manifest.txt (paths relative to the prefix);
# uninstall removes exactly those, and leaves a directory that holds
# something else (a plugin installed by its own project) with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The host refuses plugins that group or others can change, in directories
# too: whatever the caller's umask, installed files and directories are not
# group- or world-writable.
umask 022

die() { echo "install.sh: $*" >&2; exit 1; }

action=${1:-}
prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
build=${BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
case "$prefix" in
  /*) ;;
  *) die "PREFIX=$prefix is not an absolute path: write e.g. PREFIX=/usr/local or PREFIX=\$HOME/.local" ;;
esac
case "$destdir" in
  ""|/*) ;;
  *) die "DESTDIR=$destdir is not an absolute path: write DESTDIR=\$PWD/$destdir" ;;
esac
prefix=${prefix%/}
dest="$destdir$prefix"
manifest_rel=share/tremor/install-manifest.txt
manifest="$dest/$manifest_rel"

# parents lists the directories strictly below $dest that hold $1's
# path (relative to $dest), deepest first.
parents() {
  local d
  d=$(dirname "$1")
  while [ "$d" != . ] && [ "$d" != / ]; do
    echo "$d"
    d=$(dirname "$d")
  done
}

# safe_rel refuses a manifest entry that could leave the prefix.
safe_rel() {
  case "/$1/" in
    *"/../"*|*"/./"*|//*) return 1 ;;
  esac
  [ -n "$1" ] && [ "${1#/}" = "$1" ]
}

do_install() {
  local f missing=()
  for f in "$build/bin/tremorctl" "$build/bin/tremor-runner" "$build/cmake/cmake_install.cmake"; do
    [ -e "$f" ] || missing+=("$f")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "nothing to install: ${missing[*]} missing; build first (make build), then run make install again"
  fi
  compgen -G "$build/plugins/libtremor_*.so" >/dev/null \
    || die "nothing to install: no plugins in $build/plugins; build first (make build), then run make install again"
  command -v cmake >/dev/null 2>&1 || die "cmake not found: it installs the build (scripts/bootstrap.sh installs it)"
  local up=$dest
  while [ ! -e "$up" ]; do up=$(dirname "$up"); done
  [ -w "$up" ] || die "cannot write $up (installing into $dest): run as a user who can (sudo make install), or choose another PREFIX, e.g. PREFIX=\$HOME/.local"

  # Directories that exist before: uninstall must leave them.
  local before
  before=$(mktemp)
  if [ -d "$dest" ]; then
    (cd "$dest" && find . -mindepth 1 -maxdepth 6 -type d | sed 's|^\./||' | sort) >"$before"
  fi

  # One install at a time from a build tree: CMake writes its manifests there.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$build/cmake/.install.lock"
    flock 9
  fi
  local comp files=()
  for comp in sdk runtime; do
    rm -f "$build/cmake/install_manifest_$comp.txt"
    DESTDIR="$destdir" cmake --install "$build/cmake" --prefix "$prefix" --component "$comp" \
      || die "cmake --install (component $comp) failed: see the messages above"
    [ -s "$build/cmake/install_manifest_$comp.txt" ] \
      || die "cmake --install installed nothing for component $comp: $build/cmake was configured before it had install rules for it; rebuild (make build), then run make install again"
    while IFS= read -r f || [ -n "$f" ]; do
      files+=("${f#"$prefix"/}")
    done <"$build/cmake/install_manifest_$comp.txt"
  done
  exec 9>&-

  # Entries of an earlier install into the same prefix still count as
  # installed (a reinstall must not make uninstall forget them).
  local old=() kind path
  if [ -f "$manifest" ]; then
    while read -r kind path; do
      safe_rel "$path" && old+=("$kind $path")
    done <"$manifest"
  fi

  mkdir -p "$(dirname "$manifest")"
  {
    for f in "${files[@]}" "$manifest_rel"; do echo "file $f"; done
    for f in "${files[@]}" "$manifest_rel"; do parents "$f"; done | sort -u | while IFS= read -r d; do
      grep -qxF -- "$d" "$before" || echo "dir $d"
    done
    for f in "${old[@]}"; do
      kind=${f%% *} path=${f#* }
      if [ "$kind" = dir ] || [ -e "$dest/$path" ]; then echo "$f"; fi
    done
  } | sort -u >"$manifest.tmp"
  mv -f "$manifest.tmp" "$manifest"
  chmod 644 "$manifest"
  rm -f "$before"
  echo "install.sh: installed tremorhost $(cat "$build/version" 2>/dev/null || echo) into $dest (manifest: $manifest)"
}

do_uninstall() {
  [ -f "$manifest" ] || die "no tremorhost install in $dest (no $manifest_rel there): nothing removed; pass the PREFIX (and DESTDIR) it was installed with"
  local kind path files=() dirs=() left=()
  while read -r kind path; do
    safe_rel "$path" || die "$manifest: refusing entry \"$path\" (not a path inside the prefix): nothing removed"
    case "$kind" in
      file) files+=("$path") ;;
      dir) dirs+=("$path") ;;
      *) die "$manifest: unknown entry \"$kind $path\": nothing removed" ;;
    esac
  done <"$manifest"
  for path in "${files[@]}"; do
    rm -f -- "$dest/$path"
  done
  # Deepest directories first.
  while IFS= read -r path; do
    [ -d "$dest/$path" ] || continue
    rmdir -- "$dest/$path" 2>/dev/null || left+=("$dest/$path")
  done < <(for path in "${dirs[@]}"; do echo "$(echo "$path" | tr -cd / | wc -c) $path"; done | sort -rn | cut -d' ' -f2-)
  echo "install.sh: removed tremorhost from $dest"
  for path in "${left[@]}"; do
    echo "install.sh: left $path: not empty, it holds files tremorhost did not install" >&2
  done
}

case "$action" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) die "usage: scripts/install.sh install|uninstall (PREFIX=... DESTDIR=... in the environment)" ;;
esac
