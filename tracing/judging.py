"""Rows to exposures under a trace rule set: presences judged, exposures filtered, pure.

A fetch returns a mix of :class:`~tracing.rows.Exposure` and
:class:`~warehouse.presence.Presence` rows (or ``PlacePresence``, as
``warehouse.presence.presences_at_place`` returns them). :func:`exposures_among` turns them into the
exposures a rule set counts:

- presences at one place are judged pairwise with ``streams.meetings.meet`` under the set's
  point window and minimum overlap;
- exposures already judged (stream contact edges, imported contacts) are kept as they are;
- under ``same_day="ignore"`` date-only presences and ``same_day`` exposures are dropped.

:func:`drop_short_imported` applies the minimum cumulative time of imported contacts: a pair's
imported rows count only when their minutes add up to at least the set's ``min_imported``.
Stream rows are never dropped by it.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from streams.meetings import meet
from tracing.errors import InvalidRow
from tracing.rows import SAME_DAY, Exposure, Presence, exposure_span
from tracing.rules import TraceRules, contact_book
from warehouse.presence import PlacePresence

Row = Exposure | Presence | PlacePresence


def exposure_order(exposure: Exposure) -> tuple:
    """A total order of exposures, earliest first, so every answer comes out the same way."""
    return (exposure.first_together, exposure.last_together, exposure.citizen_a, exposure.citizen_b,
            exposure.place_id or "", exposure.source, exposure.criterion, exposure.rule_version, exposure.minutes)


def exposures_among(rows: Iterable[Row], rules: TraceRules,
                    citizens: Collection[str] | None = None) -> list[Exposure]:
    """The exposures ``rows`` hold under ``rules`` that involve ``citizens`` (everyone for None).

    Earliest first, each once (the same row fetched twice counts once).

    >>> from datetime import datetime, timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> def scan(citizen, minutes):
    ...     return Presence(citizen, "MARKET", t + timedelta(minutes=minutes), t + timedelta(minutes=minutes), "point")
    >>> found = exposures_among([scan("A", 0), scan("B", 45), scan("C", 200)], DEFAULT_TRACE_RULES, {"A"})
    >>> [(e.citizens, e.criterion, e.rule_version) for e in found]
    [(('A', 'B'), 'point_window', 'truyvet-trace-default-1')]
    """
    given: list[Exposure] = []
    presences: list[Presence] = []
    for row in rows:
        if isinstance(row, Exposure):
            if (citizens is None or row.involves(citizens)) and not (
                    rules.same_day == "ignore" and row.criterion == SAME_DAY):
                given.append(row)
        elif isinstance(row, (Presence, PlacePresence)):
            row = row.presence if isinstance(row, PlacePresence) else row
            if not (rules.same_day == "ignore" and row.kind == "day"):
                presences.append(row)
        else:
            raise InvalidRow(f"expected an Exposure or a Presence row, got {type(row).__name__}")
    found = dict.fromkeys(given + _judge(presences, rules, citizens))
    return sorted(found, key=exposure_order)


def drop_short_imported(exposures: Iterable[Exposure], rules: TraceRules) -> list[Exposure]:
    """``exposures`` without the imported ones of pairs together less than ``rules.min_imported``.

    The minutes of a pair's imported rows add up; stream rows are kept as judged.

    >>> from dataclasses import replace
    >>> from datetime import datetime, timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> def talk(pair, minutes):
    ...     return Exposure(*pair, None, t, t + timedelta(minutes=minutes), minutes, "interview", "imported", "household")
    >>> rules = replace(DEFAULT_TRACE_RULES, min_imported=timedelta(minutes=15))
    >>> [e.citizens for e in drop_short_imported([talk("AB", 10), talk("AB", 5), talk("AC", 14)], rules)]
    [('A', 'B'), ('A', 'B')]
    """
    exposures = list(exposures)
    if rules.min_imported <= timedelta(0):  # any recorded contact counts
        return exposures
    minutes: dict[tuple[str, str], float] = defaultdict(float)
    for exposure in exposures:
        if exposure.source == "imported":
            minutes[exposure.citizens] += exposure.minutes
    short = {pair for pair, total in minutes.items() if timedelta(minutes=total) < rules.min_imported}
    return [e for e in exposures if not (e.source == "imported" and e.citizens in short)]


def _judge(presences: list[Presence], rules: TraceRules, citizens: Collection[str] | None) -> list[Exposure]:
    """Every pair of presences at one place that meets, one side in ``citizens``; each pair once."""
    book = contact_book(rules)
    by_place: dict[str, list[Presence]] = defaultdict(list)
    for presence in dict.fromkeys(presences):
        by_place[presence.place_id].append(presence)
    found = []
    for here in by_place.values():
        here.sort(key=_presence_order)
        starts = [presence.start for presence in here]
        # Two presences meet only if each starts no later than a point window after the other
        # ends: the others worth asking lie in a range of start times.
        longest = max(presence.end - presence.start for presence in here)
        for one in here:
            if citizens is not None and one.citizen_id not in citizens:
                continue
            low = bisect_left(starts, one.start - rules.point_window - longest)
            high = bisect_right(starts, one.end + rules.point_window)
            for other in here[low:high]:
                if other.citizen_id == one.citizen_id:
                    continue
                both_asked = citizens is None or other.citizen_id in citizens
                if both_asked and _presence_order(other) < _presence_order(one):
                    continue  # judged from the other side
                meeting = meet(one, other, book)
                if meeting is not None:
                    found.append(Exposure.from_meeting(one, other, meeting))
    return found


def _presence_order(presence: Presence) -> tuple:
    return presence.start, presence.end, presence.citizen_id, presence.kind, presence.place_id


def counted_at(exposure: Exposure, since: datetime, until: datetime, rules: TraceRules) -> datetime | None:
    """The first moment of ``exposure`` in [since, until), or None when it has none.

    This is the time-respecting filter: an exposure of someone's contact counts from the moment
    that person could pass infection on (``since``: their own first exposure, or the start of
    the case's infectious period) until they could not (``until``: isolation, or the end of the
    trace). The exposure covers [first_together, last_together], or its whole local day for a
    date-only contact under ``same_day="whole_day"``.

    >>> from datetime import datetime, timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> stay = Exposure("A", "B", "MARKET", t, t + timedelta(minutes=30), 30, "QD-1", "stream", "interval_overlap")
    >>> counted_at(stay, t + timedelta(minutes=10), t + timedelta(days=1), DEFAULT_TRACE_RULES) - t
    datetime.timedelta(seconds=600)
    >>> counted_at(stay, t + timedelta(hours=1), t + timedelta(days=1), DEFAULT_TRACE_RULES) is None  # before
    True
    >>> counted_at(stay, t - timedelta(days=1), t, DEFAULT_TRACE_RULES) is None  # isolated by then
    True
    """
    first, last = exposure_span(exposure, rules)
    moment = max(first, since)
    return moment if moment <= last and moment < until else None
