"""Fault drill: the stream pipeline under load through a broker outage and a worker crash; every event accounted for.

Issue 11. Everything runs on a dedicated local broker (``LocalBroker``, port 38292 by default)
and in ``truyvet worker`` subprocesses (with sink, embedded chDB) in a temporary directory, with
the harness of ``stream_pipeline.py``. The drill:

1. starts a worker, then the load: ``truyvet simulate`` rounds back to back in a thread; lets it
   run ``--baseline`` seconds, then measures the steady state: how long the group takes to
   commit the topics' end offsets of that moment (the baseline of the catch-up times below);
2. stops the broker as ``LocalBroker.stop`` does (SIGTERM, clean; ``--kill-broker``: SIGKILL of
   the JVM), keeps it down ``--outage`` seconds, starts it again on the same data directory and
   times the catch-up (from the restart to the group's committed offsets reaching the topics'
   ends at that moment);
3. SIGKILLs the worker, starts a new one at once and times its catch-up the same way, and also
   to the ends at the new worker's Ready (what arrived while no worker ran: the killed one may
   have committed the ends of the restart already);
4. stops the load (the running round finishes its day), waits until the group has committed
   every end offset, stops the worker (SIGTERM) and reads the topics and, in a child process,
   the warehouse.

**The load.** One simulated day is ~20 s at 200 events/s, so the load is a series of days:
round k is ``--seed`` + k on day k of a run of past days (each round a new province's day, later
than the one before, so co-location never takes one round's scans for late ones of another).
``truyvet simulate`` stops at the first batch Kafka does not acknowledge and exits 1; the round
is then run again with the same seed, the recovery the README gives ("run again with the same
seed once Kafka is reachable"): the same events, ids included, go out a second time, so Kafka
holds copies that the sinks must store once.

The broker's port is in the kernel's ephemeral range, so a restart can find it held by a
client's TCP self-connection (seen here): the drill reports it and tries again each second.

**The accounting**, per kind: sent (what simulate tried, from its own counts and the same
seed's events, generated here as ``ingest.simulate`` makes them), accepted (what the topic
holds), stored (distinct ids in the warehouse), rejected, dead-lettered, lost = accepted -
stored - rejected - dead-lettered, and duplicates stored (rows without FINAL, with FINAL, after
OPTIMIZE ... FINAL). Contact states are derived: each edge's latest state published must be
the state ``contacts FINAL`` holds. Exit 1 when anything accepted is lost, when a reader would
see an event twice (FINAL), or when the worker stalls. Speed is printed, never asserted.

    .venv/bin/python bench/drill.py                                   # ~10 min here: 1,000 citizens at 200 events/s
    .venv/bin/python bench/drill.py --kill-broker                     # SIGKILL the broker JVM instead
    .venv/bin/python bench/drill.py --citizens 2000 --places 50 --rate 300
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

# The stream benchmark's harness (broker, worker, environment, topics, warehouse reads), shared
# rather than copied; several of its helpers are private to it (underscored) and used anyway.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import stream_pipeline as pipeline  # noqa: E402
from stream_pipeline import (GROUP, PIPELINE_TOPICS, REPO, TRUYVET, Stalled, Worker, _describe_stall,  # noqa: E402
                             _env, _read_topic, _start_broker, _wait_caught_up, _warehouse)
from streams.records import VIETNAM_TIME  # noqa: E402
from streams.topics import (CITIZENS, CONTACTS, DEADLETTER, DECLARATIONS, PARTITIONS, REJECTIONS,  # noqa: E402
                            SCANS, VERIFIED_SCANS)

harness = pipeline.harness
# Every topic the worker's group consumes that the load feeds, the registry included.
GROUP_TOPICS = (CITIZENS, *PIPELINE_TOPICS)
MAX_ROUNDS = 60  # past days the load may use, one per round
RETRY_PAUSE_S = 3.0
# What the worker logs when Faust skipped or held back offsets (streams/gapless.py), refused an
# event (dead letter), or could not write to the warehouse.
WORKER_WARNINGS = {"skipped offsets": "the consumer skipped offsets", "not delivered": "were not delivered",
                   "commits stopped": "commits stopped at", "dead letters": "refused (",
                   "warehouse retries": "warehouse write of"}


def main() -> int:
    args = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="truyvet-drill-"))
    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so the finally below stops what we started.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    started: list = []  # broker, workers and the load, still to stop
    try:
        load1, load5, _ = os.getloadavg()
        print(f"conditions: {os.cpu_count()} cores, load average {load1:.2f} (1 min) {load5:.2f} (5 min), "
              f"Python {sys.version.split()[0]}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, code at "
              f"{_revision()} (working tree), broker on 127.0.0.1:{args.kafka_port}, work in {workdir}", flush=True)
        print(f"load: truyvet simulate --citizens {args.citizens} --places {args.places} --rate {args.rate:g}, "
              f"rounds of one day each from seed {args.seed}; baseline {args.baseline:g} s, broker "
              f"{'SIGKILLed' if args.kill_broker else 'stopped cleanly'} for {args.outage:g} s, then the worker "
              "SIGKILLed", flush=True)
        return Drill(args, workdir, started).run()
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
    parser.add_argument("--citizens", type=int, default=1000, help="people per simulated day [1000: ~3,800 events]")
    parser.add_argument("--places", type=int, default=50, help="places per simulated day [50]")
    parser.add_argument("--rate", type=float, default=200.0, help="truyvet simulate --rate, events/s [200]")
    parser.add_argument("--seed", type=int, default=1, help="the first round's seed; round k uses seed + k [1]")
    parser.add_argument("--baseline", type=float, default=30.0, help="seconds of load before the broker stops [30]")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the broker stays down [30]")
    parser.add_argument("--kill-broker", action="store_true",
                        help="SIGKILL the broker JVM instead of stopping it cleanly (SIGTERM)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds to wait for any one catch-up before giving up [900]")
    parser.add_argument("--stall", type=float, default=120.0,
                        help="seconds without any change in the group's lag, once the load stopped, after which "
                        "the drill reports a stall [120]")
    parser.add_argument("--kafka-port", type=int, default=38292, help="the dedicated broker's port [38292]")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, warehouse)")
    args = parser.parse_args()
    if args.stall < 10:
        parser.error("--stall must cover several of Faust's commits (every ~3 s): 10 s or more")
    return args


# -- the load --------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One run of ``truyvet simulate``: one round's day, or that day again after a failure."""

    round: int
    attempt: int
    seed: int
    day: date
    began: float  # epoch seconds
    seconds: float
    returncode: int
    planned: int  # events of the day
    acknowledged: Counter[str]  # per topic, as simulate counted them
    not_acknowledged: Counter[str]  # per topic, those never sent included
    never_sent: int | None  # None: simulate's summary was missing (then all planned count as sent)


