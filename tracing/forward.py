"""Forward tracing: from a case (F0) to its contacts F1, their contacts F2, ... Fn, in time.

The engine goes tier by tier, because the rows come from a database tier by tier:

- :func:`start_graph` holds the case alone;
- :func:`next_fetch` says whose rows the next tier needs, and over which period
  (:func:`fetch_period`);
- :func:`expand` (pure, no I/O) adds the next tier to the graph from those rows;
- :func:`trace` drives them, calling ``fetch(citizens, since, until)`` once per tier.

Time-respecting: an exposure of someone's contact counts only from that person's own first
exposure (for the case, the start of the infectious period) and before their isolation (or the
end of the trace), as :func:`tracing.judging.counted_at` says. A person reached by several
paths keeps the lowest tier and, within it, the earliest exposure; their own contacts count
from that exposure on. (A person who is an F1 late but could have been reached earlier through
a longer path keeps the F1 label and its time; the contacts the earlier path would add are not
traced.)

**The fetch contract.** ``fetch(citizens, since, until)`` returns rows
(:class:`~tracing.rows.Exposure`, :class:`~warehouse.presence.Presence` or
``PlacePresence``, mixed as the caller likes) holding every exposure of ``citizens`` that
overlaps [since, until): stream contact edges (``Exposure.from_contact_edge``) and imported
contacts (``Exposure.from_imported_contact``) involving them, and/or their presences with
everyone else's presences at the same places in the period (a crowded hour the stream did not
pair is read this way). Exposures between other people are ignored.
For one place and period, return either the stream's edges or the presences, not both: each
exposure would count twice in the edge's minutes. The period already includes the margins
the rule set needs (the point window, whole local days).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

import networkx as nx

from streams.records import VIETNAM_TIME
from tracing.errors import InvalidTrace
from tracing.graph import edge_attributes
from tracing.judging import Row, counted_at, drop_short_imported, exposures_among
from tracing.rows import Exposure
from tracing.rules import TraceRules, moment_of
from warehouse.presence import PlacePresence

Fetch = Callable[[frozenset[str], datetime, datetime], Iterable[Row]]
_DAY = timedelta(days=1)


class FetchRequest(NamedTuple):
    """The people whose rows the next tier needs, and the period [since, until) to read."""

    citizens: frozenset[str]
    since: datetime
    until: datetime


def start_graph(case: str, infectious_from: date | datetime, until: datetime, rules: TraceRules,
                isolations: Mapping[str, datetime] | None = None) -> nx.DiGraph:
    """A trace graph holding only the case, infectious from ``infectious_from`` until ``until``.

    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> graph = start_graph("F0", date(2021, 7, 1), datetime(2021, 7, 20, tzinfo=timezone.utc), DEFAULT_TRACE_RULES)
    >>> graph.nodes["F0"]
    {'tier': 0, 'first_exposure': None, 'isolated_at': None}
    >>> graph.graph["since"].isoformat(), graph.graph["rules"]
    ('2021-06-30T17:00:00+00:00', 'truyvet-trace-default-1')
    """
    since = moment_of(infectious_from, "infectious_from")
    until = moment_of(until, "until")
    if since >= until:
        raise InvalidTrace(f"infectious_from ({since.isoformat()}) must be before until ({until.isoformat()})")
    graph = nx.DiGraph(case=case, direction="forward", rules=rules.name, since=since, until=until)
    graph.add_node(case, tier=0, first_exposure=None, isolated_at=_isolation(isolations, case))
    return graph


def next_fetch(graph: nx.DiGraph, frontier: Collection[str], rules: TraceRules) -> FetchRequest | None:
    """Whose rows :func:`expand` needs for ``frontier``, and when; None when nobody's period is open.

    Someone isolated before their first exposure has no period and is left out. The period is
    widened by the point window on both sides, and to whole local days under
    ``same_day="whole_day"``, so the rows near its edges that still count are read.

    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> graph = start_graph("F0", datetime(2021, 7, 1, 2, tzinfo=timezone.utc),
    ...                     datetime(2021, 7, 3, tzinfo=timezone.utc), DEFAULT_TRACE_RULES)
    >>> request = next_fetch(graph, ["F0"], DEFAULT_TRACE_RULES)
    >>> sorted(request.citizens), f"{request.since:%d %H:%M}", f"{request.until:%d %H:%M}"
    (['F0'], '30 17:00', '03 17:00')
    """
    open_periods = {}
    for citizen in frontier:
        since, until = _period(graph, citizen)
        if since < until:
            open_periods[citizen] = since, until
    if not open_periods:
        return None
    since = min(period[0] for period in open_periods.values())
    until = max(period[1] for period in open_periods.values())
    return FetchRequest(frozenset(open_periods), *fetch_period(since, until, rules))


def fetch_period(since: datetime, until: datetime, rules: TraceRules) -> tuple[datetime, datetime]:
    """The period to read so that every row counting in [since, until) under ``rules`` is read.

    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> [f"{m:%d %H:%M}" for m in fetch_period(t, t + timedelta(hours=1), DEFAULT_TRACE_RULES)]
    ['30 17:00', '01 17:00']
    """
    since, until = since - rules.point_window, until + rules.point_window
    if rules.same_day == "whole_day":
        since = _local_midnight(since)
        until = _local_midnight(until - timedelta(microseconds=1)) + _DAY
    return since, until


def expand(graph: nx.DiGraph, frontier: Collection[str], rows: Iterable[Row], rules: TraceRules,
           isolations: Mapping[str, datetime] | None = None) -> set[str]:
    """Add the next tier to ``graph`` (in place) from ``rows``; return that tier's people.

    ``frontier`` holds people of one tier k; everyone with an exposure that counts (see the
    module docstring) with one of them and not yet in the graph becomes tier k + 1, first
    exposed at the earliest such exposure, with an edge from each frontier person they met.

    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> t = datetime(2021, 7, 1, tzinfo=timezone.utc)
    >>> def met(a, b, hours):
    ...     return Exposure(a, b, "SHOP", t + timedelta(hours=hours), t + timedelta(hours=hours), 0, "QD-1", "stream", "point_window")
    >>> graph = start_graph("F0", t, t + timedelta(days=5), rules)
    >>> expand(graph, {"F0"}, [met("F0", "A", 2), met("A", "B", 1)], rules)
    {'A'}
    >>> expand(graph, {"A"}, [met("F0", "A", 2), met("A", "B", 1), met("A", "C", 3)], rules)  # B met A too early
    {'C'}
    >>> graph.nodes["C"]["tier"], graph.edges["A", "C"]["exposed_at"].hour
    (2, 3)
    """
    if graph.graph.get("rules") != rules.name:
        raise InvalidTrace(f"the graph was traced under {graph.graph.get('rules')!r}, not {rules.name!r}")
    frontier = set(frontier)
    tier = _tier_of(graph, frontier)
    periods = {citizen: _period(graph, citizen) for citizen in frontier}
    # Presences of people already traced (outside the frontier) cannot reach anyone new.
    rows = [row for row in rows if _person_of(row) not in graph or _person_of(row) in frontier]
    counted: dict[tuple[str, str], list[tuple[datetime, Exposure]]] = defaultdict(list)
    for exposure in exposures_among(rows, rules, frontier):
        for parent in exposure.citizens:
            child = exposure.other(parent)
            if parent not in frontier or child in graph:
                continue
            at = counted_at(exposure, *periods[parent], rules)
            if at is not None:
                counted[parent, child].append((at, exposure))
    reached: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for (parent, child), found in sorted(counted.items()):
        if any(e.source == "imported" for _, e in found):
            kept = {id(e) for e in drop_short_imported([e for _, e in found], rules)}
            found = [(at, e) for at, e in found if id(e) in kept]
        if found:
            reached[child].append((parent, edge_attributes(found)))
    for child, edges in sorted(reached.items()):
        first = min(attributes["exposed_at"] for _, attributes in edges)
        graph.add_node(child, tier=tier + 1, first_exposure=first, isolated_at=_isolation(isolations, child))
        for parent, attributes in edges:
            graph.add_edge(parent, child, **attributes)
    return set(reached)


def trace(case: str, infectious_from: date | datetime, depth: int, rules: TraceRules, fetch: Fetch, *,
          until: datetime, isolations: Mapping[str, datetime] | None = None) -> nx.DiGraph:
    """The trace graph of ``case`` to ``depth`` tiers, reading rows with one ``fetch`` per tier.

    ``isolations`` maps people to the moment they were isolated; ``until`` ends the trace (the
    moment it is asked, or the end of the period an official chose).

    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> t = datetime(2021, 7, 1, tzinfo=timezone.utc)
    >>> def met(a, b, hours):
    ...     return Exposure(a, b, "SHOP", t + timedelta(hours=hours), t + timedelta(hours=hours), 0, "QD-1", "stream", "point_window")
    >>> rows = [met("F0", "A", 2), met("A", "B", 3), met("B", "C", 4), met("C", "D", 5)]
    >>> asked = []
    >>> def fetch(citizens, since, until):
    ...     asked.append(sorted(citizens))
    ...     return [row for row in rows if row.involves(citizens)]
    >>> graph = trace("F0", t, 2, rules, fetch, until=t + timedelta(days=5), isolations={"B": t + timedelta(hours=3, minutes=30)})
    >>> dict(graph.nodes(data="tier")), asked
    ({'F0': 0, 'A': 1, 'B': 2}, [['F0'], ['A']])
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise InvalidTrace(f"depth must be a whole number of at least 0, got {depth!r}")
    graph = start_graph(case, infectious_from, until, rules, isolations)
    frontier = {case}
    for _ in range(depth):
        request = next_fetch(graph, frontier, rules)
        if request is None:
            break
        frontier = expand(graph, request.citizens, fetch(*request), rules, isolations)
        if not frontier:
            break
    return graph


