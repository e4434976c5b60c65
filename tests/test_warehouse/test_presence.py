"""Presences: points, in/out intervals and whole local days, read from the real embedded ClickHouse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import random_cccd
from tests.test_warehouse.conftest import scan
from warehouse.errors import WarehouseError
from warehouse.presence import MAX_STAY, Presence, presences, presences_of_citizen
from warehouse.writer import write_scans

# 28/11/2026 in Viet Nam runs from 27/11 17:00 UTC to 28/11 17:00 UTC.
MIDNIGHT = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)
T = MIDNIGHT + timedelta(hours=8)  # 08:00 local
H = timedelta(hours=1)


def kinds(found: list[Presence]) -> list[tuple[str, str, datetime, datetime]]:
    return [(p.kind, p.place_id, p.start, p.end) for p in found]


# The rule ----------------------------------------------------------------------------------

def test_each_place_pairs_its_own_ins_and_outs():
    c = random_cccd()
    found = presences([
        scan("1", c, ts=T, place_id="MARKET"),
        scan("2", c, ts=T + H, place_id="CLINIC"),
        scan("3", c, ts=T + 2 * H, place_id="MARKET", direction="out"),
        scan("4", c, ts=T + 3 * H, place_id="CLINIC", direction="out"),
    ])
    assert kinds(found) == [("interval", "MARKET", T, T + 2 * H), ("interval", "CLINIC", T + H, T + 3 * H)]


def test_lone_scans_and_turned_back_people_are_points_and_passes_do_not_close_a_stay():
    c = random_cccd()
    found = presences([
        scan("1", c, ts=T, direction="out"),  # an out with no in
        scan("2", c, ts=T + H, direction="in"),
        scan("3", c, ts=T + 2 * H, direction="pass"),
        scan("4", c, ts=T + 3 * H, direction="out"),
        scan("5", c, ts=T + 4 * H, direction="turn_back", place_id="CP-1"),
        scan("6", c, ts=T + 5 * H, direction="in"),  # never checked out
    ])
    assert kinds(found) == [
        ("point", "P1", T, T), ("interval", "P1", T + H, T + 3 * H), ("point", "P1", T + 2 * H, T + 2 * H),
        ("point", "CP-1", T + 4 * H, T + 4 * H), ("point", "P1", T + 5 * H, T + 5 * H),
    ]


def test_an_out_past_the_longest_stay_closes_nothing():
    c = random_cccd()
    exactly = presences([scan("1", c, ts=T), scan("2", c, ts=T + MAX_STAY, direction="out")])
    late = presences([scan("1", c, ts=T), scan("2", c, ts=T + MAX_STAY + timedelta(seconds=1), direction="out")])
    assert kinds(exactly) == [("interval", "P1", T, T + MAX_STAY)]
    assert [p.kind for p in late] == ["point", "point"]


def test_a_second_in_replaces_the_open_one_and_an_in_and_out_at_one_instant_is_a_visit():
    c = random_cccd()
    found = presences([scan("1", c, ts=T), scan("2", c, ts=T + H), scan("3", c, ts=T + H, direction="out")])
    assert kinds(found) == [("point", "P1", T, T), ("interval", "P1", T + H, T + H)]


def test_a_day_record_is_the_whole_local_day_and_equal_records_come_once():
    c = random_cccd()
    day = [scan(f"d{i}", c, ts=MIDNIGHT, place_id="MARKET", precision="day") for i in range(2)]
    assert kinds(presences(day)) == [("day", "MARKET", MIDNIGHT, MIDNIGHT + timedelta(days=1))]


def test_people_are_kept_apart():
    a, b = sorted([random_cccd(), random_cccd()])
    found = presences([scan("1", b, ts=T), scan("2", a, ts=T + H, direction="out"), scan("3", a, ts=T)])
    assert [(p.citizen_id, p.kind) for p in found] == [(a, "interval"), (b, "point")]


# From the warehouse ------------------------------------------------------------------------

def test_a_persons_presences_come_from_the_warehouse(warehouse):
    c = random_cccd()
    write_scans(warehouse, [
        scan(f"{c}-1", c, ts=T, place_id="MARKET"),
        scan(f"{c}-2", c, ts=T + H, place_id="MARKET", direction="out"),
        scan(f"{c}-3", c, ts=MIDNIGHT, place_id="PAGODA", precision="day"),
        scan(f"{c}-4", c, ts=T + 2 * H, place_id="CP-1", direction="pass"),
        scan(f"{random_cccd()}-x", random_cccd(), ts=T, place_id="MARKET"),  # someone else
    ])

    found = presences_of_citizen(warehouse, c, MIDNIGHT, MIDNIGHT + timedelta(days=1))

    assert {p.citizen_id for p in found} == {c}
    assert kinds(found) == [
        ("day", "PAGODA", MIDNIGHT, MIDNIGHT + timedelta(days=1)),
        ("interval", "MARKET", T, T + H),
        ("point", "CP-1", T + 2 * H, T + 2 * H),
    ]


def test_a_window_gets_whole_intervals_and_days_that_cross_its_edges(warehouse):
    c = random_cccd()
    write_scans(warehouse, [
        scan(f"{c}-1", c, ts=T - 3 * H),
        scan(f"{c}-2", c, ts=T + H, direction="out"),  # a stay across the window's start
        scan(f"{c}-3", c, ts=MIDNIGHT - timedelta(days=1), place_id="PAGODA", precision="day"),  # the day before
        scan(f"{c}-4", c, ts=T - 5 * H, place_id="CP-1", direction="pass"),  # before the window
    ])

    found = presences_of_citizen(warehouse, c, T, T + 2 * H)
    day_before = presences_of_citizen(warehouse, c, MIDNIGHT - H, MIDNIGHT)

    assert kinds(found) == [("interval", "P1", T - 3 * H, T + H)]
    assert kinds(day_before) == [("day", "PAGODA", MIDNIGHT - timedelta(days=1), MIDNIGHT)]


def test_scans_written_before_precision_existed_are_instants(warehouse):
    c = random_cccd()
    warehouse.command(
        "INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)"
        " VALUES ({e:String}, {c:String}, 'P1', {ts:DateTime64(3, 'UTC')}, 'in')",
        parameters={"e": f"{c}-old", "c": c, "ts": T.replace(tzinfo=None)})

    assert kinds(presences_of_citizen(warehouse, c, MIDNIGHT, MIDNIGHT + timedelta(days=1))) == [
        ("point", "P1", T, T)]


def test_injection_attempts_get_nothing(warehouse):
    c = random_cccd()
    write_scans(warehouse, [scan(f"{c}-1", c, ts=T)])
    assert presences_of_citizen(warehouse, f"{c}' OR '1'='1", MIDNIGHT, MIDNIGHT + timedelta(days=1)) == []


@pytest.mark.parametrize("since, until", [
    (T, T),
    (T + H, T),
    (T.replace(tzinfo=None), T + H),
    (T, "tomorrow"),
])
def test_a_window_must_be_two_aware_times_in_order(warehouse, since, until):
    with pytest.raises(ValueError):
        presences_of_citizen(warehouse, random_cccd(), since, until)


def test_a_runaway_number_of_scans_is_refused_not_cut_short(warehouse, monkeypatch):
    c = random_cccd()
    write_scans(warehouse, [scan(f"{c}-{i}", c, ts=T + i * H) for i in range(3)])
    monkeypatch.setattr("warehouse.presence.MAX_SCANS_READ", 2)

    with pytest.raises(WarehouseError, match="more than 2 scans") as caught:
        presences_of_citizen(warehouse, c, MIDNIGHT, MIDNIGHT + timedelta(days=1))
    assert caught.value.transient is False