class Load:
    """Rounds of ``truyvet simulate`` back to back in a thread, until :meth:`finish`."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], home: Path, clock: "Clock") -> None:
        self.args, self.env, self.home, self.clock = args, env, home, clock
        yesterday = datetime.now(VIETNAM_TIME).date() - timedelta(days=1)
        self.first_day = yesterday - timedelta(days=MAX_ROUNDS - 1)
        self.attempts: list[Attempt] = []
        self._stopping = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self.ended: float | None = None

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Let the running round finish its day, start no other; wait for it."""
        self._stopping.set()
        self._thread.join()

    def stop(self) -> None:
        """Cleanup: end the running simulate now."""
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=15)

    def _run(self) -> None:
        for number in range(MAX_ROUNDS):
            attempt = 1
            while True:
                done = self._simulate(number, attempt)
                self.attempts.append(done)
                if done.returncode == 0 or self._stopping.is_set():
                    break
                attempt += 1
                if self._stopping.wait(RETRY_PAUSE_S):
                    break
            if self._stopping.is_set():
                break
        else:
            print(f"  the load used all {MAX_ROUNDS} days it has and stopped", flush=True)
        self.ended = time.time()

    def _simulate(self, number: int, attempt: int) -> Attempt:
        seed, day = self.args.seed + number, self.first_day + timedelta(days=number)
        command = [str(TRUYVET), "simulate", "--citizens", str(self.args.citizens), "--places", str(self.args.places),
                   "--rate", f"{self.args.rate:g}", "--seed", str(seed), "--start", day.isoformat()]
        out, err = (self.home / f"simulate-{number}-{attempt}.{kind}" for kind in ("out", "err"))
        began = time.time()
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            self._process = subprocess.Popen(command, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                             stdout=stdout, stderr=stderr, start_new_session=True)
            returncode = self._process.wait()
        done = _parse_simulate(number, attempt, seed, day, began, returncode, out.read_text(errors="replace"),
                               err.read_text(errors="replace"))
        acked, failed = sum(done.acknowledged.values()), sum(done.not_acknowledged.values())
        print(f"  {self.clock.at(began + done.seconds)} simulate round {number} (seed {seed}, {day})"
              + (f" again ({attempt})" if attempt > 1 else "") + f": exit {returncode} after {done.seconds:.1f} s, "
              f"{acked:,} of {done.planned:,} acknowledged"
              + (f", {failed:,} not ({done.never_sent:,} never sent)" if failed else "")
              + ("" if done.never_sent is not None else "; NO SUMMARY (all its events count as sent), it said: "
                 + " | ".join(_last_lines(err.read_text(errors="replace")))), flush=True)
        return done


def _parse_simulate(number: int, attempt: int, seed: int, day: date, began: float, returncode: int,
                    stdout: str, stderr: str) -> Attempt:
    """What simulate said it did: its header, its per-topic acknowledgements, events never sent."""
    planned = re.search(r"; (\d+) of (\d+) events$", stdout, re.MULTILINE)
    acknowledged: Counter[str] = Counter()
    not_acknowledged: Counter[str] = Counter()
    for topic, acked, failed in re.findall(r"^kafka: ([\w.-]+): (\d+) acknowledged(?:, (\d+) NOT acknowledged)?$",
                                           stdout, re.MULTILINE):
        acknowledged[topic], not_acknowledged[topic] = int(acked), int(failed or 0)
    summary = re.search(r"^kafka: \d+ of \d+ events acknowledged", stdout, re.MULTILINE)
    unsent = re.search(r"(\d+) event\(s\) never sent", stderr)
    return Attempt(round=number, attempt=attempt, seed=seed, day=day, began=began, seconds=time.time() - began,
                   returncode=returncode, planned=int(planned.group(1)) if planned else 0,
                   acknowledged=acknowledged, not_acknowledged=not_acknowledged,
                   never_sent=(int(unsent.group(1)) if unsent else 0) if summary else None)


def _last_lines(stderr: str, count: int = 3) -> list[str]:
    """The end of simulate's stderr without its progress line (redrawn with carriage returns)."""
    lines = [line.strip() for line in stderr.replace("\r", "\n").splitlines()]
    return [line for line in lines if line and not re.fullmatch(r"\d+/\d+ events, \d+/s", line)][-count:]


