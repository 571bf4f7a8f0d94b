#!/usr/bin/env bash
# Prints the whole-program benchmark flow: the file source reading INPUT
# with CODEC, an empty pipeline, the C bench_sink (lines post-processor),
# both connectors at ISOLATION. Used by bench/isolated.sh and
# bench/benthos.sh, so both time the same flow.
#
#   bench/passthrough-flow.sh NAME CODEC ISOLATION INPUT > flow.toml
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 NAME CODEC ISOLATION INPUT" >&2; exit 2; }
name=$1 codec=$2 iso=$3 input=$4
cat <<TOML
[flow]
name = "$name"

[[connector]]
id = "in"
type = "file"
codec = "$codec"
isolation = "$iso"
config = { path = "$input", mode = "read" }

[[connector]]
id = "out"
type = "bench_sink"
codec = "$codec"
isolation = "$iso"
postprocessors = ["lines"]

[[pipeline]]
id = "pass"

[[link]]
from = "in"
to = "pass"

[[link]]
from = "pass"
to = "out"
TOML