def _period(graph: nx.DiGraph, citizen: str) -> tuple[datetime, datetime]:
    """When ``citizen``'s contacts count: from their first exposure (the case: the infectious
    period's start) until their isolation or the end of the trace, whichever comes first."""
    node = graph.nodes[citizen]
    since = node["first_exposure"] or graph.graph["since"]
    until = graph.graph["until"]
    if node["isolated_at"] is not None:
        until = min(until, node["isolated_at"])
    return since, until


def _tier_of(graph: nx.DiGraph, frontier: set[str]) -> int:
    missing = sorted(frontier - set(graph))
    if missing:
        raise InvalidTrace(f"the frontier holds people not in the graph: {missing}")
    found = {graph.nodes[citizen]["tier"] for citizen in frontier}
    if len(found) > 1:
        raise InvalidTrace(f"the frontier mixes tiers {sorted(found)}")
    return found.pop() if found else 0


def _person_of(row: Row) -> str | None:
    """The person of a presence row; None for an exposure (two people)."""
    if isinstance(row, Exposure):
        return None
    return row.presence.citizen_id if isinstance(row, PlacePresence) else row.citizen_id


def _isolation(isolations: Mapping[str, datetime] | None, citizen: str) -> datetime | None:
    if not isolations or citizen not in isolations:
        return None
    return moment_of(isolations[citizen], f"the isolation of {citizen}")


def _local_midnight(moment: datetime) -> datetime:
    day = moment.astimezone(VIETNAM_TIME).date()
    return datetime.combine(day, datetime.min.time(), VIETNAM_TIME).astimezone(timezone.utc)
