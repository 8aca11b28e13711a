#!/usr/bin/env python3
"""The measuring instrument behind scripts/bench-race.sh and scripts/bench-scale.sh.

Standard library only (the chart, chart.py, is the one part that needs matplotlib).
The shell scripts build what is needed and start Kafka with scripts/kafka.sh; this
program runs the contenders against that cluster, one after another, measures each
process and verifies what reached Kafka, and renders the tables.

    bench.py race  --phase single --bootstrap B --kafka-dir D ... --results R.jsonl
    bench.py scale --phase single --bootstrap B --kafka-dir D ... --results R.jsonl
    bench.py meta --out R.jsonl ...       (first: machine, versions, settings)
    bench.py report-race  --results R.jsonl --markdown OUT.md --json OUT.json
    bench.py report-scale --results R.jsonl --markdown OUT.md

The results file holds one JSON line for the machine and settings (kind "meta"), one per
measured run (kind "run") and per cluster phase ("phase", "phase_end"), so a report can
be re-rendered from it without measuring again.

How each contender is measured (the same everywhere):

- wall time: from just before the process is started to its exit (os.wait4), for the
  contenders that exit once every record is acknowledged (kcat, Sluice);
- CPU seconds: the process's own rusage (user + system), read when it is reaped;
- peak RSS: the process's VmHWM (/proc/PID/status), the high-water mark of its own
  memory since its exec, sampled every 20 ms while it runs (a high-water mark, so a
  sample after the peak still holds it). Not ru_maxrss: Linux carries the spawning
  process's peak across fork/vfork and exec into the child's ru_maxrss, so once this
  script holds a million records every contender would report at least its size;
- ProducerPerformance: records/s as the tool prints it (from its first send through
  producer.close(), i.e. after every acknowledgement; JVM start and payload-file reading
  excluded); CPU and RSS of the whole JVM;
- Kafka Connect: it never exits by itself. The topic's end offsets are polled until
  they sum to the count; records/s = count / (last record's CreateTime - first record's
  CreateTime), i.e. from its first record; its CPU is the JVM's CPU between the poll
  that first saw a record and the poll that saw them all (the whole JVM's CPU, start-up
  included, is in the notes); peak RSS is the whole JVM's;
- start-up (every contender): the first record's CreateTime minus the moment the
  process was started.

After each contender the topic's end offsets (kcat -Q) must sum to the count it sent,
else the run is marked failed and left out of the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ACKS = ("none", "leader", "all")
ACKS_SETTINGS = {
    "none": {"acks": "0", "enable.idempotence": "false"},
    "leader": {"acks": "1", "enable.idempotence": "false"},
    "all": {"acks": "all", "enable.idempotence": "true"},
}

# Contender ids, in table order, with their labels.
RACE_CONTENDERS = {
    "kcat": "raw librdkafka (`kcat -P -l FILE`)",
    "perf": "Kafka Java producer (`ProducerPerformance`)",
    "connect": "Kafka Connect standalone, `FileStreamSource`",
    "sluice": "Sluice: `orders` → Kafka",
    "sluice-passthrough": "Sluice: `orders` → `passthrough` → Kafka",
    "sluice-mask": "Sluice: `orders` → `mask` → Kafka",
}
SLUICE_CONTENDERS = ("sluice", "sluice-passthrough", "sluice-mask")

# Kafka's own launch scripts (bin/kafka-run-class.sh and the tools' wrappers) start the
# JVMs with these; the Java contenders run as a user would run them.
JVM_PERFORMANCE_OPTS = [
    "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
]
PERF_HEAP = ["-Xmx512M"]  # bin/kafka-producer-perf-test.sh
CONNECT_HEAP = ["-Xms256M", "-Xmx2G"]  # bin/connect-standalone.sh


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A set-up problem that stops the whole benchmark (not one failed run)."""


# ---------------------------------------------------------------------------------------
# processes


@dataclass
class Measured:
    """What one process cost."""

    rc: int | None  # None: killed by us on timeout
    wall_s: float
    cpu_s: float
    maxrss_kib: int
    started_at: float  # epoch seconds, just before the process was started
    stdout: str
    stderr: str


