#!/usr/bin/env bash
# What the sidecar surface costs the data path: records/s of one pipeline with
# `--http off` (no subscriber, no server) against `--http 127.0.0.1:0` with
# /metrics scraped every second, as Prometheus would. Prints a markdown table.
#
#   scripts/bench-http.sh                  # build what is missing, measure, print
#
# The pipeline is the quickstart chain (orders → filter → mask → set-key, ≈110-byte
# JSON values) as fast as it goes, BENCH_RECORDS records per run, acks leader, into the
# embedded demo cluster (or KAFKA_BROKERS=host:port for a real one). Runs alternate
# off/on so drift on a busy machine hits both; the median of BENCH_RUNS runs per mode
# is reported, with the spread. Take figures on a quiet machine only.
#
# Environment: BENCH_RECORDS (500000), BENCH_RUNS (5), BENCH_SCRAPE_EVERY (1, seconds;
# 0 = no scraping), KAFKA_BROKERS (empty: embedded cluster), SLUICE_BIN (default
# target/release/sluice, built with cargo if missing). Progress goes to stderr, the
# table to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RECORDS=${BENCH_RECORDS:-500000}
RUNS=${BENCH_RUNS:-5}
SCRAPE_EVERY=${BENCH_SCRAPE_EVERY:-1}
SLUICE=${SLUICE_BIN:-$ROOT/target/release/sluice}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-http.XXXXXX")

say() { printf 'bench-http: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

PID=""
cleanup() {
  [[ -n $PID ]] && kill -9 "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ ! -x $SLUICE ]]; then
  say "building $SLUICE"
  (cd "$ROOT" && cargo build --release -p sluice >&2)
fi
for p in orders filter mask set-key; do
  [[ -f $ROOT/plugins/dist/$p.wasm ]] || (cd "$ROOT" && make plugins-rust >&2)
done
export SLUICE_CACHE_DIR=${SLUICE_CACHE_DIR:-$ROOT/target/bench-cache}

cat > "$WORK/bench.yaml" <<YAML
name: bench
source:
  plugin: $ROOT/plugins/dist/orders.wasm
  config: { count: $RECORDS, rate: 0, seed: 42 }
transforms:
  - plugin: $ROOT/plugins/dist/filter.wasm
    config: { field: country, equals: XX }
  - plugin: $ROOT/plugins/dist/mask.wasm
    config: { field: email }
  - plugin: $ROOT/plugins/dist/set-key.wasm
    config: { field: id }
sink:
  kafka:
    brokers: ${KAFKA_BROKERS:-embedded}
    topic: bench-\${BENCH_TOPIC}
    acks: leader
YAML

# The field `key` of the first `event` JSON line in a log (empty if none yet).
event_field() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
log, event, key = sys.argv[1:]
try:
    for line in open(log):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == event:
            print(e.get(key, "")); break
except FileNotFoundError:
    pass
PY
}

# One run; prints records/s (acknowledged records over the pipeline's run time,
# from its `pipeline_stopped` event).
run_once() {
  local http=$1 n=$2
  local log=$WORK/run-$n.log
  rm -rf "$WORK/state"
  BENCH_TOPIC=$n SLUICE_LOG=warn "$SLUICE" run "$WORK/bench.yaml" --state-dir "$WORK/state" \
    --progress-secs 3600 --events json --http "$http" >"$log" 2>"$log.err" &
  PID=$!
  local addr="" deadline=$((SECONDS + 600)) scrapes=0
  while [[ -z $(event_field "$log" pipeline_stopped seconds) ]]; do
    kill -0 "$PID" 2>/dev/null || { cat "$log" "$log.err" >&2; die "sluice exited early"; }
    (( SECONDS < deadline )) || die "run $n did not finish within 600 s"
    if [[ $http != off && -z $addr ]]; then
      addr=$(event_field "$log" http_listening address)
    fi
    if [[ -n $addr && $SCRAPE_EVERY != 0 ]]; then
      curl -s -o /dev/null "http://$addr/metrics" && scrapes=$((scrapes + 1))
      sleep "$SCRAPE_EVERY"
    else
      sleep 0.2
    fi
  done
  kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=""
  [[ $http == off || $SCRAPE_EVERY == 0 || $scrapes -gt 0 ]] || die "run $n: /metrics never answered"
  local acked secs
  acked=$(event_field "$log" pipeline_stopped acknowledged)
  secs=$(event_field "$log" pipeline_stopped seconds)
  awk -v a="$acked" -v s="$secs" 'BEGIN { printf "%d\n", a / (s > 0 ? s : 1) }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

off=() on=()
for ((i = 1; i <= RUNS; i++)); do
  off+=("$(run_once off "off-$i")")
  on+=("$(run_once 127.0.0.1:0 "on-$i")")
  say "run $i/$RUNS: --http off ${off[-1]} records/s, --http on ${on[-1]} records/s"
done
m_off=$(printf '%s\n' "${off[@]}" | median)
m_on=$(printf '%s\n' "${on[@]}" | median)
range() { printf '%s\n' "$@" | sort -n | awk 'NR==1{lo=$1} {hi=$1} END {print lo "–" hi}'; }

echo "| mode | records/s (median of $RUNS) | range |"
echo "|---|---:|---:|"
echo "| \`--http off\` | $m_off | $(range "${off[@]}") |"
echo "| \`--http 127.0.0.1:0\`, /metrics every ${SCRAPE_EVERY}s | $m_on | $(range "${on[@]}") |"
awk -v a="$m_off" -v b="$m_on" 'BEGIN { if (a > 0) printf "\noverhead: %.1f %% (median on vs off; %d records per run)\n", (a - b) * 100 / a, '"$RECORDS"' }'
