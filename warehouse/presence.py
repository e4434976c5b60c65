"""Where a person was and when: scans turned into presences (DESIGN.md, "Presence granularity").

A scan is a point in time; an ``in`` followed by the next ``out`` at the same place is an
interval; a day-precision record (only the date is known) is the whole local day at that place.
:func:`presences` is the rule, pure; :func:`presences_of_citizen` reads one person's scans from
the warehouse and applies it, :func:`presences_at_place` everyone's at one place.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from clickhouse_connect.driver.client import Client

from streams.records import SCAN_FIELDS, ScanEvent
from warehouse.contacts import check_place_window
from warehouse.errors import TooMuchToRead, driver_errors

PresenceKind = Literal["point", "interval", "day"]
PRESENCE_KINDS: tuple[PresenceKind, ...] = ("point", "interval", "day")
# Longer than any stay an in/out pair describes (a work shift, a night in hospital): an `in`
# whose `out` comes later than this is a forgotten check-out, and the pair is not an interval.
MAX_STAY = timedelta(hours=12)
DAY = timedelta(days=1)
# One person's scans in a tracing window are hundreds; more is a runaway producer or a window
# too wide for one request, and is refused rather than cut short.
MAX_SCANS_READ = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

_SCANS_BETWEEN = f"""
SELECT {", ".join(SCAN_FIELDS)}
FROM scans_by_citizen FINAL
WHERE citizen_id = {{citizen_id:String}}
  AND ts >= fromUnixTimestamp64Milli({{from_ms:Int64}}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({{to_ms:Int64}}, 'UTC')
ORDER BY ts, event_id, place_id, direction, precision
LIMIT {{limit:UInt32}}
"""


@dataclass(frozen=True)
class Presence:
    """A person at a place: from ``start`` to ``end`` (UTC), a ``point``, ``interval`` or ``day``.

    A point has ``start == end``; an interval is closed, [in, out]; a day is half-open, from
    local midnight to the next local midnight.
    """

    citizen_id: str
    place_id: str
    start: datetime
    end: datetime
    kind: PresenceKind

    def overlaps(self, since: datetime, until: datetime) -> bool:
        """Whether any moment of this presence falls in [since, until).

        >>> t = datetime(2026, 11, 28, 8, tzinfo=timezone.utc)
        >>> point = Presence("001090000001", "P1", t, t, "point")
        >>> point.overlaps(t, t + DAY), point.overlaps(t - DAY, t)
        (True, False)
        """
        if self.kind == "day":
            return self.start < until and self.end > since
        return self.start < until and self.end >= since


def presences(scans: Iterable[ScanEvent], max_stay: timedelta = MAX_STAY) -> list[Presence]:
    """Turn scans into presences, ordered by person, start, end and place.

    Per person and place, in time order: an ``in`` and the next ``out`` no more than
    ``max_stay`` later make an interval (a later ``in`` replaces an earlier one still open,
    which stays a point); every other ``in``, ``out``, ``pass`` or ``turn_back`` is a point.
    A day-precision record, whose ``ts`` is its local midnight, is that whole day. Copies of
    a scan count once, and equal presences (the same record from two sources) come once.

    >>> t = datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc)
    >>> def scan(minutes, direction, place="P1", precision="instant"):
    ...     return ScanEvent(event_id=f"e{minutes}", citizen_id="001090000001", place_id=place,
    ...                      ts=t + timedelta(minutes=minutes), direction=direction, precision=precision)
    >>> def show(found):
    ...     return [(p.kind, p.place_id, f"{p.start:%d %H:%M}", f"{p.end:%d %H:%M}") for p in found]
    >>> show(presences([scan(90, "out"), scan(0, "in")]))
    [('interval', 'P1', '28 01:00', '28 02:30')]
    >>> show(presences([scan(0, "in"), scan(10, "pass", "P2"), scan(20, "in"), scan(30, "out")]))
    [('point', 'P1', '28 01:00', '28 01:00'), ('point', 'P2', '28 01:10', '28 01:10'), ('interval', 'P1', '28 01:20', '28 01:30')]

    An ``out`` long after the ``in`` is two points, not a 13-hour stay:

    >>> show(presences([scan(0, "in"), scan(13 * 60, "out")]))
    [('point', 'P1', '28 01:00', '28 01:00'), ('point', 'P1', '28 14:00', '28 14:00')]

    A day record stored at local midnight (17:00 UTC the evening before) covers that local day:

    >>> midnight = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)
    >>> show(presences([scan((midnight - t) / timedelta(minutes=1), "in", "MARKET", "day")]))
    [('day', 'MARKET', '27 17:00', '28 17:00')]
    """
    found: set[Presence] = set()
    by_stay: dict[tuple[str, str], list[ScanEvent]] = defaultdict(list)
    # A redelivered copy is the same scan: it must not become a second point.
    unique = {tuple(getattr(scan, name) for name in SCAN_FIELDS): scan for scan in scans}
    for scan in unique.values():
        if scan.precision == "day":
            found.add(Presence(scan.citizen_id, scan.place_id, scan.ts, scan.ts + DAY, "day"))
        else:
            by_stay[scan.citizen_id, scan.place_id].append(scan)
    for (citizen_id, place_id), stay in by_stay.items():
        # At one instant an `in` comes before an `out`: a zero-length visit, not an out then an in.
        stay.sort(key=lambda scan: (scan.ts, scan.direction != "in", scan.event_id))
        open_in: ScanEvent | None = None
        for scan in stay:
            if scan.direction == "out" and open_in is not None and scan.ts - open_in.ts <= max_stay:
                found.add(Presence(citizen_id, place_id, open_in.ts, scan.ts, "interval"))
                open_in = None
                continue
            if scan.direction == "in":
                if open_in is not None:
                    found.add(_point(open_in))
                open_in = scan
                continue
            if scan.direction == "out" and open_in is not None:  # too late to close it
                found.add(_point(open_in))
                open_in = None
            found.add(_point(scan))
        if open_in is not None:
            found.add(_point(open_in))
    return sorted(found, key=lambda p: (p.citizen_id, p.start, p.end, p.place_id, p.kind))


def presences_of_citizen(
    client: Client, citizen_id: str, since: datetime, until: datetime, max_stay: timedelta = MAX_STAY
) -> list[Presence]:
    """One person's presences that overlap [since, until), from ``scans_by_citizen``.

    Scans up to ``max_stay`` (and a day) outside the window are read too, so an interval that
    starts before ``since`` or ends after ``until`` is whole, as :func:`presences` over all of
    the person's scans would give it.
    """
    for name, moment in (("since", since), ("until", until)):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    rows = _scans_around(client, _SCANS_BETWEEN, {"citizen_id": citizen_id}, since, until, max_stay,
                         f"scans of one person between {since:%Y-%m-%d} and {until:%Y-%m-%d}")
    scans = [ScanEvent(**row) for row in rows]
    return [found for found in presences(scans, max_stay) if found.overlaps(since, until)]


def _scans_around(client: Client, query: str, parameters: dict[str, Any], since: datetime, until: datetime,
                  max_stay: timedelta, what: str) -> list[dict[str, Any]]:
    """Rows of ``query`` from ``max_stay`` (and a day) before ``since`` to as long after ``until``.

    So a stay across an edge of the window is read whole, as :func:`presences` over all the
    scans would give it. More than MAX_SCANS_READ rows is a window too wide for one answer.
    """
    margin = max(max_stay, DAY)
    bound = {**parameters, "from_ms": _ms(since - margin), "to_ms": _ms(until + margin), "limit": MAX_SCANS_READ + 1}
    with driver_errors(f"reading {what}"):
        result = client.query(query, parameters=bound, tz_mode="aware")
    if len(result.result_rows) > MAX_SCANS_READ:
        raise TooMuchToRead(f"more than {MAX_SCANS_READ} {what}: ask for a shorter window")
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def _point(scan: ScanEvent) -> Presence:
    return Presence(scan.citizen_id, scan.place_id, scan.ts, scan.ts, "point")


def _ms(moment: datetime) -> int:
    """Milliseconds since the epoch: bound as Int64, like the paging cursor."""
    return (moment - _EPOCH) // _MS


# Everyone at one place ------------------------------------------------------------------------

# From scans, ordered by place and time: the place is the key's prefix. ``registered`` is the
# verification's flag, stored beside the scan (migration 0004).
_SCANS_AT_PLACE = f"""
SELECT {", ".join(SCAN_FIELDS)}, registered
FROM scans FINAL
WHERE place_id = {{place_id:String}}
  AND ts >= fromUnixTimestamp64Milli({{from_ms:Int64}}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({{to_ms:Int64}}, 'UTC')
ORDER BY place_id, ts, event_id, citizen_id, direction, precision
LIMIT {{limit:UInt32}}
"""


@dataclass(frozen=True)
class PlacePresence:
    """A presence at a place, and whether the registry holds the person.

    ``registered`` is False for a number the registry did not hold when the person's latest scan
    read was verified (a visitor, a child without a card): still a presence, flagged.
    """

    presence: Presence
    registered: bool


def presences_at_place(
    client: Client, place_id: str, since: datetime, until: datetime, max_stay: timedelta = MAX_STAY
) -> list[PlacePresence]:
    """Everyone's presences at ``place_id`` that overlap [since, until), in time order.

    Scans up to ``max_stay`` (and a day) outside the window are read too, as
    :func:`presences_of_citizen` does, so a stay across an edge of the window is whole. The
    window follows the place-level rules of :func:`warehouse.contacts.check_place_window`.
    """
    check_place_window(since, until)
    rows = _scans_around(client, _SCANS_AT_PLACE, {"place_id": place_id}, since, until, max_stay,
                         f"scans at {place_id!r} between {since:%Y-%m-%d} and {until:%Y-%m-%d}")
    scans, registered = [], {}
    for values in rows:
        # Rows come in time order: the last one read carries the latest verification.
        registered[values["citizen_id"]] = values.pop("registered")
        scans.append(ScanEvent(**values))
    found = [p for p in presences(scans, max_stay) if p.overlaps(since, until)]
    found.sort(key=lambda p: (p.start, p.end, p.citizen_id, p.kind))
    return [PlacePresence(p, registered[p.citizen_id]) for p in found]
