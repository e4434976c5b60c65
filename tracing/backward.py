"""Backward tracing: who could have infected a case, from their exposures before onset.

The possible sources of a case are the people with an exposure that counts, under the trace's
rule set, in the ``backward_window`` (14 days by default) before symptom onset (or the positive
sample). :func:`possible_sources` is the pure core over rows; :func:`backward` reads the rows
with one call of ``fetch(citizens, since, until)``, under the contract of
:mod:`tracing.forward`. The answer is a graph of the shape :mod:`tracing.graph` describes, with
edges from each possible source to the case.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

import networkx as nx

from tracing.graph import edge_attributes
from tracing.judging import Row, counted_at, drop_short_imported, exposures_among
from tracing.rows import Exposure, exposure_span
from tracing.rules import TraceRules
from tracing.forward import Fetch, fetch_period


def possible_sources(case: str, onset: date | datetime, rows: Iterable[Row], rules: TraceRules) -> nx.DiGraph:
    """The people who were exposed with ``case`` in the backward window before ``onset``.

    Sources have tier -1 and ``last_exposure``, the last moment with the case before onset;
    sources most recently with the case are the likelier ones.

    >>> from datetime import timedelta, timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> onset = datetime(2021, 7, 15, tzinfo=timezone.utc)
    >>> def met(other, days_before):
    ...     at = onset - timedelta(days=days_before)
    ...     return Exposure("F0", other, "SHOP", at, at, 0, "QD-1", "stream", "point_window")
    >>> graph = possible_sources("F0", onset, [met("A", 3), met("B", 15), met("C", -1)], rules)
    >>> [(source, graph.nodes[source]["last_exposure"].day) for source in graph.predecessors("F0")]
    [('A', 12)]
    """
    since, until = rules.backward_period(onset)
    graph = nx.DiGraph(case=case, direction="backward", rules=rules.name, since=since, until=until)
    graph.add_node(case, tier=0, first_exposure=None, isolated_at=None)
    counted: dict[str, list[tuple[datetime, Exposure]]] = defaultdict(list)
    for exposure in exposures_among(rows, rules, {case}):
        at = counted_at(exposure, since, until, rules)
        if at is not None:
            counted[exposure.other(case)].append((at, exposure))
    for source, found in sorted(counted.items()):
        kept = {id(e) for e in drop_short_imported([e for _, e in found], rules)}
        found = [(at, e) for at, e in found if id(e) in kept]
        if not found:
            continue
        last = max(min(exposure_span(e, rules)[1], until) for _, e in found)
        graph.add_node(source, tier=-1, last_exposure=last, isolated_at=None)
        graph.add_edge(source, case, **edge_attributes(found))
    return graph


def backward(case: str, onset: date | datetime, rules: TraceRules, fetch: Fetch) -> nx.DiGraph:
    """:func:`possible_sources`, reading the case's rows with one ``fetch``.

    >>> from datetime import timedelta, timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> onset = datetime(2021, 7, 15, tzinfo=timezone.utc)
    >>> talk = Exposure("F0", "A", None, onset - timedelta(days=2), onset - timedelta(days=2), 30, "interview", "imported", "household")
    >>> sorted(backward("F0", onset, rules, lambda citizens, since, until: [talk]))
    ['A', 'F0']
    """
    rows = fetch(frozenset([case]), *fetch_period(*rules.backward_period(onset), rules))
    return possible_sources(case, onset, rows, rules)
