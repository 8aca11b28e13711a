# shellcheck shell=bash
# Shared set-up for scripts/bench-race.sh, bench-scale.sh and bench-acks.sh (sourced, not run).
# Builds what is missing (release Sluice, the Rust plugins, the records generator), resolves
# the Kafka jars, writes records files and starts/stops the benchmark clusters through
# scripts/kafka.sh. Progress goes to stderr.

# shellcheck disable=SC2034 # the variables below are for the scripts that source this file
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_PY=$BENCH_ROOT/scripts/bench/bench.py
KAFKA_SH=$BENCH_ROOT/scripts/kafka.sh
export KAFKA_HOME=${KAFKA_HOME:-$BENCH_ROOT/.kafka/home}
KAFKA_LIBS=$KAFKA_HOME/libs
CONNECT_LIBS=$KAFKA_HOME/connect-libs
TOOLS_LOG4J=$BENCH_ROOT/scripts/kafka/tools-log4j2.xml
PLUGINS_DIST=$BENCH_ROOT/plugins/dist
RECORDS_DIR=${BENCH_RECORDS_DIR:-$BENCH_ROOT/target/bench/records}
BENCH_KAFKA_DIR=${BENCH_KAFKA_ROOT:-$BENCH_ROOT/.kafka}
HOST_TRIPLE=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')

bench_say() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
bench_die() { bench_say "error: $*"; exit 1; }

bench_need_tools() {
  local t
  for t in kcat java mvn python3 cargo rustc; do
    command -v "$t" >/dev/null 2>&1 || bench_die "$t not found (make test's set-up installs kcat, Java, Maven; apt-get install -y kcat openjdk-17-jdk-headless maven python3)"
  done
}

# Release Sluice (a no-op when up to date) unless SLUICE_BIN names another binary.
bench_sluice() {
  if [[ -n ${SLUICE_BIN:-} ]]; then
    [[ -x $SLUICE_BIN ]] || bench_die "SLUICE_BIN=$SLUICE_BIN is not an executable"
    printf '%s\n' "$SLUICE_BIN"
    return
  fi
  bench_say "cargo build --release -p sluice"
  (cd "$BENCH_ROOT" && cargo build --release -p sluice >&2) || bench_die "the release build failed"
  printf '%s\n' "$BENCH_ROOT/target/release/sluice"
}

bench_plugins() {
  if [[ ${BENCH_NO_PLUGIN_BUILD:-0} != 1 ]]; then
    bench_say "building the Rust plugins (scripts/build-plugins-rust.sh)"
    bash "$BENCH_ROOT/scripts/build-plugins-rust.sh" --no-check >/dev/null || bench_die "the plugin build failed"
  fi
  local p
  for p in orders passthrough mask; do
    [[ -f $PLUGINS_DIST/$p.wasm ]] || bench_die "$PLUGINS_DIST/$p.wasm missing (make plugins-rust)"
  done
}

# bench_records COUNT SEED [VALUE_BYTES [--key]] → path of a records file: the `orders`
# source's values, one per line, written by the plugin's own generator compiled natively
# (plugins/orders/examples/orders-file.rs). Cached by its parameters.
bench_records() {
  local count=$1 seed=$2 vb=${3:-0} key=() name f
  [[ -z ${4:-} ]] || key=("$4")
  name="orders-n$count-s$seed-v$vb${4:+-keyed}.txt"
  f=$RECORDS_DIR/$name
  if [[ ! -s $f ]]; then
    mkdir -p "$RECORDS_DIR"
    (cd "$BENCH_ROOT/plugins" && unset CARGO_TARGET_DIR CARGO_BUILD_TARGET &&
      cargo build --release --locked --quiet --target "$HOST_TRIPLE" -p orders --example orders-file >&2) ||
      bench_die "could not build the orders-file generator"
    "$BENCH_ROOT/plugins/target/$HOST_TRIPLE/release/examples/orders-file" \
      --count "$count" --seed "$seed" --value-bytes "$vb" "${key[@]}" >"$f.tmp" || bench_die "orders-file failed"
    mv "$f.tmp" "$f"
    bench_say "wrote $count records to $f ($(du -h "$f" | cut -f1))"
  fi
  printf '%s\n' "$f"
}

