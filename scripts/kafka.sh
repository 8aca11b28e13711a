#!/usr/bin/env bash
# Real Apache Kafka for Sluice's tests: the broker jars come from Maven Central (pinned in
# scripts/kafka/pom.xml), no docker, no tarball. See docs/kafka-harness.md.
#
#   scripts/kafka.sh fetch
#   scripts/kafka.sh start single|cluster [--dir DIR] [--port-base P] ...
#   scripts/kafka.sh stop [--dir DIR] [--now]
#   scripts/kafka.sh leader|isr TOPIC PARTITION, kill|pause|resume|restart N, ...
#
# Run `scripts/kafka.sh help` for every command and option.
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
ROOT=$(dirname "$SCRIPT_DIR")
KAFKA_HOME=${KAFKA_HOME:-$ROOT/.kafka/home}
LIBS=$KAFKA_HOME/libs
CDS_ARCHIVE=$KAFKA_HOME/kafka.jsa
POM=$SCRIPT_DIR/kafka/pom.xml
BROKER_LOG4J=$SCRIPT_DIR/kafka/log4j2.xml
TOOLS_LOG4J=$SCRIPT_DIR/kafka/tools-log4j2.xml
JAVA=${JAVA:-java}
KCAT=${KCAT:-kcat}
MVN=${MVN:-mvn}

START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-20}
read -r -a HEAP_OPTS <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
read -r -a EXTRA_JVM_OPTS <<<"${KAFKA_JVM_OPTS:-}"
# JVM unified logging goes to stderr only: tools' stdout must stay parseable.
COMMON_JVM_OPTS=(-XX:+UseSerialGC -Djava.awt.headless=true -Xlog:disable -Xlog:all=warning:stderr)
BROKER_JVM_OPTS=(-XX:+ExitOnOutOfMemoryError)
TOOL_JVM_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1)

readonly EXIT_USAGE=2 EXIT_PORT_IN_USE=3

# ---------------------------------------------------------------------------------------
# small helpers

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
die_code() { local code=$1; shift; say "error: $*"; exit "$code"; }
usage_error() { say "usage error: $*"; say "run '$0 help' for usage"; exit "$EXIT_USAGE"; }

