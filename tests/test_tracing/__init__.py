"""Tests of the trace engine, and the small factories their scenarios are written with.

Times are hours after ``T0`` (2021-07-05 08:00 in Viet Nam); people have short names that say
their role in the scenario, since the engine does not check CCCD numbers.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

from tracing.rows import Exposure, Presence

T0 = datetime(2021, 7, 5, 1, tzinfo=timezone.utc)
FAR = T0 + timedelta(days=60)
STREAM_RULE = "truyvet-default-1"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def met(a: str, b: str, hours: float, *, minutes: float = 0, place: str = "MARKET",
        criterion: str | None = None) -> Exposure:
    """A stream contact edge: together from ``hours`` for ``minutes`` (0: two scans at once)."""
    criterion = criterion or ("interval_overlap" if minutes else "point_window")
    return Exposure(a, b, place, at(hours), at(hours) + timedelta(minutes=minutes), minutes, STREAM_RULE,
                    "stream", criterion)


def talked(a: str, b: str, hours: float, minutes: float, setting: str = "household") -> Exposure:
    """An imported contact, as a case interview records it: no place, a duration."""
    return Exposure(a, b, None, at(hours), at(hours) + timedelta(minutes=minutes), minutes, "interview-2021",
                    "imported", setting)


def scan(citizen: str, hours: float, place: str = "MARKET") -> Presence:
    return Presence(citizen, place, at(hours), at(hours), "point")


def stay(citizen: str, from_hours: float, to_hours: float, place: str = "MARKET") -> Presence:
    return Presence(citizen, place, at(from_hours), at(to_hours), "interval")


def whole_day(citizen: str, day: date, place: str = "MARKET") -> Presence:
    """A date-only record: the local day from its midnight (UTC+7) to the next."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone(timedelta(hours=7))).astimezone(timezone.utc)
    return Presence(citizen, place, midnight, midnight + timedelta(days=1), "day")


def fetcher(rows: Iterable[Exposure | Presence], calls: list | None = None):
    """A fetch over ``rows`` that keeps the warehouse's contract: only what overlaps the period.

    Exposures of the citizens asked about, their presences, and everyone's presences at the
    places they were. ``calls`` collects (citizens, since, until) of every call.
    """
    rows = list(rows)

    def fetch(citizens, since, until):
        if calls is not None:
            calls.append((set(citizens), since, until))
        found, places = [], set()
        for row in rows:
            if isinstance(row, Exposure):
                if row.involves(citizens) and row.first_together < until and row.last_together >= since:
                    found.append(row)
            elif row.citizen_id in citizens and row.overlaps(since, until):
                places.add(row.place_id)
        found += [row for row in rows if isinstance(row, Presence) and row.place_id in places
                  and row.overlaps(since, until)]
        return found

    return fetch
