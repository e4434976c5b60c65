"""The vertical slice through real parts: HTTP -> Kafka -> Faust -> ClickHouse (`truyvet run`)."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams import topics
from tests.conftest import SYSTEM_WEB_PORT, TRUYVET, random_cccd, system_env
from tests.factories import declaration

pytestmark = pytest.mark.broker
SCANNED_PERSON = "Người Được Quét"  # put in the registry by in_officials_province, not seeded


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def post_scan(system, **fields) -> requests.Response:
    body = {"citizen_id": random_cccd(), "place_id": "CP-HN-01", "ts": now_iso(), "direction": "in"}
    body.update(fields)
    return requests.post(f"{system['url']}/api/v1/scans", json=body, timeout=30,
                         headers=system["station_headers"](body["place_id"]))


def scans_of(system, citizen_id: str) -> list[dict]:
    """A person's scans as the system's official (of province 1) reads them."""
    in_officials_province(system, citizen_id)
    response = system["official"].get(f"{system['url']}/api/v1/citizens/{citizen_id}/scans", timeout=10,
                                      params={"limit": 1000, "reason": "case_investigation"})
    assert response.status_code == 200, response.text
    return response.json()["scans"]


def in_officials_province(system, citizen_id: str) -> None:
    """Put the person in the registry, in province 1: an official reads only the people they answer for.

    Straight into the system's database, so nothing is published: the stream does not learn of it.
    """
    with sqlite3.connect(system["data_dir"] / "truyvet.db") as registry:
        registry.execute("INSERT OR IGNORE INTO citizens (citizen_id, full_name, date_of_birth, sex, province_code, "
                         "ward_code, phone, updated_at) VALUES (?, ?, '1990-01-01', 'Nam', 1, 70, '0912345678', "
                         "CURRENT_TIMESTAMP)", (citizen_id, SCANNED_PERSON))


def wait_for_scans(system, citizen_id: str, count: int = 1, event_id: str | None = None,
                   timeout: float = 30) -> list[dict]:
    """Poll until the person has ``count`` scans (and the scan ``event_id`` among them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scans = scans_of(system, citizen_id)
        if len(scans) >= count and (event_id is None or event_id in {s["event_id"] for s in scans}):
            return scans
        time.sleep(0.1)
    raise AssertionError(f"{citizen_id} has {scans_of(system, citizen_id)}, expected {count} and {event_id}")


def dead_letters(bootstrap: str, marker: str, count: int, timeout_ms: int = 30000) -> list[dict]:
    """The dead letters whose payload holds ``marker``, once ``count`` of them arrived."""
    return messages_with(bootstrap, topics.DEADLETTER, marker, count, timeout_ms)


def messages_with(bootstrap: str, topic: str, marker: str, count: int, timeout_ms: int = 30000) -> list[dict]:
    """The messages of ``topic`` holding ``marker``, once ``count`` of them arrived."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
    found = []
    try:
        for message in consumer:
            if marker in message.value.decode():
                found.append(json.loads(message.value))
                if len(found) == count:
                    break
    finally:
        consumer.close()
    return found


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def test_health_reports_every_part_up(system):
    assert requests.get(f"{system['url']}/healthz", timeout=10).json() == {"status": "ok"}  # strangers: no detail
    health = system["ops"].get(f"{system['url']}/healthz", timeout=10).json()
    assert {k: health[k] for k in ("status", "kafka", "warehouse", "database")} == {
        "status": "ok", "kafka": "ok", "warehouse": "ok", "database": "ok"}
    assert isinstance(health["outbox_pending"], int)


def test_posted_scan_reaches_the_warehouse(system):
    citizen = random_cccd()
    response = post_scan(system, citizen_id=citizen, place_id="VENUE-042", direction="out")
    assert response.status_code == 202
    event_id = response.json()["event_id"]

    [scan] = wait_for_scans(system, citizen, 1)
    assert scan["event_id"] == event_id
    assert scan["place_id"] == "VENUE-042"
    assert scan["direction"] == "out"


def test_same_event_id_twice_is_stored_once(system):
    citizen = random_cccd()
    retry_key = uuid.uuid4().hex
    ts = now_iso()
    first = post_scan(system, citizen_id=citizen, event_id=retry_key, ts=ts)
    again = post_scan(system, citizen_id=citizen, event_id=retry_key, ts=ts)
    assert first.status_code == again.status_code == 202
    event_id = first.json()["event_id"]  # the server's id for this station's attempt
    assert again.json()["event_id"] == event_id
    # Same key, same partition: once this later scan is stored, both copies were processed.
    later = post_scan(system, citizen_id=citizen).json()["event_id"]

    wait_for_scans(system, citizen, event_id=later)
    assert [s["event_id"] for s in scans_of(system, citizen)] == [later, event_id]  # newest first


def test_the_same_event_id_with_other_content_never_rewrites_what_was_stored(system):
    citizen = random_cccd()
    event_id = uuid.uuid4().hex
    ts = now_iso()
    assert post_scan(system, citizen_id=citizen, event_id=event_id, ts=ts, place_id="GATE-A").status_code == 202
    assert post_scan(system, citizen_id=citizen, event_id=event_id, ts=ts, place_id="GATE-B").status_code == 202

    scans = wait_for_scans(system, citizen, 2)

    assert sorted(s["place_id"] for s in scans) == ["GATE-A", "GATE-B"]


def test_rows_the_warehouse_refuses_are_dead_lettered_and_the_stream_keeps_moving(system):
    bootstrap = system["broker"].bootstrap
    citizen, marker = random_cccd(), uuid.uuid4().hex
    scan = {"citizen_id": citizen, "place_id": "CP-1", "ts": now_iso(), "direction": "in"}
    good = [{**scan, "event_id": f"{marker}-good-{i}"} for i in range(50)]
    # Well-formed JSON another producer could send: verify passes it (its number is sound),
    # the warehouse's constraints refuse it (a place id of 1-64 characters).
    bad = {**scan, "event_id": f"{marker}-long", "place_id": "P" * 300}
    # A number that is no CCCD is stopped earlier, by verify, as an impossible identity.
    impossible = {**scan, "event_id": f"{marker}-id", "citizen_id": "１２３４５６７８９０１２"}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for body in good[:25] + [bad, impossible] + good[25:]:  # one key, one partition: most likely one batch
        producer.send(topics.SCANS, key=citizen.encode(), value=json.dumps(body).encode())
    producer.flush()
    producer.close()

    [letter] = dead_letters(bootstrap, marker, count=1)
    assert json.loads(letter["payload"])["event_id"] == f"{marker}-long"
    assert letter["reason"] == "warehouse_refused"
    assert "469" in letter["error"] or "onstraint" in letter["error"]
    [rejection] = messages_with(bootstrap, topics.REJECTIONS, f"{marker}-id", count=1)
    assert (rejection["reason"], rejection["citizen_id"]) == ("format", impossible["citizen_id"])
    assert {s["event_id"] for s in wait_for_scans(system, citizen, 50)} == {b["event_id"] for b in good}

    later = post_scan(system, citizen_id=citizen).json()["event_id"]
    wait_for_scans(system, citizen, event_id=later)


def test_malformed_scan_is_rejected_field_by_field_and_not_published(system):
    bootstrap = system["broker"].bootstrap
    before = end_offsets(bootstrap, topics.SCANS)

    response = post_scan(system, citizen_id="12345", direction="sideways", ts="yesterday")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"citizen_id", "direction", "ts"}
    assert end_offsets(bootstrap, topics.SCANS) == before


def test_undecodable_event_goes_to_the_dead_letter_topic(system):
    bootstrap = system["broker"].bootstrap
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    marker = uuid.uuid4().hex
    metadata = producer.send(topics.SCANS, key=b"x", value=f"not json {marker}".encode()).get(timeout=10)
    producer.close()

    consumer = KafkaConsumer(
        topics.DEADLETTER, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        consumer_timeout_ms=30000,
    )
    letter = next(
        json.loads(message.value) for message in consumer if marker in message.value.decode()
    )
    consumer.close()
    assert letter["topic"] == topics.SCANS
    assert (letter["partition"], letter["offset"]) == (metadata.partition, metadata.offset)
    assert letter["reason"] == "undecodable"
    assert letter["error"].startswith("not JSON")


def test_kafka_console_consumer_reads_a_posted_scan(system):
    event_id = post_scan(system).json()["event_id"]

    lines = system["broker"].console_consumer(topics.SCANS, max_messages=100000, timeout_ms=8000)

    assert any(event_id in line for line in lines)


def test_second_run_on_the_same_data_dir_refuses(system):
    result = subprocess.run(
        [TRUYVET, "run", "--port", str(SYSTEM_WEB_PORT + 1)],
        env=system_env(system["data_dir"], system["broker"].port),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert requests.get(f"{system['url']}/healthz", timeout=10).status_code == 200


def test_kafka_status_command_reports_the_running_broker(system):
    result = subprocess.run(
        [TRUYVET, "kafka", "status"],
        env=system_env(system["data_dir"], system["broker"].port),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0
    assert f"running (pid {system['broker'].status().pid})" in result.stdout


def test_a_declaration_is_relayed_to_kafka_by_the_running_system(system):
    response = requests.post(f"{system['url']}/api/v1/declarations", json=declaration(), timeout=30)
    assert response.status_code == 201
    declaration_id = response.json()["declaration_id"]

    consumer = KafkaConsumer(
        topics.DECLARATIONS, bootstrap_servers=system["broker"].bootstrap,
        auto_offset_reset="earliest", consumer_timeout_ms=20000,
    )
    found = next(
        (json.loads(message.value) for message in consumer if declaration_id.encode() in message.value), None
    )
    consumer.close()
    assert found is not None, "the declaration never reached Kafka"
    assert found["verification"] == "unknown"


def test_seeded_registry_reaches_kafka_and_verifies_declarations(system):
    result = subprocess.run(
        [TRUYVET, "seed", "--citizens", "25", "--seed", "2026"],
        env=system_env(system["data_dir"], system["broker"].port),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "registry: 25 citizens added" in result.stdout
    assert "kafka: published to truyvet.citizens.v1" in result.stdout

    with sqlite3.connect(system["data_dir"] / "truyvet.db") as registry:
        citizen_id, name, born, sex = registry.execute(
            "SELECT citizen_id, full_name, date_of_birth, sex FROM citizens WHERE full_name <> ? "
            "ORDER BY citizen_id LIMIT 1", (SCANNED_PERSON,)).fetchone()
    response = requests.post(f"{system['url']}/api/v1/declarations", timeout=30, json=declaration(
        citizen_id=citizen_id, full_name=name, date_of_birth=born, sex=sex,
    ))
    assert response.json()["verification"] == "verified"

    consumer = KafkaConsumer(topics.CITIZENS, bootstrap_servers=system["broker"].bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    keys = {message.key.decode() for message in consumer}
    consumer.close()
    assert citizen_id in keys


def test_a_scan_log_is_imported_once_with_day_presences_and_bad_rows_reported(system, tmp_path):
    system["station_headers"]("MARKET-7")  # registers the place
    citizen, other = random_cccd(), random_cccd()
    # An hour ago in Viet Nam, seconds dropped: a log book's time, and its (local) date.
    moment = (datetime.now(timezone.utc) - timedelta(hours=1)).astimezone(timezone(timedelta(hours=7)))
    moment, day = moment.replace(second=0, microsecond=0), moment.date()
    log = tmp_path / "so-ghi-cho.csv"
    log.write_text(
        "citizen_id,place_code,time,date,direction\n"
        f"{citizen},MARKET-7,{moment.isoformat()},,in\n"
        f"{citizen},MARKET-7,,{day:%d/%m/%Y},\n"
        f"12345,MARKET-7,{moment.isoformat()},,in\n"
        f"{other},NO-SUCH-PLACE,,{day},in\n",
        encoding="utf-8-sig",
    )
    command = [TRUYVET, "import", "scans", str(log)]
    env = system_env(system["data_dir"], system["broker"].port)

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert first.returncode == again.returncode == 1  # two rows are bad
    assert "line 4: citizen_id" in first.stderr + first.stdout
    assert "line 5: place_code" in first.stderr + first.stdout
    assert "kafka: 2 of 2 scan(s) accepted" in first.stdout
    scans = wait_for_scans(system, citizen, 2)
    assert sorted(scan["precision"] for scan in scans) == ["day", "instant"]
    later = post_scan(system, citizen_id=citizen, place_id="MARKET-7").json()["event_id"]
    wait_for_scans(system, citizen, event_id=later)  # the re-import was processed before this
    assert len(scans_of(system, citizen)) == 3


def test_a_simulated_day_is_acknowledged_and_its_scans_reach_the_warehouse(system):
    env = system_env(system["data_dir"], system["broker"].port)
    command = [TRUYVET, "simulate", "--citizens", "60", "--places", "6", "--rate", "3000", "--seed", "7"]

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    sent = int(result.stdout.split("kafka: ")[-1].split(" of ")[0])
    assert f"kafka: {sent} of {sent} events acknowledged" in result.stdout
    listed = subprocess.run(command + ["--dry-run"], env=env, capture_output=True, text=True, timeout=120).stdout
    assert listed.splitlines()[0].endswith(f"{sent} of {sent} events")
    consumer = KafkaConsumer(topics.SCANS, bootstrap_servers=system["broker"].bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    simulated = next(json.loads(m.value) for m in consumer if b"MARKET-" in m.value or b"WORK-" in m.value)
    consumer.close()
    stored = wait_for_scans(system, simulated["citizen_id"], event_id=simulated["event_id"])
    assert any(scan["place_id"] == simulated["place_id"] for scan in stored)