# -- the drill -------------------------------------------------------------------------------------


class Clock:
    """Times as seconds since the drill began, for one readable timeline."""

    def __init__(self) -> None:
        self.began = time.time()

    def at(self, when: float | None = None) -> str:
        return f"+{(time.time() if when is None else when) - self.began:6.1f} s"


@dataclass
class Timing:
    steady_s: float = 0.0  # baseline: committed offsets past the ends of a moment under load
    steady_behind: int = 0
    broker_stop_s: float = 0.0
    broker_down_s: float = 0.0
    broker_start_s: float = 0.0
    broker_catch_up_s: float = 0.0
    broker_behind: int = 0
    worker_ready_s: float = 0.0
    worker_catch_up_s: float = 0.0  # restart -> the ends at the restart committed
    worker_behind: int = 0
    worker_ready_catch_up_s: float = 0.0  # restart -> the ends at Ready committed
    worker_ready_behind: int = 0
    drain_s: float = 0.0  # the load's end -> no lag
    busy: dict[str, float] = field(default_factory=dict)  # machine cores busy, per phase
    findings: list[str] = field(default_factory=list)  # what went wrong besides the faults we caused


class Drill:
    """The four steps on one broker and data directory, with the timeline they print."""

    def __init__(self, args: argparse.Namespace, home: Path, started: list) -> None:
        self.args, self.home, self.started = args, home, started
        self.clock = Clock()
        self.timing = Timing()
        self.workers = 0
        self.broker = None
        self.worker: Worker | None = None
        self._exit_noted = False
        self._phase = ("start", harness._machine_busy())

    def run(self) -> int:
        args = self.args
        self._start_broker(first=True)
        self.env = _env(self.home, self.broker.bootstrap)
        self._new_worker("first")
        load = Load(args, self.env, self.home, self.clock)
        self.started.append(load)
        load.start()
        self._next_phase("baseline")
        print(f"{self.clock.at()} [1] load running; baseline for {args.baseline:g} s", flush=True)
        self._sleep(args.baseline)
        began = time.time()
        [(self.timing.steady_s, self.timing.steady_behind)] = self._until_passed(began, [self._ends()])
        print(f"{self.clock.at()}     steady state: the group committed the ends of {self.clock.at(began)} "
              f"{self.timing.steady_s:.1f} s later ({self.timing.steady_behind:,} messages behind then)", flush=True)

        self._next_phase("broker outage")
        self._outage()
        self._next_phase("broker catch-up")
        restarted = time.time()
        [(self.timing.broker_catch_up_s, self.timing.broker_behind)] = self._until_passed(restarted, [self._ends()])
        print(f"{self.clock.at()}     caught up {self.timing.broker_catch_up_s:.1f} s after the broker restart "
              f"({self.timing.broker_behind:,} messages behind then)", flush=True)

        self._next_phase("worker crash")
        print(f"{self.clock.at()} [3] SIGKILL to the worker (pid {self.worker.pid})", flush=True)
        os.kill(self.worker.pid, signal.SIGKILL)
        self.worker.process.wait()
        self._new_worker("after SIGKILL", wait=False)
        restarted = self.worker.began
        at_restart = self._ends()
        self.worker.wait_ready(self.args.timeout)
        self.timing.worker_ready_s = self.worker.startup_s
        print(f"{self.clock.at()}     worker {self.workers} Ready after {self.worker.startup_s:.1f} s", flush=True)
        # The ends at the restart may have been committed by the killed worker already; those at
        # Ready hold what arrived while no worker ran.
        [(self.timing.worker_catch_up_s, self.timing.worker_behind),
         (self.timing.worker_ready_catch_up_s, self.timing.worker_ready_behind)] = self._until_passed(
            restarted, [at_restart, self._ends()])
        print(f"{self.clock.at()}     caught up {self.timing.worker_catch_up_s:.1f} s after the restart with the ends "
              f"of the restart ({self.timing.worker_behind:,} messages behind), "
              f"{self.timing.worker_ready_catch_up_s:.1f} s after it with those of Ready "
              f"({self.timing.worker_ready_behind:,} behind)", flush=True)

        self._next_phase("last rounds")
        print(f"{self.clock.at()} [4] stopping the load after its running round", flush=True)
        load.finish()
        self._next_phase("drain")
        stalled = None
        print(f"{self.clock.at(load.ended)}     load stopped; waiting for no lag on every topic of the group",
              flush=True)
        try:
            caught_up, _ = _wait_caught_up(self.broker.bootstrap, GROUP_TOPICS, self.worker, args.timeout,
                                           progress=True, stall=args.stall)
        except Stalled as stall:
            caught_up, stalled = stall.since, _describe_stall(self.broker.bootstrap, stall)
            print(f"  STALLED: {stalled}", flush=True)
        self.timing.drain_s = caught_up - load.ended
        print(f"{self.clock.at(caught_up)}     no lag, {self.timing.drain_s:.1f} s after the load stopped; "
              "stopping the worker", flush=True)
        self.worker.stop()
        self._next_phase("end")
        return _report(self, load, stalled)

    # -- steps -------------------------------------------------------------------------------------

    def _outage(self) -> None:
        pid = self.broker.status().pid
        began = time.time()
        if self.args.kill_broker:
            print(f"{self.clock.at()} [2] SIGKILL to the broker JVM (pid {pid})", flush=True)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # our child: LocalBroker.start spawned it in this process
        else:
            print(f"{self.clock.at()} [2] stopping the broker (pid {pid}) as LocalBroker.stop does", flush=True)
            self.broker.stop()
        down = time.time()
        self.timing.broker_stop_s = down - began
        print(f"{self.clock.at()}     broker down ({self.timing.broker_stop_s:.1f} s to exit); "
              f"up again in {self.args.outage:g} s", flush=True)
        self._sleep(self.args.outage, broker_down=True)
        started = time.time()
        self.timing.broker_down_s = started - down
        self._start_broker(first=False)
        self.timing.broker_start_s = time.time() - started
        print(f"{self.clock.at()}     broker back (pid {self.broker.status().pid}, {self.timing.broker_start_s:.1f} s "
              f"to answer); timing the catch-up", flush=True)

    def _start_broker(self, first: bool) -> None:
        """Start the broker (again: on the same home, data directory and cluster id), retrying while its port is held.

        The port is in the kernel's ephemeral range (32768-60999 here), so it may be held by
        another connection's local end, such as a client's TCP self-connection: a client
        reconnecting to the stopped broker can be given that very port as its own and connect
        to itself. The broker then cannot bind. That is a finding, and the drill tries again
        each second, as an operator would.
        """
        from truyvet.broker import BrokerError

        deadline = time.monotonic() + 120
        log_file = self.home / "kafka" / "server.log"  # LocalBroker(home / "kafka").log_file
        while True:
            logged = log_file.stat().st_size if log_file.exists() else 0
            try:
                if first:
                    self.broker = _start_broker(self.home, self.args.kafka_port, self.started)
                else:
                    self.broker.start()
                return
            except BrokerError:
                with open(log_file, "rb") as log:
                    log.seek(logged)
                    refused = b"Address already in use" in log.read()
                if not refused or time.monotonic() > deadline:
                    raise
            holders = _port_holders(self.args.kafka_port) or "a socket since closed"
            finding = (f"the {'' if first else 're'}started broker could not bind 127.0.0.1:{self.args.kafka_port} "
                       f"at {self.clock.at()}: held by {holders}")
            self.timing.findings.append(finding)
            print(f"  FINDING: {finding}; trying again in 1 s", flush=True)
            time.sleep(1)

    def _new_worker(self, why: str, wait: bool = True) -> None:
        self.workers += 1
        self.worker = Worker(self.home / f"worker-{self.workers}.log", self.env)
        self.started.append(self.worker)
        print(f"{self.clock.at()}     worker {self.workers} started ({why}), pid {self.worker.pid}", flush=True)
        if wait:
            self.worker.wait_ready(self.args.timeout)
            print(f"{self.clock.at()}     worker {self.workers} Ready after {self.worker.startup_s:.1f} s", flush=True)

    def _check_worker(self, restart: bool = True) -> None:
        """A worker that exits without being told to is a finding: note it, and start another as a supervisor would."""
        if self.worker.alive():
            return
        if not self._exit_noted:
            crash = (f"worker {self.workers} exited by itself with {self.worker.process.returncode} at "
                     f"{self.clock.at()} ({self._phase[0]}): {harness._tail(self.worker.log, 3)}")
            self.timing.findings.append(crash)
            print(f"  FINDING: {crash}", flush=True)
            self._exit_noted = True
        if restart:
            self._new_worker("the one before exited", wait=False)
            self._exit_noted = False

    def _sleep(self, seconds: float, broker_down: bool = False) -> None:
        """Wait, watching the worker; with the broker down a new one could not start, so it is started after."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._check_worker(restart=not broker_down)
            time.sleep(0.5)

    def _ends(self) -> dict:
        """The end offset of every partition the group reads that holds anything, now."""
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaError

        deadline = time.monotonic() + 60
        consumer = KafkaConsumer(bootstrap_servers=[self.broker.bootstrap])
        try:
            while True:  # right after a restart, metadata and leaders may take a moment
                try:
                    partitions = [TopicPartition(topic, p) for topic in GROUP_TOPICS
                                  for p in consumer.partitions_for_topic(topic) or ()]
                    if len(partitions) == len(GROUP_TOPICS) * PARTITIONS:
                        return {tp: end for tp, end in consumer.end_offsets(partitions).items() if end > 0}
                except KafkaError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"the broker did not give the end offsets of every partition of {GROUP_TOPICS}")
                time.sleep(0.25)
        finally:
            consumer.close()

    def _until_passed(self, since: float, targets: list[dict]) -> list[tuple[float, int]]:
        """Per target (end offsets of a moment), seconds from ``since`` until the group had committed them.

        Also how many messages the group was behind each target at the first poll.
        """
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.args.timeout
        admin = KafkaAdminClient(bootstrap_servers=[self.broker.bootstrap])
        found: list[tuple[float, int] | None] = [None] * len(targets)
        behind_first: list[int | None] = [None] * len(targets)
        shown = time.monotonic()
        try:
            while time.monotonic() < deadline:
                self._check_worker()
                try:
                    committed = admin.list_group_offsets({GROUP: None}).get(GROUP, {})
                except KafkaError:  # the coordinator may still be loading the offsets after a restart
                    time.sleep(0.5)
                    continue
                now = time.time()
                by_topic: Counter[str] = Counter()
                for index, target in enumerate(targets):
                    behind = {tp: end - max(0, committed[tp].offset if tp in committed else 0)
                              for tp, end in target.items()}
                    left = sum(count for count in behind.values() if count > 0)
                    if behind_first[index] is None:
                        behind_first[index] = left
                    if not left and found[index] is None:
                        found[index] = (now - since, behind_first[index])
                    if index == len(targets) - 1:
                        for tp, count in behind.items():
                            by_topic[tp.topic.split(".")[1]] += max(0, count)
                if all(found):
                    return found
                if time.monotonic() - shown > 15:
                    shown = time.monotonic()
                    print(f"    {sum(by_topic.values()):,} messages still behind: "
                          + ", ".join(f"{topic} {count}" for topic, count in by_topic.items() if count), flush=True)
                time.sleep(0.25)
        finally:
            admin.close()
        raise SystemExit(f"the group did not reach the ends of {self.clock.at(since)} within {self.args.timeout:.0f} s")

    def _next_phase(self, name: str) -> None:
        """Close the running phase's machine busy-cores figure, begin the next."""
        previous, busy_before = self._phase
        busy_after = harness._machine_busy()
        busy, total = busy_after[0] - busy_before[0], busy_after[1] - busy_before[1]
        if previous != "start":
            self.timing.busy[previous] = (os.cpu_count() or 1) * busy / total if total else 0.0
        self._phase = (name, busy_after)


