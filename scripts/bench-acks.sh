#!/usr/bin/env bash
# The acks table: Sluice's three acks policies on a real 3-node Kafka cluster
# (scripts/kafka.sh: Kafka 4.1, replication factor 3, min.insync.replicas=2, unclean
# leader election off), printed as a markdown table, with raw librdkafka on the same
# cluster beside each policy. See docs/acks.md.
#
#   scripts/bench-acks.sh                 # build what is missing, measure, print the table
#
# Per policy:
#   throughput  `orders` source (≈ 90-byte JSON values, keyed by id) as fast as it goes
#               into a 3-partition topic; BENCH_RUNS runs, the median by records/s.
#               records/s = records / wall time of `sluice run` (start to exit, every
#               record acknowledged). In each run, just before Sluice, raw librdkafka
#               (`kcat -P -l FILE`, Debian's kcat) sends the same records into a fresh
#               topic of the same shape, with the same acks setting (acks 0 / 1 / all +
#               idempotence), key (the id, `-K`), header (`source: orders`, `-H`),
#               partitioner (murmur2_random) and producer properties (BENCH_PRODUCER_PROPS);
#               FILE is written by the `orders` plugin's own generator compiled natively
#               (plugins/orders/examples/orders-file.rs), so the records are identical.
#               `× raw` is Sluice's records/s over kcat's in the same run, median and
#               range over the runs. Every throughput topic's end offsets must sum to the
#               records sent; the topics are deleted afterwards.
#   latency     BENCH_LAT_RECORDS records at a steady BENCH_LAT_RATE/s into the same kind
#               of topic: ack latency p50/p99 from Sluice's own `stats` line (time from
#               handing a record to the producer to its delivery report). At full speed
#               that time is mostly waiting in the producer queue, whatever the policy.
#   failure     BENCH_FAIL_RECORDS records at BENCH_FAIL_RATE/s into a 1-partition topic;
#               mid-run both followers are paused (SIGSTOP), the leader goes on alone for
#               a moment, then it is killed (SIGKILL) and the followers resume: one of them
#               becomes leader. Afterwards Kafka's console consumer reads the topic and
#               every id Sluice acknowledged is looked up: lost = acknowledged but absent.
#
# Environment: BENCH_RECORDS (1000000), BENCH_RUNS (3), BENCH_LAT_RECORDS (50000),
# BENCH_PRODUCER_PROPS ("linger.ms=5 batch.size=65536", given to Sluice's pipeline and to
# kcat alike; empty: each its defaults),
# BENCH_LAT_RATE (5000), BENCH_FAIL_RECORDS (30000),
# BENCH_FAIL_RATE (2000), BENCH_PORT_BASE (25092), BENCH_DIR (.kafka/bench),
# SLUICE_BIN (default target/release/sluice, built with cargo if missing),
# BENCH_KEEP=1 keeps the cluster running afterwards (else it is stopped and its directory
# deleted). Progress goes to stderr, the table
# to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench-acks
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
read -r -a PRODUCER_PROPS <<<"${BENCH_PRODUCER_PROPS-linger.ms=5 batch.size=65536}"
RECORDS=${BENCH_RECORDS:-1000000}
RUNS=${BENCH_RUNS:-3}
LAT_RECORDS=${BENCH_LAT_RECORDS:-50000}
LAT_RATE=${BENCH_LAT_RATE:-5000}
FAIL_RECORDS=${BENCH_FAIL_RECORDS:-30000}
FAIL_RATE=${BENCH_FAIL_RATE:-2000}
PORT_BASE=${BENCH_PORT_BASE:-25092}
DIR=${BENCH_DIR:-$ROOT/.kafka/bench}
SLUICE=${SLUICE_BIN:-$ROOT/target/release/sluice}
ORDERS=$ROOT/plugins/dist/orders.wasm
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-acks.XXXXXX")
KAFKA=(bash "$ROOT/scripts/kafka.sh" --dir "$DIR")
POLICIES=(none leader all)
# Followers' parked fetches are answered within replica.fetch.wait.max.ms (500 ms).
PARKED_FETCH_DRAIN=0.7
# Records the leader must acknowledge alone before it is killed (leader, none).
UNREPLICATED_AT_LEAST=500

say() { printf 'bench-acks: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((10#$t / 1000)); }

SLUICE_PID=""
cleanup() {
  local rc=$?
  [[ -n $SLUICE_PID ]] && kill -9 "$SLUICE_PID" 2>/dev/null
  if [[ ${BENCH_KEEP:-0} != 1 ]]; then
    "${KAFKA[@]}" stop --now --remove >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# prerequisites

if [[ ! -x $SLUICE ]]; then
  say "building $SLUICE (cargo build --release -p sluice)"
  (cd "$ROOT" && cargo build --release -p sluice >&2)
fi
[[ -x $SLUICE ]] || die "$SLUICE missing"
if [[ ! -f $ORDERS ]]; then
  say "building the plugins (scripts/build-plugins-rust.sh)"
  bash "$ROOT/scripts/build-plugins-rust.sh" >&2
fi
command -v kcat >/dev/null || die "kcat is needed (apt-get install -y kcat)"
for p in "${PRODUCER_PROPS[@]}"; do [[ $p == ?*=* ]] || die "BENCH_PRODUCER_PROPS wants key=value words, got '$p'"; done
# The throughput runs' records for kcat: "id<TAB>value" lines, seed 7 like the pipelines.
RAW_FILE=$(bench_records "$RECORDS" 7 0 --key)
MEAN_VALUE_BYTES=$(awk -F'\t' '{ s += length($2) } END { printf "%.1f", s / NR }' "$RAW_FILE")

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
say "starting a 3-node cluster in $DIR (load average $LOAD_BEFORE)"
t0=$(now_ms)
owner=(--owner-pid $$) # the script's watchdog stops the cluster if this shell dies
[[ ${BENCH_KEEP:-0} == 1 ]] && owner=()
start_out=$("${KAFKA[@]}" start cluster --port-base "$PORT_BASE" "${owner[@]}")
BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' <<<"$start_out" | tail -n1)
STARTUP=$(sed -n 's/^STARTUP_SECONDS=//p' <<<"$start_out" | tail -n1)
[[ -n $BOOTSTRAP ]] || die "no bootstrap address from kafka.sh start"
say "cluster at $BOOTSTRAP (start-up ${STARTUP} s by kafka.sh, $((($(now_ms) - t0) / 1000)) s wall)"

# ---------------------------------------------------------------------------------------
# helpers

# pipeline_file NAME ACKS TOPIC COUNT RATE → path of a pipeline file
pipeline_file() {
  local name=$1 acks=$2 topic=$3 count=$4 rate=$5 f=$WORK/$1.yaml p producer=""
  for p in "${PRODUCER_PROPS[@]}"; do producer+="${producer:+, }\"${p%%=*}\": \"${p#*=}\""; done
  cat >"$f" <<EOF
name: $name
source:
  plugin: $ORDERS
  config: { count: $count, rate: $rate, seed: 7 }
transforms: []
sink:
  kafka:
    brokers: "$BOOTSTRAP"
    topic: $topic
    acks: $acks
    key: id
    producer: { $producer }
EOF
  printf '%s\n' "$f"
}

# acknowledged NAME → records acknowledged so far (committed position - 1; 0 if none yet)
acknowledged() {
  local f=$WORK/state/$1.position.json hex id="" i
  [[ -f $f ]] || { echo 0; return; }
  hex=$(sed -n 's/.*"position"[[:space:]]*:[[:space:]]*"\([0-9a-f]*\)".*/\1/p' "$f" | head -n1)
  for ((i = 0; i < ${#hex}; i += 2)); do id+=$(printf '%b' "\\x${hex:i:2}"); done
  [[ $id =~ ^[0-9]+$ ]] || { echo 0; return; }
  echo $((id - 1))
}

# start_sluice FILE LOG → sets SLUICE_PID
start_sluice() {
  SLUICE_LOG=warn "$SLUICE" run "$1" --state-dir "$WORK/state" --progress-secs 3600 >"$2" 2>&1 &
  SLUICE_PID=$!
}

# wait_sluice LOG TIMEOUT_S → exit status of sluice (dies if it takes longer)
wait_sluice() {
  local log=$1 deadline=$(($(now_ms) + $2 * 1000)) rc
  while kill -0 "$SLUICE_PID" 2>/dev/null; do
    if (($(now_ms) > deadline)); then
      cat "$log" >&2
      die "sluice still running after $2 s"
    fi
    sleep 0.1
  done
  rc=0
  wait "$SLUICE_PID" || rc=$?
  SLUICE_PID=""
  return "$rc"
}

# wait_acknowledged NAME AT_LEAST TIMEOUT_S LOG → prints the count reached
wait_acknowledged() {
  local deadline=$(($(now_ms) + $3 * 1000)) n
  while :; do
    n=$(acknowledged "$1")
    ((n >= $2)) && { echo "$n"; return; }
    kill -0 "$SLUICE_PID" 2>/dev/null || { cat "$4" >&2; die "$1 ended with $n of $2 records acknowledged"; }
    (($(now_ms) > deadline)) && { cat "$4" >&2; die "$1: only $n records acknowledged after $3 s, waited for $2"; }
    sleep 0.05
  done
}

# total_records TOPIC → sum of the partitions' end offsets (kcat -Q)
total_records() {
  local parts args=() p
  parts=$(kcat -b "$BOOTSTRAP" -L -t "$1" -m 15 | grep -c '^ *partition ')
  for ((p = 0; p < parts; p++)); do args+=(-t "$1:$p:-1"); done
  kcat -b "$BOOTSTRAP" -m 15 -Q "${args[@]}" | awk '$3 == "offset" { s += $4 } END { print s + 0 }'
}

# ---------------------------------------------------------------------------------------
# throughput

declare -A RATE MBS RAW RATIO P50 P99 LOST DUPS ALONE
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

# expect_records TOPIC COUNT: the topic's end offsets sum to COUNT (waits up to 30 s for
# acks-0 records still on their way into the log), else the benchmark stops.
expect_records() {
  local deadline=$(($(now_ms) + 30000)) n
  while n=$(total_records "$1"); ((n != $2)); do
    (($(now_ms) < deadline)) || die "topic $1 holds $n records, $2 were sent"
    sleep 0.2
  done
}

# run_pipeline NAME ACKS COUNT RATE → "records/s MB/s p50 p99": records/s from the wall
# time of `sluice run`, MB/s of values, ack latency from its stats line.
run_pipeline() {
  local name=$1 acks=$2 count=$3 rate=$4 file log stats t0 t1 p50 p99
  "${KAFKA[@]}" create-topic "$name" 3 3 min.insync.replicas=2 >/dev/null 2>&1
  file=$(pipeline_file "$name" "$acks" "$name" "$count" "$rate")
  log=$WORK/$name.log
  t0=$(now_us)
  SLUICE_LOG=warn timeout 600 "$SLUICE" run "$file" --state-dir "$WORK/state" --progress-secs 3600 >"$log" 2>&1 ||
    { cat "$log" >&2; die "$name failed"; }
  t1=$(now_us)
  grep -q "pipeline \`$name\` finished: $count records acknowledged" "$log" || { cat "$log" >&2; die "$name did not acknowledge every record"; }
  expect_records "$name" "$count"
  stats=$(grep "pipeline \`$name\` stats:" "$log")
  # pipeline `x` stats: 123 records/s, 1.23 MB/s, ack latency p50 4.5 ms p99 6.7 ms, 8.9 s
  read -r p50 p99 < <(sed -E 's/.*ack latency p50 ([0-9.-]+) ms p99 ([0-9.-]+) ms.*/\1 \2/' <<<"$stats")
  awk -v n="$count" -v us=$((t1 - t0)) -v b="$MEAN_VALUE_BYTES" -v p50="$p50" -v p99="$p99" \
    'BEGIN { r = n / (us / 1e6); printf "%.0f %.2f %s %s\n", r, r * b / 1e6, p50, p99 }'
}

# run_raw NAME ACKS → records/s of kcat sending RAW_FILE (the same records) into a fresh topic
run_raw() {
  local name=$1 acks=$2 t0 t1 args=() p
  case $acks in
    none) args=(-X acks=0 -X enable.idempotence=false) ;;
    leader) args=(-X acks=1 -X enable.idempotence=false) ;;
    all) args=(-X acks=all -X enable.idempotence=true) ;;
  esac
  for p in "${PRODUCER_PROPS[@]}"; do args+=(-X "$p"); done
  "${KAFKA[@]}" create-topic "$name" 3 3 min.insync.replicas=2 >/dev/null 2>&1
  t0=$(now_us)
  timeout 600 kcat -P -b "$BOOTSTRAP" -t "$name" -l -K $'\t' -H source=orders \
    -X partitioner=murmur2_random "${args[@]}" "$RAW_FILE" 2>"$WORK/$name.log" ||
    { cat "$WORK/$name.log" >&2; die "$name: kcat failed"; }
  t1=$(now_us)
  expect_records "$name" "$RECORDS"
  awk -v n="$RECORDS" -v us=$((t1 - t0)) 'BEGIN { printf "%.0f\n", n / (us / 1e6) }'
}

say "warm-up runs (kcat and Sluice, acks leader, not counted)"
run_raw warmup-raw leader >/dev/null
run_pipeline warmup leader "$RECORDS" 0 >/dev/null
"${KAFKA[@]}" delete-topic warmup-raw >/dev/null 2>&1 || true
"${KAFKA[@]}" delete-topic warmup >/dev/null 2>&1 || true
for acks in "${POLICIES[@]}"; do
  results=() raws=() ratios=()
  for ((r = 1; r <= RUNS; r++)); do
    raw=$(run_raw "raw-$acks-$r" "$acks")
    line=$(run_pipeline "tp-$acks-$r" "$acks" "$RECORDS" 0)
    ratio=$(awk -v s="${line%% *}" -v k="$raw" 'BEGIN { printf "%.2f", s / k }')
    say "acks $acks, full speed, run $r: kcat $raw records/s; Sluice $line (records/s MB/s p50 p99); ${ratio}× raw"
    results+=("$line") raws+=("$raw") ratios+=("$ratio")
    "${KAFKA[@]}" delete-topic "raw-$acks-$r" >/dev/null 2>&1 || true
    "${KAFKA[@]}" delete-topic "tp-$acks-$r" >/dev/null 2>&1 || true
  done
  mid=$(((RUNS + 1) / 2))
  median=$(printf '%s\n' "${results[@]}" | sort -n -k1,1 | sed -n "${mid}p")
  read -r "RATE[$acks]" "MBS[$acks]" _ _ <<<"$median"
  RAW[$acks]=$(printf '%s\n' "${raws[@]}" | sort -n | sed -n "${mid}p")
  RATIO[$acks]=$(printf '%s\n' "${ratios[@]}" | sort -n | awk -v m="$mid" -v n="$RUNS" \
    'NR == 1 { lo = $1 } NR == m { med = $1 } { hi = $1 } END { if (n > 1) printf "%s× (%s–%s)", med, lo, hi; else printf "%s×", med }')
  line=$(run_pipeline "lat-$acks" "$acks" "$LAT_RECORDS" "$LAT_RATE")
  say "acks $acks, $LAT_RATE records/s: $line (records/s MB/s p50 p99)"
  read -r _ _ "P50[$acks]" "P99[$acks]" <<<"$line"
done

# ---------------------------------------------------------------------------------------
# leader failure with the followers paused

run_failure() { # ACKS
  local acks=$1 name="fail-$1" topic="fail-$1" file log leader followers=() f n0 n1 total
  "${KAFKA[@]}" create-topic "$topic" 1 3 min.insync.replicas=2 >/dev/null 2>&1
  file=$(pipeline_file "$name" "$acks" "$topic" "$FAIL_RECORDS" "$FAIL_RATE")
  log=$WORK/$name.log
  start_sluice "$file" "$log"
  wait_acknowledged "$name" $((FAIL_RECORDS / 5)) 120 "$log" >/dev/null
  "${KAFKA[@]}" wait-isr "$topic" 0 3 60 >/dev/null
  leader=$("${KAFKA[@]}" leader "$topic" 0)
  for f in 1 2 3; do [[ $f == "$leader" ]] || followers+=("$f"); done
  for f in "${followers[@]}"; do "${KAFKA[@]}" pause "$f" >/dev/null; done
  sleep "$PARKED_FETCH_DRAIN" # not a condition to poll: the leader's parked-fetch timeout
  n0=$(acknowledged "$name")
  if [[ $acks == all ]]; then
    sleep 1 # nothing can be acknowledged now; let records be in flight
    n1=$(acknowledged "$name")
  else
    n1=$(wait_acknowledged "$name" $((n0 + UNREPLICATED_AT_LEAST)) 20 "$log")
  fi
  "${KAFKA[@]}" kill "$leader" >/dev/null
  for f in "${followers[@]}"; do "${KAFKA[@]}" resume "$f" >/dev/null; done
  "${KAFKA[@]}" wait-leader "$topic" 0 60 --not "$leader" >/dev/null
  "${KAFKA[@]}" restart "$leader" >/dev/null 2>&1
  "${KAFKA[@]}" wait-isr "$topic" 0 3 90 >/dev/null
  wait_sluice "$log" $((FAIL_RECORDS / FAIL_RATE + 180)) || { cat "$log" >&2; die "$name failed"; }
  grep -q "pipeline \`$name\` finished: $FAIL_RECORDS records acknowledged" "$log" || { cat "$log" >&2; die "$name did not acknowledge every record"; }

  total=$(total_records "$topic")
  "${KAFKA[@]}" consume "$topic" --from-beginning --max "$total" --timeout 15 --deadline 240 2>/dev/null \
    | grep -o '"id":[0-9]*' | cut -d: -f2 >"$WORK/$name.ids"
  local read distinct lost dups
  read=$(wc -l <"$WORK/$name.ids")
  ((read == total)) || die "$topic: the console consumer read $read of $total records"
  distinct=$(awk -v n="$FAIL_RECORDS" '$1 >= 1 && $1 <= n' "$WORK/$name.ids" | sort -un | wc -l)
  lost=$((FAIL_RECORDS - distinct))
  dups=$((read - distinct))
  say "acks $acks: leader $leader killed after the followers ${followers[*]} were paused; $((n1 - n0)) records acknowledged by it alone; read $read: $lost lost, $dups duplicated"
  LOST[$acks]=$lost
  DUPS[$acks]=$dups
  ALONE[$acks]=$((n1 - n0))
}

for acks in "${POLICIES[@]}"; do
  run_failure "$acks"
done

# ---------------------------------------------------------------------------------------
# the table

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
load=$(cut -d' ' -f1 /proc/loadavg)
echo "| \`acks\` | records/s | MB/s | raw librdkafka records/s | × raw | ack latency p50 | ack latency p99 | acknowledged by the leader alone | lost after the leader failure | duplicated |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for acks in "${POLICIES[@]}"; do
  # shellcheck disable=SC2016 # the backquotes are markdown
  printf '| `%s` | %s | %s | %s | %s | %s ms | %s ms | %s | %s of %s | %s |\n' \
    "$acks" "${RATE[$acks]}" "${MBS[$acks]}" "${RAW[$acks]}" "${RATIO[$acks]}" "${P50[$acks]}" "${P99[$acks]}" \
    "${ALONE[$acks]}" "${LOST[$acks]}" "$FAIL_RECORDS" "${DUPS[$acks]}"
done
echo
echo "Records/s and MB/s (values): $RECORDS records as fast as possible, median of $RUNS runs," \
  "from the wall time of \`sluice run\`; raw librdkafka: \`kcat -P -l\` with the same records," \
  "key, header and producer settings (${PRODUCER_PROPS[*]:-defaults}) just before Sluice in each run;" \
  "× raw: Sluice over kcat run by run (median, min–max)." \
  "Ack latency: $LAT_RECORDS records at $LAT_RATE/s. Leader failure: $FAIL_RECORDS records at" \
  "$FAIL_RATE/s to a 1-partition topic; both followers paused (SIGSTOP), the leader killed" \
  "(SIGKILL) once it acknowledged records alone, the followers resumed; then Kafka's console" \
  "consumer looks up every acknowledged id."
echo "Machine: $(nproc) cores ($cpu), $mem, 1-minute load average $LOAD_BEFORE before, $load after;" \
  "Kafka 4.1.1; kcat $(kcat -V 2>&1 | sed -n 's/.*Version \([^ ]*\).*librdkafka \([^ ]*\).*/\1 on librdkafka \2/p');" \
  "Sluice on librdkafka $(sed -n '/^name = "rdkafka-sys"$/{n;s/.*+\(.*\)"/\1/p}' "$ROOT/Cargo.lock"); commit $(git -C "$ROOT" rev-parse --short HEAD);" \
  "3 nodes on 127.0.0.1 (RF 3, min.insync.replicas 2); cluster start-up ${STARTUP} s."
