#!/usr/bin/env bash
# How long a plugin swap holds records up: runs the quickstart-like chain on the
# embedded cluster under steady load, swaps a transform N times and the source M
# times, and prints the pause of each kind (p50/p99) as a markdown table.
#
# Usage: scripts/bench-reload.sh [TRANSFORM_SWAPS=50] [SOURCE_SWAPS=10] [RATE=5000]
# Needs: target/debug/sluice (or SLUICE=path) and plugins/dist (make plugins-rust).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
transform_swaps="${1:-50}"
source_swaps="${2:-10}"
rate="${3:-5000}"
sluice="${SLUICE:-$root/target/debug/sluice}"
dist="$root/plugins/dist"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/plugins" "$work/state"
cp "$dist/version-tag-v1.wasm" "$work/plugins/tag.wasm"
cp "$dist/orders.wasm" "$work/plugins/orders.wasm"
cat > "$work/bench.yaml" <<YAML
name: reload-bench
source: { plugin: plugins/orders.wasm, config: { count: 0, rate: $rate, seed: 1 } }
transforms:
  - plugin: plugins/mask.wasm
    config: { field: email }
  - plugin: plugins/tag.wasm
    config: { version: x }
sink: { kafka: { topic: reload-bench, acks: leader } }
YAML
cp "$dist/mask.wasm" "$work/plugins/mask.wasm"
SLUICE_LOG=warn "$sluice" run "$work/bench.yaml" --state-dir "$work/state" --progress-secs 3600 --events json --http off >"$work/out" 2>"$work/err" &
pid=$!

wait_lines() { # wait until $1 lines match $2 (bounded)
  local want=$1 pattern=$2 deadline=$((SECONDS + 60))
  until [[ $(grep -c -- "$pattern" "$work/out" || true) -ge $want ]]; do
    if (( SECONDS > deadline )) || ! kill -0 "$pid" 2>/dev/null; then
      echo "error: waited for $want events matching '$pattern'; output:" >&2; cat "$work/out" "$work/err" >&2; exit 1
    fi
    sleep 0.05
  done
}
replace() { cp "$1" "$2.tmp"; mv -f "$2.tmp" "$2"; }

wait_lines 1 '"event":"pipeline_running"'
for ((i = 1; i <= transform_swaps; i++)); do
  if (( i % 2 )); then replace "$dist/version-tag-v2.wasm" "$work/plugins/tag.wasm"
  else replace "$dist/version-tag-v1.wasm" "$work/plugins/tag.wasm"; fi
  wait_lines "$i" '"event":"reload".*"stage":"transform 2".*"outcome":"ok"'
done
for ((i = 1; i <= source_swaps; i++)); do
  # A byte-different copy of the same source: an appended custom section.
  { cat "$dist/orders.wasm"; printf '\x00\x08\x07sluice%c' "$((i % 10))"; } > "$work/plugins/orders.wasm.tmp"
  mv -f "$work/plugins/orders.wasm.tmp" "$work/plugins/orders.wasm"
  wait_lines "$i" '"event":"reload".*"stage":"source".*"outcome":"ok"'
done
kill -TERM "$pid"; wait "$pid" || true

percentiles() { # stage → "p50 p99 n" in µs, from the reload events' pause_micros
  grep "\"event\":\"reload\".*\"stage\":\"$1\".*\"outcome\":\"ok\"" "$work/out" |
    sed -E 's/.*"pause_micros":([0-9]+).*/\1/' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - 0"; exit }
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]; print p50, p99, NR }'
}
echo "| swap | count | pause p50 | pause p99 |"
echo "|---|---:|---:|---:|"
read -r p50 p99 n < <(percentiles 'transform 2')
echo "| transform (opened off the data path) | $n | $p50 µs | $p99 µs |"
read -r p50 p99 n < <(percentiles source)
echo "| source (drain in-flight, reopen at the resolved position) | $n | $p50 µs | $p99 µs |"
echo
echo "load: $rate records/s through orders → mask → tag on the embedded cluster, acks leader; $(nproc) cores"
