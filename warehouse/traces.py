"""What a trace reads from the warehouse, one round at a time: the fetch of :mod:`tracing.forward`.

``trace_fetch(client, rules)`` returns ``fetch(citizens, since, until)``, which gives the rows
holding every exposure of ``citizens`` in [since, until), in two steps through the warehouse's
two orders of scans, so no step scans a table:

1. the tier's scans, from ``scans_by_citizen`` (ordered by citizen and time): their presences;
2. everyone's scans at those places around those presences, from ``scans`` (ordered by place
   and time): one query for every place and window of the tier, its key ranges the places and
   the span of the windows, each row then held to its own place's windows.

Imported contacts of the tier (``warehouse.imported``) come as exposures. The stream's contact
edges are not read: presences are judged again by the trace's own rule set, which may be
another than the stream's, and a crowded hour, which the stream records as one crowd exposure,
is paired out here, for the people of this trace only.

Every value is bound server-side; only constants are formatted into the queries.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from typing import Any

import networkx as nx
from clickhouse_connect.driver.client import Client

from streams.records import SCAN_FIELDS, ScanEvent
from tracing.forward import Fetch, trace
from tracing.judging import Row
from tracing.rows import Exposure
from tracing.rules import TraceRules
from warehouse.errors import TooMuchToRead, driver_errors
from warehouse.imported import imported_contacts_of
from warehouse.presence import DAY, MAX_SCANS_READ, MAX_STAY, Presence, presences

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# Scans to read around a window so every presence that overlaps it is whole: an `in` up to a
# stay before it (a day record is stored at its local midnight, up to a day before), an `out` up
# to a stay after it.
_BEFORE = max(MAX_STAY, DAY)
_AFTER = MAX_STAY

_COLUMNS = ", ".join(SCAN_FIELDS)
_SCANS_OF_CITIZENS = f"""
SELECT {_COLUMNS}
FROM scans_by_citizen
WHERE citizen_id IN {{citizens:Array(String)}}
  AND ts >= fromUnixTimestamp64Milli({{from_ms:Int64}}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({{to_ms:Int64}}, 'UTC')
LIMIT {{limit:UInt32}}
"""
_SCANS_AT_PLACES = f"""
SELECT {_COLUMNS}
FROM scans
WHERE place_id IN {{places:Array(String)}}
  AND ts >= fromUnixTimestamp64Milli({{from_ms:Int64}}, 'UTC')
  AND ts < fromUnixTimestamp64Milli({{to_ms:Int64}}, 'UTC')
  AND arrayExists((first_ms, last_ms) -> toUnixTimestamp64Milli(ts) >= first_ms AND toUnixTimestamp64Milli(ts) < last_ms,
                  mapFromArrays({{places:Array(String)}}, {{window_from_ms:Array(Array(Int64))}})[place_id],
                  mapFromArrays({{places:Array(String)}}, {{window_to_ms:Array(Array(Int64))}})[place_id])
LIMIT {{limit:UInt32}}
"""
# Each row is held to its own place's windows (a map from the place to them), not to every window
# of the round: 30x faster on an F2 round of 627 places and 1,924 windows (bench/README.md).

Window = tuple[datetime, datetime]


def trace_case(client: Client, case: str, since: datetime, until: datetime, depth: int,
               rules: TraceRules) -> nx.DiGraph:
    """The trace of ``case``, infectious from ``since`` to ``until``, ``depth`` tiers, under ``rules``."""
    return trace(case, since, depth, rules, trace_fetch(client, rules), until=until)


def trace_fetch(client: Client, rules: TraceRules) -> Fetch:
    """The fetch a trace under ``rules`` calls once per round, reading from ``client``."""

    def fetch(citizens: Collection[str], since: datetime, until: datetime) -> list[Row]:
        return rows_of(client, citizens, since, until, rules)

    return fetch


def rows_of(client: Client, citizens: Collection[str], since: datetime, until: datetime,
            rules: TraceRules) -> list[Row]:
    """The presences of ``citizens`` in [since, until), everyone's that may meet them, their imported contacts.

    Copies of a scan count once (the tables are read without FINAL; :func:`presences` drops
    copies). More than MAX_SCANS_READ scans in one step is refused (TooMuchToRead).
    """
    if not citizens:
        return []
    own = [presence for presence in presences(_scans(
        client, _SCANS_OF_CITIZENS, {"citizens": sorted(citizens)}, since - _BEFORE, until + _AFTER,
        f"scans of {len(citizens)} people"))
        if presence.overlaps(since, until)]
    windows = meeting_windows(own, rules.point_window)
    others = _presences_around(client, windows)
    imported = [Exposure.from_imported_contact(contact)
                for contact in imported_contacts_of(client, citizens, since, until)]
    return [*own, *others, *imported]


def meeting_windows(found: list[Presence], point_window: timedelta) -> dict[str, list[Window]]:
    """Per place, the merged windows in which someone else's presence may meet one of ``found``.

    A presence widened by the point window on both sides (a day presence is its whole day).

    >>> t = datetime(2026, 11, 28, 8, tzinfo=timezone.utc)
    >>> hour = timedelta(hours=1)
    >>> merged = meeting_windows([Presence("A", "P1", t, t, "point"), Presence("A", "P1", t + hour, t + 2 * hour, "interval"),
    ...                           Presence("A", "P2", t, t, "point")], hour)
    >>> {place: [(f"{a:%H:%M}", f"{b:%H:%M}") for a, b in spans] for place, spans in merged.items()}
    {'P1': [('07:00', '11:00')], 'P2': [('07:00', '09:00')]}
    """
    spans: dict[str, list[Window]] = defaultdict(list)
    for presence in found:
        margin = timedelta(0) if presence.kind == "day" else point_window
        spans[presence.place_id].append((presence.start - margin, presence.end + margin))
    merged: dict[str, list[Window]] = {}
    for place, windows in spans.items():
        windows.sort()
        joined = [windows[0]]
        for start, end in windows[1:]:
            if start <= joined[-1][1]:
                joined[-1] = (joined[-1][0], max(joined[-1][1], end))
            else:
                joined.append((start, end))
        merged[place] = joined
    return merged


def _presences_around(client: Client, windows: dict[str, list[Window]]) -> list[Presence]:
    """Everyone's presences at the places of ``windows`` that overlap one of the place's windows."""
    if not windows:
        return []
    places = sorted(windows)
    parameters = {
        "places": places,
        "window_from_ms": [[_ms(start - _BEFORE) for start, _ in windows[place]] for place in places],
        "window_to_ms": [[_ms(end + _AFTER) + 1 for _, end in windows[place]] for place in places],
    }
    first = min(start for spans in windows.values() for start, _ in spans)
    last = max(end for spans in windows.values() for _, end in spans)
    scans = _scans(client, _SCANS_AT_PLACES, parameters, first - _BEFORE, last + _AFTER + _MS,
                   f"scans at {len(windows)} places")
    return [presence for presence in presences(scans)
            if any(presence.overlaps(start, end + _MS) for start, end in windows[presence.place_id])]


def _scans(client: Client, query: str, parameters: dict[str, Any], since: datetime, until: datetime,
           what: str) -> list[ScanEvent]:
    bound = {**parameters, "from_ms": _ms(since), "to_ms": _ms(until), "limit": MAX_SCANS_READ + 1}
    with driver_errors(f"reading {what} for a trace"):
        result = client.query(query, parameters=bound, tz_mode="aware")
    if len(result.result_rows) > MAX_SCANS_READ:
        raise TooMuchToRead(f"more than {MAX_SCANS_READ} {what}: trace a shorter period or fewer tiers")
    return [ScanEvent(**dict(zip(result.column_names, row))) for row in result.result_rows]


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS
