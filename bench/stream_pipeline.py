"""Benchmark: one Faust worker's scans per second through verify + co-locate + sink, and scan -> contact latency.

Budgets (DESIGN.md, issue 8): one worker process, verify + co-locate + sink: >= 20,000 scans/s,
beside the same broker's raw consume rate; scan -> contact queryable: p95 < 2 s at 5,000
scans/s. Speed is printed, never asserted. Everything runs on a dedicated local Kafka broker
(``LocalBroker``) and in ``truyvet worker`` subprocesses with their own data directory
(embedded chDB warehouse), in a temporary directory; retention is 0, so the simulated day (by
default yesterday) is never refused.

- **throughput** (per repetition, a fresh broker and data directory): the registry alone is
  published (``truyvet simulate`` limited to its first ``--citizens`` events) and loaded by a
  worker, which then stops; the whole day is published at full speed (the registry again, then
  declarations and scans), and the group's offset on the citizens topic is moved past the
  repeated registry, which the table already holds. **Baseline**: a bare aiokafka consume loop
  reads every message of truyvet.scans.v1 from the beginning, doing nothing with them. Then a
  worker (with sink) starts on the preloaded topics; the rate is scans / (last row stored in
  the warehouse - the worker's "Ready"), and, coarser, until the consumer group "truyvet" has
  committed the end offsets of every topic it consumes (Faust commits every ~3 s).
- **latency** (once, a fresh broker and data directory): the registry is loaded as above, the
  worker keeps running, and ``truyvet simulate`` publishes the day at a rate chosen so that
  scans arrive at ``--scan-rate`` (it paces all topics together: the registry again first, then
  declarations and scans). Once the group has no lag, the worker stops and its warehouse is
  read: contact latency = contacts.ingested_at - the Kafka CreateTime of the scan behind the
  contact's revision (revision = an offset in truyvet.verified-scans.v1, in the partition of the
  place), over the latest state of each edge (FINAL, not retracted). **Baseline**: scans alone,
  scans.ingested_at - the scan's CreateTime, through the same worker in the same run.

Checks: when the group's lag stops changing for ``--stall`` seconds, the run is reported as
STALLED with the committed offsets and the scans neither verified nor rejected, its figures
count what was done, and the script exits 1. Each throughput run prints how many scans were
verified and stored, which should equal the scans published (no rejections in a simulated day).

    .venv/bin/python bench/stream_pipeline.py                      # both parts, default sizes
    .venv/bin/python bench/stream_pipeline.py --repeats 3 --skip-latency
    .venv/bin/python bench/stream_pipeline.py --profile            # one throughput run under cProfile
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

# The process and CPU helpers of the declarations benchmark, shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import declarations as harness  # noqa: E402
from streams.topics import (CITIZENS, CONTACTS, DEADLETTER, DECLARATIONS, REJECTIONS, SCANS,  # noqa: E402
                            VERIFIED_SCANS)

REPO = harness.REPO
TRUYVET = Path(sys.executable).with_name("truyvet")
GROUP = "truyvet"  # streams.app.APP_ID: Faust's consumer group
# Every topic the worker's group consumes but the registry: the work is done when all are committed.
PIPELINE_TOPICS = (SCANS, DECLARATIONS, VERIFIED_SCANS, CONTACTS, REJECTIONS)
BUDGET_RATE = 20_000
BUDGET_P95_S = 2.0
READY = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \[\d+\] \[INFO\] \[\^Worker\]: Ready")


@dataclass
class Throughput:
    repetition: int
    scans: int  # published to truyvet.scans.v1
    declarations: int
    raw_rate: float  # bare consume loop, messages/s (median of --raw-repeats)
    stored_s: float  # worker Ready -> last row stored in the warehouse
    committed_s: float  # worker Ready -> group committed at every end offset (seen by polling)
    cpu: dict[str, float]  # cores over Ready -> committed
    cpu_seconds: dict[str, float]
    rows: dict[str, int]  # warehouse rows per table
    verified: int  # messages in truyvet.verified-scans.v1
    contact_messages: int
    dead_letters: int
    registry_s: float  # the registry load (phase one), Ready -> citizens committed
    startup_s: float  # worker start -> Ready
    stages: dict[str, float]  # per consumed topic: Ready -> the first poll that found no lag
    first_output: dict[str, float | None]  # per produced topic: Ready -> its first message
    stalled: str | None = None  # what was left undone when the lag stopped moving

    @property
    def rate(self) -> float:
        return self.scans / self.stored_s

    @property
    def committed_rate(self) -> float:
        return self.scans / self.committed_s


@dataclass
class Latency:
    events_rate: float  # --rate given to truyvet simulate
    scans: int
    scan_rate: float  # scans per second as published (CreateTime span)
    publish_s: float
    drain_s: float  # simulate's end -> no lag
    contacts: list[float] = field(default_factory=list)  # seconds, latest state of each edge
    contact_rows: list[float] = field(default_factory=list)  # seconds, every row still present
    scan_latencies: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    unmatched: int = 0  # contacts whose scan was not found
    stalled: str | None = None


def main() -> int:
    args = _arguments()
    if args.query_warehouse:
        return _query_warehouse(args.query_warehouse)
    workdir = Path(tempfile.mkdtemp(prefix="truyvet-bench-stream-"))
    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so the finally below stops what we started.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    started: list = []  # brokers and workers still to stop
    try:
        print(f"conditions: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {date.today()}, "
              f"code at {_revision()} (working tree), broker on 127.0.0.1:{args.kafka_port}, work in {workdir}"
              + (f", worker environment {' '.join(args.worker_env)}" if args.worker_env else ""), flush=True)
        if args.profile:
            run = _throughput(1, args, workdir, started, profile=workdir / "worker.prof")
            _print_throughput(run)
            _print_profile(workdir / "worker.prof", args.profile_top)
            return 0
        runs = []
        if not args.skip_throughput:
            for repetition in range(1, args.repeats + 1):
                runs.append(_throughput(repetition, args, workdir, started))
                _print_throughput(runs[-1])
        latency = None if args.skip_latency else _latency(args, workdir, started)
        return _summary(runs, latency, args)
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        for thing in reversed(started):
            thing.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--citizens", type=int, default=5000,
                        help="people in the simulated province, throughput part [5000: ~11k scans; "
                        "50000 gives ~110k, which takes ~30 min at today's rate]")
    parser.add_argument("--places", type=int, default=100, help="places, throughput part [100: 50 people a place]")
    parser.add_argument("--seed", type=int, default=1, help="truyvet simulate --seed [1]")
    parser.add_argument("--repeats", type=int, default=1, help="throughput repetitions, each on a fresh broker [1]")
    parser.add_argument("--raw-repeats", type=int, default=3, help="baseline consume loops per repetition [3]")
    parser.add_argument("--latency-citizens", type=int, default=5000, help="people, latency part [5000]")
    parser.add_argument("--latency-places", type=int, default=100, help="places, latency part [100]")
    parser.add_argument("--scan-rate", type=float, default=5000.0,
                        help="scans per second to publish in the latency part [5000]; truyvet simulate's "
                        "--rate (all topics) is derived from the day's mix of scans and declarations")
    parser.add_argument("--latency-duration", type=float, default=30.0,
                        help="at most this many seconds of the day's events (after the registry) [30]; "
                        "5000 citizens have ~2.5 s of scans at 5,000/s")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds to wait for the worker to catch up before giving up [1800]")
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an extra environment variable for the workers, e.g. a Faust setting such as "
                        "PRODUCER_LINGER=0.01 (Faust reads its settings from the environment); repeatable")
    parser.add_argument("--stall", type=float, default=120.0,
                        help="seconds without any change in the group's lag after which the run is reported "
                        "as stalled, with what was left undone [120]")
    parser.add_argument("--kafka-port", type=int, default=38092, help="the dedicated broker's port [38092]")
    parser.add_argument("--profile", action="store_true",
                        help="instead: one throughput run with the worker under cProfile (its main thread: "
                        "the asyncio loop running the agents), then the top functions")
    parser.add_argument("--profile-top", type=int, default=25, help="functions to print [25]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, warehouses)")
    parser.add_argument("--query-warehouse", metavar="URL", help=argparse.SUPPRESS)  # internal, see below
    args = parser.parse_args()
    if args.stall < 10:
        parser.error("--stall must cover several of Faust's commits (every ~3 s): 10 s or more")
    return args


# -- the throughput part ---------------------------------------------------------------------------


def _throughput(repetition: int, args: argparse.Namespace, workdir: Path, started: list,
                profile: Path | None = None) -> Throughput:
    home = workdir / f"throughput-{repetition}"
    broker = _start_broker(home, args.kafka_port, started)
    env = _env(home, broker.bootstrap, args.worker_env)
    sizes = ["--citizens", str(args.citizens), "--places", str(args.places), "--seed", str(args.seed)]
    print(f"[throughput {repetition}] loading the registry ({args.citizens} citizens)", flush=True)
    registry_s, worker = _load_registry(sizes, args, env, home, started)
    worker.stop()

    print(f"[throughput {repetition}] publishing the day at full speed", flush=True)
    began = time.monotonic()
    published = _simulate(sizes + ["--rate", "1000000"], env, home / "simulate.log")
    print(f"  published {published} in {time.monotonic() - began:.1f} s", flush=True)
    # The day repeats the registry before its events; the table holds it already (same seed).
    _skip_to_end(broker.bootstrap, CITIZENS)

    raw = [_raw_consume(broker.bootstrap, SCANS) for _ in range(args.raw_repeats)]
    raw_rate = statistics.median(count / seconds for count, seconds in raw)
    print(f"  baseline: bare aiokafka loop read {raw[0][0]} scans, "
          + ", ".join(f"{count / seconds:,.0f}/s" for count, seconds in raw), flush=True)

    print(f"[throughput {repetition}] worker{' under cProfile' if profile else ''} on the preloaded topics",
          flush=True)
    worker = Worker(home / "worker.log", env, profile=profile)
    started.append(worker)
    ready = worker.wait_ready(args.timeout)
    groups = {"worker": worker.pid, "broker": broker.status().pid}
    cpu_before, busy_before = harness._cpu(groups), harness._machine_busy()
    stalled = None
    try:
        done, zero_at = _wait_caught_up(broker.bootstrap, PIPELINE_TOPICS, worker, args.timeout, progress=True,
                                        stall=args.stall)
    except Stalled as stall:
        done, zero_at, stalled = stall.since, stall.zero_at, _describe_stall(broker.bootstrap, stall)
    cpu_after, busy_after = harness._cpu(groups), harness._machine_busy()
    worker.stop(signal.SIGINT if profile else signal.SIGTERM)
    cores = harness._cores(cpu_before, cpu_after, busy_before, busy_after, done - ready)
    cores["others"] = max(0.0, cores["machine"] - cores["worker"] - cores["broker"])

    ends = _topic_sizes(broker.bootstrap, (SCANS, DECLARATIONS, VERIFIED_SCANS, CONTACTS, DEADLETTER))
    tables = ("scans", "contacts", "crowd_exposures", "rejections")
    answers = _warehouse(env, [f"SELECT count(), toUnixTimestamp64Milli(max(ingested_at)) FROM {table}"
                               for table in tables])
    rows = {table: answer[0][0] for table, answer in zip(tables, answers)}
    last_stored = max(answer[0][1] for answer in answers if answer[0][0]) / 1000
    run = Throughput(
        repetition=repetition, scans=ends[SCANS], declarations=ends[DECLARATIONS], raw_rate=raw_rate,
        stored_s=last_stored - ready, committed_s=done - ready, cpu=cores,
        cpu_seconds={name: cpu_after[name] - cpu_before[name] for name in groups}, rows=rows,
        verified=ends[VERIFIED_SCANS], contact_messages=ends[CONTACTS], dead_letters=ends[DEADLETTER],
        registry_s=registry_s, startup_s=worker.startup_s,
        stages={topic: zero_at[topic] - ready for topic in (SCANS, VERIFIED_SCANS, CONTACTS) if topic in zero_at},
        first_output={topic: (None if first is None else first - ready) for topic, first in
                      ((topic, _first_time(broker.bootstrap, topic)) for topic in (VERIFIED_SCANS, CONTACTS))},
        stalled=stalled,
    )
    broker.stop()
    return run


def _load_registry(sizes: list[str], args: argparse.Namespace, env: dict[str, str], home: Path,
                   started: list) -> tuple[float, "Worker"]:
    """Publish only the registry (simulate sends it first) and let a worker load it.

    Returns the seconds from the worker's Ready to the citizens topic committed, and the worker,
    still running. It has also applied the warehouse migrations, which are not measured then.
    """
    citizens = sizes[sizes.index("--citizens") + 1]
    # --rate N --duration 1 publishes exactly the first N events: the N registry records.
    _simulate(sizes + ["--rate", citizens, "--duration", "1"], env, home / "simulate-registry.log")
    worker = Worker(home / "worker-registry.log", env)
    started.append(worker)
    ready = worker.wait_ready(args.timeout)
    done, _ = _wait_caught_up(env["TRUYVET_KAFKA_BOOTSTRAP"], (CITIZENS,), worker, args.timeout)
    print(f"  registry loaded by the worker in {done - ready:.1f} s after Ready "
          f"(~{int(citizens) / (done - ready):,.0f} records/s, commits every ~3 s)", flush=True)
    return done - ready, worker


# -- the latency part ------------------------------------------------------------------------------


def _latency(args: argparse.Namespace, workdir: Path, started: list) -> Latency:
    home = workdir / "latency"
    broker = _start_broker(home, args.kafka_port, started)
    env = _env(home, broker.bootstrap, args.worker_env)
    sizes = ["--citizens", str(args.latency_citizens), "--places", str(args.latency_places),
             "--seed", str(args.seed)]
    share = _scan_share(sizes, env)
    rate = args.scan_rate / share
    duration = args.latency_citizens / rate + args.latency_duration
    print(f"[latency] loading the registry ({args.latency_citizens} citizens); then simulate --rate {rate:.0f} "
          f"(scans are {100 * share:.1f} % of the day's events) --duration {duration:.1f}", flush=True)
    _, worker = _load_registry(sizes, args, env, home, started)  # it goes on as the measured worker
    groups = {"worker": worker.pid, "broker": broker.status().pid}
    cpu_before, busy_before = harness._cpu(groups), harness._machine_busy()
    began = time.time()  # epoch seconds, like the caught-up time and the timestamps
    _simulate(sizes + ["--rate", f"{rate:.3f}", "--duration", f"{duration:.3f}"], env, home / "simulate.log")
    ended = time.time()
    cpu = harness._cores(cpu_before, harness._cpu(groups), busy_before, harness._machine_busy(), ended - began)
    cpu["others"] = max(0.0, cpu["machine"] - cpu["worker"] - cpu["broker"])  # simulate included
    print(f"  published in {ended - began:.1f} s; waiting for the worker to catch up", flush=True)
    stalled = None
    try:
        caught_up, _ = _wait_caught_up(broker.bootstrap, PIPELINE_TOPICS, worker, args.timeout, progress=True,
                                       stall=args.stall)
    except Stalled as stall:
        caught_up, stalled = stall.since, _describe_stall(broker.bootstrap, stall)
        print(f"  STALLED: {stalled}", flush=True)
    worker.stop()

    scans_topic = _read_topic(broker.bootstrap, SCANS)
    verified_topic = _read_topic(broker.bootstrap, VERIFIED_SCANS)
    created = {json.loads(value)["event_id"]: timestamp for _, _, timestamp, _, value in scans_topic}
    at_offset = {(partition, offset): json.loads(value)["event_id"]
                 for partition, offset, _, _, value in verified_topic}
    partition_of = {key.decode(): partition for partition, _, _, key, _ in verified_topic}
    contacts, rows, scans = _warehouse(env, [
        "SELECT place_id, revision, toUnixTimestamp64Milli(ingested_at) FROM contacts FINAL WHERE NOT retracted",
        "SELECT place_id, revision, toUnixTimestamp64Milli(ingested_at) FROM contacts",
        "SELECT event_id, toUnixTimestamp64Milli(ingested_at) FROM scans",
    ])
    times = sorted(created.values())
    result = Latency(events_rate=rate, scans=len(created), publish_s=ended - began,
                     scan_rate=len(times) / max((times[-1] - times[0]) / 1000, 1e-9),
                     drain_s=caught_up - ended, cpu=cpu, stalled=stalled)

    def contact_latencies(found: Iterable) -> tuple[list[float], int]:
        """Seconds from each contact's scan to its row; and how many rows had no scan to match."""
        out, unmatched = [], 0
        for place_id, revision, ingested in found:
            event_id = at_offset.get((partition_of.get(place_id), revision))
            if event_id is None or event_id not in created:
                unmatched += 1
                continue
            out.append((ingested - created[event_id]) / 1000)
        return out, unmatched

    result.contacts, result.unmatched = contact_latencies(contacts)
    result.contact_rows, _ = contact_latencies(rows)
    result.scan_latencies = [(ingested - created[event_id]) / 1000 for event_id, ingested in scans
                             if event_id in created]
    broker.stop()
    return result


