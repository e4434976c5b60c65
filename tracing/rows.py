"""The rows the trace engine reads: exposures between two people, and presences at places.

An :class:`Exposure` is two people together: at a place, as the co-location stream judged it
(a contact edge in the warehouse) or as a trace judged two presences; or anywhere, as a case
interview or a proximity device recorded it (an imported contact, ``place_id`` None). Times are
aware and kept in UTC. A :class:`~warehouse.presence.Presence` (one person at one place, a
point, an in/out stay or a whole local day) is the other row a fetch may return; the engine
judges presences with ``streams.meetings.meet`` under the trace's rule set (see
:mod:`tracing.judging`).

``criterion`` says how the two met: for movement data one of the stream's criteria
(``point_window``, ``interval_overlap``, ``same_day``), for an imported contact the setting
recorded with it (``household``, ``workplace``, ``school``...). ``rule_version`` says what
judged them contacts: the stream's rule version for its edges, the trace's rule set for the
presences a trace judges, and for an imported contact how it was recorded (``interview``,
``device``, ``other``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from streams.meetings import Meeting
from streams.records import VIETNAM_TIME, ContactEdge
from tracing.errors import InvalidRow
from tracing.rules import TraceRules
from warehouse.presence import Presence

Source = Literal["stream", "imported"]
# "stream": movement data (scans), judged by the stream or by the trace; "imported": a contact
# named in a case interview or recorded by a proximity device.
SOURCES: tuple[Source, ...] = ("stream", "imported")
SAME_DAY = ContactEdge.SAME_DAY
_DAY = timedelta(days=1)
# A whole day is half-open; its span ends just before the next local midnight.
_INSTANT = timedelta(microseconds=1)

__all__ = ["Exposure", "Presence", "SOURCES", "exposure_span"]


@dataclass(frozen=True)
class Exposure:
    """Two people together from ``first_together`` to ``last_together`` (aware, kept in UTC).

    ``minutes`` is the time together (the overlap of stays, or an imported contact's
    duration; 0 for scans only near each other in time). The pair is kept in order
    (``citizen_a`` < ``citizen_b``), so the same exposure read from either side is equal.

    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> e = Exposure("002", "001", "MARKET", t, t + timedelta(minutes=20), 20, "QD-1", "stream", "interval_overlap")
    >>> e.citizen_a, e.other("002"), e.involves({"001", "009"})
    ('001', '001', True)
    >>> Exposure("001", "002", None, t, t - timedelta(minutes=1), 0, "QD-1", "imported", "household")
    Traceback (most recent call last):
    ...
    tracing.errors.InvalidRow: 001-002: last_together (2021-07-01T01:59:00+00:00) is before first_together (2021-07-01T02:00:00+00:00)
    """

    citizen_a: str
    citizen_b: str
    place_id: str | None
    first_together: datetime
    last_together: datetime
    minutes: float
    rule_version: str
    source: Source
    criterion: str

    def __post_init__(self) -> None:
        where = f"{self.citizen_a}-{self.citizen_b}"
        if self.citizen_a == self.citizen_b:
            raise InvalidRow(f"{where}: an exposure needs two different people")
        if self.citizen_a > self.citizen_b:
            first, second = self.citizen_b, self.citizen_a
            object.__setattr__(self, "citizen_a", first)
            object.__setattr__(self, "citizen_b", second)
        for name in ("first_together", "last_together"):
            moment = getattr(self, name)
            if not isinstance(moment, datetime) or moment.tzinfo is None:
                raise InvalidRow(f"{where}: {name} must be a timezone-aware datetime, got {moment!r}")
            object.__setattr__(self, name, moment.astimezone(timezone.utc))
        if self.last_together < self.first_together:
            raise InvalidRow(f"{where}: last_together ({self.last_together.isoformat()}) is before "
                             f"first_together ({self.first_together.isoformat()})")
        if isinstance(self.minutes, bool) or not isinstance(self.minutes, (int, float)) or not self.minutes >= 0:
            raise InvalidRow(f"{where}: minutes must be a number of at least 0, got {self.minutes!r}")
        if self.source not in SOURCES:
            raise InvalidRow(f"{where}: source must be one of {list(SOURCES)}, got {self.source!r}")
        if self.source == "stream" and not self.place_id:
            raise InvalidRow(f"{where}: an exposure from movement data needs its place")

    @property
    def citizens(self) -> tuple[str, str]:
        return self.citizen_a, self.citizen_b

    def other(self, citizen: str) -> str:
        """The other person of the pair."""
        return self.citizen_b if citizen == self.citizen_a else self.citizen_a

    def involves(self, citizens: Any) -> bool:
        """Whether either person is in ``citizens`` (any container)."""
        return self.citizen_a in citizens or self.citizen_b in citizens

    @classmethod
    def from_contact_edge(cls, edge: ContactEdge) -> Exposure:
        """A stream contact edge (as the warehouse returns it), kept as the stream judged it."""
        if edge.retracted:
            raise InvalidRow(f"{edge.citizen_a}-{edge.citizen_b}: a retracted contact edge is no exposure")
        return cls(edge.citizen_a, edge.citizen_b, edge.place_id, edge.first_together, edge.last_together,
                   float(edge.overlap_minutes), edge.rule_version, "stream", edge.criterion)

    @classmethod
    def from_imported_contact(cls, contact: Any) -> Exposure:
        """An imported contact as ``warehouse.imported`` reads it (or ``ingest.contactlog`` parses it).

        Read by person (``citizen_id``, ``other_id``) or by pair (``citizen_a``, ``citizen_b``);
        an empty place is no place.

        >>> from types import SimpleNamespace
        >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
        >>> row = SimpleNamespace(citizen_id="002", other_id="001", started_at=t, ended_at=t + timedelta(minutes=40),
        ...                       setting="household", source="interview", place_id="")
        >>> e = Exposure.from_imported_contact(row)
        >>> e.citizens, e.place_id, e.minutes, e.rule_version, e.criterion
        (('001', '002'), None, 40.0, 'interview', 'household')
        """
        pair = ((contact.citizen_id, contact.other_id) if hasattr(contact, "citizen_id")
                else (contact.citizen_a, contact.citizen_b))
        minutes = (contact.ended_at - contact.started_at) / timedelta(minutes=1)
        return cls(*pair, contact.place_id or None, contact.started_at, contact.ended_at, minutes,
                   contact.source, "imported", contact.setting)

    @classmethod
    def from_meeting(cls, one: Presence, other: Presence, meeting: Meeting) -> Exposure:
        """Two presences at one place that ``streams.meetings.meet`` found to meet."""
        return cls(one.citizen_id, other.citizen_id, one.place_id, meeting.first, meeting.last,
                   meeting.minutes, meeting.rule.version, "stream", meeting.criterion)


def exposure_span(exposure: Exposure, rules: TraceRules) -> tuple[datetime, datetime]:
    """The moments an exposure covers for time-respecting checks, both included.

    Under ``same_day="whole_day"`` a date-only contact covers its whole local day: the record
    cannot tell whether the two were there before or after some other moment of that day.

    >>> from dataclasses import replace
    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> t = datetime(2021, 7, 1, 3, tzinfo=timezone.utc)  # 10:00 in Viet Nam
    >>> e = Exposure("001", "002", "MARKET", t, t, 0, "QD-1", "stream", "same_day")
    >>> [f"{m.astimezone(VIETNAM_TIME):%d %H:%M}" for m in exposure_span(e, DEFAULT_TRACE_RULES)]
    ['01 00:00', '01 23:59']
    >>> [f"{m.astimezone(VIETNAM_TIME):%d %H:%M}" for m in
    ...  exposure_span(e, replace(DEFAULT_TRACE_RULES, same_day="as_recorded"))]
    ['01 10:00', '01 10:00']
    """
    if exposure.criterion == SAME_DAY and rules.same_day == "whole_day":
        local = exposure.first_together.astimezone(VIETNAM_TIME)
        day = datetime.combine(local.date(), datetime.min.time(), VIETNAM_TIME).astimezone(timezone.utc)
        return day, max(exposure.last_together, day + _DAY - _INSTANT)
    return exposure.first_together, exposure.last_together
