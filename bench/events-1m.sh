#!/usr/bin/env bash
# Prints the path of the whole-program benchmarks' input, generating it
# first if it is missing or incomplete: build/bench/events-1m.jsonl,
# 1,000,000 JSON lines of 91-96 bytes plus the newline, the same every
# time. Used by scripts/bench.sh, bench/isolated.sh and bench/benthos.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bench
events=build/bench/events-1m.jsonl
if [ ! -s "$events" ] || [ "$(wc -l <"$events")" -ne 1000000 ]; then
  awk 'BEGIN { split("info warn error debug", lv, " ");
    for (i = 0; i < 1000000; i++)
      printf("{\"seq\":%d,\"host\":\"web-%02d\",\"level\":\"%s\",\"msg\":\"GET /api/v1/items/%05d\",\"ms\":%.2f,\"ok\":true}\n",
             i, i % 16, lv[i % 4 + 1], i % 100000, (i % 997) / 10.0) }' >"$events.tmp"
  mv "$events.tmp" "$events"
fi
echo "$events"
