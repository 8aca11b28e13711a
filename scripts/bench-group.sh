#!/usr/bin/env bash
# The scale-out table: a Kafka → mask → Kafka pipeline (the built-in Kafka source in a
# consumer group) run by 1, 2 and 3 `sluice` processes on a 6-partition topic, at-least-
# once and exactly-once at several transaction intervals, printed as a Markdown table.
#
#   scripts/bench-group.sh
#
# One Kafka node (scripts/kafka.sh single: a 3-node cluster on the same 2 cores measures
# the JVMs more than Sluice) holds BENCH_RECORDS keyed JSON records (≈ 60 bytes) in a
# 6-partition input topic, produced once with kcat. Each row starts N processes with a
# fresh group and a fresh 6-partition output topic, and times from the first partition
# assignment to the moment the processes together have acknowledged every record (their
# `commit` events; under exactly-once the last transaction commits at most one interval
# later). Group join time is reported apart. Every process runs on the same machine, so
# N processes share its cores with each other and with Kafka: the column says how the
# work spreads, not how far N machines would go.
#
# Environment: BENCH_RECORDS (300000), BENCH_INTERVALS ("50 100 500"), BENCH_PORT_BASE
# (27092), BENCH_DIR (.kafka/bench-group), SLUICE_BIN (default target/release/sluice,
# built if missing). Progress on stderr, the table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench-group
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
RECORDS=${BENCH_RECORDS:-300000}
read -r -a INTERVALS <<<"${BENCH_INTERVALS:-50 100 500}"
PORT_BASE=${BENCH_PORT_BASE:-27092}
DIR=${BENCH_DIR:-$ROOT/.kafka/bench-group}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-group.XXXXXX")
KAFKA=(bash "$ROOT/scripts/kafka.sh" --dir "$DIR")

cleanup() {
  local rc=$?
  "${KAFKA[@]}" stop --now --remove >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

bench_need_tools
SLUICE=$(bench_sluice)
[[ -f $PLUGINS_DIST/mask.wasm ]] || bench_die "$PLUGINS_DIST/mask.wasm missing (make plugins)"
bench_kafka_jars
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
bench_say "starting one Kafka node in $DIR (load average $LOAD_BEFORE)"
start_out=$("${KAFKA[@]}" start single --port-base "$PORT_BASE" --owner-pid $$)
BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' <<<"$start_out" | tail -n1)
[[ -n $BOOTSTRAP ]] || bench_die "no bootstrap address from kafka.sh start"
"${KAFKA[@]}" create-topic bench-in 6 1 >/dev/null
bench_say "producing $RECORDS records into bench-in (6 partitions)"
python3 - "$RECORDS" >"$WORK/records.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f'k{i % 5000}\t{{"id":{i},"email":"user{i}@example.com"}}')
PY
kcat -b "$BOOTSTRAP" -P -t bench-in -K $'\t' -l -X acks=all -X linger.ms=20 "$WORK/records.txt"

# run_row LABEL PROCESSES EXACTLY_ONCE INTERVAL_MS
run_row() {
  local label=$1 n=$2 eos=$3 interval=$4 name
  name=bench-$RANDOM$RANDOM
  "${KAFKA[@]}" create-topic "$name-out" 6 1 >/dev/null
  {
    echo "name: group"
    [[ $eos == 1 ]] && echo "exactly_once: true"
    echo "source:"
    echo "  kafka:"
    echo "    topics: [bench-in]"
    echo "    group: $name"
    echo "    instance_id: \${INSTANCE_ID}"
    [[ $eos == 1 ]] && echo "    transaction_interval_ms: $interval"
    echo "transforms:"
    echo "  - plugin: $PLUGINS_DIST/mask.wasm"
    echo "    config: { field: email }"
    echo "sink:"
    echo "  kafka:"
    echo "    brokers: $BOOTSTRAP"
    echo "    topic: $name-out"
    echo "    acks: all"
    echo "    producer: { linger.ms: 5 }"
  } >"$WORK/$name.yaml"
  bench_say "$label: $n process(es)"
  python3 - "$SLUICE" "$WORK/$name.yaml" "$n" "$RECORDS" "$label" "$WORK" <<'PY'
import json, os, signal, subprocess, sys, threading, time
sluice, path, n, records, label, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
start = time.monotonic()
acked = [0] * n
first_assign = [None]
done = threading.Event()
procs = []
lock = threading.Lock()
def read(i, p):
    for line in p.stdout:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        with lock:
            if e.get("event") == "rebalance" and e.get("assigned") and first_assign[0] is None:
                first_assign[0] = time.monotonic()
            if e.get("event") == "commit":
                acked[i] = max(acked[i], e.get("acknowledged", 0))
                if sum(acked) >= records:
                    done.set()
for i in range(n):
    state = os.path.join(work, f"state-{label}-{i}".replace(" ", "_"))
    os.makedirs(state, exist_ok=True)
    env = dict(os.environ, INSTANCE_ID=f"p{i}", SLUICE_LOG="warn", SLUICE_HTTP="127.0.0.1:0")
    p = subprocess.Popen([sluice, "run", path, "--state-dir", state, "--events", "json", "--progress-secs", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    procs.append(p)
    threading.Thread(target=read, args=(i, p), daemon=True).start()
ok = done.wait(600)
end = time.monotonic()
for p in procs:
    p.send_signal(signal.SIGTERM)
for p in procs:
    p.wait(60)
if not ok:
    print(f"| {label} | {n} | timed out ({sum(acked)} of {records}) | | |")
    sys.exit(0)
t0 = first_assign[0] or start
secs = end - t0
print(f"| {label} | {n} | {records / secs:,.0f} | {secs:.1f} | {t0 - start:.1f} |")
PY
}

{
  echo "| pipeline | processes | records/s | seconds | start + group join (s) |"
  echo "|---|---:|---:|---:|---:|"
  for n in 1 2 3; do run_row "at-least-once" "$n" 0 0; done
  for i in "${INTERVALS[@]}"; do run_row "exactly-once, ${i} ms" 1 1 "$i"; done
  run_row "exactly-once, 100 ms" 3 1 100
} >"$WORK/table.md"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$WORK/table.md"
echo
echo "$RECORDS records, $(nproc) cores, one Kafka node on the same machine; load average before $LOAD_BEFORE, after $LOAD_AFTER."