# -- the accounting --------------------------------------------------------------------------------


def _planned_ids(args: argparse.Namespace, seed: int, day: date) -> list[tuple[str, str]]:
    """(topic, event id) of a round's events in publishing order: what simulate sends for that seed and day."""
    from ingest.simulate import local_midnight, simulate as simulate_day

    sim = simulate_day(args.citizens, args.places, seed=seed, start=local_midnight(day))
    return [(topic, event.event_id) for topic, _, event in sim]


def _ids(messages: list, key: str = "event_id") -> list[str]:
    return [json.loads(value)[key] for *_, value in messages]


def _dead_letters(messages: list) -> list[dict]:
    """The dead letters, each with the event id of its payload (None when the payload is not JSON)."""
    found = []
    for *_, value in messages:
        letter = json.loads(value)
        try:
            letter["payload_id"] = json.loads(letter.get("payload") or "").get("event_id")
        except (ValueError, AttributeError):
            letter["payload_id"] = None
        found.append(letter)
    return found


WAREHOUSE_QUERIES = {
    "scans": "SELECT count(), uniqExact(event_id) FROM scans",
    "scans final": "SELECT count(), uniqExact(event_id) FROM scans FINAL",
    "by citizen": "SELECT count(), uniqExact(event_id) FROM scans_by_citizen",
    "by citizen final": "SELECT count(), uniqExact(event_id) FROM scans_by_citizen FINAL",
    "scan ids": "SELECT DISTINCT event_id FROM scans",
    "by citizen ids": "SELECT DISTINCT event_id FROM scans_by_citizen",
    "final twice": "SELECT event_id, count() FROM scans FINAL GROUP BY event_id HAVING count() > 1 LIMIT 5",
    "contacts": "SELECT count(), uniqExact(event_id) FROM contacts",
    "contacts final": "SELECT count(), uniqExact(place_id, citizen_a, citizen_b, rule_version, window_start) "
                      "FROM contacts FINAL",
    "contacts ids final": "SELECT event_id FROM contacts FINAL",
    "crowds": "SELECT count(), uniqExact(event_id) FROM crowd_exposures",
    "crowds final": "SELECT count(), uniqExact(place_id, window_start) FROM crowd_exposures FINAL",
    "crowds ids final": "SELECT event_id FROM crowd_exposures FINAL",
    "rejections": "SELECT source, event_id FROM rejections",
    # Last: what the tables hold once ReplacingMergeTree has merged every part.
    "optimize scans": "OPTIMIZE TABLE scans FINAL",
    "optimize contacts": "OPTIMIZE TABLE contacts FINAL",
    "scans optimized": "SELECT count(), uniqExact(event_id) FROM scans",
    "contacts optimized": "SELECT count() FROM contacts",
}