def _scan_share(sizes: list[str], env: dict[str, str]) -> float:
    """Scans among the day's events (registry excluded), from ``truyvet simulate --dry-run``."""
    done = subprocess.run([str(TRUYVET), "simulate", *sizes, "--dry-run"], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    counts: dict[str, int] = {}
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2].isdigit():
            counts[parts[0]] = counts.get(parts[0], 0) + int(parts[2])
    return counts[SCANS] / (counts[SCANS] + counts.get(DECLARATIONS, 0))


# -- processes -------------------------------------------------------------------------------------


class Worker:
    """``truyvet worker`` (with sink) in its own session, optionally under cProfile."""

    def __init__(self, log: Path, env: dict[str, str], profile: Path | None = None) -> None:
        self.log = log
        command = [str(TRUYVET), "worker"]
        if profile is not None:
            command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
        self.began = time.time()
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid
        self.startup_s = 0.0

    def wait_ready(self, timeout: float) -> float:
        """Wait for Faust's "[^Worker]: Ready" (agents started, tables recovered); its time, epoch seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the worker exited with {self.process.returncode}:\n{harness._tail(self.log)}")
            for line in self.log.read_text(errors="replace").splitlines():
                found = READY.match(line)
                if found:
                    ready = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    self.startup_s = ready - self.began
                    return ready
            time.sleep(0.05)
        raise SystemExit(f"the worker was not ready within {timeout:.0f}s:\n{harness._tail(self.log)}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait()


def _revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "?"


def _start_broker(home: Path, port: int, started: list):
    from streams.topics import ensure_topics
    from truyvet.broker import LocalBroker

    broker = LocalBroker(home=home / "kafka", port=port)
    started.append(broker)
    broker.start()
    ensure_topics([broker.bootstrap])
    return broker


def _env(home: Path, bootstrap: str, extra: Iterable[str] = ()) -> dict[str, str]:
    """The settings of every process we start: this run's data directory and broker, retention 0."""
    (home / "data").mkdir(parents=True, exist_ok=True)
    return os.environ | {"TRUYVET_DATA_DIR": str(home / "data"), "TRUYVET_KAFKA_BOOTSTRAP": bootstrap,
                         "TRUYVET_RETENTION_DAYS": "0", "TRUYVET_CLICKHOUSE_URL": ""} | dict(
        item.split("=", 1) for item in extra)