# Milliseconds since the epoch (bash 5 $EPOCHREALTIME; the separator may be locale-dependent).
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((10#$t / 1000)); }
# "12.3" from milliseconds.
fmt_secs() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# State letter of a process (R, S, T, Z, ...) from /proc, or failure if it does not exist.
proc_state() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  printf '%s\n' "${s%% *}"
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_tools() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (JAVA=$JAVA); install a JDK 17+ (apt-get install -y openjdk-17-jdk-headless)"
  command -v "$KCAT" >/dev/null 2>&1 || die "kcat not found (KCAT=$KCAT); install it with: apt-get install -y kcat"
}

# ---------------------------------------------------------------------------------------
# fetch: the pinned jars (and a class-data-sharing archive that halves JVM start-up)

libs_stamp() { sha256sum "$POM" | cut -d' ' -f1; }

libs_complete() { [[ -f $LIBS/.complete && "$(<"$LIBS/.complete")" == "$(libs_stamp)" ]]; }

cds_enabled() { [[ ${KAFKA_CDS:-1} != 0 ]]; }

# The archive is only valid for this classpath and this exact JVM build.
cds_stamp() {
  local java_bin
  java_bin=$(readlink -f "$(command -v "$JAVA")")
  printf '%s %s %s\n' "$(libs_stamp)" "$java_bin" "$(stat -c %Y "$java_bin")"
}

cds_fresh() { [[ -f $CDS_ARCHIVE && -f $CDS_ARCHIVE.stamp && "$(<"$CDS_ARCHIVE.stamp")" == "$(cds_stamp)" ]]; }

cds_opts() {
  if cds_enabled && [[ -f $CDS_ARCHIVE ]]; then printf '%s\n' "-XX:SharedArchiveFile=$CDS_ARCHIVE"; fi
}

# Runs a Kafka tool class; TOOL_PREFIX (e.g. a `timeout` command) goes in front of java.
TOOL_PREFIX=()
run_tool() {
  local class=$1; shift
  local cds=()
  mapfile -t cds < <(cds_opts)
  "${TOOL_PREFIX[@]}" "$JAVA" "${TOOL_JVM_OPTS[@]}" "${COMMON_JVM_OPTS[@]}" "${cds[@]}" "${EXTRA_JVM_OPTS[@]}" \
    -Dlog4j2.configurationFile="$TOOLS_LOG4J" -cp "$LIBS/*" "$class" "$@"
}

# Resolve the jars with Maven unless already complete; build the CDS archive if missing.
# Serialised with a lock so parallel test processes can all call it.
ensure_libs() {
  mkdir -p "$KAFKA_HOME"
  exec 8>"$KAFKA_HOME/.fetch.lock"
  flock -w 900 8 || die "timed out waiting for another fetch (lock $KAFKA_HOME/.fetch.lock)"
  if libs_complete; then
    [[ ${1:-} == verbose ]] && say "jars already complete in $LIBS ($(find "$LIBS" -name '*.jar' | wc -l) jars)"
  else
    command -v "$MVN" >/dev/null 2>&1 || die "maven not found (MVN=$MVN); install it with: apt-get install -y maven"
    say "resolving pinned Kafka jars with Maven into $LIBS ..."
    local t0 mvn_log
    t0=$(now_ms)
    rm -rf "$LIBS.tmp"
    mvn_log=$KAFKA_HOME/mvn.log
    # Offline first: with a warm ~/.m2 this needs no network at all.
    if ! "$MVN" -q -B -o -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS.tmp" >"$mvn_log" 2>&1 8>&-; then
      rm -rf "$LIBS.tmp"
      "$MVN" -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS.tmp" 8>&- ||
        die "maven could not resolve $POM"
    fi
    rm -rf "$LIBS" "$CDS_ARCHIVE" "$CDS_ARCHIVE.stamp"
    mv "$LIBS.tmp" "$LIBS"
    libs_stamp >"$LIBS/.complete"
    say "resolved $(find "$LIBS" -name '*.jar' | wc -l) jars in $(fmt_secs $(($(now_ms) - t0)))s"
  fi
  if cds_enabled && ! cds_fresh; then
    build_cds || say "warning: could not build the CDS archive; JVMs will start more slowly"
  fi
  exec 8>&-
}

# Start one throw-away broker with -XX:ArchiveClassesAtExit, wait for it, stop it cleanly:
# the JVM then writes every class it loaded into $CDS_ARCHIVE.
build_cds() {
  local t0 dir bport cport pid deadline tmp=$CDS_ARCHIVE.tmp
  t0=$(now_ms)
  say "building the class-data-sharing archive (once per jar set) ..."
  dir=$KAFKA_HOME/cds-training
  rm -rf "$dir" "$tmp"
  mkdir -p "$dir"
  bport=$(pick_free_port) cport=$(pick_free_port)
  [[ $bport != "$cport" ]] || cport=$(pick_free_port)
  write_node_props "$dir/server.properties" 1 "$bport" "$cport" "1@127.0.0.1:$cport" "$dir/data" single
  local cid
  cid=$(KAFKA_CDS=0 run_tool kafka.tools.StorageTool random-uuid 8>&-) || return 1
  KAFKA_CDS=0 run_tool kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" >"$dir/format.log" 2>&1 8>&- || return 1
  setsid "$JAVA" "${HEAP_OPTS[@]}" "${COMMON_JVM_OPTS[@]}" "${BROKER_JVM_OPTS[@]}" \
    -XX:ArchiveClassesAtExit="$tmp" -Dkafka.logs.dir="$dir" -Dlog4j2.configurationFile="$BROKER_LOG4J" \
    -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" </dev/null >"$dir/stdout.log" 2>&1 8>&- 9>&- &
  pid=$!
  deadline=$(($(now_ms) + START_TIMEOUT * 1000))
  until grep -q 'Kafka Server started' "$dir/server.log" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null || (($(now_ms) > deadline)); then
      kill -9 "$pid" 2>/dev/null || true
      tail -n 20 "$dir/server.log" "$dir/stdout.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
  # One metadata round trip so the request path is archived too.
  timeout 10 "$KCAT" -b "127.0.0.1:$bport" -L -m 5 >/dev/null 2>&1 || true
  kill -TERM "$pid"
  deadline=$(($(now_ms) + 60000))
  while kill -0 "$pid" 2>/dev/null; do
    if (($(now_ms) > deadline)); then kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  wait "$pid" 2>/dev/null || true
  [[ -s $tmp ]] || return 1
  mv "$tmp" "$CDS_ARCHIVE"
  cds_stamp >"$CDS_ARCHIVE.stamp"
  rm -rf "$dir"
  say "CDS archive built in $(fmt_secs $(($(now_ms) - t0)))s ($(du -h "$CDS_ARCHIVE" | cut -f1))"
}

# A port in 40000-49999 that nothing listens on (for the CDS training broker only).
pick_free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((40000 + (RANDOM * 32768 + RANDOM + i) % 10000))
    port_open "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

# ---------------------------------------------------------------------------------------
# cluster state: DIR/cluster.env, DIR/nodeN/{server.properties,data,server.log}, DIR/nodeN.pid

OPT_DIR=""
DIR=""
MODE=""
NODES=0
BOOTSTRAP=""
CLUSTER_ID=""
BPORT=()
CPORT=()

default_dir_for() { printf '%s\n' "${KAFKA_DIR:-$ROOT/.kafka/$1}"; }

# DIR for commands that act on an existing cluster: --dir, $KAFKA_DIR, else the default
# cluster dir if it has a live node, else the default single dir, else whichever exists.
resolve_existing_dir() {
  local d
  if [[ -n $OPT_DIR ]]; then DIR=$OPT_DIR
  elif [[ -n ${KAFKA_DIR:-} ]]; then DIR=$KAFKA_DIR
  else
    DIR=""
    for d in "$ROOT/.kafka/cluster" "$ROOT/.kafka/single"; do
      DIR=$d
      if load_state_quiet && any_node_alive; then break; fi
      DIR=""
    done
    if [[ -z $DIR ]]; then
      for d in "$ROOT/.kafka/cluster" "$ROOT/.kafka/single"; do
        [[ -f $d/cluster.env ]] && { DIR=$d; break; }
      done
    fi
    [[ -n $DIR ]] || die "no cluster found; start one with '$0 start single|cluster' or pass --dir DIR"
  fi
  DIR=$(realpath -m "$DIR")
}

load_state_quiet() {
  [[ -f $DIR/cluster.env ]] || return 1
  # shellcheck disable=SC1091
  source "$DIR/cluster.env"
  read -r -a _b <<<"$BROKER_PORTS"
  read -r -a _c <<<"$CONTROLLER_PORTS"
  BPORT=(0 "${_b[@]}")
  CPORT=(0 "${_c[@]}")
}

load_state() {
  load_state_quiet || die "no cluster state in $DIR (cluster.env missing); start one first"
}

save_state() {
  {
    printf 'MODE=%q\n' "$MODE"
    printf 'NODES=%q\n' "$NODES"
    printf 'BROKER_PORTS=%q\n' "${BPORT[*]:1}"
    printf 'CONTROLLER_PORTS=%q\n' "${CPORT[*]:1}"
    printf 'BOOTSTRAP=%q\n' "$BOOTSTRAP"
    printf 'CLUSTER_ID=%q\n' "$CLUSTER_ID"
  } >"$DIR/cluster.env"
}

check_node_id() {
  if ! is_uint "$1" || (($1 < 1 || $1 > NODES)); then usage_error "node must be 1..$NODES, got '$1'"; fi
}

props_file() { printf '%s\n' "$DIR/node$1/server.properties"; }

# PID of node N if it is running (also when paused) and really is our JVM, else failure.
node_pid() {
  local f=$DIR/node$1.pid pid cmd st
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  is_uint "$pid" || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmd == *"$(props_file "$1")"* ]] || return 1
  st=$(proc_state "$pid") || return 1
  [[ $st != Z && $st != X ]] || return 1
  printf '%s\n' "$pid"
}

node_paused() {
  local pid
  pid=$(node_pid "$1") || return 1
  [[ $(proc_state "$pid") == T ]]
}

any_node_alive() {
  local n
  for ((n = 1; n <= NODES; n++)); do node_pid "$n" >/dev/null && return 0; done
  return 1
}