def _report(drill: Drill, load: Load, stalled: str | None) -> int:
    args, timing, clock = drill.args, drill.timing, drill.clock
    bootstrap = drill.broker.bootstrap
    topics = {topic: _read_topic(bootstrap, topic)
              for topic in (CITIZENS, SCANS, DECLARATIONS, VERIFIED_SCANS, CONTACTS, REJECTIONS, DEADLETTER)}
    answers = dict(zip(WAREHOUSE_QUERIES, _warehouse(drill.env, list(WAREHOUSE_QUERIES.values()))))
    dead = _dead_letters(topics[DEADLETTER])
    rejected_topic = {(json.loads(value)["source"], json.loads(value)["event_id"]) for *_, value in topics[REJECTIONS]}
    rejected = {(source, event_id) for source, event_id in answers["rejections"]}

    print("\n== timeline ==")
    print(f"  baseline: under load, the group committed the ends of a moment {timing.steady_s:.1f} s later "
          f"({timing.steady_behind:,} messages behind then)")
    print(f"  broker {'SIGKILLed' if args.kill_broker else 'stopped cleanly'}: {timing.broker_stop_s:.1f} s to exit, "
          f"down {timing.broker_down_s:.1f} s, {timing.broker_start_s:.1f} s to answer again; group caught up "
          f"{timing.broker_catch_up_s:.1f} s after the restart ({timing.broker_behind:,} messages behind)")
    print(f"  worker SIGKILLed and started again at once: Ready after {timing.worker_ready_s:.1f} s; the group "
          f"committed the ends of the restart {timing.worker_catch_up_s:.1f} s after it ({timing.worker_behind:,} "
          f"messages behind), those of Ready {timing.worker_ready_catch_up_s:.1f} s after it "
          f"({timing.worker_ready_behind:,} behind)")
    print(f"  load stopped at {clock.at(load.ended)}; no lag {timing.drain_s:.1f} s later")
    print("  machine busy (cores of " + str(os.cpu_count()) + ", every process): "
          + ", ".join(f"{phase} {cores:.2f}" for phase, cores in timing.busy.items()))
    for finding in timing.findings:
        print(f"  FINDING: {finding}")
    for number in range(1, drill.workers + 1):
        log = (drill.home / f"worker-{number}.log").read_text(errors="replace")
        counts = {name: log.count(text) for name, text in WORKER_WARNINGS.items()}
        print(f"  worker {number} log: {_startup(log)}; "
              + ", ".join(f"{name} {count}" for name, count in counts.items()))
        for text in ("the consumer skipped offsets", "were not delivered", "commits stopped at"):
            for line in [line for line in log.splitlines() if text in line][:3]:
                print(f"    {line[:220]}")

    exits = Counter(attempt.returncode for attempt in load.attempts)
    rounds = len({attempt.round for attempt in load.attempts})
    print(f"\n== the load: {rounds} rounds, {len(load.attempts)} runs of truyvet simulate, exit status "
          + ", ".join(f"{code}: {count}" for code, count in sorted(exits.items())) + " ==")
    failed = [attempt for attempt in load.attempts if attempt.returncode != 0]
    for attempt in failed:
        said = (f"{sum(attempt.acknowledged.values()):,} acknowledged, {sum(attempt.not_acknowledged.values()):,} not "
                f"({attempt.never_sent:,} of them never sent)" if attempt.never_sent is not None
                else "without its summary (above)")
        print(f"  round {attempt.round} run {attempt.attempt} at {clock.at(attempt.began)} exited "
              f"{attempt.returncode}: {said}")
    if failed:
        print("  exit 1: Kafka did not acknowledge every event; those were sent but not accepted (allowed), "
              "and the round ran again with the same seed")
    load_s = (load.ended or time.time()) - load.attempts[0].began
    acked_all = sum(sum(attempt.acknowledged.values()) for attempt in load.attempts)
    print(f"  {acked_all:,} events acknowledged over {load_s:.0f} s: {acked_all / load_s:.0f}/s on average "
          f"(asked {args.rate:g}/s; a round's start and the retries cost time)")

    sent: dict[str, Counter[str]] = defaultdict(Counter)  # topic -> event id -> times tried
    acknowledged: Counter[str] = Counter()
    plans: dict[tuple[int, date], list[tuple[str, str]]] = {}
    for attempt in load.attempts:
        if (attempt.seed, attempt.day) not in plans:
            plans[attempt.seed, attempt.day] = _planned_ids(args, attempt.seed, attempt.day)
        plan = plans[attempt.seed, attempt.day]
        if attempt.planned and attempt.planned != len(plan):
            print(f"  WARNING: round {attempt.round} planned {attempt.planned:,} events, ingest.simulate makes "
                  f"{len(plan):,} for seed {attempt.seed} and {attempt.day}: the sent figures are not exact")
        tried = plan if attempt.never_sent is None else plan[:len(plan) - attempt.never_sent]
        for topic, event_id in tried:
            sent[topic][event_id] += 1
        acknowledged.update(attempt.acknowledged)

    print("\n== per kind ==")
    lost_total, duplicates_total = 0, 0
    for topic, label in ((CITIZENS, "registry records"), (SCANS, "scans"), (DECLARATIONS, "declarations")):
        accepted = _ids(topics[topic])
        distinct = set(accepted)
        tried = sent[topic]
        print(f"{label} ({topic})")
        print(f"  sent            {sum(tried.values()):,} tries of {len(tried):,} distinct events "
              f"(simulate counted {acknowledged[topic]:,} acknowledged)")
        print(f"  accepted        {len(accepted):,} messages in the topic, {len(distinct):,} distinct ids "
              f"({len(accepted) - len(distinct):,} copies from rounds run again or producer retries)")
        not_accepted = set(tried) - distinct
        print(f"  not accepted    {len(not_accepted):,} distinct events sent but not in the topic"
              + (" (allowed: simulate said so and exited 1)" if not_accepted else ""))
        held = len(accepted) - acknowledged[topic]
        if held > 0:
            print(f"  unacknowledged  {held:,} messages the topic holds beyond simulate's acknowledgements (written, "
                  "but not counted: in flight when the broker stopped, or a run that ended without its summary)")
        elif held < 0 and topic == CITIZENS:  # compacted: the cleaner may drop a key's older copies
            print(f"  compacted       {-held:,} acknowledged copies no longer in the topic (a key's latest is kept)")
        elif held < 0:
            print(f"  LOST BY KAFKA   {-held:,} acknowledged messages are not in the topic")
            lost_total += -held
        unknown = distinct - set(tried)
        if unknown:
            print(f"  UNEXPECTED      {len(unknown):,} ids in the topic that no run sent, e.g. {sorted(unknown)[:3]}")
        if topic == SCANS:
            lost, duplicates = _scans(topics, answers, dead, rejected, distinct)
            lost_total, duplicates_total = lost_total + lost, duplicates_total + duplicates
        elif topic == DECLARATIONS:
            _declarations(topics, dead, rejected, distinct)
        else:
            print("  stored          - (the worker's registry table, a Faust table, not the warehouse)")
    lost, duplicates = _contacts(topics, answers, dead)
    lost_total, duplicates_total = lost_total + lost, duplicates_total + duplicates
    if rejected_topic != rejected:
        print(f"rejections: the topic holds {len(rejected_topic):,}, the table {len(rejected):,} distinct; "
              f"missing from the table: {sorted(rejected_topic - rejected)[:5]}")
        lost_total += len(rejected_topic - rejected)
    reasons = Counter((letter.get("topic"), letter.get("reason")) for letter in dead)
    print("dead letters: " + (", ".join(f"{topic} {reason} {count}" for (topic, reason), count in reasons.items())
                              or "none"))

    print()
    verdict = []
    if lost_total:
        verdict.append(f"{lost_total:,} accepted events or states lost")
    if duplicates_total:
        verdict.append(f"{duplicates_total:,} stored twice (FINAL)")
    if stalled:
        verdict.append("the worker stalled")
    if verdict:
        print("DRILL FAILED: " + "; ".join(verdict))
        return 1
    print("DRILL PASSED: nothing accepted was lost, nothing is read twice"
          + (f"; {len(timing.findings)} finding(s) above" if timing.findings else ""))
    return 0


