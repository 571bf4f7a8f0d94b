#!/usr/bin/env bash
# Measures the build loop (docs/build-loop.md):
#
#   1. the clean build of the host: go build of tremorctl with an empty
#      build cache (GOCACHE=$(mktemp -d); the module cache stays, so nothing
#      is downloaded);
#   2. the rebuild of ONE plugin after a one-line change, per language, with
#      the host not rebuilt:
#        - bundled plugins, in a private copy of this tree (so that the
#          working tree and other builds are never touched):
#            C     cmake --build of one target (tremor_metronome)
#            Rust  cargo build --release -p tremor_file
#            Go    go build -buildmode=c-shared ./plugins/tcp-go
#        - plugins made by `tremorctl new` outside the tree, with their own
#          build commands (cmake --build, cargo build --release, make), and
#          also the first build of such a fresh project;
#      the change is the plugin's version string, and after each rebuild
#      `tremorctl list-plugins` (the tremorctl built in step 1, whose
#      checksum is checked before and after) must show the new version.
#
# Every measurement is repeated RUNS times (default 3); the summary gives
# min and median. The machine, the date, tool versions and the load average
# are printed with the numbers: the machine may be shared.
#
#   scripts/build-loop.sh [RUNS]
#   KEEP=1 scripts/build-loop.sh    keep the work directory
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-3}

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$d/cargo" ] && export PATH="$d:$PATH"
  done
fi
for tool in go cargo cmake cc make; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-loop: $tool not found" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/build-loop.XXXXXX")
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; fi
results="$work/results.tsv"
: >"$results"
log="$work/build.log"

now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
# timed NAME CMD...: runs CMD (output to the log), records and prints seconds.
timed() {
  local name=$1
  shift
  local t0 t1 s
  t0=$(now)
  if ! "$@" >>"$log" 2>&1; then
    echo "build-loop: failed: $*" >&2
    tail -30 "$log" >&2
    exit 1
  fi
  t1=$(now)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  printf '%s\t%s\t%s\n' "$name" "$s" "$(load)" >>"$results"
  printf '  %-44s %7.3f s   (load %s)\n' "$name" "$s" "$(load)"
}
# expect_version SO VERSION: the host's loader sees the rebuilt plugin.
expect_version() {
  local out
  out=$("$tremorctl" list-plugins --json "$1")
  grep -q "\"version\": \"$2\"" <<<"$out" || {
    echo "build-loop: $1 does not report version $2 after the rebuild:" >&2
    echo "$out" >&2
    exit 1
  }
}
# set_version FILE PATTERN VERSION: the one-line change (sed on one line).
set_version() {
  local file=$1 pattern=$2 version=$3 before after
  before=$(grep -c . "$file")
  sed -i -E "s/(${pattern})\"[0-9.]+\"/\1\"${version}\"/" "$file"
  after=$(grep -c . "$file")
  [ "$before" = "$after" ] && grep -qE "${pattern}\"${version}\"" "$file" \
    || { echo "build-loop: could not change the version line of $file" >&2; exit 1; }
}

echo "== build loop, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) CPU ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "tools:   $(go version | cut -d' ' -f3), $(cargo --version | cut -d' ' -f1-2), $(cmake --version | head -1), $(cc --version | head -1)"
echo "load:    $(load) (1/5/15 min)"
echo "runs:    $runs, work dir $work"

echo "== copying the tree (without build/, target/, .git/)"
mkdir -p "$work/src"
tar -C "$root" --exclude=./build --exclude=./target --exclude=./.git -cf - . | tar -C "$work/src" -xf -
src="$work/src"
tremorctl="$work/bin/tremorctl"

echo "== 1. clean build of the host (go build ./host/cmd/tremorctl, empty GOCACHE)"
for i in $(seq 1 "$runs"); do
  cache=$(mktemp -d "$work/gocache.XXXXXX")
  timed "host clean build" env GOCACHE="$cache" \
    go -C "$src" build -o "$tremorctl" ./host/cmd/tremorctl
  rm -rf "$cache"
done
host_sum=$(sha256sum "$tremorctl" | cut -d' ' -f1)

echo "== 2a. bundled plugins in the copy: first builds (not measured)"
cmake -S "$src" -B "$src/build/cmake" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
  -DCMAKE_INSTALL_PREFIX="$work/install" >>"$log" 2>&1
cmake --build "$src/build/cmake" -j2 >>"$log" 2>&1
cmake --install "$src/build/cmake" >>"$log" 2>&1 # header, pdk-c, CMake and pkg-config files
(cd "$src" && cargo build --release -p tremor_file --target-dir build/cargo) >>"$log" 2>&1
(cd "$src" && CGO_ENABLED=1 go build -buildmode=c-shared -o build/plugins/libtremor_tcp.so ./plugins/tcp-go) >>"$log" 2>&1

