#!/usr/bin/env bash
# ctest installed_package_consumer: installs this build into a fresh prefix,
# then builds tests/consumer (copied out of the tree, so only installed
# files can be found) twice against it:
#   1. CMake: find_package(TremorPlugin) + tremor_add_plugin
#   2. pkg-config + plain cc: tremor-plugin (header only), tremor-pdk
# and loads every resulting plugin with check_plugin.
#
# usage: run.sh <cmake> <build dir> <work dir> <check_plugin> <cc> <libdir> <abi>
set -euo pipefail
cmake=$1 build=$2 work=$3 checker=$4 cc=$5 libdir=$6 abi=$7
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "run.sh: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
echo "== cmake --install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"
for f in include/tremor/plugin.h include/tremor/pdk.h "$libdir/libtremor_pdk.a" \
         "$libdir/pkgconfig/tremor-plugin.pc" "$libdir/pkgconfig/tremor-pdk.pc" \
         "$libdir/cmake/TremorPlugin/TremorPluginConfig.cmake" \
         "$libdir/cmake/TremorPlugin/TremorPluginConfigVersion.cmake" \
         "$libdir/cmake/TremorPlugin/TremorPluginHelpers.cmake"; do
  [ -f "$prefix/$f" ] || die "not installed: $f"
done

cp -R "$here" "$work/src"
sdk_private=(--hidden tremor_pdk_fail --hidden tremor_builder_init --hidden tremor_config_uint)

echo "== find_package(TremorPlugin)"
"$cmake" -S "$work/src" -B "$work/cmake" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$work/configure.log" \
  || { cat "$work/configure.log"; die "configure failed"; }
grep -q "TremorPlugin 0.1.0, ABI $abi, from $prefix/" "$work/configure.log" \
  || { cat "$work/configure.log"; die "TremorPlugin was not found in $prefix"; }
"$cmake" --build "$work/cmake" || die "build failed"
"$checker" "$work/cmake/plugins/libconsumer_hello.so" hello "${sdk_private[@]}"
"$checker" "$work/cmake/plugins/libconsumer_raw.so" raw

echo "== pkg-config + $cc"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
[ "$(pkg-config --modversion tremor-plugin)" = 0.1.0 ] || die "tremor-plugin version"
[ "$(pkg-config --modversion tremor-pdk)" = 0.1.0 ] || die "tremor-pdk version"
[ "$(pkg-config --variable=abi_version tremor-plugin)" = "$abi" ] || die "abi_version"
incdir=$(pkg-config --variable=includedir tremor-plugin)
[ "$(cd "$incdir" && pwd -P)" = "$(cd "$prefix/include" && pwd -P)" ] \
  || die "includedir $incdir is not $prefix/include"
mkdir -p "$work/pc"
strict=(-std=c11 -Wall -Wextra -Wpedantic -Werror -fPIC -shared -Wl,-z,defs)
# shellcheck disable=SC2046 # pkg-config output is meant to be split
"$cc" "${strict[@]}" -o "$work/pc/libraw.so" "$work/src/raw_plugin.c" \
  $(pkg-config --cflags tremor-plugin)
# shellcheck disable=SC2046
"$cc" "${strict[@]}" -o "$work/pc/libhello.so" "$work/src/hello_plugin.c" \
  $(pkg-config --cflags --libs tremor-pdk)
"$checker" "$work/pc/libraw.so" raw
# No -fvisibility=hidden here: pdk-c must keep itself private regardless.
"$checker" "$work/pc/libhello.so" hello "${sdk_private[@]}"

echo "== installed package works for a consumer"