def _scans(topics: dict, answers: dict, dead: list[dict], rejected: set, accepted: set[str]) -> tuple[int, int]:
    """Print the scans' stored, rejected, dead-lettered, lost and duplicate figures; (lost, duplicates)."""
    verified = _ids(topics[VERIFIED_SCANS])
    stored = {event_id for (event_id,) in answers["scan ids"]}
    by_citizen = {event_id for (event_id,) in answers["by citizen ids"]}
    scan_topics = (SCANS, VERIFIED_SCANS)
    dead_reasons: dict[str, set[str]] = defaultdict(set)
    for letter in dead:
        if letter.get("topic") in scan_topics and letter["payload_id"]:
            dead_reasons[letter["reason"]].add(letter["payload_id"])
    dead_ids = set().union(*dead_reasons.values()) if dead_reasons else set()
    rejected_ids = {event_id for source, event_id in rejected if source == "scan"}
    print(f"  verified        {len(verified):,} messages in {VERIFIED_SCANS}, {len(set(verified)):,} distinct ids")
    print(f"  stored          {len(stored & accepted):,} distinct accepted ids in scans "
          f"({len(by_citizen & accepted):,} in scans_by_citizen; {len(stored - accepted):,} stored but never accepted)")
    print(f"  rejected        {len(rejected_ids & accepted):,}")
    print(f"  dead-lettered   {len((dead_ids - stored) & accepted):,} not stored"
          + "".join(f"; {reason}: {len(ids & accepted):,} ({len(ids & stored):,} of them stored anyway)"
                    for reason, ids in dead_reasons.items()))
    lost = accepted - stored - rejected_ids - dead_ids
    missing_by_citizen = stored - by_citizen
    print(f"  lost            {len(lost):,}" + (f": {_where(topics, lost)}" if lost else ""))
    if missing_by_citizen:
        print(f"  LOST (by citizen) {len(missing_by_citizen):,} in scans but not in scans_by_citizen: "
              f"{sorted(missing_by_citizen)[:5]}")
    rows, ids = answers["scans"][0]
    final_rows, final_ids = answers["scans final"][0]
    optimized_rows, optimized_ids = answers["scans optimized"][0]
    citizen_rows, citizen_ids = answers["by citizen"][0]
    citizen_final_rows, citizen_final_ids = answers["by citizen final"][0]
    print(f"  duplicates      without FINAL {rows - ids:,} ({rows:,} rows, {ids:,} ids: copies not yet merged, which "
          f"ReplacingMergeTree collapses on merge); with FINAL {final_rows - final_ids:,} ({final_rows:,} rows) = "
          f"what a reader sees twice; after OPTIMIZE FINAL {optimized_rows - optimized_ids:,}; scans_by_citizen "
          f"{citizen_rows - citizen_ids:,} without FINAL, {citizen_final_rows - citizen_final_ids:,} with")
    if answers["final twice"]:
        print(f"  read twice      e.g. {answers['final twice']}")
    return len(lost) + len(missing_by_citizen), (final_rows - final_ids) + (citizen_final_rows - citizen_final_ids)


