"""Everyone at one place in a window, with the registry flag, read from the real embedded ClickHouse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import random_cccd
from tests.test_warehouse.conftest import random_place, scan, verified_scan
from warehouse.contacts import MAX_PLACE_WINDOW
from warehouse.errors import TooMuchToRead
from warehouse.presence import presences_at_place
from warehouse.writer import write_scans
# 28/11/2026 in Viet Nam runs from 27/11 17:00 UTC to 28/11 17:00 UTC.
MIDNIGHT = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)
T = MIDNIGHT + timedelta(hours=8)  # 08:00 local
H = timedelta(hours=1)
DAY = timedelta(days=1)


def shown(found) -> list[tuple[str, str, datetime, datetime, bool]]:
    return [(item.presence.citizen_id, item.presence.kind, item.presence.start, item.presence.end, item.registered)
            for item in found]


def test_everyone_at_a_place_comes_in_time_order_with_their_registry_flag(warehouse):
    place, worker, visitor, elsewhere = random_place(), random_cccd(), random_cccd(), random_cccd()
    write_scans(warehouse, [
        verified_scan(f"{worker}-1", worker, ts=T, place_id=place),
        verified_scan(f"{worker}-2", worker, ts=T + 8 * H, place_id=place, direction="out"),
        verified_scan(f"{visitor}-1", visitor, registered=False, ts=T + H, place_id=place, direction="pass"),
        verified_scan(f"{elsewhere}-1", elsewhere, ts=T, place_id=random_place()),
    ])

    found = presences_at_place(warehouse, place, MIDNIGHT, MIDNIGHT + DAY)

    assert shown(found) == [
        (worker, "interval", T, T + 8 * H, True),
        (visitor, "point", T + H, T + H, False),
    ]


def test_scans_stored_without_verification_count_as_registered(warehouse):
    place, citizen = random_place(), random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-1", citizen, ts=T, place_id=place)])

    assert shown(presences_at_place(warehouse, place, T, T + H)) == [(citizen, "point", T, T, True)]


def test_the_latest_verification_says_whether_a_person_is_registered(warehouse):
    place, citizen = random_place(), random_cccd()
    write_scans(warehouse, [
        verified_scan(f"{citizen}-1", citizen, registered=False, ts=T, place_id=place),
        verified_scan(f"{citizen}-2", citizen, registered=True, ts=T + 2 * H, place_id=place, direction="pass"),
    ])

    assert [item.registered for item in presences_at_place(warehouse, place, T, T + 3 * H)] == [True, True]


def test_a_window_gets_whole_stays_and_days_that_cross_its_edges(warehouse):
    place, stays, market_day, gone = random_place(), random_cccd(), random_cccd(), random_cccd()
    write_scans(warehouse, [
        scan(f"{stays}-1", stays, ts=T - 3 * H, place_id=place),
        scan(f"{stays}-2", stays, ts=T + H, place_id=place, direction="out"),
        scan(f"{market_day}-1", market_day, ts=MIDNIGHT, place_id=place, precision="day"),
        scan(f"{gone}-1", gone, ts=T - 5 * H, place_id=place, direction="pass"),
    ])

    found = presences_at_place(warehouse, place, T, T + 2 * H)

    assert shown(found) == [
        (market_day, "day", MIDNIGHT, MIDNIGHT + DAY, True),
        (stays, "interval", T - 3 * H, T + H, True),
    ]


def test_injection_attempts_get_nothing(warehouse):
    place, citizen = random_place(), random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-1", citizen, ts=T, place_id=place)])
    assert presences_at_place(warehouse, f"{place}' OR '1'='1", MIDNIGHT, MIDNIGHT + DAY) == []


@pytest.mark.parametrize("since, until", [
    (T, T),
    (T.replace(tzinfo=None), T + H),
    (T, T + MAX_PLACE_WINDOW + timedelta(milliseconds=1)),
])
def test_a_window_must_be_two_aware_times_in_order_at_most_a_month_apart(warehouse, since, until):
    with pytest.raises(ValueError):
        presences_at_place(warehouse, random_place(), since, until)


def test_a_runaway_number_of_scans_is_refused_not_cut_short(warehouse, monkeypatch):
    place = random_place()
    write_scans(warehouse, [scan(f"{place}-{i}", random_cccd(), ts=T + i * H, place_id=place) for i in range(3)])
    monkeypatch.setattr("warehouse.presence.MAX_SCANS_READ", 2)

    with pytest.raises(TooMuchToRead, match="more than 2 scans") as caught:
        presences_at_place(warehouse, place, MIDNIGHT, MIDNIGHT + DAY)
    assert caught.value.transient is False
