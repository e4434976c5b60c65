"""Writing scans and reading a person's movements back, on the real embedded ClickHouse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from streams.records import SCAN_FIELDS
from tests.conftest import random_cccd
from tests.test_warehouse.conftest import T0, scan
from warehouse.errors import WarehouseError
from warehouse.queries import scans_of_citizen
from warehouse.writer import write_scans


def test_a_batch_is_read_back_newest_first(warehouse):
    citizen = random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-a", citizen, 0), scan(f"{citizen}-b", citizen, 30, "P2", "out")])

    page = scans_of_citizen(warehouse, citizen)

    assert page.next is None
    assert page.scans == [
        {"event_id": f"{citizen}-b", "citizen_id": citizen, "place_id": "P2",
         "ts": T0 + timedelta(minutes=30), "direction": "out", "precision": "instant"},
        {"event_id": f"{citizen}-a", "citizen_id": citizen, "place_id": "P1", "ts": T0, "direction": "in",
         "precision": "instant"},
    ]
    assert all(tuple(row) == SCAN_FIELDS and row["ts"].tzinfo == timezone.utc for row in page.scans)


def test_a_redelivered_batch_shows_each_scan_once(warehouse):
    citizen = random_cccd()
    batch = [scan(f"{citizen}-1", citizen), scan(f"{citizen}-2", citizen, 5)]
    write_scans(warehouse, batch)
    write_scans(warehouse, batch)

    assert len(scans_of_citizen(warehouse, citizen).scans) == 2


def test_one_event_id_with_two_contents_is_kept_apart(warehouse):
    citizen = random_cccd()
    first, conflicting = scan(f"{citizen}-1", citizen, place_id="P1"), scan(f"{citizen}-1", citizen, place_id="P9")
    write_scans(warehouse, [first])
    write_scans(warehouse, [conflicting, first])

    rows = scans_of_citizen(warehouse, citizen).scans

    assert sorted((r["event_id"], r["place_id"]) for r in rows) == [(f"{citizen}-1", "P1"), (f"{citizen}-1", "P9")]
    # Both tables keep them apart: the place-ordered one too.
    assert warehouse.query("SELECT count() FROM scans FINAL WHERE citizen_id = {c:String}",
                           parameters={"c": citizen}).result_rows == [(2,)]


def test_other_people_and_injection_attempts_get_nothing(warehouse):
    citizen = random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-x", citizen)])

    assert scans_of_citizen(warehouse, random_cccd()).scans == []
    assert scans_of_citizen(warehouse, f"{citizen}' OR '1'='1").scans == []


def test_empty_batch_writes_nothing(warehouse):
    assert write_scans(warehouse, []) == 0


@pytest.mark.parametrize("field, value", [
    ("ts", "2026-11-28T08:00:00Z"),
    ("citizen_id", None),
    ("place_id", 12),
])
def test_a_row_of_the_wrong_types_is_refused_before_sending(warehouse, field, value):
    citizen = random_cccd()
    bad = scan(f"{citizen}-bad", citizen)
    setattr(bad, field, value)

    with pytest.raises(WarehouseError, match=f"{citizen}-bad.*{field}") as caught:
        write_scans(warehouse, [scan(f"{citizen}-ok", citizen), bad])

    assert caught.value.transient is False
    assert scans_of_citizen(warehouse, citizen).scans == []


@pytest.mark.parametrize("changes, constraint", [
    ({"citizen_id": "07900000000"}, "citizen_id_is_cccd"),
    ({"citizen_id": "0790000000012"}, "citizen_id_is_cccd"),
    ({"citizen_id": "079000000001\n"}, "citizen_id_is_cccd"),
    ({"citizen_id": "０７９０００００００１２"}, "citizen_id_is_cccd"),  # full-width digits
    ({"citizen_id": "07900000000a"}, "citizen_id_is_cccd"),
    ({"place_id": ""}, "place_id_length"),
    ({"place_id": "P" * 65}, "place_id_length"),
    ({"ts": datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)}, "ts_in_range"),
    ({"ts": datetime(2100, 1, 1, tzinfo=timezone.utc)}, "ts_in_range"),
    ({"precision": "week"}, "precision_is_known"),
    ({"precision": "day", "ts": datetime(2026, 11, 28, tzinfo=timezone.utc)}, "day_starts_at_local_midnight"),
])
def test_the_warehouse_refuses_what_no_producer_should_send(warehouse, changes, constraint):
    good = {"event_id": "e-constraint", "citizen_id": random_cccd(), "place_id": "P1", "ts": T0}
    with pytest.raises(WarehouseError, match=f"Constraint `{constraint}`") as caught:
        write_scans(warehouse, [scan(**{**good, **changes})])
    assert (caught.value.code, caught.value.transient) == (469, False)


def test_the_edges_of_the_constraints_are_accepted(warehouse):
    citizen = random_cccd()
    write_scans(warehouse, [
        scan(f"{citizen}-1", citizen, place_id="P" * 64, ts=datetime(2000, 1, 1, tzinfo=timezone.utc)),
        scan(f"{citizen}-2", citizen, place_id="P", ts=datetime(2099, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)),
    ])
    assert len(scans_of_citizen(warehouse, citizen).scans) == 2


def test_a_day_record_is_stored_at_local_midnight_and_read_back_with_its_precision(warehouse):
    citizen = random_cccd()
    midnight = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)  # 28/11/2026 00:00 in Viet Nam
    write_scans(warehouse, [scan(f"{citizen}-d", citizen, ts=midnight, precision="day"),
                            scan(f"{citizen}-i", citizen, ts=midnight)])

    rows = scans_of_citizen(warehouse, citizen).scans

    assert sorted((r["event_id"], r["ts"], r["precision"]) for r in rows) == [
        (f"{citizen}-d", midnight, "day"), (f"{citizen}-i", midnight, "instant")]
