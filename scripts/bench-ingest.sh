#!/usr/bin/env bash
# The acks table felt by an HTTP client: request latency p50/p99 and records/s of the
# HTTP ingest source for each acks policy, on a 3-node cluster (replication factor 3,
# min.insync.replicas 2), with `hey` (Debian) as the load generator. Prints a markdown
# table for the README.
#
#   scripts/bench-ingest.sh            # start a cluster, measure, print, stop
#   scripts/bench-ingest.sh --quick    # fewer requests: does it run? (figures not for comparison)
#
# Each policy gets its own pipeline (`source: { http: … }` → Kafka, no transform) and its
# own 3-partition topic; `hey` sends BENCH_REQUESTS POSTs of BENCH_LINES JSON lines each
# from BENCH_CONCURRENCY connections. Latency is request to answer: under `none` the
# answer (202) comes once the records are written to the broker's socket; under `leader`
# and `all` (200) once the leader / every in-sync replica has them. records/s counts only
# answered records (status 200/202). Take final figures on a quiet machine only.
#
# Environment: BENCH_REQUESTS (2000), BENCH_LINES (100), BENCH_CONCURRENCY (16),
# BENCH_PORT_BASE (26092), BENCH_DIR (.kafka/bench-ingest), SLUICE_BIN (default
# target/release/sluice, built if missing), BENCH_KEEP=1 keeps the cluster. Progress
# goes to stderr, the table to stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=bench-ingest
# shellcheck source=scripts/bench/common.sh
source "$ROOT/scripts/bench/common.sh"
REQUESTS=${BENCH_REQUESTS:-2000}
LINES=${BENCH_LINES:-100}
CONCURRENCY=${BENCH_CONCURRENCY:-16}
PORT_BASE=${BENCH_PORT_BASE:-26092}
DIR=${BENCH_DIR:-$ROOT/.kafka/bench-ingest}
if [[ ${1:-} == --quick ]]; then
  REQUESTS=${BENCH_REQUESTS:-200}
  LINES=${BENCH_LINES:-20}
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-ingest.XXXXXX")
KAFKA=(bash "$ROOT/scripts/kafka.sh" --dir "$DIR")
say() { bench_say "$*"; }
die() { bench_die "$*"; }

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

command -v hey >/dev/null || die "hey is needed (apt-get install -y hey)"
command -v curl >/dev/null || die "curl is needed (apt-get install -y curl)"
SLUICE=$(bench_sluice)
bench_kafka_jars

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
say "starting a 3-node cluster in $DIR (load average $LOAD_BEFORE)"
owner=(--owner-pid $$)
[[ ${BENCH_KEEP:-0} == 1 ]] && owner=()
start_out=$("${KAFKA[@]}" start cluster --port-base "$PORT_BASE" "${owner[@]}")
BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' <<<"$start_out" | tail -n1)
[[ -n $BOOTSTRAP ]] || die "no bootstrap address from kafka.sh start"
say "cluster at $BOOTSTRAP"

# One body of LINES order lines (≈90 bytes each).
for i in $(seq 1 "$LINES"); do
  printf '{"id":%d,"customer":"c%d","email":"c%d@example.com","amount_cents":%d,"country":"FR"}\n' "$i" "$i" "$i" $((i * 37 % 99901))
done >"$WORK/body.jsonl"

mkdir -p "$WORK/pipelines"
for acks in none leader all; do
  "${KAFKA[@]}" create-topic "ingest-$acks" 3 3 min.insync.replicas=2 >/dev/null 2>&1
  cat >"$WORK/pipelines/ingest-$acks.yaml" <<YAML
name: ingest-$acks
source:
  http: { listen: 127.0.0.1:0, max_pending_requests: 256, max_connections: 512 }
sink:
  kafka: { brokers: "$BOOTSTRAP", topic: ingest-$acks, acks: $acks, producer: { linger.ms: 1 } }
YAML
done

"$SLUICE" run "$WORK/pipelines" --state-dir "$WORK/state" --http off --events json \
  >"$WORK/events.jsonl" 2>"$WORK/stderr.log" &
SLUICE_PID=$!
url_of() {
  python3 - "$WORK/events.jsonl" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "ingest_listening" and e.get("pipeline") == sys.argv[2]:
        print("http://%s%s" % (e["address"], e["path"]))
PY
}
for acks in none leader all; do
  for _ in $(seq 1 240); do
    grep -q "\"pipeline_running\",\"pipeline\":\"ingest-$acks\"" "$WORK/events.jsonl" && break
    kill -0 "$SLUICE_PID" 2>/dev/null || die "sluice exited: $(tail -5 "$WORK/stderr.log")"
    sleep 0.5
  done
done

printf '| acks | answer | requests | lines/request | concurrency | p50 (ms) | p99 (ms) | records/s | non-2xx |\n'
printf '|------|--------|---------:|--------------:|------------:|---------:|---------:|----------:|--------:|\n'
for acks in none leader all; do
  url=$(url_of "ingest-$acks")
  [[ -n $url ]] || die "no ingest address for ingest-$acks"
  # Warm-up (connections, metadata, producer).
  hey -n 50 -c 4 -m POST -T application/x-ndjson -D "$WORK/body.jsonl" "$url" >/dev/null
  hey -n "$REQUESTS" -c "$CONCURRENCY" -m POST -T application/x-ndjson -D "$WORK/body.jsonl" "$url" >"$WORK/hey-$acks.txt"
  python3 - "$WORK/hey-$acks.txt" "$acks" "$REQUESTS" "$LINES" "$CONCURRENCY" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
acks, requests, lines, conc = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
def q(p):
    m = re.search(r"\s%s%%\s+in\s+([0-9.]+)\s+secs" % p, text)
    return float(m.group(1)) * 1000 if m else float("nan")
total = float(re.search(r"Total:\s+([0-9.]+)\s+secs", text).group(1))
codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+)\s+responses", text)}
errors = text.split("Error distribution:")[1] if "Error distribution:" in text else ""
failed = sum(int(n) for n in re.findall(r"\[(\d+)\]", errors))
ok = sum(n for c, n in codes.items() if c in (200, 202))
# hey sends n/c requests per connection (rounded down): count what was sent.
requests = sum(codes.values()) + failed
bad = requests - ok
answer = "/".join(str(c) for c in sorted(codes) if c in (200, 202)) or "-"
print("| %s | %s | %d | %d | %s | %.1f | %.1f | %.0f | %d |" % (
    acks, answer, requests, lines, conc, q(50), q(99), ok * lines / total, bad))
PY
done
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
printf '\n(load average %s before, %s after; %s)\n' "$LOAD_BEFORE" "$LOAD_AFTER" "$(nproc) cores"