# Nodes that can answer requests right now (running and not SIGSTOPped).
live_nodes() {
  local n out=()
  for ((n = 1; n <= NODES; n++)); do
    if node_pid "$n" >/dev/null && ! node_paused "$n"; then out+=("$n"); fi
  done
  ((${#out[@]})) || return 1
  printf '%s\n' "${out[*]}"
}

# Bootstrap list of live nodes only: a paused node accepts TCP but never answers, which
# would stall a Java client for its whole request timeout.
live_bootstrap() {
  local nodes n out=()
  nodes=$(live_nodes) || die "no live node in $DIR"
  for n in $nodes; do out+=("127.0.0.1:${BPORT[n]}"); done
  local IFS=,
  printf '%s\n' "${out[*]}"
}

# Metadata (kcat -L text) from node N, bounded in time. Extra args go to kcat.
node_meta() {
  local n=$1; shift
  port_open "${BPORT[n]}" || return 1
  timeout 8 "$KCAT" -b "127.0.0.1:${BPORT[n]}" -L -m 4 "$@" 2>/dev/null
}

# Ready = the node answers metadata and lists itself as a (live, unfenced) broker.
node_ready() {
  local out
  out=$(node_meta "$1") || return 1
  grep -q "^  broker $1 at " <<<"$out"
}

broker_count_seen_by() {
  local out
  out=$(node_meta "$1") || { echo 0; return 0; }
  grep -c '^  broker [0-9]* at ' <<<"$out" || true
}

tail_logs() {
  local n
  for n in "$@"; do
    say "---- node $n: last lines of $DIR/node$n/server.log ----"
    tail -n "${KAFKA_LOG_TAIL:-40}" "$DIR/node$n/server.log" >&2 2>/dev/null || say "(no server.log)"
    if [[ -s $DIR/node$n/stdout.log ]]; then
      say "---- node $n: $DIR/node$n/stdout.log ----"
      tail -n 20 "$DIR/node$n/stdout.log" >&2
    fi
  done
}

# Wait until every listed node is ready (and, with want_all=1, sees all NODES brokers).
# Fails fast if a node process exits. Prints progress every 5 s.
wait_ready() {
  local timeout_s=$1 want_all=$2; shift 2
  local nodes=("$@") start deadline next_report pending n
  start=$(now_ms)
  deadline=$((start + timeout_s * 1000))
  next_report=$((start + 5000))
  while :; do
    pending=()
    for n in "${nodes[@]}"; do
      if ! node_pid "$n" >/dev/null; then
        say "node $n exited during start-up"
        tail_logs "$n"
        return 1
      fi
      node_ready "$n" || pending+=("$n")
    done
    if ((${#pending[@]} == 0)); then
      if [[ $want_all != 1 ]] || (($(broker_count_seen_by "${nodes[-1]}") >= NODES)); then return 0; fi
      pending=(all)
    fi
    if (($(now_ms) > deadline)); then
      say "timed out after ${timeout_s}s waiting for node(s): ${pending[*]}"
      tail_logs "${nodes[@]}"
      return 1
    fi
    if (($(now_ms) >= next_report)); then
      say "waiting for node(s) ${pending[*]} ... $(fmt_secs $(($(now_ms) - start)))s"
      next_report=$(($(now_ms) + 5000))
    fi
    sleep 0.25
  done
}

# ---------------------------------------------------------------------------------------
# node configuration and processes

# write_node_props FILE NODE_ID BROKER_PORT CONTROLLER_PORT VOTERS LOG_DIR MODE [k=v ...]
write_node_props() {
  local file=$1 id=$2 bport=$3 cport=$4 voters=$5 logdir=$6 mode=$7; shift 7
  local rf min_isr internal_parts
  if [[ $mode == single ]]; then rf=1 min_isr=1 internal_parts=1
  else rf=3 min_isr=2 internal_parts=3
    ((NODES >= 3)) || { rf=$NODES; min_isr=$(((NODES + 1) / 2)); }
  fi
  {
    echo "# Written by scripts/kafka.sh ($mode). Combined broker+controller node $id."
    echo "process.roles=broker,controller"
    echo "node.id=$id"
    echo "controller.quorum.voters=$voters"
    echo "listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$bport"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "log.dirs=$logdir"
    echo "num.partitions=1"
    echo "auto.create.topics.enable=true"
    echo "default.replication.factor=$rf"
    echo "min.insync.replicas=$min_isr"
    echo "unclean.leader.election.enable=false"
    echo "offsets.topic.replication.factor=$rf"
    echo "offsets.topic.num.partitions=$internal_parts"
    echo "transaction.state.log.replication.factor=$rf"
    echo "transaction.state.log.min.isr=$min_isr"
    echo "transaction.state.log.num.partitions=$internal_parts"
    echo "share.coordinator.state.topic.replication.factor=$rf"
    echo "share.coordinator.state.topic.min.isr=$min_isr"
    echo "share.coordinator.state.topic.num.partitions=$internal_parts"
    echo "group.initial.rebalance.delay.ms=0"
    echo "# A killed node is fenced within seconds; a stuck follower leaves the ISR in 10 s."
    echo "broker.heartbeat.interval.ms=500"
    echo "broker.session.timeout.ms=3000"
    echo "replica.lag.time.max.ms=${KAFKA_REPLICA_LAG_MS:-10000}"
    echo "# Leadership only moves when a test makes it move."
    echo "auto.leader.rebalance.enable=false"
    echo "# Small footprint: 2 cores, several nodes."
    echo "num.network.threads=2"
    echo "num.io.threads=4"
    echo "background.threads=4"
    echo "num.recovery.threads.per.data.dir=1"
    echo "log.cleaner.dedupe.buffer.size=16777216"
    local kv
    for kv in "$@"; do
      [[ $kv == *=* ]] || usage_error "--prop wants key=value, got '$kv'"
      echo "$kv"
    done
  } >"$file"
}

launch_node() {
  local n=$1 cds=()
  mapfile -t cds < <(cds_opts)
  setsid "$JAVA" "${HEAP_OPTS[@]}" "${COMMON_JVM_OPTS[@]}" "${BROKER_JVM_OPTS[@]}" "${cds[@]}" "${EXTRA_JVM_OPTS[@]}" \
    -Dkafka.logs.dir="$DIR/node$n" -Dlog4j2.configurationFile="$BROKER_LOG4J" \
    -cp "$LIBS/*" kafka.Kafka "$(props_file "$n")" </dev/null >>"$DIR/node$n/stdout.log" 2>&1 8>&- 9>&- &
  local pid=$! deadline st
  echo "$pid" >"$DIR/node$n.pid"
  # Not our job to wait for: no "Killed" notices when a test kills it.
  disown "$pid"
  # Until the forked shell has exec'd java, /proc/PID/cmdline is still ours and node_pid
  # would call the node dead: wait for the exec.
  deadline=$(($(now_ms) + 10000))
  until node_pid "$n" >/dev/null; do
    st=$(proc_state "$pid") || break
    [[ $st != Z ]] || break
    (($(now_ms) < deadline)) || break
    sleep 0.02
  done
}

# Wait until PID is gone (or a zombie), at most TIMEOUT_MS. Returns 1 on timeout.
wait_gone() {
  local pid=$1 deadline st
  deadline=$(($(now_ms) + $2))
  while st=$(proc_state "$pid") && [[ $st != Z && $st != X ]]; do
    (($(now_ms) <= deadline)) || return 1
    sleep 0.1
  done
  return 0
}

# stop_nodes MODE(term|kill) NODE... : SIGCONT (a stopped JVM ignores SIGTERM until then),
# SIGTERM, wait STOP_TIMEOUT, then SIGKILL.
stop_nodes() {
  local how=$1; shift
  local n pid pids=() deadline
  for n in "$@"; do
    if pid=$(node_pid "$n"); then
      pids+=("$pid")
      if [[ $how == kill ]]; then
        kill -KILL "$pid" 2>/dev/null || true
      else
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
      fi
    fi
  done
  deadline=$(($(now_ms) + STOP_TIMEOUT * 1000))
  for pid in "${pids[@]}"; do
    if ! wait_gone "$pid" $((deadline - $(now_ms))); then
      say "process $pid did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$pid" 10000 || say "warning: process $pid still exists after SIGKILL"
    fi
  done
  for n in "$@"; do rm -f "$DIR/node$n.pid"; done
}

stop_watchdog() {
  local f=$DIR/watchdog.pid wpid
  [[ -f $f ]] || return 0
  wpid=$(<"$f")
  rm -f "$f"
  if is_uint "$wpid" && ((wpid != $$)) && [[ -r /proc/$wpid/cmdline ]] &&
    tr '\0' ' ' 2>/dev/null <"/proc/$wpid/cmdline" | grep -q -- '_watchdog'; then
    # The watchdog leads its own process group (setsid): take its `tail` along.
    kill -TERM -- "-$wpid" 2>/dev/null || kill -TERM "$wpid" 2>/dev/null || true
  fi
}

lock_dir() {
  mkdir -p "$DIR"
  exec 9>"$DIR/.lock"
  flock -w 300 9 || die "timed out waiting for another kafka.sh command on $DIR"
}

# ---------------------------------------------------------------------------------------
# commands

cmd_fetch() {
  ensure_libs verbose
  say "libs: $LIBS"
  if cds_enabled && [[ -f $CDS_ARCHIVE ]]; then say "cds:  $CDS_ARCHIVE"; fi
}

cmd_start() {
  local mode=${1:-}; shift || true
  [[ $mode == single || $mode == cluster ]] || usage_error "start single|cluster"
  local port_base="" bports="" cports="" owner="" cleanup=0 timeout_s=$START_TIMEOUT nodes props=()
  if [[ $mode == single ]]; then nodes=1; else nodes=${KAFKA_CLUSTER_NODES:-3}; fi
  while (($#)); do
    case $1 in
      --port-base) port_base=${2:?}; shift 2 ;;
      --broker-ports) bports=${2:?}; shift 2 ;;
      --controller-ports) cports=${2:?}; shift 2 ;;
      --nodes) nodes=${2:?}; shift 2 ;;
      --owner-pid) owner=${2:?}; shift 2 ;;
      --cleanup) cleanup=1; shift ;;
      --timeout) timeout_s=${2:?}; shift 2 ;;
      --prop) props+=("${2:?}"); shift 2 ;;
      *) usage_error "start: unknown option '$1'" ;;
    esac
  done
  if ! is_uint "$nodes" || ((nodes < 1)); then usage_error "--nodes must be >= 1"; fi
  [[ $mode == cluster ]] || ((nodes == 1)) || usage_error "single mode has exactly one node"
  is_uint "$timeout_s" || usage_error "--timeout wants seconds"
  [[ -z $owner ]] || is_uint "$owner" || usage_error "--owner-pid wants a pid"

  DIR=$(realpath -m "${OPT_DIR:-$(default_dir_for "$mode")}")
  need_tools
  local t0
  t0=$(now_ms)
  ensure_libs
  lock_dir

  # Already running here? Then this is a no-op that reports the bootstrap servers.
  if load_state_quiet && any_node_alive; then
    local n all=()
    for ((n = 1; n <= NODES; n++)); do
      node_pid "$n" >/dev/null || die "a cluster in $DIR is partly running (node $n is down); use 'restart $n' or 'stop'"
      all+=("$n")
    done
    [[ $MODE == "$mode" ]] || die "$DIR holds a running $MODE cluster, not $mode"
    say "already running in $DIR"
    wait_ready "$timeout_s" 1 "${all[@]}" || die "the running cluster in $DIR is not ready"
    echo "STARTUP_SECONDS=0"
    echo "BOOTSTRAP=$BOOTSTRAP"
    return 0
  fi

  MODE=$mode NODES=$nodes
  # Ports: explicit lists > --port-base > env > defaults. Controllers sit 100 above (cluster)
  # or 1 above (single) the broker port.
  local base i
  BPORT=(0) CPORT=(0)
  if [[ -n $bports ]]; then
    IFS=, read -r -a _l <<<"$bports"
    BPORT=(0 "${_l[@]}")
    IFS=, read -r -a _l <<<"${cports:?--broker-ports needs --controller-ports too}"
    CPORT=(0 "${_l[@]}")
    ((${#BPORT[@]} == nodes + 1 && ${#CPORT[@]} == nodes + 1)) || usage_error "need $nodes broker and $nodes controller ports"
  else
    if [[ $mode == single ]]; then base=${port_base:-${KAFKA_SINGLE_PORT_BASE:-19092}}
    else base=${port_base:-${KAFKA_CLUSTER_PORT_BASE:-29092}}; fi
    is_uint "$base" || usage_error "port base must be a number"
    for ((i = 1; i <= nodes; i++)); do
      BPORT+=($((base + i - 1)))
      if [[ $mode == single ]]; then CPORT+=($((base + 1))); else CPORT+=($((base + 100 + i - 1))); fi
    done
  fi
  local p busy=()
  for p in "${BPORT[@]:1}" "${CPORT[@]:1}"; do
    if ! is_uint "$p" || ((p < 1 || p > 65535)); then usage_error "bad port '$p'"; fi
    if port_open "$p"; then busy+=("$p"); fi
  done
  ((${#busy[@]} == 0)) || die_code "$EXIT_PORT_IN_USE" "port(s) already in use on 127.0.0.1: ${busy[*]} (another cluster? choose --port-base)"

  # Fresh state: remove only what this script creates.
  rm -rf "$DIR"/node[0-9]* "$DIR/cluster.env" "$DIR/watchdog.log"
  stop_watchdog
  local voters="" boot=()
  for ((i = 1; i <= nodes; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:${CPORT[i]}"
    boot+=("127.0.0.1:${BPORT[i]}")
  done
  BOOTSTRAP=$(IFS=,; echo "${boot[*]}")
  for ((i = 1; i <= nodes; i++)); do
    mkdir -p "$DIR/node$i"
    write_node_props "$(props_file "$i")" "$i" "${BPORT[i]}" "${CPORT[i]}" "$voters" "$DIR/node$i/data" "$mode" "${props[@]}"
  done

  say "formatting $nodes node(s) in $DIR ..."
  CLUSTER_ID=$(run_tool kafka.tools.StorageTool random-uuid 9>&-) || die "StorageTool random-uuid failed"
  [[ $CLUSTER_ID =~ ^[A-Za-z0-9_-]{22}$ ]] || die "unexpected cluster id from StorageTool: '$CLUSTER_ID'"
  save_state
  local fpids=()
  for ((i = 1; i <= nodes; i++)); do
    run_tool kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$(props_file "$i")" >"$DIR/node$i/format.log" 2>&1 9>&- &
    fpids[i]=$!
  done
  for ((i = 1; i <= nodes; i++)); do
    wait "${fpids[i]}" || { cat "$DIR/node$i/format.log" >&2; die "formatting node $i failed"; }
  done
  local t_fmt
  t_fmt=$(now_ms)

  say "starting $nodes $mode node(s): brokers ${BPORT[*]:1}, controllers ${CPORT[*]:1}"
  for ((i = 1; i <= nodes; i++)); do launch_node "$i"; done
  if [[ -n $owner ]]; then
    setsid bash "$SCRIPT_PATH" --dir "$DIR" _watchdog "$owner" "$cleanup" </dev/null >>"$DIR/watchdog.log" 2>&1 9>&- &
    echo "$!" >"$DIR/watchdog.pid"
  fi
  local all=()
  for ((i = 1; i <= nodes; i++)); do all+=("$i"); done
  if ! wait_ready "$timeout_s" 1 "${all[@]}"; then
    stop_nodes kill "${all[@]}"
    stop_watchdog
    die "$mode cluster in $DIR did not become ready (logs in $DIR/node*/server.log)"
  fi
  local t1
  t1=$(now_ms)
  say "ready: $mode, $nodes node(s), format $(fmt_secs $((t_fmt - t0)))s + start $(fmt_secs $((t1 - t_fmt)))s = $(fmt_secs $((t1 - t0)))s"
  echo "DIR=$DIR"
  echo "STARTUP_SECONDS=$(fmt_secs $((t1 - t0)))"
  echo "BOOTSTRAP=$BOOTSTRAP"
}

cmd_stop() {
  local how="term" remove=0
  while (($#)); do
    case $1 in
      --now) how="kill"; shift ;;
      --remove) remove=1; shift ;;
      *) usage_error "stop: unknown option '$1'" ;;
    esac
  done
  local dirs=()
  if [[ -n $OPT_DIR || -n ${KAFKA_DIR:-} ]]; then
    dirs=("$(realpath -m "${OPT_DIR:-$KAFKA_DIR}")")
  else
    dirs=("$ROOT/.kafka/single" "$ROOT/.kafka/cluster")
  fi
  local d
  for d in "${dirs[@]}"; do
    DIR=$d
    [[ -d $DIR ]] || continue
    lock_dir
    local nodes=() n t0
    if load_state_quiet; then
      for ((n = 1; n <= NODES; n++)); do nodes+=("$n"); done
    else
      for n in "$DIR"/node*.pid; do
        if [[ -e $n ]]; then n=${n##*/node}; nodes+=("${n%.pid}"); fi
      done
    fi
    local running=()
    for n in "${nodes[@]}"; do node_pid "$n" >/dev/null && running+=("$n"); done
    if ((${#running[@]})); then
      t0=$(now_ms)
      say "stopping node(s) ${running[*]} in $DIR ($how) ..."
      stop_nodes "$how" "${running[@]}"
      say "stopped in $(fmt_secs $(($(now_ms) - t0)))s"
    fi
    for n in "${nodes[@]}"; do rm -f "$DIR/node$n.pid"; done
    stop_watchdog
    exec 9>&-
    if ((remove)) && [[ -f $DIR/cluster.env ]]; then
      rm -rf "$DIR"
      say "removed $DIR"
    fi
  done
}

cmd_watchdog() {
  local owner=${1:?} cleanup=${2:-0}
  resolve_existing_dir
  # Returns once the owner process has exited (checked every second by coreutils tail).
  tail --pid="$owner" -f /dev/null 2>/dev/null || true
  say "owner process $owner is gone: stopping the cluster in $DIR"
  local args=(--now)
  ((cleanup)) && args+=(--remove)
  OPT_DIR=$DIR cmd_stop "${args[@]}"
}

cmd_status() {
  resolve_existing_dir
  load_state
  echo "DIR=$DIR"
  echo "MODE=$MODE"
  echo "BOOTSTRAP=$BOOTSTRAP"
  local n pid state
  for ((n = 1; n <= NODES; n++)); do
    if pid=$(node_pid "$n"); then
      if node_paused "$n"; then state=paused; else state=running; fi
      printf 'node %d: %s pid=%s rss_kb=%s broker=127.0.0.1:%s controller=127.0.0.1:%s\n' \
        "$n" "$state" "$pid" "$(ps -o rss= -p "$pid" | tr -d ' ')" "${BPORT[n]}" "${CPORT[n]}"
    else
      printf 'node %d: down broker=127.0.0.1:%s controller=127.0.0.1:%s\n' "$n" "${BPORT[n]}" "${CPORT[n]}"
    fi
  done
}

cmd_bootstrap() {
  resolve_existing_dir
  load_state
  echo "$BOOTSTRAP"
}

cmd_node_pid() {
  (($# == 1)) || usage_error "node-pid N"
  resolve_existing_dir
  load_state
  check_node_id "$1"
  node_pid "$1" || die "node $1 is not running"
}

cmd_kill() {
  (($# == 1)) || usage_error "kill N"
  resolve_existing_dir
  load_state
  check_node_id "$1"
  local pid
  pid=$(node_pid "$1") || die "node $1 is not running"
  kill -KILL "$pid"
  wait_gone "$pid" 10000 || die "node $1 (pid $pid) survived SIGKILL"
  rm -f "$DIR/node$1.pid"
  say "killed node $1 (pid $pid)"
}

cmd_pause() {
  (($# == 1)) || usage_error "pause N"
  resolve_existing_dir
  load_state
  check_node_id "$1"
  local pid deadline
  pid=$(node_pid "$1") || die "node $1 is not running"
  kill -STOP "$pid"
  deadline=$(($(now_ms) + 5000))
  until [[ $(proc_state "$pid") == T ]]; do
    (($(now_ms) < deadline)) || die "node $1 did not stop"
    sleep 0.05
  done
  say "paused node $1 (pid $pid, SIGSTOP)"
}

cmd_resume() {
  (($# == 1)) || usage_error "resume N"
  resolve_existing_dir
  load_state
  check_node_id "$1"
  local pid deadline
  pid=$(node_pid "$1") || die "node $1 is not running"
  kill -CONT "$pid"
  deadline=$(($(now_ms) + 5000))
  while [[ $(proc_state "$pid") == T ]]; do
    (($(now_ms) < deadline)) || die "node $1 did not continue"
    sleep 0.05
  done
  say "resumed node $1 (pid $pid, SIGCONT)"
}

cmd_restart() {
  local n="" timeout_s=$START_TIMEOUT
  while (($#)); do
    case $1 in
      --timeout) timeout_s=${2:?}; shift 2 ;;
      *) [[ -z $n ]] || usage_error "restart N [--timeout S]"; n=$1; shift ;;
    esac
  done
  [[ -n $n ]] || usage_error "restart N [--timeout S]"
  resolve_existing_dir
  load_state
  check_node_id "$n"
  need_tools
  ensure_libs
  lock_dir
  local t0
  t0=$(now_ms)
  if node_pid "$n" >/dev/null; then
    say "node $n is running: stopping it first"
    stop_nodes term "$n"
  fi
  local busy=() p
  for p in "${BPORT[n]}" "${CPORT[n]}"; do port_open "$p" && busy+=("$p"); done
  ((${#busy[@]} == 0)) || die_code "$EXIT_PORT_IN_USE" "port(s) ${busy[*]} of node $n are taken by another process"
  # Right after a kill -9 the old JVM's locks and ports can linger for a moment
  # on a loaded machine, and the new JVM exits at once: try again a few times.
  local attempt
  for attempt in 1 2 3; do
    launch_node "$n"
    wait_ready "$timeout_s" 0 "$n" && break
    node_pid "$n" >/dev/null && die "node $n did not come back (log: $DIR/node$n/server.log)"
    ((attempt < 3)) || die "node $n did not come back after 3 attempts (log: $DIR/node$n/server.log)"
    say "node $n exited during start-up; starting it again (attempt $((attempt + 1)) of 3)"
    sleep 1
  done
  say "node $n is back in $(fmt_secs $(($(now_ms) - t0)))s"
}

# partition_info TOPIC PARTITION: sets P_LEADER, P_REPLICAS, P_ISR from the metadata of the
# first live node that answers. Returns 1 if no node answered, 2 if the partition is unknown.
P_LEADER="" P_REPLICAS="" P_ISR="" P_FROM=""
partition_info() {
  local topic=$1 part=$2 nodes n out line re
  nodes=$(live_nodes) || return 1
  re='^ +partition ([0-9]+), leader (-?[0-9]+), replicas: ([0-9,]*), isrs: ([0-9,]*)'
  for n in $nodes; do
    out=$(node_meta "$n" -t "$topic") || continue
    P_FROM=$n
    while IFS= read -r line; do
      if [[ $line =~ $re ]] && [[ ${BASH_REMATCH[1]} == "$part" ]]; then
        P_LEADER=${BASH_REMATCH[2]} P_REPLICAS=${BASH_REMATCH[3]} P_ISR=${BASH_REMATCH[4]}
        P_REPLICAS=${P_REPLICAS%,} P_ISR=${P_ISR%,}
        return 0
      fi
    done <<<"$out"
    return 2
  done
  return 1
}

# Same, but dies with a clear message.
partition_info_or_die() {
  local rc=0
  partition_info "$1" "$2" || rc=$?
  case $rc in
    0) ;;
    2) die "topic '$1' partition $2 not found (metadata from node $P_FROM)" ;;
    *) die "no live node answered a metadata request" ;;
  esac
}

need_topic_part() {
  if [[ -z ${1:-} ]] || ! is_uint "${2:-x}"; then usage_error "$3 TOPIC PARTITION ..."; fi
}

cmd_leader() {
  (($# == 2)) || usage_error "leader TOPIC PARTITION"
  need_topic_part "$1" "$2" leader
  resolve_existing_dir
  load_state
  partition_info_or_die "$1" "$2"
  echo "$P_LEADER"
}

cmd_isr() {
  (($# == 2)) || usage_error "isr TOPIC PARTITION"
  need_topic_part "$1" "$2" isr
  resolve_existing_dir
  load_state
  partition_info_or_die "$1" "$2"
  echo "$P_ISR"
}

count_ids() {
  local ids=$1
  [[ -n $ids ]] || { echo 0; return; }
  local IFS=,
  local a
  read -r -a a <<<"$ids"
  echo "${#a[@]}"
}

cmd_wait_isr() {
  (($# >= 3 && $# <= 4)) || usage_error "wait-isr TOPIC PARTITION SIZE [TIMEOUT_S]"
  need_topic_part "$1" "$2" wait-isr
  is_uint "$3" || usage_error "SIZE must be a number"
  local topic=$1 part=$2 size=$3 timeout_s=${4:-60} start deadline
  is_uint "$timeout_s" || usage_error "TIMEOUT_S must be a number"
  resolve_existing_dir
  load_state
  start=$(now_ms)
  deadline=$((start + timeout_s * 1000))
  while :; do
    if partition_info "$topic" "$part" && (($(count_ids "$P_ISR") == size)); then
      say "isr of $topic-$part is [$P_ISR] after $(fmt_secs $(($(now_ms) - start)))s"
      echo "$P_ISR"
      return 0
    fi
    (($(now_ms) < deadline)) || die "isr of $topic-$part did not reach $size member(s) in ${timeout_s}s (last: leader=${P_LEADER:-?} isr=[${P_ISR:-?}])"
    sleep 0.25
  done
}

cmd_wait_leader() {
  local args=() not="" timeout_s=60
  while (($#)); do
    case $1 in
      --not) not=${2:?}; shift 2 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  ((${#args[@]} >= 2 && ${#args[@]} <= 3)) || usage_error "wait-leader TOPIC PARTITION [TIMEOUT_S] [--not N]"
  need_topic_part "${args[0]}" "${args[1]}" wait-leader
  timeout_s=${args[2]:-60}
  is_uint "$timeout_s" || usage_error "TIMEOUT_S must be a number"
  resolve_existing_dir
  load_state
  local start deadline
  start=$(now_ms)
  deadline=$((start + timeout_s * 1000))
  while :; do
    if partition_info "${args[0]}" "${args[1]}" && [[ $P_LEADER != -1 && $P_LEADER != "$not" ]]; then
      say "leader of ${args[0]}-${args[1]} is $P_LEADER after $(fmt_secs $(($(now_ms) - start)))s"
      echo "$P_LEADER"
      return 0
    fi
    (($(now_ms) < deadline)) || die "no leader${not:+ other than $not} for ${args[0]}-${args[1]} within ${timeout_s}s (last: ${P_LEADER:-?})"
    sleep 0.25
  done
}

cmd_create_topic() {
  (($# >= 3)) || usage_error "create-topic NAME PARTITIONS RF [key=value ...]"
  local name=$1 parts=$2 rf=$3; shift 3
  if ! is_uint "$parts" || ! is_uint "$rf"; then usage_error "PARTITIONS and RF must be numbers"; fi
  local cfg=() kv
  for kv in "$@"; do
    [[ $kv == *=* ]] || usage_error "topic config must be key=value, got '$kv'"
    cfg+=(--config "$kv")
  done
  resolve_existing_dir
  load_state
  need_tools
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(live_bootstrap)" --create \
    --topic "$name" --partitions "$parts" --replication-factor "$rf" "${cfg[@]}" >&2 ||
    die "could not create topic '$name'"
  # Wait until every live node knows every partition and its leader.
  local deadline out n ok p
  deadline=$(($(now_ms) + 30000))
  while :; do
    ok=1
    for n in $(live_nodes); do
      out=$(node_meta "$n" -t "$name") || { ok=0; break; }
      for ((p = 0; p < parts; p++)); do
        grep -Eq "^ +partition $p, leader [0-9]+," <<<"$out" || { ok=0; break 2; }
      done
    done
    ((ok)) && break
    (($(now_ms) < deadline)) || die "topic '$name' created but its partitions have no leader after 30s"
    sleep 0.2
  done
  say "topic '$name' ready: $parts partition(s), replication factor $rf"
}

cmd_describe_topic() {
  (($# == 1)) || usage_error "describe-topic NAME"
  resolve_existing_dir
  load_state
  need_tools
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(live_bootstrap)" --describe --topic "$1"
}

cmd_delete_topic() {
  (($# == 1)) || usage_error "delete-topic NAME"
  resolve_existing_dir
  load_state
  need_tools
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(live_bootstrap)" --delete --topic "$1" >&2
}

cmd_consume() {
  local topic="" from_beginning=0 max="" timeout_s=10 deadline_s="" group="" machine=0 committed=0 extra=()
  while (($#)); do
    case $1 in
      --from-beginning) from_beginning=1; shift ;;
      --max) max=${2:?}; shift 2 ;;
      --timeout) timeout_s=${2:?}; shift 2 ;;
      --deadline) deadline_s=${2:?}; shift 2 ;;
      --group) group=${2:?}; shift 2 ;;
      --machine) machine=1; shift ;;
      --read-committed) committed=1; shift ;;
      --) shift; extra=("$@"); break ;;
      -*) usage_error "consume: unknown option '$1'" ;;
      *) [[ -z $topic ]] || usage_error "consume TOPIC [options]"; topic=$1; shift ;;
    esac
  done
  [[ -n $topic ]] || usage_error "consume TOPIC [--from-beginning] [--max N] [--timeout S] [--deadline S] [--group G] [--read-committed] [--machine] [-- console-consumer args]"
  is_uint "$timeout_s" || usage_error "--timeout wants seconds"
  [[ -z $deadline_s ]] || is_uint "$deadline_s" || usage_error "--deadline wants seconds"
  [[ -z $max ]] || is_uint "$max" || usage_error "--max wants a number"
  resolve_existing_dir
  load_state
  need_tools
  local fs=$'\t' rs=$'\n' hs=, null=null
  # Machine format: ASCII unit/record separators that JSON and ordinary text never contain.
  if ((machine)); then fs=$'\x1f' rs=$'\x1e' hs=$'\x1d' null=$'\x15'; fi
  local args=(--bootstrap-server "$(live_bootstrap)" --topic "$topic" --timeout-ms $((timeout_s * 1000))
    --formatter org.apache.kafka.tools.consumer.DefaultMessageFormatter
    --property print.timestamp=true --property print.partition=true --property print.offset=true
    --property print.headers=true --property print.key=true --property print.value=true
    --property key.separator="$fs" --property line.separator="$rs"
    --property headers.separator="$hs" --property null.literal="$null")
  ((from_beginning)) && args+=(--from-beginning)
  [[ -n $max ]] && args+=(--max-messages "$max")
  [[ -n $group ]] && args+=(--group "$group")
  ((committed)) && args+=(--isolation-level read_committed)
  # --deadline bounds the whole run (JVM start and group join included), not just idleness.
  [[ -n $deadline_s ]] && TOOL_PREFIX=(timeout --kill-after=5 "$deadline_s")
  # ConsoleConsumer reports the idle timeout as an ERROR on stderr and exits 0; drop that
  # noise but keep everything else.
  local rc=0
  run_tool org.apache.kafka.tools.consumer.ConsoleConsumer "${args[@]}" "${extra[@]}" \
    2> >(grep -v -E 'TimeoutException|Error processing message, terminating consumer process' >&2) || rc=$?
  if [[ -n $deadline_s ]] && ((rc == 124 || rc == 137)); then
    say "consume: deadline of ${deadline_s}s reached; records printed so far are complete"
    rc=0
  fi
  return "$rc"
}

usage() {
  cat <<EOF
scripts/kafka.sh — real Apache Kafka ($(grep -o '<kafka.version>[^<]*' "$POM" | cut -d'>' -f2)) from Maven Central for Sluice's tests.

Commands (every one takes --dir DIR; default .kafka/single or .kafka/cluster under the repo):
  fetch                              resolve the pinned jars into \$KAFKA_HOME/libs (+ CDS archive)
  start single|cluster [options]     format and start; last stdout line: BOOTSTRAP=host:port,...
      --port-base P                  single: broker P, controller P+1 (default 19092)
                                     cluster: brokers P..P+2, controllers P+100..P+102 (default 29092)
      --broker-ports a,b,c --controller-ports x,y,z   explicit ports instead
      --nodes N                      cluster size (default 3)
      --prop key=value               extra broker property (repeatable)
      --owner-pid PID                stop the cluster (SIGKILL) once PID exits
      --cleanup                      with --owner-pid: also delete DIR afterwards
      --timeout S                    readiness timeout (default \$KAFKA_START_TIMEOUT or 90)
  stop [--now] [--remove]            SIGTERM, then SIGKILL after \$KAFKA_STOP_TIMEOUT (20 s);
                                     --now: SIGKILL at once; --remove: delete DIR. Idempotent.
                                     Without --dir: stops both default clusters.
  status | bootstrap                 node states, pids, RSS / the bootstrap list
  node-pid N                         pid of node N (exit 1 if down)
  kill N | pause N | resume N        SIGKILL / SIGSTOP / SIGCONT node N
  restart N [--timeout S]            start node N again on its storage; wait until it is back
  leader TOPIC PARTITION             leader node id (-1 if none)
  isr TOPIC PARTITION                in-sync replicas, comma-separated
  wait-isr TOPIC PARTITION SIZE [TIMEOUT_S]        until the ISR has exactly SIZE members
  wait-leader TOPIC PARTITION [TIMEOUT_S] [--not N] until a leader (other than N) exists
  create-topic NAME PARTITIONS RF [key=value ...]  TopicCommand; waits for leaders
  describe-topic NAME | delete-topic NAME
  consume TOPIC [--from-beginning] [--max N] [--timeout S] [--deadline S] [--group G]
          [--read-committed] [--machine] [-- ConsoleConsumer args]
        Kafka's ConsoleConsumer. One record per line:
        CreateTime:TS<TAB>Partition:P<TAB>Offset:O<TAB>HEADERS<TAB>KEY<TAB>VALUE
        HEADERS is k:v,k:v or NO_HEADERS; a null key/value prints as null. --timeout is the
        idle timeout (default 10); --deadline caps the whole run. --machine uses 0x1f between
        fields, 0x1e after each record, 0x1d between headers and 0x15 for null.

Environment: KAFKA_HOME (.kafka/home), KAFKA_DIR, KAFKA_SINGLE_PORT_BASE, KAFKA_CLUSTER_PORT_BASE,
  KAFKA_CLUSTER_NODES, KAFKA_START_TIMEOUT, KAFKA_STOP_TIMEOUT, KAFKA_HEAP_OPTS (-Xms256m -Xmx512m),
  KAFKA_JVM_OPTS, KAFKA_REPLICA_LAG_MS (10000), KAFKA_CDS (1; 0 disables the CDS archive),
  JAVA, KCAT, MVN.
Exit codes: 0 ok, 1 failure, 2 usage, 3 port already in use.
EOF
}

main() {
  local args=()
  while (($#)); do
    case $1 in
      --dir) OPT_DIR=${2:?--dir needs a value}; shift 2 ;;
      --dir=*) OPT_DIR=${1#--dir=}; shift ;;
      --) args+=("$@"); break ;;
      *) args+=("$1"); shift ;;
    esac
  done
  set -- "${args[@]}"
  local cmd=${1:-help}
  shift || true
  case $cmd in
    fetch) cmd_fetch "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    bootstrap) cmd_bootstrap "$@" ;;
    node-pid) cmd_node_pid "$@" ;;
    kill) cmd_kill "$@" ;;
    pause) cmd_pause "$@" ;;
    resume) cmd_resume "$@" ;;
    restart) cmd_restart "$@" ;;
    leader) cmd_leader "$@" ;;
    isr) cmd_isr "$@" ;;
    wait-isr) cmd_wait_isr "$@" ;;
    wait-leader) cmd_wait_leader "$@" ;;
    create-topic) cmd_create_topic "$@" ;;
    describe-topic) cmd_describe_topic "$@" ;;
    delete-topic) cmd_delete_topic "$@" ;;
    consume) cmd_consume "$@" ;;
    _watchdog) cmd_watchdog "$@" ;;
    help | -h | --help) usage ;;
    *) usage_error "unknown command '$cmd'" ;;
  esac
}

main "$@"
