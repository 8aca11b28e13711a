#!/usr/bin/env bash
# The performance race (issue #14): Sluice against the producers it competes with, on real
# Kafka, one contender after another, on the same records. Not a test: it asserts nothing
# but that every record arrived; it prints a table and writes it with a chart.
#
#   scripts/bench-race.sh                 # 1,000,000 records, 3 runs, one node then 3 nodes
#   scripts/bench-race.sh --quick         # 50,000 records, 1 run: does every contender run?
#   scripts/bench-race.sh --help
#
# Writes docs/bench/race.md (the table), race.svg (the chart) and race.json (every figure);
# --quick writes to target/bench/ instead, so quick figures never land in the docs.
#
# Contenders, for each acks policy (none = acks 0, leader = acks 1, all = acks all with the
# idempotent producer; every contender gets the same setting):
#   kcat        raw librdkafka: Debian's `kcat -P -l FILE` (one record per line; it exits
#               once every delivery report is in). It takes any librdkafka property (-X), so
#               it is configured like Sluice's producer: the same producer properties, the
#               `murmur2_random` partitioner Sluice sets, and the `source: orders` header
#               the orders source adds (-H). Its librdkafka (Debian's) is older than the
#               one rdkafka-sys builds into Sluice; both versions are printed.
#   perf        Kafka's Java producer at full speed: org.apache.kafka.tools.ProducerPerformance
#               --payload-file FILE (it picks a random line of the file for each record);
#               records/s as it reports them (first send to close(), JVM start excluded).
#   connect     Kafka Connect standalone with FileStreamSource reading FILE
#               (org.apache.kafka:connect-file, same version as the broker, resolved from
#               Maven Central by scripts/kafka/connect-pom.xml). It never exits by itself:
#               the topic's end offsets are polled until they hold every record, and its
#               records/s is taken from its first record to its last (their CreateTime);
#               the JVM's start-up is reported apart. Apart from acks and the producer
#               properties below, its worker keeps its own producer defaults (notably one
#               request in flight per connection, which Connect sets to keep order).
#   sluice      release build, `orders` source → Kafka
#   sluice-passthrough   … → plugins/dist/passthrough.wasm (Rust) → Kafka
#   sluice-mask          … → plugins/dist/mask.wasm (masks `email`) → Kafka
#
# The same records: FILE is written once by the `orders` plugin's own generator compiled
# natively (plugins/orders/examples/orders-file.rs, the very code the plugin runs), with the
# seed the Sluice pipelines use. Sluice does not read FILE: its `orders` source generates the
# identical stream in-process (a pure function of seed and id), which is how Sluice is used
# (a source plugin, not a file reader) and keeps disk reads out of its figure. The first
# run's topics of `sluice` and `sluice-passthrough` are read back (kcat -C) and must hold
# exactly FILE's values. Values only: no key for any contender.
#
# Measured per contender and run (scripts/bench/bench.py does it; its header has details):
# records/s; MB/s (values); CPU seconds per million records (user + system from the
# process's rusage); peak RSS (VmHWM, sampled; see bench.py); start-up (the first record's CreateTime, stamped
# when the client takes the record, minus the process start). Every Sluice row also as a
# ratio to kcat in the same run and acks policy. After each contender its topic's end
# offsets (kcat -Q) must sum to the count sent, else the run is marked failed and left
# out. Each contender gets a fresh topic (same partitions and replication for all),
# deleted afterwards. A warm-up pass (kcat and Sluice at full count, the Sluice plugins'
# compile cache) is not counted. Brokers, contenders and this script share the cores: run
# it on a quiet machine, with ≥ 1,000,000 records (with few records, the idempotent
# producer's start under `all` and the JVMs' warm-up dominate); the load average before
# and after is printed with the table.
#
# Needs what `make test` sets up (kcat, Java 17, Maven, the Kafka jars), python3, and for
# the chart matplotlib from PyPI, installed into target/bench-venv on first use.
set -euo pipefail

BENCH_NAME=bench-race
# shellcheck source=scripts/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/common.sh"
ROOT=$BENCH_ROOT

usage() {
  cat <<EOF
usage: scripts/bench-race.sh [options]

  --records N          records per contender and run (default 1000000)
  --runs R             runs; every contender once per run and acks policy (default 3)
  --quick              --records 50000 --runs 1, output to target/bench/
  --clusters LIST      single,cluster (default both, in that order)
  --acks LIST          none,leader,all (default all three)
  --contenders LIST    kcat,perf,connect,sluice,sluice-passthrough,sluice-mask (default all)
  --partitions P       partitions of every topic (default 3)
  --producer-prop K=V  producer property given to every contender (repeatable; replaces
                       the defaults linger.ms=5 batch.size=65536); --producer-prop none:
                       every client keeps its own defaults
  --seed S             orders seed (default 42)
  --timeout S          per contender and run (default 60 + records/5000)
  --out DIR            where race.md, race.svg and race.json go (default docs/bench,
                       target/bench with --quick)
  --no-chart           skip the chart (and the matplotlib venv)
  --no-content-check   skip reading the first run's Sluice topics back

Environment: SLUICE_BIN (default: cargo build --release -p sluice), KAFKA_HOME,
BENCH_KAFKA_ROOT (where the cluster directories go, default .kafka/), BENCH_PORT_BASE (26092: one node on
26092-26093, the 3-node cluster on 27092-27094 and 27192-27194), BENCH_NO_PLUGIN_BUILD=1,
BENCH_KEEP_WORK=1 (keep the per-run logs in target/bench/work-race).
EOF
}