def vm_hwm_kib(pid: int) -> int:
    """The high-water mark of pid's resident memory (KiB), 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0


class PeakRss:
    """Samples a running process's VmHWM every 20 ms until stop(); .kib is the peak."""

    def __init__(self, pid: int):
        self.pid, self.kib = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(0.02):
                return

    def sample(self) -> None:
        self.kib = max(self.kib, vm_hwm_kib(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.kib


def run_measured(cmd, *, timeout_s: float, env=None, cwd=None, log_prefix: Path) -> Measured:
    """Runs cmd to its end; wall time, CPU and peak RSS from its rusage."""
    out_path = log_prefix.with_suffix(".out")
    err_path = log_prefix.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started_at = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        peak = PeakRss(proc.pid)
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        peak_kib = peak.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        rc=None if timed_out.is_set() else proc.returncode,
        wall_s=wall,
        cpu_s=ru.ru_utime + ru.ru_stime,
        maxrss_kib=peak_kib,
        started_at=started_at,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process, from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------
# Kafka: topics through scripts/kafka.sh, offsets and records through kcat


@dataclass
class Cluster:
    """The cluster of one phase (started by the shell script)."""

    kind: str  # single | cluster
    bootstrap: str
    kafka_sh: Path
    kafka_dir: Path
    partitions: int

    @property
    def replication(self) -> int:
        return 1 if self.kind == "single" else 3

    @property
    def min_isr(self) -> int:
        return 1 if self.kind == "single" else 2

    def kafka(self, *args: str, timeout_s: float = 120) -> str:
        cmd = ["bash", str(self.kafka_sh), "--dir", str(self.kafka_dir), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if res.returncode != 0:
            raise BenchError(f"kafka.sh {' '.join(args)} failed:\n{tail(res.stderr)}")
        return res.stdout

    def create_topic(self, name: str) -> None:
        self.kafka("create-topic", name, str(self.partitions), str(self.replication),
                   f"min.insync.replicas={self.min_isr}")

    def delete_topic(self, name: str) -> None:
        try:
            self.kafka("delete-topic", name)
        except (BenchError, subprocess.TimeoutExpired) as e:
            say(f"warning: could not delete topic {name}: {e}")

    def end_offsets(self, topic: str) -> int:
        """Sum of the topic's end offsets (high watermarks)."""
        args = ["kcat", "-b", self.bootstrap, "-m", "15", "-Q"]
        for p in range(self.partitions):
            args += ["-t", f"{topic}:{p}:-1"]
        res = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise BenchError(f"kcat -Q on {topic} failed: {tail(res.stderr)}")
        total, seen = 0, 0
        for line in res.stdout.splitlines():
            # "TOPIC [P] offset N"
            m = re.match(r"^\S+ \[(\d+)\] offset (-?\d+)$", line.strip())
            if m:
                seen += 1
                total += max(0, int(m.group(2)))
        if seen != self.partitions:
            raise BenchError(f"kcat -Q on {topic} answered for {seen} of {self.partitions} partitions")
        return total

    def timestamps(self, topic: str, where: str) -> list[int]:
        """CreateTime (ms) of the first (where="beginning") or last (where="-1") record of
        each non-empty partition."""
        out = []
        for p in range(self.partitions):
            res = subprocess.run(
                ["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-p", str(p), "-o", where,
                 "-c", "1", "-e", "-q", "-f", "%T\\n"],
                capture_output=True, text=True, timeout=60)
            for line in res.stdout.split():
                if line.lstrip("-").isdigit() and int(line) > 0:
                    out.append(int(line))
        return out

    def values_digest(self, topic: str) -> tuple[int, str]:
        """(count, sha256 of the sorted values) of everything in the topic."""
        res = subprocess.run(
            ["kcat", "-C", "-b", self.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
             "-f", "%s\\n"], capture_output=True, timeout=600)
        if res.returncode != 0:
            raise BenchError(f"kcat -C on {topic} failed: {tail(res.stderr.decode(errors='replace'))}")
        lines = res.stdout.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return len(lines), sorted_digest(lines)


def sorted_digest(lines: list[bytes]) -> str:
    h = hashlib.sha256()
    for line in sorted(lines):
        h.update(line)
        h.update(b"\n")
    return h.hexdigest()


_FILE_DIGESTS: dict[Path, tuple[int, str]] = {}


def file_digest(path: Path) -> tuple[int, str]:
    if path not in _FILE_DIGESTS:
        lines = path.read_bytes().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        _FILE_DIGESTS[path] = (len(lines), sorted_digest(lines))
    return _FILE_DIGESTS[path]


def file_mean_value_bytes(path: Path) -> float:
    count, size = 0, 0
    with open(path, "rb") as f:
        for line in f:
            count += 1
            size += len(line) - 1
    return size / max(count, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# the contenders


@dataclass
class Env:
    """Paths and settings shared by every run of a phase."""

    cluster: Cluster
    work: Path
    records_file: Path
    sluice_bin: Path
    plugins: Path
    kafka_libs: Path
    connect_libs: Path
    log4j: Path
    producer_props: dict[str, str]
    seed: int
    timeout_s: float
    check_content: bool


@dataclass
class Run:
    """One measured run: what the results file holds per line."""

    kind: str
    phase: str
    contender: str
    acks: str
    run: int
    records: int
    topic: str
    axis: str = ""
    axis_value: str = ""
    ok: bool = False
    error: str = ""
    records_per_s: float = 0.0
    cpu_s: float = 0.0
    maxrss_kib: int = 0
    wall_s: float = 0.0
    startup_s: float | None = None
    notes: dict = field(default_factory=dict)


def kcat_cmd(env: Env, topic: str, acks: str, records_file: Path):
    # The header and partitioner Sluice's pipeline has (the orders source's header; the
    # partitioner Sluice sets so keys land where Java clients put them).
    cmd = ["kcat", "-P", "-b", env.cluster.bootstrap, "-t", topic, "-l", str(records_file),
           "-H", "source=orders", "-X", "partitioner=murmur2_random"]
    for k, v in {**env.producer_props, **ACKS_SETTINGS[acks]}.items():
        cmd += ["-X", f"{k}={v}"]
    return cmd


def sluice_pipeline(env: Env, name: str, topic: str, acks: str, count: int, transforms: list,
                    value_bytes: int = 0) -> str:
    src_config = {"count": count, "seed": env.seed}
    if value_bytes:
        src_config["value_bytes"] = value_bytes
    doc = {
        "name": name,
        "source": {"plugin": str(env.plugins / "orders.wasm"), "config": src_config},
        "transforms": transforms,
        "sink": {"kafka": {"brokers": env.cluster.bootstrap, "topic": topic, "acks": acks,
                           "producer": dict(env.producer_props)}},
    }
    # JSON is YAML: no YAML library needed, and the pipeline schema is the same.
    return json.dumps(doc, indent=2) + "\n"


def transforms_for(env: Env, contender: str, passthroughs: int = 0) -> list:
    if contender == "sluice-passthrough":
        passthroughs = max(passthroughs, 1)
    if contender == "sluice-mask":
        return [{"plugin": str(env.plugins / "mask.wasm"), "config": {"field": "email"}}]
    return [{"plugin": str(env.plugins / "passthrough.wasm")} for _ in range(passthroughs)]


def startup_from(env: Env, topic: str, started_at: float) -> float | None:
    firsts = env.cluster.timestamps(topic, "beginning")
    return (min(firsts) / 1000 - started_at) if firsts else None


def settled_end_offsets(cluster: Cluster, topic: str, expect: int) -> int:
    """The topic's end offsets once they reach `expect` or stop moving. Under acks 0 a
    producer is done once its requests are written to the socket, which can be a moment
    before the broker has appended them."""
    deadline = time.monotonic() + 30
    last, last_change = -1, time.monotonic()
    while True:
        got = cluster.end_offsets(topic)
        now = time.monotonic()
        if got != last:
            last, last_change = got, now
        if got >= expect or now - last_change > 3 or now > deadline:
            return got
        time.sleep(0.2)


def verify(env: Env, run: Run, expect: int) -> None:
    """Marks run failed unless the topic holds exactly the records sent."""
    got = settled_end_offsets(env.cluster, run.topic, expect)
    run.notes["end_offsets"] = got
    if got != expect:
        run.ok = False
        run.error = run.error or f"topic end offsets sum to {got}, {expect} were sent"


def run_kcat(env: Env, run: Run, records_file: Path) -> None:
    m = run_measured(kcat_cmd(env, run.topic, run.acks, records_file),
                     timeout_s=env.timeout_s, log_prefix=env.work / run.topic)
    fill_from_process(env, run, m, "kcat")


def fill_from_process(env: Env, run: Run, m: Measured, what: str) -> None:
    run.wall_s, run.cpu_s, run.maxrss_kib = m.wall_s, m.cpu_s, m.maxrss_kib
    if m.rc is None:
        run.error = f"{what} still running after {env.timeout_s:.0f} s (killed)"
    elif m.rc != 0:
        run.error = f"{what} exited with {m.rc}: {tail(m.stderr, 6)}"
    else:
        run.ok = True
        run.records_per_s = run.records / m.wall_s
    verify(env, run, run.records)
    if run.ok:
        run.startup_s = startup_from(env, run.topic, m.started_at)


PERF_TOTAL = re.compile(r"^(\d+) records sent, ([0-9.]+) records/sec")


def run_perf(env: Env, run: Run) -> None:
    props = {"bootstrap.servers": env.cluster.bootstrap, **env.producer_props,
             **ACKS_SETTINGS[run.acks]}
    cmd = ["java", *PERF_HEAP, *JVM_PERFORMANCE_OPTS, f"-Dlog4j2.configurationFile={env.log4j}",
           "-cp", f"{env.kafka_libs}/*", "org.apache.kafka.tools.ProducerPerformance",
           "--topic", run.topic, "--num-records", str(run.records),
           "--payload-file", str(env.records_file), "--throughput", "-1",
           "--producer-props", *[f"{k}={v}" for k, v in props.items()]]
    m = run_measured(cmd, timeout_s=env.timeout_s, log_prefix=env.work / run.topic)
    run.wall_s, run.cpu_s, run.maxrss_kib = m.wall_s, m.cpu_s, m.maxrss_kib
    total = [PERF_TOTAL.match(line) for line in m.stdout.splitlines()]
    total = [t for t in total if t]
    if m.rc is None:
        run.error = f"ProducerPerformance still running after {env.timeout_s:.0f} s (killed)"
    elif m.rc != 0 or not total:
        run.error = f"ProducerPerformance exited with {m.rc}: {tail(m.stderr or m.stdout, 6)}"
    else:
        sent, rate = int(total[-1].group(1)), float(total[-1].group(2))
        run.ok = sent == run.records
        run.error = "" if run.ok else f"ProducerPerformance reports {sent} records sent"
        run.records_per_s = rate
        run.notes["jvm_and_setup_s"] = round(m.wall_s - run.records / rate, 2) if rate else None
    verify(env, run, run.records)
    if run.ok:
        run.startup_s = startup_from(env, run.topic, m.started_at)


def run_connect(env: Env, run: Run) -> None:
    d = env.work / run.topic
    d.mkdir(parents=True, exist_ok=True)
    producer = {**env.producer_props, **ACKS_SETTINGS[run.acks]}
    worker = {
        "bootstrap.servers": env.cluster.bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": str(d / "connect.offsets"),
        "offset.flush.interval.ms": "10000",
        "plugin.discovery": "only_scan",
        "listeners": f"http://127.0.0.1:{free_port()}",
        **{f"producer.{k}": v for k, v in producer.items()},
    }
    source = {
        "name": "race-file-source",
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "tasks.max": "1",
        "file": str(env.records_file),
        "topic": run.topic,
    }
    for name, props in (("worker", worker), ("source", source)):
        (d / f"{name}.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    cmd = ["java", *CONNECT_HEAP, *JVM_PERFORMANCE_OPTS, f"-Dlog4j2.configurationFile={env.log4j}",
           "-cp", f"{env.kafka_libs}/*:{env.connect_libs}/*",
           "org.apache.kafka.connect.cli.ConnectStandalone",
           str(d / "worker.properties"), str(d / "source.properties")]
    out, err = open(d / "connect.out", "wb"), open(d / "connect.err", "wb")
    started_at = time.time()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    peak = PeakRss(proc.pid)
    deadline = time.monotonic() + env.timeout_s + 60  # + JVM start
    cpu_first = cpu_done = None
    reaped = None
    try:
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                reaped = (status, ru)
                run.error = f"Connect exited with {os.waitstatus_to_exitcode(status)} before all records were in"
                break
            total = env.cluster.end_offsets(run.topic)
            if total > 0 and cpu_first is None:
                cpu_first = proc_cpu_s(proc.pid)
            if total >= run.records:
                cpu_done = proc_cpu_s(proc.pid)
                run.ok = True
                break
            if time.monotonic() > deadline:
                run.error = f"only {total} of {run.records} records in after {env.timeout_s + 60:.0f} s"
                break
            time.sleep(0.2)
    finally:
        peak.sample()
        peak.stop()
        if reaped is None:
            proc.terminate()
            timer = threading.Timer(30, lambda: proc.kill())
            timer.start()
            _, status, ru = os.wait4(proc.pid, 0)
            timer.cancel()
            reaped = (status, ru)
        proc.returncode = os.waitstatus_to_exitcode(reaped[0])
        out.close()
        err.close()
    ru = reaped[1]
    run.wall_s = time.time() - started_at
    run.maxrss_kib = peak.kib
    run.notes["jvm_cpu_total_s"] = round(ru.ru_utime + ru.ru_stime, 2)
    if run.ok:
        firsts = env.cluster.timestamps(run.topic, "beginning")
        lasts = env.cluster.timestamps(run.topic, "-1")
        span_s = (max(lasts) - min(firsts)) / 1000 if firsts and lasts else 0
        if span_s <= 0:
            run.ok, run.error = False, "could not read the first and last records' timestamps"
        else:
            run.records_per_s = run.records / span_s
            run.startup_s = min(firsts) / 1000 - started_at
            run.cpu_s = (cpu_done or 0) - (cpu_first or 0)
            run.notes["jvm_cpu_before_first_record_s"] = round(cpu_first or 0, 2)
    else:
        run.notes["log_tail"] = tail((d / "connect.err").read_text(errors="replace"), 6)
    verify(env, run, run.records)


def run_sluice(env: Env, run: Run, transforms: list, value_bytes: int = 0,
               pipelines: int = 1) -> None:
    """Sluice, one process, `pipelines` pipelines sharing run.records between them,
    pipeline i producing to run.topic + f"-{i}" when pipelines > 1."""
    d = env.work / run.topic
    shutil.rmtree(d, ignore_errors=True)
    (d / "pipelines").mkdir(parents=True)
    topics = [run.topic] if pipelines == 1 else [f"{run.topic}-{i}" for i in range(pipelines)]
    per = [run.records // pipelines + (1 if i < run.records % pipelines else 0)
           for i in range(pipelines)]
    for i, (topic, count) in enumerate(zip(topics, per)):
        (d / "pipelines" / f"p{i}.yaml").write_text(
            sluice_pipeline(env, f"bench-{i}", topic, run.acks, count, transforms, value_bytes))
    target = d / "pipelines" / "p0.yaml" if pipelines == 1 else d / "pipelines"
    cmd = [str(env.sluice_bin), "--cache-dir", str(env.work / "sluice-cache"), "run", str(target),
           "--state-dir", str(d / "state"), "--progress-secs", "3600"]
    m = run_measured(cmd, timeout_s=env.timeout_s, env={**os.environ, "SLUICE_LOG": "warn"},
                     log_prefix=d / "sluice")
    run.wall_s, run.cpu_s, run.maxrss_kib = m.wall_s, m.cpu_s, m.maxrss_kib
    if m.rc is None:
        run.error = f"sluice still running after {env.timeout_s:.0f} s (killed)"
    elif m.rc != 0:
        run.error = f"sluice exited with {m.rc}: {tail(m.stderr, 6)}"
    else:
        run.ok = True
        run.records_per_s = run.records / m.wall_s
    total = 0
    for topic, count in zip(topics, per):
        got = settled_end_offsets(env.cluster, topic, count)
        total += got
        if got != count and not run.error:
            run.ok, run.error = False, f"topic {topic}: end offsets sum to {got}, {count} were sent"
    run.notes["end_offsets"] = total
    if run.ok:
        starts = [startup_from(env, t, m.started_at) for t in topics]
        starts = [s for s in starts if s is not None]
        run.startup_s = min(starts) if starts else None


def check_content(env: Env, run: Run, records_file: Path) -> None:
    """The topic holds exactly the file's values (as a multiset; partitions interleave)."""
    want = file_digest(records_file)
    got = env.cluster.values_digest(run.topic)
    run.notes["content_checked"] = got == want
    if got != want:
        run.ok = False
        run.error = (f"values in {run.topic} differ from {records_file.name} "
                     f"({got[0]} records read, {want[0]} in the file)")


def measure(env: Env, run: Run, fn, *args, keep_topics: bool = False, topics=None) -> Run:
    names = topics or [run.topic]
    for t in names:
        env.cluster.create_topic(t)
    try:
        fn(env, run, *args)
    except (BenchError, subprocess.TimeoutExpired, OSError) as e:
        run.ok, run.error = False, run.error or str(e)
    finally:
        if not keep_topics:
            for t in names:
                env.cluster.delete_topic(t)
    status = "ok" if run.ok else f"FAILED: {run.error}"
    where = f" {run.axis} {run.axis_value}" if run.axis else ""
    say(f"{run.phase}{where} {run.contender} acks={run.acks} "
        f"run {run.run}: {run.records_per_s:,.0f} records/s, cpu {run.cpu_s:.2f} s, "
        f"rss {run.maxrss_kib / 1024:.0f} MiB ({status})")
    return run


def append(results: Path, obj) -> None:
    with open(results, "a") as f:
        f.write(json.dumps(asdict(obj) if not isinstance(obj, dict) else obj) + "\n")


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# ---------------------------------------------------------------------------------------
# the race


def race(args, env: Env) -> None:
    phase = env.cluster.kind
    count = args.records
    append(args.results, {"kind": "phase", "phase": phase, "load_before": loadavg(),
                          "startup_s": args.kafka_startup, "bootstrap": env.cluster.bootstrap,
                          "partitions": env.cluster.partitions,
                          "replication": env.cluster.replication, "min_isr": env.cluster.min_isr})
    # Warm-up, not counted: the brokers' JIT and the page cache for the records file
    # (kcat and Sluice at full count), and Sluice's compile cache for every plugin its
    # contenders load (a short run each).
    say(f"{phase}: warm-up (not counted)")
    if "kcat" in args.contenders:
        measure(env, Run("warmup", phase, "kcat", "leader", 0, count, f"warmup-{phase}-kcat"),
                run_kcat, env.records_file)
    for c in SLUICE_CONTENDERS:
        if c in args.contenders:
            n = count if c == "sluice" else min(count, 10_000)
            measure(env, Run("warmup", phase, c, "leader", 0, n, f"warmup-{phase}-{c}"),
                    run_sluice, transforms_for(env, c))
    for r in range(1, args.runs + 1):
        for acks in args.acks:
            for c in args.contenders:
                run = Run("run", phase, c, acks, r, count, f"race-{phase}-{r}-{acks}-{c}")
                if c == "kcat":
                    measure(env, run, run_kcat, env.records_file)
                elif c == "perf":
                    measure(env, run, run_perf)
                elif c == "connect":
                    measure(env, run, run_connect)
                else:
                    content = env.check_content and r == 1 and c != "sluice-mask"
                    measure(env, run, run_sluice_checked if content else run_sluice,
                            transforms_for(env, c))
                append(args.results, run)
    append(args.results, {"kind": "phase_end", "phase": phase, "load_after": loadavg()})


def run_sluice_checked(env: Env, run: Run, transforms: list) -> None:
    run_sluice(env, run, transforms)
    if run.ok:
        check_content(env, run, env.records_file)


# ---------------------------------------------------------------------------------------
# how cost grows


def scale(args, env: Env) -> None:
    phase = env.cluster.kind
    acks = args.acks[0]
    n = args.records
    append(args.results, {"kind": "phase", "phase": phase, "load_before": loadavg(),
                          "startup_s": args.kafka_startup, "partitions": env.cluster.partitions,
                          "replication": env.cluster.replication, "acks": acks})
    say(f"{phase}: warm-up (Sluice, not counted; also fills the compile cache)")
    measure(env, Run("warmup", phase, "sluice", acks, 0, n, f"warmup-{phase}-scale"),
            run_sluice, [])
    measure(env, Run("warmup", phase, "sluice-passthrough", acks, 0, min(n, 10_000),
                     f"warmup-{phase}-scale-passthrough"),
            run_sluice, transforms_for(env, "sluice", 1))
    sizes = {100: n, 1024: max(1, n // 4), 10240: max(1, n // 20)}
    for r in range(1, args.runs + 1):
        if "size" in args.axes:
            for size, count in sizes.items():
                vb = 0 if size == 100 else size
                f = args.size_files[size]
                run = Run("run", phase, "kcat", acks, r, count, f"scale-{r}-size{size}-kcat",
                          axis="value bytes", axis_value=str(size))
                run.notes["mean_value_bytes"] = round(file_mean_value_bytes(f), 1)
                append(args.results, measure(env, run, run_kcat, f))
                run = Run("run", phase, "sluice", acks, r, count, f"scale-{r}-size{size}-sluice",
                          axis="value bytes", axis_value=str(size))
                run.notes["mean_value_bytes"] = round(file_mean_value_bytes(f), 1)
                append(args.results, measure(env, run, run_sluice, [], vb))
        if "transforms" in args.axes:
            for k in range(0, 6):
                run = Run("run", phase, "sluice", acks, r, n, f"scale-{r}-chain{k}",
                          axis="passthrough transforms", axis_value=str(k))
                append(args.results, measure(env, run, run_sluice, transforms_for(env, "sluice", k)))
        if "pipelines" in args.axes:
            for k in (1, 4, 16):
                run = Run("run", phase, "sluice", acks, r, n, f"scale-{r}-pipes{k}",
                          axis="pipelines in one process", axis_value=str(k))
                topics = [run.topic] if k == 1 else [f"{run.topic}-{i}" for i in range(k)]
                append(args.results, measure(env, run, run_sluice, [], 0, k, topics=topics))
    append(args.results, {"kind": "phase_end", "phase": phase, "load_after": loadavg()})


# ---------------------------------------------------------------------------------------
# reports


def read_results(path: Path):
    runs, phases, meta = [], {}, None
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if obj["kind"] == "meta":
            meta = obj
        elif obj["kind"] == "run":
            runs.append(obj)
        elif obj["kind"] == "phase":
            phases.setdefault(obj["phase"], {}).update(obj)
        elif obj["kind"] == "phase_end":
            phases.setdefault(obj["phase"], {}).update(obj)
    if meta is None:
        raise BenchError(f"{path} has no meta line (written by `bench.py meta`)")
    return runs, phases, meta


def spread(values: list[float]) -> dict:
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def fmt_rate(s: dict) -> str:
    if s["median"] is None:
        return "—"
    if s["n"] == 1:
        return f"{s['median'] / 1000:,.0f} k"
    return f"{s['median'] / 1000:,.0f} k ({s['min'] / 1000:,.0f}–{s['max'] / 1000:,.0f} k)"


def fmt_ratio(s: dict) -> str:
    if s["median"] is None:
        return "—"
    if s["n"] == 1:
        return f"{s['median']:.2f}×"
    return f"{s['median']:.2f}× ({s['min']:.2f}–{s['max']:.2f})"


def fmt_num(v, digits: int = 1, unit: str = "") -> str:
    return "—" if v is None else f"{v:,.{digits}f}{unit}"


def race_rows(runs: list, phase: str, mean_bytes: float):
    """Per (contender, acks): the figures over its successful runs, plus ratios to raw
    librdkafka computed run by run (same run, same acks)."""
    kcat = {(r["run"], r["acks"]): r for r in runs
            if r["phase"] == phase and r["contender"] == "kcat" and r["ok"]}
    rows = []
    for acks in ACKS:
        for c in RACE_CONTENDERS:
            mine = [r for r in runs if r["phase"] == phase and r["contender"] == c
                    and r["acks"] == acks]
            if not mine:
                continue
            good = [r for r in mine if r["ok"]]
            rate = spread([r["records_per_s"] for r in good])
            ratios = [r["records_per_s"] / kcat[(r["run"], acks)]["records_per_s"]
                      for r in good if (r["run"], acks) in kcat and c != "kcat"]
            row = {
                "contender": c, "label": RACE_CONTENDERS[c], "acks": acks,
                "runs": len(mine), "ok_runs": len(good),
                "failed": [r["error"] for r in mine if not r["ok"]],
                "records_per_s": rate,
                "mb_per_s": {k: (v * mean_bytes / 1e6 if isinstance(v, float) else v)
                             for k, v in rate.items()},
                "cpu_s_per_m": spread([r["cpu_s"] / r["records"] * 1e6 for r in good]),
                "rss_mib": spread([r["maxrss_kib"] / 1024 for r in good]),
                "startup_s": spread([r["startup_s"] for r in good if r["startup_s"] is not None]),
                "ratio_to_kcat": spread(ratios),
                "notes": [r["notes"] for r in good],
            }
            rows.append(row)
    return rows


def targets(rows: list) -> list[tuple[str, str, str]]:
    """The issue's throughput targets, checked on the medians of per-run ratios."""
    by = {(r["contender"], r["acks"]): r for r in rows}
    out = []
    for acks in ACKS:
        s = by.get(("sluice", acks))
        if s and s["ratio_to_kcat"]["median"] is not None:
            out.append((f"`{acks}`: Sluice ≥ 0.9× raw librdkafka", fmt_ratio(s["ratio_to_kcat"]),
                        "met" if s["ratio_to_kcat"]["median"] >= 0.9 else "not met"))
        p = by.get(("sluice-passthrough", acks))
        if s and p and s["records_per_s"]["median"] and p["records_per_s"]["median"]:
            v = p["records_per_s"]["median"] / s["records_per_s"]["median"]
            out.append((f"`{acks}`: passthrough ≥ 0.85× no transform", f"{v:.2f}× (medians)",
                        "met" if v >= 0.85 else "not met"))
        m = by.get(("sluice-mask", acks))
        if m and m["ratio_to_kcat"]["median"] is not None:
            out.append((f"`{acks}`: mask ≥ 0.7× raw librdkafka", fmt_ratio(m["ratio_to_kcat"]),
                        "met" if m["ratio_to_kcat"]["median"] >= 0.7 else "not met"))
        c = by.get(("connect", acks))
        if s and c and s["records_per_s"]["median"] and c["records_per_s"]["median"]:
            v = s["records_per_s"]["median"] / c["records_per_s"]["median"]
            rss = s["rss_mib"]["median"] / c["rss_mib"]["median"]
            out.append((f"`{acks}`: Sluice ≥ 3× Connect (from its first record), ≤ 0.1× its RSS",
                        f"{v:.2f}× records/s, {rss:.2f}× RSS (medians)",
                        "met" if v >= 3 and rss <= 0.1 else "not met"))
    return out


def machine_lines(meta: dict) -> list[str]:
    return [
        f"- Machine: {meta['cores']} cores ({meta['cpu']}), {meta['mem']}; kernel {meta['kernel']}.",
        f"- Versions: Kafka {meta['kafka']} (brokers, Java tools, Connect); kcat {meta['kcat']} "
        f"on librdkafka {meta['kcat_librdkafka']}; Sluice on librdkafka {meta['sluice_librdkafka']} "
        f"(rdkafka-sys {meta['rdkafka_sys']}), wasmtime {meta['wasmtime']}, {meta['rustc']}; "
        f"{meta['java']}.",
        f"- Commit: `{meta['commit']}`{' (working tree had uncommitted changes)' if meta['dirty'] else ''}; "
        f"measured {meta['date']}.",
    ]


def report_race(args) -> None:
    runs, phases, meta = read_results(args.results)
    mean_bytes = meta["mean_value_bytes"]
    doc = {"meta": meta, "phases": {}}
    md = [
        "# The performance race",
        "",
        f"Generated by `{meta['command']}`. Every contender sends the same "
        f"{meta['records']:,} records (`orders` values, {mean_bytes:.0f} bytes on average) "
        f"to a fresh topic of {meta['partitions']} partitions; {meta['runs']} run(s), each "
        "running every contender once per acks policy, one after another. Figures are the "
        "median over the runs, with min–max in brackets; ratios to raw librdkafka are taken "
        "run by run (same run, same acks), then summarised. Method: the header of "
        "`scripts/bench-race.sh`.",
        "",
        *machine_lines(meta),
        f"- Producer settings given to every contender: "
        f"{', '.join(f'`{k}={v}`' for k, v in meta['producer_props'].items()) or 'none (each its defaults)'}; "
        "acks per row (`none` = acks 0, `leader` = acks 1, `all` = acks all + idempotence).",
    ]
    if meta.get("quick"):
        md += ["", "**Quick mode** (few records, one run): proves every contender runs and is "
               "verified; the figures are not for comparison."]
    for phase in ("single", "cluster"):
        if phase not in phases:
            continue
        ph = phases[phase]
        rows = race_rows(runs, phase, mean_bytes)
        doc["phases"][phase] = {"meta": ph, "rows": rows}
        title = ("One node" if phase == "single" else
                 f"3-node cluster (replication factor {ph.get('replication')}, "
                 f"min.insync.replicas {ph.get('min_isr')})")
        md += ["", f"## {title}", "",
               f"Kafka start-up {ph.get('startup_s', '?')} s; 1-minute load average "
               f"{ph.get('load_before', '?')} before, {ph.get('load_after', '?')} after.", "",
               "| contender | acks | records/s | MB/s | CPU s per M records | peak RSS | start-up | × raw librdkafka |",
               "|---|---|---:|---:|---:|---:|---:|---:|"]
        for row in rows:
            if row["ok_runs"] == 0:
                md.append(f"| {row['label']} | `{row['acks']}` | **failed**: "
                          f"{row['failed'][0].splitlines()[0][:120]} | | | | | |")
                continue
            failed = (f" ({len(row['failed'])} of {row['runs']} runs failed)"
                      if row["failed"] else "")
            md.append(
                f"| {row['label']}{failed} | `{row['acks']}` | {fmt_rate(row['records_per_s'])} "
                f"| {fmt_num(row['mb_per_s']['median'])} "
                f"| {fmt_num(row['cpu_s_per_m']['median'], 2)} "
                f"| {fmt_num(row['rss_mib']['median'], 0, ' MiB')} "
                f"| {fmt_num(row['startup_s']['median'], 2, ' s')} "
                f"| {fmt_ratio(row['ratio_to_kcat']) if row['contender'] in SLUICE_CONTENDERS else ''} |")
        t = targets(rows)
        if t:
            md += ["", "Targets (issue #14):", "", "| target | measured | |", "|---|---|---|"]
            md += [f"| {a} | {b} | {c} |" for a, b, c in t]
        connect = [n for row in rows if row["contender"] == "connect" for n in row["notes"]]
        if connect:
            before = statistics.median(n.get("jvm_cpu_before_first_record_s", 0) for n in connect)
            total = statistics.median(n.get("jvm_cpu_total_s", 0) for n in connect)
            md += ["", f"Kafka Connect: records/s and CPU from its first record; before it the "
                   f"JVM spent a median {before:.1f} CPU-s starting (whole JVM {total:.1f} CPU-s)."]
    checked = [r for r in runs if "content_checked" in r["notes"]]
    if checked:
        same = sum(1 for r in checked if r["notes"]["content_checked"])
        md += ["", f"Same records: {same} of {len(checked)} Sluice topics read back (kcat -C) "
               "held exactly the values of the file the other contenders sent."]
    failed = [r for r in runs if not r["ok"]]
    if failed:
        md += ["", "Failed runs (left out of the figures):", ""]
        md += [f"- {r['phase']}, run {r['run']}, `{r['acks']}`, {r['contender']}: "
               f"{r['error'].splitlines()[0][:200]}" for r in failed]
    md += [
        "",
        "Columns: records/s is wall-clock (kcat and Sluice: process start to exit, every record "
        "acknowledged; ProducerPerformance: as the tool reports it, after `close()`; Connect: "
        "first to last record's CreateTime). MB/s counts values only. CPU is user + system of "
        "the process (rusage). Start-up is the first record's CreateTime (stamped when the "
        "client takes the record, before it is sent) minus the process start. Kafka brokers run on the same cores, so a contender that needs less CPU leaves "
        "more to the brokers.",
        "",
        f"![records/s per contender]({args.chart_name})",
    ]
    args.markdown.write_text("\n".join(md) + "\n")
    args.json.write_text(json.dumps(doc, indent=1) + "\n")
    print("\n".join(md))


def report_scale(args) -> None:
    runs, phases, meta = read_results(args.results)
    md = ["# How Sluice's cost grows", "",
          f"Generated by `{meta['command']}`: Sluice (release build, `orders` source, no key) "
          "into fresh topics, one axis at a time, the rest at its default; raw librdkafka "
          "(`kcat -P -l`, same records from a file) beside each value size. Median over "
          f"{meta['runs']} run(s) with min–max; CPU is user + system of the process "
          "(rusage) divided by the records.", "", *machine_lines(meta)]
    if meta.get("quick"):
        md += ["", "**Quick mode**: the figures are not for comparison."]
    for phase, ph in phases.items():
        mine = [r for r in runs if r["phase"] == phase]
        md += ["", f"## {'One node' if phase == 'single' else '3-node cluster'}, acks "
               f"`{ph.get('acks')}`, {ph.get('partitions')} partitions", "",
               f"1-minute load average {ph.get('load_before', '?')} before, "
               f"{ph.get('load_after', '?')} after.", "",
               "| axis | value | contender | records | records/s | MB/s | CPU µs per record | peak RSS | × first row |",
               "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        axes = []
        for r in mine:
            key = (r["axis"], r["axis_value"], r["contender"])
            if key not in axes:
                axes.append(key)
        first = {}
        for axis, value, c in axes:
            group = [r for r in mine if (r["axis"], r["axis_value"], r["contender"]) == (axis, value, c)]
            good = [r for r in group if r["ok"]]
            if not good:
                md.append(f"| {axis} | {value} | {c} | {group[0]['records']:,} | **failed**: "
                          f"{group[0]['error'].splitlines()[0][:100]} | | | | |")
                continue
            rate = spread([r["records_per_s"] for r in good])
            mean_b = good[0]["notes"].get("mean_value_bytes", meta["mean_value_bytes"])
            first.setdefault((axis, c), rate["median"])
            rel = rate["median"] / first[(axis, c)]
            md.append(
                f"| {axis} | {value} | {'kcat' if c == 'kcat' else 'Sluice'} | {good[0]['records']:,} "
                f"| {fmt_rate(rate)} | {rate['median'] * mean_b / 1e6:,.1f} "
                f"| {statistics.median(r['cpu_s'] / r['records'] * 1e6 for r in good):.2f} "
                f"| {statistics.median(r['maxrss_kib'] / 1024 for r in good):,.0f} MiB "
                f"| {rel:.2f}× |")
    md += ["", "Value sizes: 100 B is the natural `orders` value (≈ 90–110 B); 1 KiB and "
           "10 KiB use the source's `value_bytes` padding, with a quarter and a twentieth of "
           "the records. Pipelines: the records are split evenly between the pipelines, each "
           "with its own topic, in one `sluice run` of a directory."]
    args.markdown.write_text("\n".join(md) + "\n")
    print("\n".join(md))


# ---------------------------------------------------------------------------------------
# command line


def command_output(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (res.stdout + res.stderr).strip()


def lock_version(lock: str, name: str) -> str:
    m = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', lock)
    return m.group(1) if m else "?"


def meta(args) -> None:
    """Machine, versions and settings of a benchmark: the results file's first line."""
    root = args.root
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = re.search(r"^model name\s*: (.*)$", cpuinfo, re.M)
    mem_kib = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
    lock = (root / "Cargo.lock").read_text()
    rdkafka_sys = lock_version(lock, "rdkafka-sys")
    kcat_v = command_output(["kcat", "-V"])
    pom = (root / "scripts/kafka/pom.xml").read_text()
    kafka = re.search(r"<kafka.version>([^<]+)<", pom)
    status = command_output(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])
    out = {
        "kind": "meta",
        "command": args.command,
        "quick": args.quick,
        "records": args.records,
        "runs": args.runs,
        "partitions": args.partitions,
        "producer_props": dict(p.split("=", 1) for p in args.producer_prop),
        "mean_value_bytes": file_mean_value_bytes(args.records_file) if args.records_file else 0,
        "cores": os.cpu_count(),
        "cpu": cpu.group(1).strip() if cpu else "?",
        "mem": f"{mem_kib / 1048576:.0f} GiB",
        "kernel": os.uname().release,
        "kafka": kafka.group(1) if kafka else "?",
        "kcat": (re.search(r"Version (\S+)", kcat_v) or [None, "?"])[1],
        "kcat_librdkafka": (re.search(r"librdkafka (\S+)", kcat_v) or [None, "?"])[1],
        "rdkafka_sys": rdkafka_sys,
        "sluice_librdkafka": rdkafka_sys.split("+", 1)[1] if "+" in rdkafka_sys else "?",
        "wasmtime": lock_version(lock, "wasmtime"),
        "rustc": command_output(["rustc", "-V"]),
        "java": command_output(["java", "-version"]).splitlines()[0],
        "commit": command_output(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]),
        "dirty": bool(status) and status != "?",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_start": loadavg(),
    }
    append(args.out, out)


def env_from(args) -> Env:
    cluster = Cluster(args.phase, args.bootstrap, args.kafka_sh, args.kafka_dir, args.partitions)
    props = dict(p.split("=", 1) for p in args.producer_prop)
    args.work.mkdir(parents=True, exist_ok=True)
    return Env(cluster=cluster, work=args.work, records_file=args.records_file,
               sluice_bin=args.sluice, plugins=args.plugins, kafka_libs=args.kafka_libs,
               connect_libs=args.connect_libs, log4j=args.log4j, producer_props=props,
               seed=args.seed, timeout_s=args.timeout, check_content=not args.no_content_check)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("race", "scale"):
        s = sub.add_parser(name)
        s.add_argument("--phase", choices=("single", "cluster"), required=True)
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--kafka-sh", type=Path, required=True)
        s.add_argument("--kafka-dir", type=Path, required=True)
        s.add_argument("--kafka-startup", default="?")
        s.add_argument("--kafka-libs", type=Path, required=True)
        s.add_argument("--connect-libs", type=Path, default=Path("/nonexistent"))
        s.add_argument("--log4j", type=Path, required=True)
        s.add_argument("--sluice", type=Path, required=True)
        s.add_argument("--plugins", type=Path, required=True)
        s.add_argument("--records-file", type=Path, required=True)
        s.add_argument("--records", type=int, required=True)
        s.add_argument("--runs", type=int, default=3)
        s.add_argument("--seed", type=int, default=42)
        s.add_argument("--partitions", type=int, default=3)
        s.add_argument("--acks", type=lambda v: v.split(","), default=list(ACKS))
        s.add_argument("--producer-prop", action="append", default=[])
        s.add_argument("--timeout", type=float, default=300)
        s.add_argument("--no-content-check", action="store_true")
        s.add_argument("--work", type=Path, required=True)
        s.add_argument("--results", type=Path, required=True)
        if name == "race":
            s.add_argument("--contenders", type=lambda v: v.split(","),
                           default=list(RACE_CONTENDERS))
        else:
            s.add_argument("--axes", type=lambda v: v.split(","),
                           default=["size", "transforms", "pipelines"])
            s.add_argument("--size-file", action="append", default=[],
                           help="SIZE=FILE: the records file for a value size (100, 1024, 10240)")
    s = sub.add_parser("meta")
    s.add_argument("--root", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--command", required=True)
    s.add_argument("--quick", action="store_true")
    s.add_argument("--records", type=int, required=True)
    s.add_argument("--runs", type=int, required=True)
    s.add_argument("--partitions", type=int, required=True)
    s.add_argument("--producer-prop", action="append", default=[])
    s.add_argument("--records-file", type=Path)
    for name in ("report-race", "report-scale"):
        s = sub.add_parser(name)
        s.add_argument("--results", type=Path, required=True)
        s.add_argument("--markdown", type=Path, required=True)
        if name == "report-race":
            s.add_argument("--json", type=Path, required=True)
            s.add_argument("--chart-name", default="race.svg")
    args = p.parse_args()
    bad_acks = [a for a in getattr(args, "acks", []) if a not in ACKS]
    if bad_acks:
        say(f"error: unknown acks policy {', '.join(bad_acks)}; choose from {', '.join(ACKS)}")
        return 2
    try:
        if args.cmd == "race":
            bad = [c for c in args.contenders if c not in RACE_CONTENDERS]
            if bad:
                raise BenchError(f"unknown contender(s) {', '.join(bad)}; "
                                 f"choose from {', '.join(RACE_CONTENDERS)}")
            race(args, env_from(args))
        elif args.cmd == "scale":
            args.size_files = {int(k): Path(v) for k, v in (s.split("=", 1) for s in args.size_file)}
            if "size" in args.axes and set(args.size_files) != {100, 1024, 10240}:
                raise BenchError("--size-file is needed for 100, 1024 and 10240")
            scale(args, env_from(args))
        elif args.cmd == "meta":
            meta(args)
        elif args.cmd == "report-race":
            report_race(args)
        else:
            report_scale(args)
    except BenchError as e:
        say(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
