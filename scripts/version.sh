#!/usr/bin/env bash
# Prints the version a build is stamped with: the VERSION file, plus where
# the tree stands when it is a git checkout that is not exactly at tag
# v<VERSION>:
#   0.1.0                   at tag v0.1.0, clean
#   0.1.0+3.gabc1234        3 commits after v0.1.0
#   0.1.0+gabc1234          no tag v0.1.0 yet
#   0.1.0+gabc1234.dirty    ... with uncommitted changes to tracked files
# Without git (a source tarball), VERSION alone.
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(tr -d ' \t\r\n' < VERSION)
case "$base" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "version.sh: VERSION holds \"$base\": write MAJOR.MINOR.PATCH (e.g. 0.1.0)" >&2; exit 1 ;;
esac
if ! command -v git >/dev/null 2>&1 || ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "$base"
  exit 0
fi
if desc=$(git describe --tags --match "v$base" --dirty=.dirty 2>/dev/null); then
  # v0.1.0, v0.1.0.dirty, v0.1.0-3-gabc1234, v0.1.0-3-gabc1234.dirty
  rest=${desc#"v$base"}
  rest=${rest#-}
  rest=${rest/-g/.g}
  rest=${rest#.}
  [ -n "$rest" ] && echo "$base+$rest" || echo "$base"
  exit 0
fi
sha=$(git rev-parse --short=7 HEAD)
dirty=
git diff --quiet HEAD -- 2>/dev/null || dirty=.dirty
echo "$base+g$sha$dirty"