def _where(topics: dict, lost: set[str]) -> str:
    """The first lost scans: id, partition and offset in the scans topic, and whether verify passed them on."""
    verified = set(_ids(topics[VERIFIED_SCANS]))
    found = sorted((partition, offset, json.loads(value)["event_id"])
                   for partition, offset, _, _, value in topics[SCANS] if json.loads(value)["event_id"] in lost)
    return " ".join(f"{event_id} ({SCANS}[{partition}]@{offset}, {'' if event_id in verified else 'not '}verified)"
                    for partition, offset, event_id in found[:5]) + (" ..." if len(found) > 5 else "")


def _declarations(topics: dict, dead: list[dict], rejected: set, accepted: set[str]) -> None:
    dead_ids = {letter["payload_id"] for letter in dead if letter.get("topic") == DECLARATIONS}
    print("  stored          - not in the warehouse: the web app stores a declaration in its database before "
          "it publishes it; simulate publishes straight to Kafka, and verify only writes rejections")
    print(f"  processed       the group committed every end offset of {DECLARATIONS} "
          f"({len(topics[DECLARATIONS]):,} messages); a declaration that passes leaves no row to count by id")
    print(f"  rejected        {len({e for s, e in rejected if s == 'declaration'} & accepted):,}")
    print(f"  dead-lettered   {len(dead_ids & accepted):,}")
    print("  lost            not measurable by id (see processed)")


