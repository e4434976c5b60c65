"""Co-location state of one place: verified scans in, contact edges and crowd exposures out.

Pure (no Kafka): the co-locate agent feeds each place's scans here in partition order and
sends what comes out. The state answers at once, and keeps its answers exact as more scans
arrive in any order:

- a presence is what :func:`warehouse.presence.presences` makes of a person's scans at the
  place, so an ``in`` is a point until its ``out`` arrives, then a stay;
- when a person's presences change, every pair they are in is judged again
  (:func:`streams.meetings.pair_edges`), and the difference from what was already published is
  published: new edges, changed ones, and retractions of edges no longer true (a short stay
  that a check-in alone had made a contact);
- an hour with more people than the rules' crowd threshold is a crowd: one place-level
  exposure replaces the pairs of that hour (retracting those already published);
- a scan older than the newest at the place minus the allowed lateness changes nothing and is
  handed back, to be dead-lettered; windows that no accepted scan can change any more are
  settled, and their state is dropped.

The edges published, with retractions applied, are those a brute-force pass over the same
accepted scans gives (tests/test_streams/test_colocate_property.py).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from streams.meetings import HOUR, EdgeState, hours_covered, pair_edges
from streams.logic import content
from streams.records import ContactChanges, ContactEdge, CrowdExposure, ScanEvent
from streams.rules import RuleBook
from warehouse.presence import DAY, MAX_STAY, Presence, presences

DEFAULT_LATENESS = timedelta(hours=24)
_NEVER = datetime.min.replace(tzinfo=timezone.utc)

Pair = tuple[str, str]
EdgeKey = tuple[str, datetime]


# The fields of ContactEdge but its event id, derived from the record: one schema.
_EdgeFields = NamedTuple("_EdgeFields", [(name, kind) for name, kind in ContactEdge._options.fields.items()
                                         if name != "event_id"])


class EdgeChange(_EdgeFields):
    """A new state of a contact edge: a :class:`ContactEdge` without its event id.

    A plain tuple, not a Faust record: a busy place publishes dozens per scan, and the agent
    sends them as JSON objects of the same schema.
    """

    __slots__ = ()

    def message(self) -> dict:
        """The edge state as the contacts topic carries it (a :class:`ContactEdge`, as JSON)."""
        identity = f"{self.place_id}|{self.citizen_a}|{self.citizen_b}|{self.rule_version}|{self.window_start.isoformat()}"
        return {"event_id": _event_id(identity, self.revision, self.retracted), **self._asdict()}


@dataclass
class Changes:
    """What one batch changed: states to publish, and scans too late to take."""

    edges: list[EdgeChange] = field(default_factory=list)
    exposures: list[CrowdExposure] = field(default_factory=list)
    too_late: list[ScanEvent] = field(default_factory=list)

    def message(self, place_id: str, revision: int) -> dict:
        """The changes as the contacts topic carries them: a :class:`ContactChanges`, as JSON."""
        return {
            "event_id": _event_id(place_id, revision, False),
            "place_id": place_id,
            "revision": revision,
            "edges": [edge.message() for edge in self.edges],
            "exposures": [exposure.asdict() for exposure in self.exposures],
            "__faust": {"ns": ContactChanges._options.namespace},
        }


class PlaceState:
    """Everything co-location knows about one place."""

    def __init__(self, place_id: str, book: RuleBook, lateness: timedelta = DEFAULT_LATENESS) -> None:
        self.place_id = place_id
        self.book = book
        self.lateness = lateness
        self.watermark: datetime | None = None  # the newest scan time seen here
        self._forgotten_at: datetime | None = None
        self._scans: dict[str, dict[tuple, ScanEvent]] = {}
        self._presences: dict[str, tuple[Presence, ...]] = {}
        self._heads: dict[datetime, set[str]] = defaultdict(set)  # hour -> people present
        self._crowds: dict[datetime, tuple[int, str]] = {}  # published: hour -> heads, rule version
        self._edges: dict[Pair, dict[EdgeKey, EdgeState]] = {}  # published, by pair

    # -- time -----------------------------------------------------------------------------
    @property
    def settled_before(self) -> datetime | None:
        """Windows before this can no longer change: no scan late enough to touch them is taken.

        A scan accepted now is no older than the watermark minus the lateness; it can reshape
        that person's presences back to one stay earlier, and meet presences a point window
        (or a whole day) before them.
        """
        if self.watermark is None:
            return None
        return self.watermark - self.lateness - MAX_STAY - self.book.widest_window - DAY - HOUR

    def _too_late(self, scan: ScanEvent) -> bool:
        if self.watermark is None:
            return False
        end = scan.ts + DAY if scan.precision == "day" else scan.ts
        return end < self.watermark - self.lateness

    # -- the one entry point ----------------------------------------------------------------
    def add(self, scans: Iterable[ScanEvent], revision: int) -> Changes:
        """Take scans at this place, in arrival order; return what changed, at ``revision``."""
        changes = Changes()
        changed: set[str] = set()
        # Taken before the watermark moves: a scan of this batch accepted early is only as
        # recent as the watermark it was accepted under.
        settled = self.settled_before or _NEVER
        for scan in scans:
            if self._too_late(scan):
                changes.too_late.append(scan)
                continue
            if self.watermark is None or scan.ts > self.watermark:
                self.watermark = scan.ts
            held = self._scans.setdefault(scan.citizen_id, {})
            key = content(scan)
            if key not in held:
                held[key] = scan
                changed.add(scan.citizen_id)
        near, touched = self._update_presences(changed)
        flipped = self._update_crowds(touched, settled, revision, changes)
        for pair in self._dirty_pairs(near, flipped):
            self._judge(pair, settled, revision, changes)
        if self.watermark is not None and (self._forgotten_at is None or self.watermark - self._forgotten_at >= HOUR):
            self.forget_settled()
            self._forgotten_at = self.watermark
        return changes

    # -- steps ------------------------------------------------------------------------------
    def _update_presences(self, citizens: set[str]) -> tuple[dict[str, set[str]], set[datetime]]:
        """Recompute these people's presences; return who may have met each mover anew or no more, and the hours touched.

        Only meetings with a presence that appeared or disappeared can differ from what was
        published: the people near a vanishing presence are looked up before anyone's hours
        change, those near a new one after.
        """
        changed: dict[str, tuple[tuple[Presence, ...], tuple[Presence, ...]]] = {}
        for citizen in citizens:
            old = self._presences.get(citizen, ())
            new = tuple(presences(self._scans[citizen].values()))
            if new != old:
                changed[citizen] = (old, new)
        near: dict[str, set[str]] = {}
        for citizen, (old, new) in changed.items():
            near[citizen] = self._near(set(old) - set(new))
        touched: set[datetime] = set()
        for citizen, (old, new) in changed.items():
            for presence in old:
                for hour in hours_covered(presence):
                    self._heads[hour].discard(citizen)
                    touched.add(hour)
            for presence in new:
                for hour in hours_covered(presence):
                    self._heads[hour].add(citizen)
                    touched.add(hour)
            self._presences[citizen] = new
        for citizen, (old, new) in changed.items():
            near[citizen] |= self._near(set(new) - set(old))
            near[citizen].discard(citizen)
        return near, touched

    def _near(self, found: set[Presence]) -> set[str]:
        """Everyone present within the widest point window of these presences."""
        people: set[str] = set()
        for presence in found:
            for hour in hours_covered(presence, self.book.widest_window):
                people |= self._heads.get(hour, set())
        return people

    def _update_crowds(self, hours: set[datetime], settled: datetime, revision: int, changes: Changes) -> set[datetime]:
        """Publish crowd exposures of these hours; return the hours that became or stopped being crowds."""
        flipped = set()
        for hour in sorted(hours):
            if hour < settled:
                continue
            heads = len(self._heads.get(hour, ()))
            rule = self.book.at(hour)
            before = self._crowds.get(hour)
            if heads > rule.crowd_threshold:
                if before != (heads, rule.version):
                    self._crowds[hour] = (heads, rule.version)
                    changes.exposures.append(self._exposure(hour, heads, rule.version, revision, False))
                if before is None:
                    flipped.add(hour)
            elif before is not None:
                del self._crowds[hour]
                changes.exposures.append(self._exposure(hour, before[0], before[1], revision, True))
                flipped.add(hour)
        return flipped

    def _dirty_pairs(self, near: dict[str, set[str]], flipped: set[datetime]) -> set[Pair]:
        """Pairs whose edges may have changed: each mover with whoever is near, everyone near a flip."""
        pairs = {_pair(citizen, other) for citizen, others in near.items() for other in others}
        for hour in flipped:
            crowd = sorted(self._near({Presence("", "", hour, hour + HOUR, "interval")}))
            pairs |= {(a, b) for i, a in enumerate(crowd) for b in crowd[i + 1:]}
        return pairs

    def _judge(self, pair: Pair, settled: datetime, revision: int, changes: Changes) -> None:
        """Judge one pair again and publish the difference from what was published."""
        a, b = pair
        new = pair_edges(self._presences.get(a, ()), self._presences.get(b, ()), self.book, self._crowds)
        old = self._edges.get(pair)
        if not new and not old:
            return
        kept: dict[EdgeKey, EdgeState] = {}
        for key, edge in (old or {}).items():
            if key[1] < settled:
                kept[key] = edge
            elif key not in new:
                changes.edges.append(self._edge(pair, edge, revision, True))
        for key, edge in new.items():
            if key[1] < settled:
                continue
            if old is None or old.get(key) != edge:
                changes.edges.append(self._edge(pair, edge, revision, False))
            kept[key] = edge
        if kept:
            self._edges[pair] = kept
        elif old is not None:
            del self._edges[pair]

    # -- memory -----------------------------------------------------------------------------
    def forget_settled(self) -> None:
        """Drop what settled windows no longer need: old scans, hours, crowds and edges.

        A person's scans from before the settled line, less a stay, can no longer pair with a
        scan still to come; dropping them may reshape presences in settled windows, which are
        never judged again.
        """
        settled = self.settled_before
        if settled is None:
            return
        scans_before = settled - MAX_STAY
        for citizen in list(self._scans):
            kept = {key: scan for key, scan in self._scans[citizen].items() if scan.ts >= scans_before}
            if kept:
                self._scans[citizen] = kept
                self._presences[citizen] = tuple(presences(kept.values()))
            else:
                del self._scans[citizen]
                self._presences.pop(citizen, None)
        for hour in [hour for hour in self._heads if hour < settled]:
            del self._heads[hour]
        for hour in [hour for hour in self._crowds if hour < settled]:
            del self._crowds[hour]
        for pair in list(self._edges):
            kept_edges = {key: edge for key, edge in self._edges[pair].items() if key[1] >= settled}
            if kept_edges:
                self._edges[pair] = kept_edges
            else:
                del self._edges[pair]

    @property
    def size(self) -> int:
        """Scans held: what the state costs in memory."""
        return sum(len(held) for held in self._scans.values())

    # -- records ----------------------------------------------------------------------------
    def _edge(self, pair: Pair, edge: EdgeState, revision: int, retracted: bool) -> EdgeChange:
        return EdgeChange(citizen_a=pair[0], citizen_b=pair[1], place_id=self.place_id, revision=revision,
                          retracted=retracted, **edge._asdict())

    def _exposure(self, hour: datetime, heads: int, version: str, revision: int, retracted: bool) -> CrowdExposure:
        return CrowdExposure(
            event_id=_event_id(f"{self.place_id}|{hour.isoformat()}", revision, retracted),
            place_id=self.place_id, window_start=hour, window_end=hour + HOUR, head_count=heads,
            rule_version=version, revision=revision, retracted=retracted,
        )


def _pair(one: str, other: str) -> Pair:
    return (one, other) if one < other else (other, one)


def _event_id(identity: str, revision: int, retracted: bool) -> str:
    """The same state of the same edge always gets the same id: a replay is recognisably one."""
    return hashlib.sha256(f"{identity}|{revision}|{retracted}".encode()).hexdigest()[:32]
