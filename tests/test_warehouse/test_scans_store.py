"""Writing scans and reading a person's movements back, on the real embedded ClickHouse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.records import ScanEvent
from tests.conftest import random_cccd
from warehouse.queries import scans_of_citizen
from warehouse.writer import write_scans

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)


def scan(event_id: str, citizen_id: str, minutes: int = 0, place_id: str = "P1") -> ScanEvent:
    return ScanEvent(event_id=event_id, citizen_id=citizen_id, place_id=place_id,
                     ts=T0 + timedelta(minutes=minutes), direction="in")


def test_a_batch_is_read_back_in_time_order(warehouse):
    citizen = random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-b", citizen, 30, "P2"), scan(f"{citizen}-a", citizen, 0)])

    rows = scans_of_citizen(warehouse, citizen)

    assert [(r["event_id"], r["place_id"], r["ts"]) for r in rows] == [
        (f"{citizen}-a", "P1", T0.replace(tzinfo=None)),
        (f"{citizen}-b", "P2", (T0 + timedelta(minutes=30)).replace(tzinfo=None)),
    ]


def test_a_redelivered_batch_shows_each_scan_once(warehouse):
    citizen = random_cccd()
    batch = [scan(f"{citizen}-1", citizen), scan(f"{citizen}-2", citizen, 5)]
    write_scans(warehouse, batch)
    write_scans(warehouse, batch)

    assert len(scans_of_citizen(warehouse, citizen)) == 2


def test_other_people_and_injection_attempts_get_nothing(warehouse):
    citizen = random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-x", citizen)])

    assert scans_of_citizen(warehouse, random_cccd()) == []
    assert scans_of_citizen(warehouse, f"{citizen}' OR '1'='1") == []


def test_empty_batch_writes_nothing(warehouse):
    assert write_scans(warehouse, []) == 0
