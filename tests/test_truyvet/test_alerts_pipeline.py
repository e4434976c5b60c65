"""Cases and exposure alerts on the real system: a broker, a `truyvet worker` with its warehouse.

Scans go in through the scans topic, the registry through the citizens topic and the case
through the cases topic, as the web app's outbox publishes them. The test watches what Kafka
holds (the alerts topics and the consumer group's offsets) and, once the worker has stopped,
what its embedded warehouse stored.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, OffsetSpec, TopicPartition

from streams import topics
from streams.app import APP_ID
from streams.records import VIETNAM_TIME, CaseEvent, CitizenRecord, ScanEvent, new_event_id
from tests.conftest import CASES_KAFKA_PORT, TRUYVET, random_cccd, system_env
from truyvet.broker import LocalBroker

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
RETRACE_SECONDS = 2
WAIT_SECONDS = 120
REGISTRY_CHANGELOG = f"{APP_ID}-registry-changelog"
# Run once the worker has stopped (an embedded warehouse opens in one process at a time).
STORED_ALERTS = """
import json, sys
from warehouse.client import connect

client = connect(sys.argv[1])
rows = client.query("SELECT event_id, case_id, contact_citizen_id, tier, ward_code"
                    " FROM exposure_alerts FINAL").result_rows
client.close()
print(json.dumps([list(row) for row in rows]))
"""


def wait_for(what: str, check: Callable[[], object], log: Path, timeout: float = WAIT_SECONDS):
    """Poll ``check`` until it returns something true; fail with the worker's log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
            pytest.fail(f"no {what} after {timeout:.0f}s; the worker's log ends:\n{tail}")
        time.sleep(0.2)


class Kafka:
    """The test's view of the broker: publishing as the pipeline's producers do, and reading back."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)

    def close(self) -> None:
        self.producer.close()
        self.admin.close()

    def publish(self, topic: str, key: str, record) -> None:
        self.producer.send(topic, key=key.encode(), value=record.dumps()).get(timeout=10)

    def messages(self, topic: str) -> list[tuple[str, dict]]:
        consumer = KafkaConsumer(topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
                                 enable_auto_commit=False, consumer_timeout_ms=2000)
        try:
            return [(message.key.decode(), json.loads(message.value)) for message in consumer]
        finally:
            consumer.close()

    def size(self, topic: str) -> int:
        partitions = [TopicPartition(topic, p) for p in range(topics.PARTITIONS)]
        found = self.admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        return sum(found[tp].offset for tp in partitions)

    def caught_up(self, *names: str) -> bool:
        """Whether the workers' group has committed every message of ``names``."""
        committed = self.admin.list_group_offsets({APP_ID: None}).get(APP_ID, {})
        partitions = [TopicPartition(name, p) for name in names for p in range(topics.PARTITIONS)]
        ends = self.admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        return all(ends[tp].offset <= (committed[tp].offset if tp in committed else 0) for tp in partitions)


@pytest.fixture
def broker(tmp_path):
    started = LocalBroker.for_bootstrap(tmp_path / "kafka", f"127.0.0.1:{CASES_KAFKA_PORT}")
    started.start()
    topics.ensure_topics([started.bootstrap])
    yield started
    started.stop()


