"""Hotspots: places ranked by the exposures that happened there in a period.

Rows are judged under a rule set as in :mod:`tracing.judging` (presences of everyone at a
place are paired, exposures kept); imported contacts without a place count nowhere. An
exposure is in the period when any moment of it is (:func:`tracing.judging.counted_at`).
Crowd exposures (an hour at a place too crowded for the stream to pair) are not exposure
rows: pass that hour's presences to count its people.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tracing.errors import InvalidTrace
from tracing.judging import Row, counted_at, drop_short_imported, exposures_among
from tracing.rows import Exposure
from tracing.rules import TraceRules, moment_of

RankBy = Literal["exposures", "people"]
RANK_BY: tuple[RankBy, ...] = ("exposures", "people")


@dataclass(frozen=True)
class Hotspot:
    """A place, its exposures in the period, the distinct people in them, and when."""

    place_id: str
    exposures: int
    people: int
    first_together: datetime
    last_together: datetime


def hotspots(rows: Iterable[Row], since: datetime, until: datetime, rules: TraceRules, *,
             by: RankBy = "exposures", limit: int | None = None) -> list[Hotspot]:
    """Places ranked by exposures (or distinct exposed people, ``by="people"``) in [since, until).

    Ties go to the other count, then the place id. ``limit`` keeps the first ones.

    >>> from datetime import timedelta, timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> def met(a, b, place):
    ...     return Exposure(a, b, place, t, t, 0, "QD-1", "stream", "point_window")
    >>> rows = [met("A", "B", "BAR"), met("A", "C", "BAR"), met("D", "E", "SHOP"), met("F", "G", "SHOP")]
    >>> [(h.place_id, h.exposures, h.people) for h in hotspots(rows, t, t + timedelta(days=1), rules)]
    [('SHOP', 2, 4), ('BAR', 2, 3)]
    >>> [h.place_id for h in hotspots(rows, t, t + timedelta(days=1), rules, by="people", limit=1)]
    ['SHOP']
    """
    since, until = moment_of(since, "since"), moment_of(until, "until")
    if since >= until:
        raise InvalidTrace(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if by not in RANK_BY:
        raise InvalidTrace(f"by must be one of {list(RANK_BY)}, got {by!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidTrace(f"limit must be a whole number of at least 1, got {limit!r}")
    at_place: dict[str, list[Exposure]] = defaultdict(list)
    for exposure in drop_short_imported(exposures_among(rows, rules), rules):
        if exposure.place_id is not None and counted_at(exposure, since, until, rules) is not None:
            at_place[exposure.place_id].append(exposure)
    ranked = [
        Hotspot(place, len(found), len({c for e in found for c in e.citizens}),
                min(e.first_together for e in found), max(e.last_together for e in found))
        for place, found in at_place.items()
    ]
    if by == "exposures":
        ranked.sort(key=lambda h: (-h.exposures, -h.people, h.place_id))
    else:
        ranked.sort(key=lambda h: (-h.people, -h.exposures, h.place_id))
    return ranked[:limit]