def _contacts(topics: dict, answers: dict, dead: list[dict]) -> tuple[int, int]:
    """Print the contact states' figures: each edge's latest published state against contacts FINAL; (lost, duplicates).

    A superseded revision may already be merged away, so what must be stored is the latest
    state of each edge (and crowd hour): one of the states published at its highest revision.
    """
    where: dict[str, list[int]] = defaultdict(list)  # message id -> indexes in the topic
    # identity -> (highest revision, {state id: hashes of its contents} at that revision)
    latest: dict[str, dict[tuple, tuple[int, dict[str, set[int]]]]] = {"edges": {}, "crowds": {}}
    states = {"edges": set(), "crowds": set()}
    identities = {"edges": ("place_id", "citizen_a", "citizen_b", "rule_version", "window_start"),
                  "crowds": ("place_id", "window_start")}
    for index, (*_, value) in enumerate(topics[CONTACTS]):
        message = json.loads(value)
        where[message["event_id"]].append(index)
        for kind, items in (("edges", message["edges"]), ("crowds", message["exposures"])):
            table = latest[kind]
            for item in items:
                states[kind].add(item["event_id"])
                key = tuple(item[name] for name in identities[kind])
                content = hash(tuple(sorted((name, str(value)) for name, value in item.items())))
                revision, found = table.get(key, (-1, {}))
                if item["revision"] > revision:
                    table[key] = (item["revision"], {item["event_id"]: {content}})
                elif item["revision"] == revision:
                    found.setdefault(item["event_id"], set()).add(content)
    dead_ids = set()
    for letter in dead:
        if letter.get("topic") == CONTACTS:
            try:
                payload = json.loads(letter["payload"])
                dead_ids |= {item["event_id"] for item in payload["edges"] + payload["exposures"]}
            except (ValueError, KeyError, TypeError):
                pass
    repeated = {event_id: indexes for event_id, indexes in where.items() if len(indexes) > 1}
    differing = sorted(event_id for event_id, indexes in repeated.items()
                       if len({_changes(topics[CONTACTS][index][4]) for index in indexes}) > 1)
    print(f"contact states ({CONTACTS}, derived by co-location)")
    print(f"  published       {len(topics[CONTACTS]):,} messages, {len(where):,} distinct ids "
          f"({len(repeated):,} published more than once, {len(differing):,} of them with other states"
          + (f": {' '.join(differing[:3])}" if differing else "") + f"); {len(states['edges']):,} distinct edge states "
          f"of {len(latest['edges']):,} edges, {len(states['crowds']):,} crowd states of "
          f"{len(latest['crowds']):,} hours")
    lost = duplicates = 0
    for kind, table in (("contacts", "contacts"), ("crowds", "crowd_exposures")):
        held = {event_id for (event_id,) in answers[f"{kind} ids final"]}
        published = latest["edges" if kind == "contacts" else "crowds"]
        accounted = held | dead_ids
        missing = [key for key, (_, found) in published.items() if not found.keys() & accounted]
        conflicting = sum(1 for _, found in published.values() if sum(map(len, found.values())) > 1)
        latest_ids = {event_id for _, found in published.values() for event_id in found}
        final_rows, final_identities = answers[f"{kind} final"][0]
        rows, distinct_states = answers[kind][0]
        print(f"  {table:<15} FINAL {final_rows:,} rows of {final_identities:,} identities; latest published state "
              f"missing there: {len(missing):,}{' e.g. ' + repr(missing[:2]) if missing else ''}; FINAL holding an "
              f"older state: {len(held - latest_ids):,}; highest revision published with different states: "
              f"{conflicting:,}; duplicates without FINAL {rows - distinct_states:,} ({rows:,} rows, "
              f"{distinct_states:,} states), with FINAL {final_rows - final_identities:,}")
        lost += len(missing)
        duplicates += final_rows - final_identities
    print(f"  after OPTIMIZE  contacts holds {answers['contacts optimized'][0][0]:,} rows; "
          f"dead-lettered states {len(dead_ids):,}")
    return lost, duplicates


def _changes(value: bytes) -> frozenset[str]:
    """The states a contact-changes message carries, whatever their order."""
    message = json.loads(value)
    return frozenset(json.dumps(item, sort_keys=True) for item in message["edges"] + message["exposures"])


def _startup(log: str) -> str:
    """When a worker asked to join the group, joined it, and was Ready, from its log."""
    times = {}
    for name, text in (("start", "[^Worker]: Starting"), ("join", "(Re-)joining group"), ("joined", "Joined group"),
                       ("ready", "[^Worker]: Ready")):
        line = next((line for line in log.splitlines() if text in line), None)
        if line and line.startswith("["):
            times[name] = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    if not {"start", "join", "joined", "ready"} <= times.keys():
        return "start-up not found in the log"
    return (f"asked to join the group {times['join'] - times['start']:.1f} s after starting, joined "
            f"{times['joined'] - times['join']:.1f} s later, Ready {times['ready'] - times['joined']:.1f} s after that")


def _port_holders(port: int) -> str:
    """Who holds a TCP port, as ``ss`` sees it: state, addresses, process."""
    done = subprocess.run(["ss", "-tanpH", f"( sport = :{port} )"], capture_output=True, text=True)
    return "; ".join(" ".join(line.split()) for line in done.stdout.splitlines())


def _revision() -> str:
    """The commit checked out, read from .git's files (no git command is run)."""
    git = REPO / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:7]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:7]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:7]
    except OSError:
        pass
    return "?"


if __name__ == "__main__":
    sys.exit(main())
