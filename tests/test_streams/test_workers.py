"""Stream workers on the real broker: scale-out, and a worker killed mid-stream (issue 8).

Every worker is a real ``truyvet worker`` process and every test has its own fresh broker, fed
one simulated day by ``truyvet simulate``. A test waits for what Kafka itself says (the
consumer group's committed offsets against the topics' end offsets), never for a fixed time.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, OffsetSpec, TopicPartition
from kafka.errors import KafkaError

from streams import topics
from streams.app import APP_ID
from streams.records import VIETNAM_TIME, ScanEvent
from tests.conftest import (
    KILLED_WORKER_KAFKA_PORT,
    ONE_WORKER_KAFKA_PORT,
    TRUYVET,
    TWO_WORKERS_KAFKA_PORT,
    system_env,
)
from truyvet.broker import LocalBroker

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
# Faust's consumer group is named after the app.
GROUP = APP_ID
# A small province's day: 400 people at 12 places, about 1,000 scans (a market day among them),
# registry first, so every scan is of a registered person.
PROVINCE = ("--citizens", "400", "--places", "12", "--seed", "7")
PARTITIONS = {spec.name: spec.partitions for spec in topics.TOPICS}
# What `truyvet worker --no-sink` consumes; with its sinks, it consumes every topic it writes too.
STREAM_INPUTS = (topics.CITIZENS, topics.DECLARATIONS, topics.SCANS, topics.VERIFIED_SCANS)
ALL_INPUTS = tuple(spec.name for spec in topics.TOPICS if spec.name != topics.DEADLETTER)
WAIT_SECONDS = 120
# Faust's own setting (read from the environment): the broker drops a member it has not heard
# from for this long. A SIGKILLed worker never says goodbye, and its successor waits for the
# group to drop it; Faust's default (60 s) would be most of this file's time.
QUICK_FAILURE_DETECTION = {"BROKER_SESSION_TIMEOUT": "10", "BROKER_HEARTBEAT_INTERVAL": "1"}
POLL_SECONDS = 0.2

# (place, citizen a, citizen b, rule version, window start in ms): one edge, whatever its revision.
EdgeId = tuple[str, str, str, str, int]
# (criterion, first together, last together in ms, overlap minutes): what the edge says.
EdgeFacts = tuple[str, int, int, float]

# Run in a subprocess once the worker has stopped: an embedded warehouse opens in one process
# only, and the test process holds its own. Prints one JSON line.
WAREHOUSE_REPORT = """
import json, sys
from warehouse.client import connect

client = connect(sys.argv[1])
for table in ("scans", "contacts"):
    client.command(f"OPTIMIZE TABLE {table} FINAL")
scans = client.query("SELECT event_id FROM scans").result_rows
contacts = client.query(
    "SELECT place_id, citizen_a, citizen_b, rule_version, toUnixTimestamp64Milli(window_start),"
    " criterion, toUnixTimestamp64Milli(first_together), toUnixTimestamp64Milli(last_together),"
    " overlap_minutes, retracted FROM contacts").result_rows
client.close()
print(json.dumps({"scan_ids": [row[0] for row in scans], "contacts": [list(row) for row in contacts]}))
"""


# -- processes ---------------------------------------------------------------------------------

@dataclass
class Worker:
    """One ``truyvet worker`` process and its log."""

    name: str
    process: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        """The end of the log, without the tables Faust draws around topic lists."""
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        said = [line for line in text if line.strip() and not line.startswith(("+", "|"))]
        return (f"--- {self.name} (pid {self.process.pid}, exit code {self.process.poll()}), "
                f"last {lines} lines of {self.log} ---\n" + "\n".join(said[-lines:]))

    def ready(self) -> bool:
        """Whether the worker finished recovering since it last joined the group (its log says so).

        Events that arrive while a worker recovers its tables can be dropped by faust-streaming
        (its issue #596); the scale-out test publishes only to ready workers, so that it measures
        scale-out alone. The restart test cannot: its worker restarts into a running stream.
        """
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        joined = text.rfind("Joined group")
        return joined >= 0 and text.rfind("Recovery]: Worker ready") > joined

    def dump_stacks(self) -> None:
        """Have a stuck worker write every thread's and task's stack to its log (mode's SIGUSR1)."""
        if self.process.poll() is None:
            size = self.log.stat().st_size
            self.process.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 5
            while self.log.stat().st_size == size and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            time.sleep(1)  # let it finish writing

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as an operator or an orchestrator stops a worker; return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            tail = self.log_tail()
            self.dump_stacks()
            pytest.fail(f"{self.name} did not stop within {timeout:.0f}s of SIGTERM\n{tail}\n"
                        "(its thread and task stacks are appended to its log)")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last commit, no flush."""
        self.process.kill()
        self.process.wait(timeout=10)


def truyvet_env(data_dir: Path, broker: LocalBroker) -> dict[str, str]:
    # Retention 0 keeps everything: the simulated day is accepted whatever today is.
    return {**system_env(data_dir, broker.port), "TRUYVET_RETENTION_DAYS": "0"}


@pytest.fixture
def start_broker(tmp_path) -> Iterator[Callable[[int], LocalBroker]]:
    """Start a fresh broker on a port, with the project's topics; all are stopped at the end."""
    started: list[LocalBroker] = []

    def start(port: int) -> LocalBroker:
        broker = LocalBroker.for_bootstrap(tmp_path / f"kafka-{port}", f"127.0.0.1:{port}")
        started.append(broker)
        broker.start()
        topics.ensure_topics([broker.bootstrap])
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def start_worker(start_broker, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start a ``truyvet worker`` on a broker; any still running are killed before the brokers stop."""
    started: list[Worker] = []

    def start(broker: LocalBroker, data_dir: Path, name: str, *, sink: bool,
              env: dict[str, str] | None = None) -> Worker:
        # `truyvet worker --no-sink` does not create its data directory (Faust's datadir goes in it).
        data_dir.mkdir(parents=True, exist_ok=True)
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [TRUYVET, "worker"] + ([] if sink else ["--no-sink"]),
                env={**truyvet_env(data_dir, broker), **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
            )
        worker = Worker(name, process, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.kill()


def simulate_command(rate: int, day: str) -> list[str]:
    return [TRUYVET, "simulate", *PROVINCE, "--rate", str(rate), "--start", day]


def yesterday() -> str:
    """The simulated day, fixed once per test so two runs of it publish the same events."""
    return (datetime.now(VIETNAM_TIME).date() - timedelta(days=1)).isoformat()


# -- what Kafka says -----------------------------------------------------------------------------

def partitions(names: Iterable[str]) -> list[TopicPartition]:
    return [TopicPartition(name, number) for name in names for number in range(PARTITIONS[name])]


def end_offsets(admin: KafkaAdminClient, wanted: list[TopicPartition]) -> dict[TopicPartition, int]:
    # Not KafkaConsumer.end_offsets: kafka-python 3.0.12 leaves out a partition whose leader
    # its metadata does not know yet, and then fails with a KeyError.
    found = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in wanted})
    return {tp: found[tp].offset for tp in wanted}


class Group:
    """The workers' consumer group as the broker sees it: committed offsets and members."""

    def __init__(self, broker: LocalBroker) -> None:
        self.admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)

    def close(self) -> None:
        self.admin.close()

    def lag(self, names: Iterable[str]) -> dict[str, int]:
        """Messages not yet committed by the group, per partition that has any."""
        # Committed offsets first, end offsets after: the ends can only have grown since.
        committed = self.admin.list_group_offsets({GROUP: None}).get(GROUP, {})
        wanted = partitions(names)
        ends = end_offsets(self.admin, wanted)
        behind = {}
        for tp in wanted:
            done = max(committed[tp].offset, 0) if tp in committed else 0
            if ends[tp] > done:
                behind[f"{tp.topic}[{tp.partition}]"] = ends[tp] - done
        return behind

    def messages(self, name: str) -> int:
        return sum(end_offsets(self.admin, partitions([name])).values())

    def committed(self, name: str) -> int:
        """Messages of a topic the group has committed, all partitions together."""
        committed = self.admin.list_group_offsets({GROUP: None}).get(GROUP, {})
        return sum(max(committed[tp].offset, 0) for tp in partitions([name]) if tp in committed)

    def assignments(self) -> list[dict[str, list[int]]]:
        """Per member of a stable group, the partitions it holds by topic; [] while it rebalances."""
        described = self.admin.describe_groups([GROUP])[GROUP]
        if described["group_state"] != "Stable":
            return []
        held = []
        for member in described["members"]:
            assignment = member["member_assignment"]
            if not isinstance(assignment, dict):
                return []
            held.append({part["topic"]: sorted(part["partitions"]) for part in assignment["assigned_partitions"]})
        return held


def wait_for(what: str, check: Callable[[], object], workers: list[Worker],
             describe: Callable[[], object] = lambda: "", timeout: float = WAIT_SECONDS):
    """Poll ``check`` until it returns something true; fail with the workers' logs otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        for worker in workers:
            if worker.process.poll() is not None:
                pytest.fail(f"{worker.name} exited with {worker.process.returncode} while waiting for "
                            f"{what}\n{worker.log_tail()}")
        try:
            found = check()
        except KafkaError as exc:
            if not exc.retriable:
                raise
            found = None  # e.g. the group's coordinator is not elected yet on a fresh broker
        if found:
            return found
        if time.monotonic() > deadline:
            logs = "\n".join(worker.log_tail() for worker in workers)
            for worker in workers:
                worker.dump_stacks()
            pytest.fail(f"no {what} after {timeout:.0f}s: {describe()}\n{logs}\n"
                        "(each live worker's thread and task stacks are appended to its log)")
        time.sleep(POLL_SECONDS)


def wait_for_members(group: Group, count: int, workers: list[Worker]) -> list[dict[str, list[int]]]:
    """Wait until ``count`` ready workers share the group, each verifying and co-locating some partitions."""
    def members_at_work():
        held = group.assignments()
        busy = [member for member in held if member.get(topics.SCANS) and member.get(topics.VERIFIED_SCANS)]
        ready = all(worker.ready() for worker in workers)
        return held if len(held) == count and len(busy) == count and ready else None

    return wait_for(f"group of {count} ready, working member(s)", members_at_work, workers,
                    lambda: f"members {group.assignments()}, ready {[worker.ready() for worker in workers]}")


def wait_until_caught_up(group: Group, names: Iterable[str], workers: list[Worker]) -> None:
    names = tuple(names)
    wait_for(f"catch-up on {', '.join(names)}", lambda: not group.lag(names), workers,
             lambda: f"still behind: {group.lag(names)}")


def read_topic(broker: LocalBroker, name: str, timeout: float = 60) -> list[bytes]:
    """Every message value of a topic, each partition in offset order."""
    wanted = partitions([name])
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        ends = end_offsets(admin, wanted)
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False, group_id=None)
    try:
        consumer.assign(wanted)
        consumer.seek_to_beginning(*wanted)
        by_partition: dict[int, list[bytes]] = {tp.partition: [] for tp in wanted}
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in wanted):
            assert time.monotonic() < deadline, f"could not read {name} to its end in {timeout}s"
            for tp, records in consumer.poll(timeout_ms=1000).items():
                by_partition[tp.partition] += [record.value for record in records if record.offset < ends[tp]]
        return [value for number in sorted(by_partition) for value in by_partition[number]]
    finally:
        consumer.close()


# -- contacts ------------------------------------------------------------------------------------

def millis(moment: str) -> int:
    return round(datetime.fromisoformat(moment).timestamp() * 1000)


def edge_states(value: bytes) -> list[dict]:
    """The edge states (ContactEdge, as JSON) one message of truyvet.contacts.v1 carries.

    A message is everything one scan changed at its place (a ContactChanges).
    """
    return json.loads(value)["edges"]


def edge_id(edge: dict) -> EdgeId:
    return (edge["place_id"], edge["citizen_a"], edge["citizen_b"], edge["rule_version"],
            millis(edge["window_start"]))


def edge_facts(edge: dict) -> EdgeFacts:
    return (edge["criterion"], millis(edge["first_together"]), millis(edge["last_together"]),
            round(edge["overlap_minutes"], 6))


@dataclass
class ContactStates:
    """The states of truyvet.contacts.v1, and the contact set they add up to."""

    final: dict[EdgeId, EdgeFacts]  # latest revision of each edge, retracted ones dropped
    published: int  # states in the topic
    retracted: int  # retracting states in the topic
    withdrawn: int  # edges whose latest state is a retraction
    conflicts: list[str]  # one edge, one revision, two different states

    @classmethod
    def of(cls, values: list[bytes]) -> "ContactStates":
        latest: dict[EdgeId, dict] = {}
        conflicts = []
        published = retracted = 0
        # An edge's states all share one partition (the topic's key is in the edge's identity):
        # offset order is their order.
        for edge in (edge for value in values for edge in edge_states(value)):
            published += 1
            retracted += edge["retracted"]
            key = edge_id(edge)
            seen = latest.get(key)
            if seen is not None and seen["revision"] == edge["revision"] and (
                    (edge_facts(seen), seen["retracted"]) != (edge_facts(edge), edge["retracted"])):
                conflicts.append(f"{key} revision {edge['revision']}: {edge_facts(seen), seen['retracted']} "
                                 f"then {edge_facts(edge), edge['retracted']}")
            if seen is None or edge["revision"] >= seen["revision"]:
                latest[key] = edge
        return cls(
            final={key: edge_facts(edge) for key, edge in latest.items() if not edge["retracted"]},
            published=published,
            retracted=retracted,
            withdrawn=sum(edge["retracted"] for edge in latest.values()),
            conflicts=conflicts,
        )


def difference(expected: dict, actual: dict, shown: int = 5) -> str:
    """What a reader needs to see of two unequal contact sets."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(key for key in set(expected) & set(actual) if expected[key] != actual[key])
    lines = [f"expected {len(expected)} edges, got {len(actual)}: {len(missing)} missing, "
             f"{len(extra)} extra, {len(changed)} with other facts"]
    lines += [f"  missing {key}: {expected[key]}" for key in missing[:shown]]
    lines += [f"  extra   {key}: {actual[key]}" for key in extra[:shown]]
    lines += [f"  changed {key}: {expected[key]} -> {actual[key]}" for key in changed[:shown]]
    return "\n".join(lines)


# -- scale-out -----------------------------------------------------------------------------------

@dataclass
class DayOutcome:
    contacts: ContactStates
    assignments: list[dict[str, list[int]]]
    seconds: float


def run_the_day(broker: LocalBroker, start_worker, workdir: Path, worker_count: int, day: str) -> DayOutcome:
    """Publish the day to ``broker`` with ``worker_count`` no-sink workers in one group; read the contacts."""
    workers = [start_worker(broker, workdir / f"worker-{number}", f"{workdir.name}-worker-{number}", sink=False)
               for number in range(1, worker_count + 1)]
    group = Group(broker)
    try:
        # Publish once every worker is ready and holds partitions: each verifies and co-locates
        # part of the day, and none is still recovering when the events come (see Worker.ready).
        wait_for_members(group, worker_count, workers)
        began = time.monotonic()
        simulated = subprocess.run(simulate_command(20_000, day), env=truyvet_env(workdir / "simulate", broker),
                                   capture_output=True, text=True, timeout=120)
        assert simulated.returncode == 0, simulated.stdout + simulated.stderr
        wait_until_caught_up(group, STREAM_INPUTS, workers)
        seconds = time.monotonic() - began
        assignments = group.assignments()
    finally:
        group.close()
    for worker in workers:
        assert worker.stop() == 0, worker.log_tail()
    return DayOutcome(ContactStates.of(read_topic(broker, topics.CONTACTS)), assignments, seconds)


def test_two_workers_find_the_contacts_one_worker_finds(start_broker, start_worker, tmp_path):
    day = yesterday()
    alone_broker = start_broker(ONE_WORKER_KAFKA_PORT)
    alone = run_the_day(alone_broker, start_worker, tmp_path / "alone", 1, day)
    alone_broker.stop()  # one JVM at a time is enough
    pair = run_the_day(start_broker(TWO_WORKERS_KAFKA_PORT), start_worker, tmp_path / "pair", 2, day)
    print(f"one worker: {alone.contacts.published} contact states ({alone.contacts.retracted} retracting) -> "
          f"{len(alone.contacts.final)} edges, {alone.contacts.withdrawn} withdrawn, in {alone.seconds:.1f}s; "
          f"two workers: {pair.contacts.published} states -> {len(pair.contacts.final)} edges "
          f"in {pair.seconds:.1f}s")

    # The day must exercise what the comparison is about, or equality would prove nothing.
    assert len(alone.contacts.final) > 100, "the simulated day made (almost) no contacts"
    assert alone.contacts.withdrawn > 0, "no edge was withdrawn: retractions went untested"
    # Both workers held partitions to the end, and between them all of them.
    assert len(pair.assignments) == 2, pair.assignments
    for topic in (topics.SCANS, topics.VERIFIED_SCANS):
        held = [member.get(topic, []) for member in pair.assignments]
        assert all(held), f"a worker held no partition of {topic}: {pair.assignments}"
        assert sorted(sum(held, [])) == list(range(PARTITIONS[topic])), pair.assignments
    assert not alone.contacts.conflicts, alone.contacts.conflicts[:5]
    assert not pair.contacts.conflicts, pair.contacts.conflicts[:5]
    assert pair.contacts.final == alone.contacts.final, difference(alone.contacts.final, pair.contacts.final)


# -- a worker killed mid-stream ------------------------------------------------------------------

def read_warehouse(data_dir: Path) -> dict:
    """Scan ids and contact rows of a stopped worker's embedded warehouse, after OPTIMIZE FINAL."""
    result = subprocess.run([sys.executable, "-c", WAREHOUSE_REPORT, f"chdb://{data_dir / 'warehouse'}"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_worker_killed_mid_stream_loses_and_doubles_nothing(start_broker, start_worker, tmp_path):
    broker = start_broker(KILLED_WORKER_KAFKA_PORT)
    data_dir = tmp_path / "worker"
    first = start_worker(broker, data_dir, "first-life", sink=True, env=QUICK_FAILURE_DETECTION)
    group = Group(broker)
    try:
        wait_for_members(group, 1, [first])
        # About 1,500 events at 120/s: the day takes some 13 seconds to publish.
        with open(tmp_path / "simulate.log", "wb") as out:
            simulation = subprocess.Popen(simulate_command(120, yesterday()), stdout=out, stderr=subprocess.STDOUT,
                                          env=truyvet_env(tmp_path / "simulate", broker))
        try:
            # Kill once it has published contacts and committed part of what it co-locates, so the
            # second life both redoes uncommitted work and rebuilds state from a partition's middle.
            wait_for("contacts and commits from the first life", lambda: (
                group.messages(topics.CONTACTS) > 0 and group.committed(topics.VERIFIED_SCANS) > 0), [first],
                lambda: (f"{group.messages(topics.CONTACTS)} contact states, verified scans committed "
                         f"{group.committed(topics.VERIFIED_SCANS)}, lag {group.lag(ALL_INPUTS)}"))
            assert simulation.poll() is None, "the day was published before the kill: not mid-stream"
            first.kill()
            killed_at = time.monotonic()
            second = start_worker(broker, data_dir, "second-life", sink=True, env=QUICK_FAILURE_DETECTION)
            assert simulation.wait(timeout=120) == 0, (tmp_path / "simulate.log").read_text()
        finally:
            if simulation.poll() is None:
                simulation.kill()
        wait_until_caught_up(group, ALL_INPUTS, [second])
        print(f"caught up {time.monotonic() - killed_at:.1f}s after the kill")
    finally:
        group.close()
    assert second.stop() == 0, second.log_tail()

    published = [ScanEvent.loads(value).event_id for value in read_topic(broker, topics.SCANS)]
    contacts = ContactStates.of(read_topic(broker, topics.CONTACTS))
    refused = {name: len(read_topic(broker, name)) for name in (topics.REJECTIONS, topics.DEADLETTER)}
    stored = read_warehouse(data_dir)

    assert published, "nothing was published"
    # Every simulated person is in the registry, with a true identity: nothing is refused.
    assert refused == {topics.REJECTIONS: 0, topics.DEADLETTER: 0}, refused
    lost = set(published) - set(stored["scan_ids"])
    assert not lost, (f"{len(lost)} of {len(set(published))} published scans are missing from the warehouse: "
                      f"{sorted(lost)[:5]}")
    doubled = [event_id for event_id, rows in Counter(stored["scan_ids"]).items() if rows > 1]
    assert len(stored["scan_ids"]) == len(set(published)), (
        f"{len(stored['scan_ids'])} scan rows for {len(set(published))} scans; doubled: {doubled[:5]}")
    rows = {}
    for *key, criterion, first_ms, last_ms, overlap, retracted in stored["contacts"]:
        assert tuple(key) not in rows, f"two rows for the edge {tuple(key)} after OPTIMIZE FINAL"
        rows[tuple(key)] = ((criterion, first_ms, last_ms, round(overlap, 6)), retracted)
    stored_final = {key: facts for key, (facts, retracted) in rows.items() if not retracted}
    assert contacts.final, "no contacts: the day did not exercise co-location"
    # A replay republishes an edge's state at a revision; the warehouse keeps one of equal revisions.
    assert not contacts.conflicts, contacts.conflicts[:5]
    assert stored_final == contacts.final, difference(contacts.final, stored_final)