@pytest.fixture
def worker(broker, tmp_path):
    """A `truyvet worker` with its embedded warehouse, tracing open cases every RETRACE_SECONDS."""
    data_dir, log = tmp_path / "worker", tmp_path / "worker.log"
    data_dir.mkdir()
    env = {**system_env(data_dir, broker.port), "TRUYVET_ALERT_RETRACE_SECONDS": str(RETRACE_SECONDS)}
    with open(log, "wb") as out:
        process = subprocess.Popen([TRUYVET, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    started = {"process": process, "log": log, "data_dir": data_dir}
    yield started
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def ready(log: Path) -> bool:
    text = log.read_text(errors="replace") if log.exists() else ""
    joined = text.rfind("Joined group")
    return joined >= 0 and text.rfind("Worker ready") > joined


def register(kafka: Kafka, citizen: str, ward_code: int) -> None:
    """A registry entry consistent with the number (verify refuses a contradicted one)."""
    sex = "female" if int(citizen[3]) % 2 else "male"
    kafka.publish(topics.CITIZENS, citizen, CitizenRecord(
        event_id=new_event_id(), citizen_id=citizen, cmnd=None, full_name="Nguyễn Văn An",
        date_of_birth=f"19{citizen[4:6]}-03-04", sex=sex, province_code=79, ward_code=ward_code))


def scan(kafka: Kafka, citizen: str, place: str, ts: datetime) -> None:
    kafka.publish(topics.SCANS, citizen, ScanEvent(event_id=new_event_id(), citizen_id=citizen, place_id=place,
                                                   ts=ts, direction="pass"))


def test_a_cases_f1_and_f2_are_alerted_in_their_wards_once_and_a_later_contact_as_it_comes(broker, worker):
    kafka = Kafka(broker.bootstrap)
    try:
        wait_for("ready worker", lambda: ready(worker["log"]), worker["log"])
        case, f1, f2, visitor, stranger, later = (random_cccd() for _ in range(6))
        wards = {case: 26734, f1: 26737, f2: 26740, stranger: 26743, later: 26746}  # the visitor: no entry
        for person, ward in wards.items():
            register(kafka, person, ward)
        wait_for("registry entries", lambda: kafka.size(REGISTRY_CHANGELOG) >= len(wards), worker["log"])

        market, school = f"CHO-{uuid.uuid4().hex[:6]}", f"TRUONG-{uuid.uuid4().hex[:6]}"
        now = datetime.now(timezone.utc).replace(microsecond=0)
        market_time, school_time = now - timedelta(hours=6), now - timedelta(hours=3)
        scan(kafka, case, market, market_time)
        scan(kafka, f1, market, market_time + timedelta(minutes=20))        # F1
        scan(kafka, visitor, market, market_time + timedelta(minutes=40))   # F1 the registry does not know
        scan(kafka, stranger, market, market_time - timedelta(hours=3))     # not within the hour: nobody
        scan(kafka, f1, school, school_time)
        scan(kafka, f2, school, school_time + timedelta(minutes=10))        # F2, through the F1
        reported = CaseEvent(event_id=new_event_id(), case_id=uuid.uuid4().hex, citizen_id=case,
                             date_kind=CaseEvent.ONSET, case_date=now.astimezone(VIETNAM_TIME).date().isoformat(),
                             reported_at=now)
        kafka.publish(topics.CASES, case, reported)

        def alerts() -> dict[str, tuple[str, dict]]:
            found = [(key, alert) for key, alert in kafka.messages(topics.EXPOSURE_ALERTS)
                     if alert["case_id"] == reported.case_id]
            return {alert["contact_citizen_id"]: (key, alert) for key, alert in found}

        first = wait_for("alerts for the F1s and the F2", lambda: len(found := alerts()) >= 3 and found,
                         worker["log"])
        assert {contact: (key, alert["tier"]) for contact, (key, alert) in first.items()} == {
            f1: ("26737", 1), visitor: ("0", 1), f2: ("26740", 2)}
        assert first[f1][1]["place_id"] == market and first[f2][1]["place_id"] == school
        exposed = datetime.fromisoformat(first[f1][1]["first_exposure"])
        assert market_time <= exposed <= market_time + timedelta(minutes=20)  # the meeting at the market

        # The case delivered again, and a scan making a new F1 of the open case.
        kafka.publish(topics.CASES, case, reported)
        scan(kafka, later, market, market_time + timedelta(minutes=50))
        latest = wait_for("an alert for the later contact", lambda: later in (found := alerts()) and found,
                          worker["log"], timeout=30 + 5 * RETRACE_SECONDS)
        assert latest[later][0] == "26746" and latest[later][1]["tier"] == 1
        # Every alert found again (re-delivery, re-traces) has reached the router, and was dropped.
        wait_for("the router catching up", lambda: kafka.caught_up(topics.CASES, topics.ALERTS_TO_ROUTE),
                 worker["log"])
        to_route = Counter(alert["contact_citizen_id"] for _, alert in kafka.messages(topics.ALERTS_TO_ROUTE)
                           if alert["case_id"] == reported.case_id)
        assert to_route[f1] >= 2 and to_route[f2] >= 2, to_route
        published = Counter(alert["contact_citizen_id"] for _, alert in kafka.messages(topics.EXPOSURE_ALERTS)
                            if alert["case_id"] == reported.case_id)
        assert published == {f1: 1, visitor: 1, f2: 1, later: 1}

        wait_for("the alerts sink catching up", lambda: kafka.caught_up(topics.EXPOSURE_ALERTS), worker["log"])
    finally:
        kafka.close()
    worker["process"].send_signal(signal.SIGTERM)
    assert worker["process"].wait(timeout=60) == 0

    stored = _stored_alerts(worker["data_dir"])
    assert sorted((row[2], row[3], row[4]) for row in stored if row[1] == reported.case_id) == sorted([
        (f1, 1, 26737), (visitor, 1, 0), (f2, 2, 26740), (later, 1, 26746)])
    assert {row[0] for row in stored} == {alert["event_id"] for _, alert in latest.values()}


def _stored_alerts(data_dir: Path) -> list[list]:
    result = subprocess.run([sys.executable, "-c", STORED_ALERTS, f"chdb://{data_dir / 'warehouse'}"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