bench_kafka_jars() {
  bash "$KAFKA_SH" fetch >&2 || bench_die "scripts/kafka.sh fetch failed"
}

# connect-file (FileStreamSource), same Kafka version as the broker's jars.
bench_connect_jars() {
  local pom=$BENCH_ROOT/scripts/kafka/connect-pom.xml v1 v2 stamp
  v1=$(grep -o '<kafka.version>[^<]*' "$BENCH_ROOT/scripts/kafka/pom.xml" | cut -d'>' -f2)
  v2=$(grep -o '<kafka.version>[^<]*' "$pom" | cut -d'>' -f2)
  [[ $v1 == "$v2" ]] || bench_die "scripts/kafka/connect-pom.xml pins Kafka $v2 but pom.xml pins $v1; make them equal"
  stamp=$(sha256sum "$pom" | cut -d' ' -f1)
  if [[ ! -f $CONNECT_LIBS/.complete || $(<"$CONNECT_LIBS/.complete") != "$stamp" ]]; then
    bench_say "resolving connect-file $v2 with Maven into $CONNECT_LIBS"
    rm -rf "$CONNECT_LIBS.tmp"
    if ! mvn -q -B -o -f "$pom" dependency:copy-dependencies -DoutputDirectory="$CONNECT_LIBS.tmp" >/dev/null 2>&1; then
      rm -rf "$CONNECT_LIBS.tmp"
      mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$CONNECT_LIBS.tmp" >&2 ||
        bench_die "maven could not resolve $pom"
    fi
    rm -rf "$CONNECT_LIBS"
    mv "$CONNECT_LIBS.tmp" "$CONNECT_LIBS"
    printf '%s\n' "$stamp" >"$CONNECT_LIBS/.complete"
  fi
}

# bench_start_kafka single|cluster PORT_BASE DIR → sets BOOTSTRAP and KAFKA_STARTUP.
# The cluster is stopped by bench_stop_kafka, or by kafka.sh's watchdog if this shell dies.
bench_start_kafka() {
  local kind=$1 port_base=$2 dir=$3 out
  bench_say "starting Kafka ($kind) in $dir (load average $(cut -d' ' -f1 /proc/loadavg))"
  # Deleted topics' files go at once: the next contender does not share the disk with it.
  out=$(bash "$KAFKA_SH" --dir "$dir" start "$kind" --port-base "$port_base" --owner-pid $$ --cleanup \
    --prop log.segment.delete.delay.ms=0) || bench_die "could not start Kafka ($kind)"
  BOOTSTRAP=$(sed -n 's/^BOOTSTRAP=//p' <<<"$out" | tail -n1)
  KAFKA_STARTUP=$(sed -n 's/^STARTUP_SECONDS=//p' <<<"$out" | tail -n1)
  [[ -n $BOOTSTRAP ]] || bench_die "no bootstrap address from kafka.sh start"
  bench_say "Kafka ($kind) at $BOOTSTRAP, started in ${KAFKA_STARTUP} s"
}

bench_stop_kafka() {
  bash "$KAFKA_SH" --dir "$1" stop --now --remove >/dev/null 2>&1 || true
}

# The chart's Python environment (matplotlib from PyPI), created once.
bench_venv() {
  local venv=$BENCH_ROOT/target/bench-venv req=$BENCH_ROOT/scripts/bench/requirements.txt stamp
  stamp=$(sha256sum "$req" | cut -d' ' -f1)
  if [[ ! -f $venv/.complete || $(<"$venv/.complete") != "$stamp" ]]; then
    bench_say "creating $venv (pip install -r scripts/bench/requirements.txt)"
    python3 -m venv "$venv" || bench_die "python3 -m venv failed (apt-get install -y python3-venv)"
    "$venv/bin/pip" install -q -r "$req" >&2 || bench_die "pip could not install $req"
    printf '%s\n' "$stamp" >"$venv/.complete"
  fi
  printf '%s\n' "$venv/bin/python"
}
