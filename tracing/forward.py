"""Forward tracing: from a case (F0) to its contacts F1, their contacts F2, ... Fn, in time.

A **time-respecting chain** is a run of exposures from the case, each counting from the moment
the one before it reached its person and before that person's isolation (or the end of the
trace); for the case, from the start of the infectious period. :func:`tracing.judging.counted_at`
is that filter. Over the chains of at most ``depth`` exposures:

- a person's tier (``tier``, k for an Fk) is the fewest exposures of any chain reaching them;
- their first exposure (``first_exposure``) is the earliest moment any chain reaches them,
  possibly along a longer chain than the one that gives their tier (``first_exposure_hops``
  is its length);
- their own contacts count from that first exposure, within the depth: the chains through
  them must leave a hop for the contact.

For example, F0 meets B at 01:00, B meets A at 02:00, F0 meets A at 10:00 and A meets C at
05:00. A is an F1 (F0 met A), first exposed at 02:00 (through B). C was exposed at 05:00, but
only along F0 → B → A → C, so C is an F3, and not traced at depth 2.

The engine goes in rounds (Bellman-Ford by number of exposures), because rows come from a
database a batch at a time. Round k finds the earliest moment a chain of at most k exposures
reaches each person. Its **frontier** is everyone the round before reached sooner than before:
people reached for the first time, and people already traced whom a longer chain reached
earlier. Only they can reach anyone sooner in round k.

- :func:`start_graph` holds the case alone;
- :func:`next_fetch` says whose rows the next round needs, and over which period
  (:func:`fetch_period`): each frontier person's, from their (new) first exposure to their
  isolation. Someone reached sooner is read again over all of it, not only over the time they
  gained: a round reads one period for everyone anyway, and a pair's imported minutes add up
  over the whole period;
- :func:`expand` (pure, no I/O) runs one round on the graph from those rows;
- :func:`trace` drives them, calling ``fetch(citizens, since, until)`` once per round.

**Edges.** An edge into a person comes from everyone who exposed them as the last link of a
chain of their tier's length (this is why they are an Fk). It also comes from whoever did so on
a longer chain that reached them earlier than every shorter chain (the last of these gives
their first exposure). An edge's attributes (:mod:`tracing.graph`) sum up the pair's exposures
that count from the earliest moment the first person could pass infection on within the depth.
A person's first exposure is the earliest ``exposed_at`` of the edges into them. Edges can
join people of one tier, or point to a lower tier.

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
from typing import Any, NamedTuple

import networkx as nx

from streams.records import VIETNAM_TIME
from tracing.errors import InvalidTrace
from tracing.graph import edge_attributes
from tracing.judging import Row, counted_at, drop_short_imported, exposures_among
from tracing.rows import Exposure
from tracing.rules import TraceRules, moment_of

Fetch = Callable[[frozenset[str], datetime, datetime], Iterable[Row]]
_DAY = timedelta(days=1)


class FetchRequest(NamedTuple):
    """The people whose rows the next round needs, and the period [since, until) to read."""

    citizens: frozenset[str]
    since: datetime
    until: datetime


def start_graph(case: str, infectious_from: date | datetime, until: datetime, rules: TraceRules,
                isolations: Mapping[str, datetime] | None = None) -> nx.DiGraph:
    """A trace graph holding only the case, infectious from ``infectious_from`` until ``until``.

    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> graph = start_graph("F0", date(2021, 7, 1), datetime(2021, 7, 20, tzinfo=timezone.utc), DEFAULT_TRACE_RULES)
    >>> graph.nodes["F0"]
    {'tier': 0, 'first_exposure': None, 'first_exposure_hops': 0, 'isolated_at': None}
    >>> graph.graph["since"].isoformat(), graph.graph["rules"]
    ('2021-06-30T17:00:00+00:00', 'truyvet-trace-default-1')
    """
    since = moment_of(infectious_from, "infectious_from")
    until = moment_of(until, "until")
    if since >= until:
        raise InvalidTrace(f"infectious_from ({since.isoformat()}) must be before until ({until.isoformat()})")
    graph = nx.DiGraph(case=case, direction="forward", rules=rules.name, since=since, until=until)
    graph.add_node(case, tier=0, first_exposure=None, first_exposure_hops=0,
                   isolated_at=_isolation(isolations, case))
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
    """Run the next round of the trace on ``graph`` (in place) from ``rows``; return its frontier.

    ``frontier`` is the frontier the round before returned (at first, the case alone): people
    it reached by chains of k exposures, sooner than before. This round counts their
    exposures (see the module docstring) from their first exposure on, and returns the people
    it reached sooner: newcomers, who are Fk+1, and people already traced whom a chain of k + 1
    exposures reached earlier than they were first exposed. Edges go into them as the module
    docstring says; the edges out of the frontier that were already in the graph are counted
    again from the frontier's new first exposures.

    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> t = datetime(2021, 7, 1, tzinfo=timezone.utc)
    >>> def met(a, b, hours):
    ...     return Exposure(a, b, "SHOP", t + timedelta(hours=hours), t + timedelta(hours=hours), 0, "QD-1", "stream", "point_window")
    >>> rows = [met("F0", "B", 1), met("B", "A", 2), met("F0", "A", 10), met("A", "C", 5), met("A", "D", 1)]
    >>> graph = start_graph("F0", t, t + timedelta(days=5), rules)
    >>> sorted(expand(graph, {"F0"}, rows, rules))
    ['A', 'B']
    >>> sorted(expand(graph, {"A", "B"}, rows, rules))  # B met A before F0 did; D met A too early
    ['A']
    >>> graph.nodes["A"]["tier"], graph.nodes["A"]["first_exposure"].hour, sorted(graph.predecessors("A"))
    (1, 2, ['B', 'F0'])
    >>> sorted(expand(graph, {"A"}, rows, rules)), graph.nodes["C"]["tier"]
    (['C'], 3)
    """
    if graph.graph.get("rules") != rules.name:
        raise InvalidTrace(f"the graph was traced under {graph.graph.get('rules')!r}, not {rules.name!r}")
    frontier = set(frontier)
    hops = _hops_of(graph, frontier) + 1
    case = graph.graph["case"]
    periods = {citizen: _period(graph, citizen) for citizen in frontier}
    counted: dict[tuple[str, str], list[tuple[datetime, Exposure]]] = defaultdict(list)
    for exposure in exposures_among(rows, rules, frontier):
        for parent in exposure.citizens:
            child = exposure.other(parent)
            if parent not in frontier or child == case:
                continue
            at = counted_at(exposure, *periods[parent], rules)
            if at is not None:
                counted[parent, child].append((at, exposure))
    reached: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for (parent, child), found in sorted(counted.items()):
        if any(e.source == "imported" for _, e in found):
            kept = {id(e) for e in drop_short_imported([e for _, e in found], rules)}
            found = [(at, e) for at, e in found if id(e) in kept]
        if found:
            reached[child][parent] = edge_attributes(found)
    sooner = set()
    for child, edges in sorted(reached.items()):
        first = min(attributes["exposed_at"] for attributes in edges.values())
        if child not in graph:
            graph.add_node(child, tier=hops, first_exposure=first, first_exposure_hops=hops,
                           isolated_at=_isolation(isolations, child))
            new_edges = set(edges)  # every last link of a chain as short as the tier
        elif first < graph.nodes[child]["first_exposure"]:
            graph.nodes[child].update(first_exposure=first, first_exposure_hops=hops)
            new_edges = {parent for parent, attributes in edges.items() if attributes["exposed_at"] == first}
        else:
            new_edges = set()
        if new_edges:
            sooner.add(child)
        for parent, attributes in edges.items():
            # An edge already there is counted again from its parent's earlier first exposure.
            if parent in new_edges or graph.has_edge(parent, child):
                graph.add_edge(parent, child, **attributes)
    return sooner


def trace(case: str, infectious_from: date | datetime, depth: int, rules: TraceRules, fetch: Fetch, *,
          until: datetime, isolations: Mapping[str, datetime] | None = None) -> nx.DiGraph:
    """The trace graph of ``case`` over chains of at most ``depth`` exposures, one ``fetch`` per round.

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


def _hops_of(graph: nx.DiGraph, frontier: set[str]) -> int:
    """The length of the chains that gave the frontier its first exposures: one round's."""
    missing = sorted(frontier - set(graph))
    if missing:
        raise InvalidTrace(f"the frontier holds people not in the graph: {missing}")
    found = {graph.nodes[citizen]["first_exposure_hops"] for citizen in frontier}
    if len(found) > 1:
        raise InvalidTrace(f"the frontier mixes rounds {sorted(found)}: people first exposed through "
                           f"chains of different lengths")
    return found.pop() if found else 0


def _isolation(isolations: Mapping[str, datetime] | None, citizen: str) -> datetime | None:
    if not isolations or citizen not in isolations:
        return None
    return moment_of(isolations[citizen], f"the isolation of {citizen}")


def _local_midnight(moment: datetime) -> datetime:
    day = moment.astimezone(VIETNAM_TIME).date()
    return datetime.combine(day, datetime.min.time(), VIETNAM_TIME).astimezone(timezone.utc)
