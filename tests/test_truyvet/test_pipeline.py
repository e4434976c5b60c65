"""The stream pipeline on the running system: scans -> verify -> co-locate -> warehouse -> officials.

Every test here goes through the real parts: a station's HTTP scans, the broker, the Faust
agents of `truyvet run`, the embedded warehouse, and the officials' JSON API.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams import topics
from streams.records import CitizenRecord, DeclarationEvent
from tests.conftest import random_cccd

pytestmark = pytest.mark.broker
# Faust names a table's changelog topic "<app id>-<table name>-changelog".
REGISTRY_CHANGELOG = "truyvet-registry-changelog"


def a_place() -> str:
    return f"CHO-{uuid.uuid4().hex[:8].upper()}"


def scan(system, place: str, citizen: str, ts: datetime, direction: str) -> str:
    response = requests.post(
        f"{system['url']}/api/v1/scans", timeout=30, headers=system["station_headers"](place),
        json={"citizen_id": citizen, "place_id": place, "ts": ts.isoformat(), "direction": direction},
    )
    assert response.status_code == 202, response.text
    return response.json()["event_id"]


def place_answer(system, place: str, what: str, since: datetime) -> dict:
    response = system["official"].get(f"{system['url']}/api/v1/places/{place}/{what}", timeout=10,
                                      params={"since": since.isoformat(), "reason": "case_investigation"})
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(check, timeout: float = 30, every: float = 0.2):
    """Poll ``check()`` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(every)


def pairs(answer: dict) -> dict[tuple[str, str], dict]:
    return {(edge["citizen_a"], edge["citizen_b"]): edge for edge in answer["contacts"]}


def test_two_people_scanned_within_the_hour_become_a_contact_an_official_sees(system):
    place, start = a_place(), datetime.now(timezone.utc) - timedelta(minutes=50)
    one, two, far = sorted(random_cccd() for _ in range(3))
    scan(system, place, one, start, "pass")
    scan(system, place, two, start + timedelta(minutes=40), "pass")
    scan(system, place, far, start - timedelta(hours=2), "pass")  # two hours earlier: nobody's contact

    answer = wait_for(lambda: place_answer(system, place, "contacts", start - timedelta(hours=3))["contacts"]
                      and place_answer(system, place, "contacts", start - timedelta(hours=3)))

    edge = pairs(answer)[one, two]
    assert set(pairs(answer)) == {(one, two)}
    assert (edge["criterion"], edge["rule_version"]) == ("point_window", "truyvet-default-1")
    assert edge["overlap_minutes"] == 0
    presences = place_answer(system, place, "presences", start - timedelta(hours=3))["presences"]
    assert {p["citizen_id"] for p in presences} == {one, two, far}
    assert all(p["kind"] == "point" for p in presences)


def test_a_check_out_turns_a_contact_by_check_in_into_the_overlap_rule(system):
    """Checked in ten minutes apart; one stayed five minutes: together less than 15 minutes."""
    place, start = a_place(), datetime.now(timezone.utc) - timedelta(hours=2)
    short, long_stay, stayer = sorted(random_cccd() for _ in range(3))
    scan(system, place, short, start, "in")
    scan(system, place, long_stay, start + timedelta(minutes=10), "in")
    scan(system, place, stayer, start + timedelta(minutes=20), "in")
    since = start - timedelta(hours=1)
    wait_for(lambda: len(place_answer(system, place, "contacts", since)["contacts"]) == 3)

    scan(system, place, short, start + timedelta(minutes=5), "out")
    scan(system, place, long_stay, start + timedelta(minutes=70), "out")
    scan(system, place, stayer, start + timedelta(minutes=80), "out")

    answer = wait_for(lambda: (found := place_answer(system, place, "contacts", since))
                      and set(pairs(found)) == {(long_stay, stayer)} and found)
    edge = pairs(answer)[long_stay, stayer]
    assert edge["criterion"] == "interval_overlap"
    assert edge["overlap_minutes"] == 50  # 00:20 to 01:10 after the start


def test_an_impossible_identity_is_rejected_with_its_reason_and_never_becomes_a_presence(system):
    place, ts = a_place(), datetime.now(timezone.utc) - timedelta(minutes=5)
    impossible = "079290" + uuid.uuid4().int.__str__()[:6]  # born in 2090, says digits 4-6
    witness = random_cccd()
    event_id = scan(system, place, impossible, ts, "pass")
    scan(system, place, witness, ts, "pass")

    rejection = wait_for(lambda: _rejection(system["broker"].bootstrap, event_id))
    assert (rejection["reason"], rejection["source"], rejection["citizen_id"]) == ("birth_year", "scan", impossible)
    presences = wait_for(lambda: place_answer(system, place, "presences", ts - timedelta(hours=1))["presences"])
    assert [p["citizen_id"] for p in presences] == [witness]