RECORDS=1000000 RUNS=3 QUICK=0 CLUSTERS=single,cluster ACKS=none,leader,all
CONTENDERS=kcat,perf,connect,sluice,sluice-passthrough,sluice-mask PARTITIONS=3 SEED=42
TIMEOUT="" OUT="" CHART=1 CONTENT_CHECK=1 PROPS=() PROPS_GIVEN=0
records_given=0 runs_given=0
while (($#)); do
  case $1 in
    --records) RECORDS=${2:?}; records_given=1; shift 2 ;;
    --runs) RUNS=${2:?}; runs_given=1; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --clusters) CLUSTERS=${2:?}; shift 2 ;;
    --acks) ACKS=${2:?}; shift 2 ;;
    --contenders) CONTENDERS=${2:?}; shift 2 ;;
    --partitions) PARTITIONS=${2:?}; shift 2 ;;
    --producer-prop) PROPS_GIVEN=1; [[ $2 == none ]] || PROPS+=("${2:?}"); shift 2 ;;
    --seed) SEED=${2:?}; shift 2 ;;
    --timeout) TIMEOUT=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --no-chart) CHART=0; shift ;;
    --no-content-check) CONTENT_CHECK=0; shift ;;
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
((RECORDS > 0 && RUNS > 0 && PARTITIONS > 0)) || bench_die "--records, --runs and --partitions must be at least 1"
for p in "${PROPS[@]}"; do [[ $p == ?*=* ]] || bench_die "--producer-prop wants key=value, got '$p'"; done
for c in ${CLUSTERS//,/ }; do [[ $c == single || $c == cluster ]] || bench_die "--clusters takes single and/or cluster, got '$c'"; done
TIMEOUT=${TIMEOUT:-$((60 + RECORDS / 5000))}
if [[ -z $OUT ]]; then
  if ((QUICK)); then OUT=$ROOT/target/bench; else OUT=$ROOT/docs/bench; fi
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PORT_BASE=${BENCH_PORT_BASE:-26092}

WORK=$ROOT/target/bench/work-race
rm -rf "$WORK"
mkdir -p "$WORK"
cleanup() {
  local rc=$?
  for c in ${CLUSTERS//,/ }; do bench_stop_kafka "$BENCH_KAFKA_DIR/bench-race-$c"; done
  [[ ${BENCH_KEEP_WORK:-0} == 1 ]] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# what the contenders need

bench_need_tools
SLUICE=$(bench_sluice)
bench_plugins
bench_kafka_jars
[[ ,$CONTENDERS, == *,connect,* ]] && bench_connect_jars
FILE=$(bench_records "$RECORDS" "$SEED")
PYTHON_CHART=""
((CHART)) && PYTHON_CHART=$(bench_venv)

prop_args=()
for p in "${PROPS[@]}"; do prop_args+=(--producer-prop "$p"); done
command_line="scripts/bench-race.sh --records $RECORDS --runs $RUNS --clusters $CLUSTERS --acks $ACKS --partitions $PARTITIONS"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
quick=()
((QUICK)) && quick=(--quick)
python3 "$BENCH_PY" meta --root "$ROOT" --out "$RESULTS" --command "$command_line" \
  --records "$RECORDS" --runs "$RUNS" --partitions "$PARTITIONS" --records-file "$FILE" \
  "${prop_args[@]}" "${quick[@]}"

# ---------------------------------------------------------------------------------------
# the phases: one node, then the 3-node cluster

for kind in ${CLUSTERS//,/ }; do
  dir=$BENCH_KAFKA_DIR/bench-race-$kind
  if [[ $kind == single ]]; then base=$PORT_BASE; else base=$((PORT_BASE + 1000)); fi
  bench_start_kafka "$kind" "$base" "$dir"
  content=()
  ((CONTENT_CHECK)) || content=(--no-content-check)
  python3 "$BENCH_PY" race --phase "$kind" --bootstrap "$BOOTSTRAP" --kafka-sh "$KAFKA_SH" \
    --kafka-dir "$dir" --kafka-startup "$KAFKA_STARTUP" --kafka-libs "$KAFKA_LIBS" \
    --connect-libs "$CONNECT_LIBS" --log4j "$TOOLS_LOG4J" --sluice "$SLUICE" \
    --plugins "$PLUGINS_DIST" --records-file "$FILE" --records "$RECORDS" --runs "$RUNS" \
    --seed "$SEED" --partitions "$PARTITIONS" --acks "$ACKS" --contenders "$CONTENDERS" \
    --timeout "$TIMEOUT" "${prop_args[@]}" "${content[@]}" --work "$WORK" --results "$RESULTS"
  bench_stop_kafka "$dir"
done

# ---------------------------------------------------------------------------------------
# the table and the chart

cp "$RESULTS" "$OUT/race-runs.jsonl"
python3 "$BENCH_PY" report-race --results "$RESULTS" \
  --markdown "$OUT/race.md" --json "$OUT/race.json" --chart-name race.svg
if [[ -n $PYTHON_CHART ]]; then
  "$PYTHON_CHART" "$ROOT/scripts/bench/chart.py" "$OUT/race.json" "$OUT/race.svg"
fi
bench_say "wrote $OUT/race.md, race.json, race-runs.jsonl${PYTHON_CHART:+ and race.svg}"