def _simulate(options: list[str], env: dict[str, str], log: Path) -> int:
    """Run ``truyvet simulate``; the number of events Kafka acknowledged."""
    done = subprocess.run([str(TRUYVET), "simulate", *options], cwd=REPO, env=env, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    found = re.search(r"kafka: (\d+) of (\d+) events acknowledged", done.stdout)
    if done.returncode != 0 or not found or found.group(1) != found.group(2):
        raise SystemExit(f"truyvet simulate failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return int(found.group(1))


# -- Kafka -----------------------------------------------------------------------------------------


def _lag(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """Per topic: messages the group has not committed yet (end offsets - committed offsets)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    try:
        committed = admin.list_group_offsets({GROUP: None}).get(GROUP, {})
        partitions = [TopicPartition(topic, p) for topic in topics for p in consumer.partitions_for_topic(topic)]
        lag: dict[str, int] = {}
        for tp, end in consumer.end_offsets(partitions).items():
            mine = committed.get(tp)
            lag[tp.topic] = lag.get(tp.topic, 0) + end - (mine.offset if mine is not None and mine.offset >= 0 else 0)
        return lag
    finally:
        consumer.close()
        admin.close()


class Stalled(Exception):
    """The group's lag stopped changing before it reached zero."""

    def __init__(self, lag: dict[str, int], since: float, zero_at: dict[str, float]) -> None:
        super().__init__(f"lag {lag} unchanged since {since:.0f}")
        self.lag, self.since, self.zero_at = lag, since, zero_at


def _wait_caught_up(bootstrap: str, topics: Iterable[str], worker: Worker, timeout: float,
                    progress: bool = False, stall: float | None = None) -> tuple[float, dict[str, float]]:
    """Poll until the group has committed every end offset of ``topics``, twice in a row.

    Returns that time (the first of the two polls, epoch seconds) and, per topic, the first
    poll of its last stretch without lag: when that stage had done all its work. Raises
    :class:`Stalled` when the lag has not changed for ``stall`` seconds.
    """
    topics = tuple(topics)
    deadline = time.monotonic() + timeout
    shown = time.monotonic()
    zero_since = None
    zero_at: dict[str, float] = {}
    last_lag: dict[str, int] = {}
    changed = time.time()
    while time.monotonic() < deadline:
        if not worker.alive():
            raise SystemExit(f"the worker exited with {worker.process.returncode}:\n{harness._tail(worker.log)}")
        lag = _lag(bootstrap, topics)
        now = time.time()
        if lag != last_lag:
            last_lag, changed = lag, now
        elif stall is not None and now - changed > stall:
            raise Stalled(lag, changed, zero_at)
        for topic, count in lag.items():
            if count:
                zero_at.pop(topic, None)
            else:
                zero_at.setdefault(topic, now)
        if not any(lag.values()):
            if zero_since is not None:
                return zero_since, zero_at
            zero_since = now
        else:
            zero_since = None
        if progress and time.monotonic() - shown > 10:
            shown = time.monotonic()
            print("    lag: " + ", ".join(f"{topic.split('.')[1]} {count}" for topic, count in lag.items()), flush=True)
        time.sleep(0.25)
    raise SystemExit(f"the worker did not catch up within {timeout:.0f}s: lag {_lag(bootstrap, topics)}")


def _describe_stall(bootstrap: str, stall: Stalled) -> str:
    """What the group left undone: per lagging topic, committed/end per partition; scans never verified."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    try:
        committed = admin.list_group_offsets({GROUP: None}).get(GROUP, {})
        parts = []
        for topic in (topic for topic, count in stall.lag.items() if count):
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
            ends = consumer.end_offsets(partitions)
            parts.append(f"{topic} committed/end by partition " + " ".join(
                f"{committed[tp].offset if tp in committed else '-'}/{ends[tp]}" for tp in partitions))
    finally:
        consumer.close()
        admin.close()
    if stall.lag.get(SCANS):
        passed = {json.loads(value)["event_id"] for topic in (VERIFIED_SCANS, REJECTIONS)
                  for *_, value in _read_topic(bootstrap, topic)}
        missing = [(partition, offset) for partition, offset, _, _, value in _read_topic(bootstrap, SCANS)
                   if json.loads(value)["event_id"] not in passed]
        parts.append(f"{len(missing)} scans neither verified nor rejected, at (partition, offset) "
                     + " ".join(f"{p}:{o}" for p, o in sorted(missing)[:30]) + (" ..." if len(missing) > 30 else ""))
    return f"lag unchanged for {time.time() - stall.since:.0f} s: {stall.lag}; " + "; ".join(parts)


def _skip_to_end(bootstrap: str, topic: str) -> None:
    """Commit the group's offsets of ``topic`` at its end (the group has no member now)."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
        errors = admin.alter_group_offsets(GROUP, {tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
        failed = {tp: error for tp, error in errors.items() if error.__name__ != "NoError"}
        if failed:
            raise SystemExit(f"could not move the group past the repeated registry: {failed}")
    finally:
        admin.close()
        consumer.close()


def _partitions(bootstrap: str, topic: str) -> list[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    try:
        return sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()


def _topic_sizes(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    return {topic: harness._topic_size(bootstrap, topic) for topic in topics}


def _raw_consume(bootstrap: str, topic: str) -> tuple[int, float]:
    """The baseline: a bare aiokafka loop reads all of ``topic`` (no group); (messages, seconds)."""
    count, seconds, _ = asyncio.run(_consume_all(bootstrap, topic, keep=False))
    return count, seconds


def _read_topic(bootstrap: str, topic: str) -> list[tuple[int, int, int, bytes, bytes]]:
    """Every message of ``topic``: (partition, offset, CreateTime ms, key, value)."""
    return asyncio.run(_consume_all(bootstrap, topic, keep=True))[2]


def _first_time(bootstrap: str, topic: str) -> float | None:
    """When the first message of ``topic`` was written (its smallest CreateTime), epoch seconds."""
    found = asyncio.run(_consume_all(bootstrap, topic, keep=True, first_only=True))[2]
    return min(timestamp for _, _, timestamp, _, _ in found) / 1000 if found else None


async def _consume_all(bootstrap: str, topic: str, keep: bool,
                       first_only: bool = False) -> tuple[int, float, list]:
    """Read ``topic`` from the beginning to its end offsets (or each partition's first message), without a group.

    Returns (count, seconds, the messages if ``keep``).
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    partitions = [TopicPartition(topic, p) for p in _partitions(bootstrap, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    found: list = []
    try:
        ends = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        began = time.perf_counter()
        count = 0
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            for tp, messages in (await consumer.getmany(timeout_ms=1000)).items():
                count += len(messages)
                if keep:
                    found.extend((m.partition, m.offset, m.timestamp, m.key, m.value) for m in messages)
                if messages and (first_only or messages[-1].offset + 1 >= ends[tp]):
                    remaining.discard(tp)
        return count, time.perf_counter() - began, found
    finally:
        await consumer.stop()


# -- the warehouse ---------------------------------------------------------------------------------


def _warehouse(env: dict[str, str], queries: list[str]) -> list[list[list]]:
    """Rows of each query, read in a subprocess once the worker has stopped.

    chDB holds its directory for the life of the process that opened it, and this process opens
    one warehouse per repetition, so each is read in a short-lived child of its own.
    """
    url = f"chdb://{Path(env['TRUYVET_DATA_DIR']) / 'warehouse'}"
    done = subprocess.run([sys.executable, __file__, "--query-warehouse", url], cwd=REPO, env=env,
                          input=json.dumps(queries), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"reading the warehouse failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def _query_warehouse(url: str) -> int:
    from warehouse.client import connect

    client = connect(url)
    try:
        answers = [[list(row) for row in client.query(sql).result_rows] for sql in json.load(sys.stdin)]
    finally:
        client.close()
    json.dump(answers, sys.stdout, default=str)
    return 0


# -- output ----------------------------------------------------------------------------------------


def _print_throughput(run: Throughput) -> None:
    print(f"  rep {run.repetition}: {run.scans} scans (+{run.declarations} declarations) in {run.stored_s:.1f} s: "
          f"{run.rate:,.0f} scans/s to the last row stored ({run.committed_rate:,.0f}/s to the last commit, "
          f"{run.committed_s:.1f} s); baseline {run.raw_rate:,.0f} msg/s; ratio {run.rate / run.raw_rate:.4f}",
          flush=True)
    print(f"         cores: worker {run.cpu['worker']:.2f} broker {run.cpu['broker']:.2f} "
          f"others {run.cpu['others']:.2f}; worker CPU {1e6 * run.cpu_seconds['worker'] / run.scans:.0f} us/scan; "
          f"worker start -> Ready {run.startup_s:.1f} s", flush=True)
    print(f"         verified {run.verified}, contact messages {run.contact_messages} "
          f"({run.contact_messages / max(run.verified, 1):.1f} per scan), dead letters {run.dead_letters}; "
          f"warehouse rows: " + ", ".join(f"{table} {count}" for table, count in run.rows.items()), flush=True)
    first = {topic: "-" if at is None else f"{at:.1f} s" for topic, at in run.first_output.items()}
    stage = {topic: "never" if topic not in run.stages else f"{run.stages[topic]:.1f} s"
             for topic in (SCANS, VERIFIED_SCANS, CONTACTS)}
    verify = f" ({run.scans / run.stages[SCANS]:,.0f} scans/s)" if SCANS in run.stages else ""
    print(f"         after Ready: first verified scan {first[VERIFIED_SCANS]}, first contact {first[CONTACTS]}; "
          f"no lag on scans (verify) at {stage[SCANS]}{verify}, verified-scans (co-locate, scan sink) "
          f"{stage[VERIFIED_SCANS]}, contacts (contact sink) {stage[CONTACTS]}", flush=True)
    if run.stalled:
        print(f"         STALLED: {run.stalled}", flush=True)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _summary(runs: list[Throughput], latency: Latency | None, args: argparse.Namespace) -> int:
    """Medians and budgets; 1 if the worker stalled in any run (work left undone), else 0."""
    print()
    if runs:
        rate = statistics.median(run.rate for run in runs)
        raw = statistics.median(run.raw_rate for run in runs)
        print(f"throughput: median of {len(runs)} run(s), {os.cpu_count()} cores, --citizens {args.citizens} "
              f"--places {args.places} --seed {args.seed}: {runs[0].scans} scans, {runs[0].declarations} declarations")
        print(f"  baseline (bare aiokafka consume of {SCANS})  {raw:>10,.0f} msg/s")
        print(f"  one worker, verify + co-locate + sink              {rate:>10,.0f} scans/s "
              f"({statistics.median(run.committed_rate for run in runs):,.0f}/s to the last commit)")
        print(f"  ratio worker/baseline                              {rate / raw:>10.4f}")
        print(f"  cores: worker {statistics.median(run.cpu['worker'] for run in runs):.2f}, broker "
              f"{statistics.median(run.cpu['broker'] for run in runs):.2f}, others "
              f"{statistics.median(run.cpu['others'] for run in runs):.2f}; worker CPU "
              f"{statistics.median(1e6 * run.cpu_seconds['worker'] / run.scans for run in runs):,.0f} us/scan; "
              f"contact messages per scan {statistics.median(run.contact_messages / max(run.verified, 1) for run in runs):.1f}")
        print(f"  budget >= {BUDGET_RATE:,} scans/s per worker: {'met' if rate >= BUDGET_RATE else 'MISSED'}")
    if latency:
        print(f"latency: --latency-citizens {args.latency_citizens} --latency-places {args.latency_places}, "
              f"simulate --rate {latency.events_rate:.0f} (all topics): {latency.scans} scans at "
              f"{latency.scan_rate:,.0f} scans/s (asked {args.scan_rate:,.0f}); lag zero "
              f"{latency.drain_s:.1f} s after simulate ended")
        print(f"  cores while publishing: worker {latency.cpu['worker']:.2f}, broker {latency.cpu['broker']:.2f}, "
              f"others (truyvet simulate included) {latency.cpu['others']:.2f}")
        for label, values in (("scan -> scan row stored (baseline)", latency.scan_latencies),
                              ("scan -> contact queryable, latest state of each edge", latency.contacts),
                              ("scan -> contact, every state row present", latency.contact_rows)):
            print(f"  {label:<54} n {len(values):>7}  p50 {_percentile(values, 0.5):7.2f} s  "
                  f"p95 {_percentile(values, 0.95):7.2f} s  p99 {_percentile(values, 0.99):7.2f} s")
        if latency.unmatched:
            print(f"  ({latency.unmatched} contacts whose scan was not found: left out)")
        p95 = _percentile(latency.contacts, 0.95)
        print(f"  budget p95 < {BUDGET_P95_S:g} s at 5,000 scans/s: {'met' if p95 < BUDGET_P95_S else 'MISSED'}")
    stalled = [run.repetition for run in runs if run.stalled] + (["latency"] if latency and latency.stalled else [])
    if stalled:
        print(f"STALLED in {', '.join(map(str, stalled))}: the worker left work undone (see above); "
              "the figures count what it did")
        return 1
    return 0


def _print_profile(path: Path, top: int) -> None:
    import pstats

    print(f"\n== the worker's main thread under cProfile: top {top} by cumulative time ==")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(top)
    print(f"== top {top} by own time ==")
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
