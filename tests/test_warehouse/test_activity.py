"""What ops read of movement data: places gone silent, rejections by reason per minute.

The session warehouse is shared: every test writes its own place codes and reads only them.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

from ingest.simulate import local_midnight, simulate
from streams.records import VIETNAM_TIME, Rejection, ScanEvent, VerifiedScan, new_event_id
from tests.conftest import random_cccd
from warehouse.activity import (MIN_SCANS, MIN_SILENCE, SILENCE_FACTOR, USUAL_GAP_DAYS, rejections_by_minute,
                                silent_places)
from warehouse.writer import write_rejections, write_scans

EVERYTHING = 100_000  # the shared warehouse holds other tests' places too: read them all


def every(place: str, start: datetime, end: datetime, gap: timedelta, **changes) -> list[VerifiedScan]:
    """A scan at ``place`` every ``gap`` from ``start`` to ``end``."""
    scans, at = [], start
    while at <= end:
        scans.append(VerifiedScan(event_id=new_event_id(), citizen_id=random_cccd(), place_id=place, ts=at,
                                  direction="in", **changes))
        at += gap
    return scans


def mine(places, prefix: str) -> dict[str, object]:
    return {place.place_id: place for place in places if place.place_id.startswith(prefix)}


def test_a_place_is_silent_after_several_of_its_usual_gaps_and_a_quarter_hour(warehouse):
    run = f"SIL-{secrets.token_hex(3)}-"
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    two_days = now - timedelta(days=2)
    busy_gone_quiet = every(run + "GATE", two_days, now - timedelta(hours=2), timedelta(minutes=5))
    scans = (busy_gone_quiet
             + every(run + "BUSY", two_days, now - timedelta(minutes=4), timedelta(minutes=5))
             # An hourly clinic 90 minutes quiet: within three of its gaps.
             + every(run + "CLINIC", two_days, now - timedelta(minutes=90), timedelta(hours=1))
             # Every 10 s, quiet for 10 minutes: sixty gaps, but under the quarter hour.
             + every(run + "TURNSTILE", now - timedelta(hours=3), now - timedelta(minutes=10), timedelta(seconds=10))
             # Quiet for days, but nine scans tell no usual gap.
             + every(run + "FEW", now - timedelta(days=3), now - timedelta(days=3) + timedelta(minutes=8),
                     timedelta(minutes=1))
             # Scans after `now` are not yet: the place is silent as of then.
             + every(run + "LATER", two_days, now - timedelta(hours=1), timedelta(minutes=10))
             + every(run + "LATER", now + timedelta(minutes=1), now + timedelta(minutes=30), timedelta(minutes=10))
             # A whole-day record from a paper log has no time of day: no gaps from it.
             + [VerifiedScan(event_id=new_event_id(), citizen_id=random_cccd(), place_id=run + "BUSY",
                             ts=local_midnight((now - timedelta(days=1)).astimezone(VIETNAM_TIME).date()),
                             direction="in", precision="day")])
    write_scans(warehouse, scans)
    write_scans(warehouse, busy_gone_quiet[:100])  # copies not merged yet are no gaps of zero

    found = mine(silent_places(warehouse, now, limit=EVERYTHING), run)

    assert sorted(found) == [run + "GATE", run + "LATER"]
    gate = found[run + "GATE"]
    assert gate.usual_gap == timedelta(minutes=5)
    assert gate.last_scan == busy_gone_quiet[-1].ts
    assert gate.silent_for == timedelta(hours=2)
    assert gate.scans == len(busy_gone_quiet)
    assert gate.gaps_missed == 24
    assert found[run + "LATER"].silent_for == timedelta(hours=1)


def test_silent_places_come_longest_silence_first_as_a_share_of_their_gap(warehouse):
    run = f"ORD-{secrets.token_hex(3)}-"
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    write_scans(warehouse, every(run + "A", now - timedelta(days=1), now - timedelta(hours=1), timedelta(minutes=5))
                + every(run + "B", now - timedelta(days=1), now - timedelta(hours=3), timedelta(minutes=5)))

    found = [place.place_id for place in silent_places(warehouse, now, limit=EVERYTHING)
             if place.place_id.startswith(run)]

    assert found == [run + "B", run + "A"]


def expected_silent(scans: list[ScanEvent], now: datetime) -> dict[str, timedelta]:
    """The rule of warehouse.activity, worked out in Python: place -> silence, for the silent ones."""
    times: dict[str, set[datetime]] = {}
    for scan in scans:
        if scan.precision == "instant" and now - timedelta(days=USUAL_GAP_DAYS) <= scan.ts <= now:
            times.setdefault(scan.place_id, set()).add(scan.ts)
    silent = {}
    for place, seen in times.items():
        ordered = sorted(seen)
        if len(ordered) < MIN_SCANS:
            continue
        gaps = sorted(later - earlier for earlier, later in zip(ordered, ordered[1:]))
        usual = gaps[len(gaps) // 2]  # quantileExact(0.5): the upper one of an even count
        if now - ordered[-1] > max(SILENCE_FACTOR * usual, MIN_SILENCE):
            silent[place] = now - ordered[-1]
    return silent


def test_on_a_simulated_day_the_silent_places_are_those_the_rule_names(warehouse):
    day = simulate(400, 20, seed=7, start=local_midnight(datetime.now(timezone.utc).date() - timedelta(days=2)))
    run = f"SIM-{secrets.token_hex(3)}-"
    scans = [ScanEvent(**{**event.asdict(), "place_id": run + event.place_id})
             for _, _, event in day if isinstance(event, ScanEvent)]
    write_scans(warehouse, scans)
    kinds = {run + place: kind for place, kind in day.place_kinds().items()}

    for hour in (6, 8, 12, 17.5, 23):
        now = day.start + timedelta(hours=hour)
        found = mine(silent_places(warehouse, now, limit=EVERYTHING), run)
        assert {place: found[place].silent_for for place in found} == expected_silent(scans, now), hour

    # Late in the evening every workplace seen all day has been quiet for hours (the last left by 18:30).
    night = mine(silent_places(warehouse, day.start + timedelta(hours=23), limit=EVERYTHING), run)
    workplaces = {place for place, kind in kinds.items() if kind == "workplace"
                  and sum(scan.place_id == place for scan in scans) >= MIN_SCANS}
    assert workplaces and workplaces <= set(night)
    assert all(night[place].silent_for >= timedelta(hours=4) for place in workplaces)


def test_rejections_are_counted_by_reason_and_minute_stored(warehouse):
    started = datetime.now(timezone.utc)

    def rejection(reason: str) -> Rejection:
        return Rejection(event_id=new_event_id(), source="scan", citizen_id=random_cccd(),
                         occurred_at=started - timedelta(days=400), reason=reason, detail="test")

    rejected = [rejection("province_code") for _ in range(3)] + [rejection("format")]
    write_rejections(warehouse, rejected)
    write_rejections(warehouse, rejected[:1])  # a redelivered rejection is one

    counts = rejections_by_minute(warehouse, started - timedelta(minutes=1), started + timedelta(minutes=2))

    # Other tests may store rejections at the same time: at least ours, in the minute they were stored.
    assert sum(counts.get("province_code", {}).values()) >= 3
    assert sum(counts.get("format", {}).values()) >= 1
    assert all(minute.second == 0 and minute.tzinfo is timezone.utc for by_minute in counts.values()
               for minute in by_minute)
    assert not rejections_by_minute(warehouse, started - timedelta(days=1000), started - timedelta(days=999))