echo "== 2a. bundled plugins: rebuild after a one-line change (the version string)"
for i in $(seq 1 "$runs"); do
  v="0.1.$((100 + i))"
  set_version "$src/plugins/metronome-c/metronome.c" 'TREMOR_PLUGIN_DEFINE\("metronome", ' "$v"
  timed "C    cmake --build --target tremor_metronome" \
    cmake --build "$src/build/cmake" --target tremor_metronome
  expect_version "$src/build/plugins/libtremor_metronome.so" "$v"

  set_version "$src/plugins/file-rs/src/lib.rs" '^    version: ' "$v"
  timed "Rust cargo build --release -p tremor_file" \
    cargo build --release -p tremor_file --manifest-path "$src/Cargo.toml" --target-dir "$src/build/cargo"
  expect_version "$src/build/cargo/release/libtremor_file.so" "$v"

  set_version "$src/plugins/tcp-go/main.go" 'Version: +' "$v"
  timed "Go   go build -buildmode=c-shared tcp-go" \
    env CGO_ENABLED=1 go -C "$src" build -buildmode=c-shared -o build/plugins/libtremor_tcp.so ./plugins/tcp-go
  expect_version "$src/build/plugins/libtremor_tcp.so" "$v"
done

echo "== 2b. tremorctl new projects (outside the tree): first build of a fresh project"
mkdir -p "$work/new"
for i in $(seq 1 "$runs"); do
  for lang in c rust go; do
    "$tremorctl" new --lang "$lang" --prefix "$work/install" --tremor-src "$src" \
      "loop_$lang" "$work/new/$i/loop_$lang" >>"$log" 2>&1
  done
  d="$work/new/$i"
  timed "C    new project: first configure + build" \
    sh -c "cmake -S '$d/loop_c' -B '$d/loop_c/build' -DCMAKE_BUILD_TYPE=Release && cmake --build '$d/loop_c/build'"
  timed "Rust new project: first cargo build --release" \
    cargo build --release --manifest-path "$d/loop_rust/Cargo.toml"
  timed "Go   new project: first make (warm GOCACHE)" make -C "$d/loop_go"
  rm -rf "$d/loop_go/out"
  cache=$(mktemp -d "$work/gocache.XXXXXX")
  timed "Go   new project: first make (empty GOCACHE)" env GOCACHE="$cache" make -C "$d/loop_go"
  rm -rf "$cache"
done
newc="$work/new/1/loop_c" newrs="$work/new/1/loop_rust" newgo="$work/new/1/loop_go"

echo "== 2b. tremorctl new projects: rebuild after a one-line change (the version string)"
for i in $(seq 1 "$runs"); do
  v="0.1.$((200 + i))"
  set_version "$newc/src/loop_c.c" 'TREMOR_PLUGIN_DEFINE\("loop_c", ' "$v"
  timed "C    new project: cmake --build" cmake --build "$newc/build" --target tremor_loop_c
  expect_version "$newc/build/libtremor_loop_c.so" "$v"

  set_version "$newrs/src/lib.rs" '^    version: ' "$v"
  timed "Rust new project: cargo build --release" cargo build --release --manifest-path "$newrs/Cargo.toml"
  expect_version "$newrs/target/release/libtremor_loop_rust.so" "$v"

  set_version "$newgo/main.go" 'Version: +' "$v"
  timed "Go   new project: make (c-shared)" make -C "$newgo"
  expect_version "$newgo/out/libtremor_loop_go.so" "$v"
done

[ "$(sha256sum "$tremorctl" | cut -d' ' -f1)" = "$host_sum" ] \
  || { echo "build-loop: tremorctl changed during the plugin rebuilds" >&2; exit 1; }
echo "host: tremorctl unchanged (sha256 ${host_sum:0:16}...) and loaded every rebuilt plugin"

echo "== summary (seconds; $runs runs)"
awk -F'\t' '
  { n[$1]++; v[$1, n[$1]] = $2; if (!($1 in order)) { order[$1] = ++k; name[k] = $1 } }
  END {
    printf "%-46s %8s %8s   %s\n", "measurement", "min", "median", "all runs"
    for (j = 1; j <= k; j++) {
      m = name[j]; c = n[m]
      for (a = 1; a <= c; a++) s[a] = v[m, a] + 0
      for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
      med = (c % 2) ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
      all = ""; for (a = 1; a <= c; a++) all = all sprintf("%s%.3f", a > 1 ? " " : "", v[m, a])
      printf "%-46s %8.3f %8.3f   %s\n", m, s[1], med, all
    }
  }' "$results"
echo "load at the end: $(load)"