def test_a_sound_number_the_registry_does_not_know_is_a_flagged_presence(system):
    place, ts = a_place(), datetime.now(timezone.utc) - timedelta(minutes=5)
    visitor = random_cccd()
    scan(system, place, visitor, ts, "pass")

    presences = wait_for(lambda: place_answer(system, place, "presences", ts - timedelta(hours=1))["presences"])
    assert [(p["citizen_id"], p["registered"]) for p in presences] == [(visitor, False)]


def test_the_registry_table_knows_people_and_refuses_numbers_it_contradicts(system):
    place, ts = a_place(), datetime.now(timezone.utc) - timedelta(minutes=5)
    known, contradicted = random_cccd(), random_cccd()
    for citizen, sex in ((known, _sex_of(known)), (contradicted, "female" if _sex_of(contradicted) == "male" else "male")):
        _register(system["broker"].bootstrap, citizen, sex)
    known_scan = scan(system, place, known, ts, "pass")
    refused_scan = scan(system, place, contradicted, ts, "pass")

    presences = wait_for(lambda: place_answer(system, place, "presences", ts - timedelta(hours=1))["presences"])
    assert [(p["citizen_id"], p["registered"]) for p in presences] == [(known, True)]
    rejection = wait_for(lambda: _rejection(system["broker"].bootstrap, refused_scan))
    assert rejection["reason"] == "century_sex"
    assert known_scan != refused_scan


def test_a_declaration_whose_number_the_registry_contradicts_is_rejected(system):
    citizen = random_cccd()
    _register(system["broker"].bootstrap, citizen, "female" if _sex_of(citizen) == "male" else "male")
    declaration = DeclarationEvent(
        event_id=uuid.uuid4().hex, declaration_id=uuid.uuid4().hex, citizen_id=citizen,
        declared_at=datetime.now(timezone.utc), verification="mismatch", mismatched_fields=["sex"],
        symptoms=[], contact_with_case=False, visited_outbreak_area=False,
    )
    producer = KafkaProducer(bootstrap_servers=system["broker"].bootstrap, acks="all")
    producer.send(topics.DECLARATIONS, key=citizen.encode(), value=declaration.dumps()).get(timeout=10)
    producer.close()

    rejection = wait_for(lambda: _rejection(system["broker"].bootstrap, declaration.event_id))
    assert (rejection["source"], rejection["reason"], rejection["citizen_id"]) == ("declaration", "century_sex", citizen)


def test_a_scan_a_day_late_is_stored_but_not_paired_and_its_dead_letter_says_why(system):
    place, now = a_place(), datetime.now(timezone.utc) - timedelta(minutes=1)
    recent, late = random_cccd(), random_cccd()
    scan(system, place, recent, now, "pass")
    wait_for(lambda: place_answer(system, place, "presences", now - timedelta(hours=1))["presences"])
    late_scan = scan(system, place, late, now - timedelta(hours=30), "pass")
    scan(system, place, recent, now - timedelta(hours=30, minutes=-5), "pass")  # also late: no pair either

    [letter] = wait_for(lambda: _dead_letters_of(system["broker"].bootstrap, late_scan))
    assert letter["reason"] == "too_late"
    assert letter["topic"] == topics.VERIFIED_SCANS
    presences = place_answer(system, place, "presences", now - timedelta(hours=31))["presences"]
    assert late in {p["citizen_id"] for p in presences}  # stored all the same
    assert place_answer(system, place, "contacts", now - timedelta(hours=31))["contacts"] == []


def _dead_letters_of(bootstrap: str, event_id: str) -> list[dict]:
    consumer = KafkaConsumer(topics.DEADLETTER, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000)
    try:
        return [letter for message in consumer
                if (letter := json.loads(message.value)) and event_id in letter["payload"]]
    finally:
        consumer.close()


def _sex_of(citizen: str) -> str:
    return "female" if int(citizen[3]) % 2 else "male"


def _register(bootstrap: str, citizen: str, sex: str) -> None:
    """Publish a registry entry, as the CRUD layer's outbox does, and wait until the table holds it.

    The registry agent writes each entry to the table's changelog: once that grew, a scan
    verified from now on finds the person.
    """
    before = _changelog_size(bootstrap)
    record = CitizenRecord(event_id=uuid.uuid4().hex, citizen_id=citizen, cmnd=None, full_name="Nguyễn Văn An",
                           date_of_birth=f"19{citizen[4:6]}-03-04", sex=sex, province_code=79, ward_code=26734)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topics.CITIZENS, key=citizen.encode(), value=record.dumps()).get(timeout=10)
    producer.close()
    wait_for(lambda: _changelog_size(bootstrap) > before)


def _changelog_size(bootstrap: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(REGISTRY_CHANGELOG, p) for p in consumer.partitions_for_topic(REGISTRY_CHANGELOG)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _rejection(bootstrap: str, event_id: str) -> dict | None:
    consumer = KafkaConsumer(topics.REJECTIONS, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000)
    try:
        for message in consumer:
            found = json.loads(message.value)
            if found["event_id"] == event_id:
                return found
    finally:
        consumer.close()
    return None
