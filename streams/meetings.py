"""When two presences at one place make a contact: the contact rules applied, pure.

A meeting is two presences that match the rule version in force when both were first there
(the later of their starts). The kinds combine as DESIGN.md describes:

- two points (scans) match within the version's point window;
- a point and an in/out stay match when the point falls within the window of the stay;
- two stays match when they overlap at least the version's minimum overlap;
- a whole-day record (only the date known) matches anything at the place that local day.

Meetings of one pair are grouped into edges by rule version and by the hour (UTC, which is a
whole local hour too) in which they met: that hour is the edge's window, the unit the crowd
guard counts heads in.
"""
from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime, timedelta

from streams.records import ContactEdge
from streams.rules import RuleBook, RuleVersion
from warehouse.presence import Presence

HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Meeting:
    """Two presences that match: when they were together, how long, by which rule."""

    first: datetime
    last: datetime
    minutes: float
    criterion: str
    rule: RuleVersion
    window: datetime  # the hour of ``first``: the edge it belongs to


class EdgeState(NamedTuple):
    """An edge's content, without the pair, place and revision that publish it."""

    rule_version: str
    window_start: datetime
    criterion: str
    first_together: datetime
    last_together: datetime
    overlap_minutes: float


def hour_of(moment: datetime) -> datetime:
    """The start of the hour holding ``moment``."""
    return moment - timedelta(minutes=moment.minute, seconds=moment.second, microseconds=moment.microsecond)


def hours_covered(presence: Presence, margin: timedelta = timedelta(0)) -> list[datetime]:
    """The hours ``presence`` touches, widened by ``margin`` on both sides.

    A day ends at the next midnight, exclusive; points and stays include their end.
    """
    end = presence.end - _MINUTE / 60_000 if presence.kind == "day" else presence.end
    hour, last = hour_of(presence.start - margin), hour_of(end + margin)
    found = []
    while hour <= last:
        found.append(hour)
        hour += HOUR
    return found


def meet(one: Presence, other: Presence, book: RuleBook) -> Meeting | None:
    """The meeting of two presences at the same place, or None when the rules see no contact.

    >>> from datetime import timezone
    >>> from streams.rules import DEFAULT_RULES
    >>> t = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)
    >>> def at(minutes, until=None, kind="point"):
    ...     end = t + timedelta(minutes=until if until is not None else minutes)
    ...     return Presence("001090000001", "P", t + timedelta(minutes=minutes), end, kind)
    >>> book = RuleBook(DEFAULT_RULES)
    >>> meet(at(0), at(45), book).criterion, meet(at(0), at(61), book)
    ('point_window', None)
    >>> m = meet(at(0, 30, "interval"), at(10, 90, "interval"), book)
    >>> m.criterion, m.minutes, f"{m.first:%H:%M}-{m.last:%H:%M}"
    ('interval_overlap', 20.0, '02:10-02:30')
    >>> meet(at(0, 20, "interval"), at(10, 90, "interval"), book) is None  # 10 minutes together
    True
    """
    start = max(one.start, other.start)
    rule = book.at(start)
    together_from, together_to = start, min(one.end, other.end)
    if "day" in (one.kind, other.kind):
        day, rest = (one, other) if one.kind == "day" else (other, one)
        if not (day.start <= rest.end and rest.start < day.end):
            return None
        return Meeting(together_from, min(together_to, day.end), 0.0, ContactEdge.SAME_DAY, rule,
                       hour_of(together_from))
    if one.kind == "interval" and other.kind == "interval":
        overlap = together_to - together_from
        if overlap < rule.min_overlap or overlap < timedelta(0):
            return None
        return Meeting(together_from, together_to, overlap / _MINUTE, ContactEdge.INTERVAL_OVERLAP, rule,
                       hour_of(together_from))
    # A point, with a point or a stay: within the window of each other. A gap is reported as
    # it was: from the earlier one's end to the later one's start.
    if together_from - together_to > rule.point_window:
        return None
    first, last = (together_from, together_to) if together_from <= together_to else (together_to, together_from)
    return Meeting(first, last, 0.0, ContactEdge.POINT_WINDOW, rule, hour_of(first))


def pair_edges(
    mine: Iterable[Presence], theirs: Iterable[Presence], book: RuleBook, crowded: Container[datetime]
) -> dict[tuple[str, datetime], EdgeState]:
    """The edges between two people at one place, keyed by (rule version, window).

    Every pair of their presences that meets counts; meetings in a crowded window give no edge
    (the crowd exposure stands for them). An edge spans its meetings' first and last moments,
    sums their overlap, and names the criterion of its earliest meeting.
    """
    theirs = list(theirs)
    meetings: dict[tuple[str, datetime], list[Meeting]] = {}
    for one in mine:
        for other in theirs:
            meeting = meet(one, other, book)
            if meeting is not None and meeting.window not in crowded:
                meetings.setdefault((meeting.rule.version, meeting.window), []).append(meeting)
    edges = {}
    for key, found in meetings.items():
        if len(found) == 1:  # the common case: one meeting in the hour
            first = last = found[0]
            minutes = first.minutes
        else:
            found.sort(key=lambda m: (m.first, m.last, m.criterion))
            first, last = found[0], max(found, key=lambda m: m.last)
            minutes = sum(m.minutes for m in found)
        edges[key] = EdgeState(key[0], key[1], first.criterion, first.first, last.last, minutes)
    return edges
