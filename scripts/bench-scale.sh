#!/usr/bin/env bash
# How Sluice's cost grows (issue #14, item 4): records/s and CPU per record of Sluice
# (release build) on real Kafka against
#   - value size: 100 B (the natural `orders` value), 1 KiB and 10 KiB (the source's
#     `value_bytes` padding), with raw librdkafka (`kcat -P -l`, the same records from a
#     file written by the plugin's own generator) beside each size; 1 KiB runs a quarter
#     and 10 KiB a twentieth of the records, to keep the bytes on disk bounded;
#   - transforms in the chain: 0 to 5 Rust passthroughs (plugins/dist/passthrough.wasm);
#   - pipelines in one process: 1, 4 and 16 (`sluice run DIR`), the records split evenly
#     between them, each pipeline into its own topic.
# Not a test: it prints a Markdown table (and writes docs/bench/scale.md; --quick writes
# target/bench/scale.md). Measured as in scripts/bench-race.sh (see its header and
# scripts/bench/bench.py): wall time from process start to exit, CPU = user + system from
# rusage, peak RSS; every topic's end offsets must sum to the records sent, else the row is
# marked failed. One warm-up Sluice run is not counted.
#
#   scripts/bench-scale.sh                 # 1,000,000 records, 3 runs, one node, acks leader
#   scripts/bench-scale.sh --quick         # 50,000 records, 1 run
#   scripts/bench-scale.sh --help
set -euo pipefail

BENCH_NAME=bench-scale
# shellcheck source=scripts/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/common.sh"
ROOT=$BENCH_ROOT

usage() {
  cat <<EOF
usage: scripts/bench-scale.sh [options]

  --records N          records at 100 B and for the other axes (default 1000000)
  --runs R             runs (default 3)
  --quick              --records 50000 --runs 1, output to target/bench/
  --cluster KIND       single or cluster (3 nodes, RF 3, min.insync.replicas 2); default single
  --acks POLICY        none, leader or all (default leader)
  --axes LIST          size,transforms,pipelines (default all three)
  --partitions P       partitions of every topic (default 3)
  --producer-prop K=V  as in bench-race.sh (default linger.ms=5 batch.size=65536; none)
  --seed S             orders seed (default 42)
  --timeout S          per run (default 60 + records/5000)
  --out DIR            where scale.md goes (default docs/bench, target/bench with --quick)

Environment: as scripts/bench-race.sh (SLUICE_BIN, KAFKA_HOME, BENCH_KAFKA_ROOT,
BENCH_PORT_BASE: the cluster uses BENCH_PORT_BASE + 2000 here, BENCH_NO_PLUGIN_BUILD=1,
BENCH_KEEP_WORK=1).
EOF
}

RECORDS=1000000 RUNS=3 QUICK=0 KIND=single ACKS=leader AXES=size,transforms,pipelines
PARTITIONS=3 SEED=42 TIMEOUT="" OUT="" PROPS=() PROPS_GIVEN=0 records_given=0 runs_given=0
while (($#)); do
  case $1 in
    --records) RECORDS=${2:?}; records_given=1; shift 2 ;;
    --runs) RUNS=${2:?}; runs_given=1; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --cluster) KIND=${2:?}; shift 2 ;;
    --acks) ACKS=${2:?}; shift 2 ;;
    --axes) AXES=${2:?}; shift 2 ;;
    --partitions) PARTITIONS=${2:?}; shift 2 ;;
    --producer-prop) PROPS_GIVEN=1; [[ $2 == none ]] || PROPS+=("${2:?}"); shift 2 ;;
    --seed) SEED=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) bench_say "unknown option '$1'"; usage >&2; exit 2 ;;
  esac
done
if ((QUICK)); then
  ((records_given)) || RECORDS=50000
  ((runs_given)) || RUNS=1
fi
((PROPS_GIVEN)) || PROPS=(linger.ms=5 batch.size=65536)
for v in "$RECORDS" "$RUNS" "$PARTITIONS" "$SEED"; do
  [[ $v =~ ^[0-9]+$ ]] || bench_die "--records, --runs, --partitions and --seed want whole numbers, got '$v'"
done
((RECORDS >= 20 && RUNS > 0 && PARTITIONS > 0)) || bench_die "--records must be at least 20, --runs and --partitions at least 1"
[[ $KIND == single || $KIND == cluster ]] || bench_die "--cluster takes single or cluster, got '$KIND'"
[[ $ACKS == none || $ACKS == leader || $ACKS == all ]] || bench_die "--acks takes none, leader or all, got '$ACKS'"
for p in "${PROPS[@]}"; do [[ $p == ?*=* ]] || bench_die "--producer-prop wants key=value, got '$p'"; done
TIMEOUT=${TIMEOUT:-$((60 + RECORDS / 5000))}
if [[ -z $OUT ]]; then
  if ((QUICK)); then OUT=$ROOT/target/bench; else OUT=$ROOT/docs/bench; fi
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PORT_BASE=$((${BENCH_PORT_BASE:-26092} + 2000))
DIR=$BENCH_KAFKA_DIR/bench-scale-$KIND

WORK=$ROOT/target/bench/work-scale
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() {
  local rc=$?
  bench_stop_kafka "$DIR"
  [[ ${BENCH_KEEP_WORK:-0} == 1 ]] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

bench_need_tools
SLUICE=$(bench_sluice)
bench_plugins
bench_kafka_jars
size_args=()
if [[ ,$AXES, == *,size,* ]]; then
  size_args=(--size-file "100=$(bench_records "$RECORDS" "$SEED")"
    --size-file "1024=$(bench_records $((RECORDS / 4)) "$SEED" 1024)"
    --size-file "10240=$(bench_records $((RECORDS / 20)) "$SEED" 10240)")
fi
FILE=$(bench_records "$RECORDS" "$SEED")

prop_args=()
for p in "${PROPS[@]}"; do prop_args+=(--producer-prop "$p"); done
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
quick=()
((QUICK)) && quick=(--quick)
python3 "$BENCH_PY" meta --root "$ROOT" --out "$RESULTS" \
  --command "scripts/bench-scale.sh --records $RECORDS --runs $RUNS --cluster $KIND --acks $ACKS --axes $AXES" \
  --records "$RECORDS" --runs "$RUNS" --partitions "$PARTITIONS" --records-file "$FILE" \
  "${prop_args[@]}" "${quick[@]}"

bench_start_kafka "$KIND" "$PORT_BASE" "$DIR"
python3 "$BENCH_PY" scale --phase "$KIND" --bootstrap "$BOOTSTRAP" --kafka-sh "$KAFKA_SH" \
  --kafka-dir "$DIR" --kafka-startup "$KAFKA_STARTUP" --kafka-libs "$KAFKA_LIBS" \
  --log4j "$TOOLS_LOG4J" --sluice "$SLUICE" --plugins "$PLUGINS_DIST" --records-file "$FILE" \
  --records "$RECORDS" --runs "$RUNS" --seed "$SEED" --partitions "$PARTITIONS" --acks "$ACKS" \
  --axes "$AXES" "${size_args[@]}" --timeout "$TIMEOUT" "${prop_args[@]}" \
  --work "$WORK" --results "$RESULTS"
bench_stop_kafka "$DIR"

cp "$RESULTS" "$OUT/scale-runs.jsonl"
python3 "$BENCH_PY" report-scale --results "$RESULTS" --markdown "$OUT/scale.md"
bench_say "wrote $OUT/scale.md and scale-runs.jsonl"
