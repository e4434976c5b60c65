"""The trace graph's shape: what its nodes and edges carry, and reading it back by tier.

A trace answer is a ``networkx.DiGraph`` whose edges point from the person who could pass
infection on to the person exposed.

Graph attributes (``graph.graph``): ``case``, ``direction`` (``forward`` for
:func:`tracing.forward.trace`, ``backward`` for :func:`tracing.backward.backward`), ``rules``
(the rule set's name), ``since`` and ``until`` (the period looked at).

Node attributes:

- ``tier``: 0 for the case, k for an Fk (forward: the fewest exposures of any time-respecting
  chain from the case); -1 for a possible source (backward);
- ``first_exposure``: the first moment the person counts as exposed (forward: along any chain
  within the trace's depth, possibly longer than their tier; None for the case); their own
  contacts count from then on, within the depth;
- ``first_exposure_hops``: how many exposures that earliest chain has (forward; 0 for the case);
- ``last_exposure``: the last moment a possible source was with the case (backward);
- ``isolated_at``: when the person was isolated, if known (their contacts count until then).

Edge attributes, one edge per pair, summing up the pair's exposures that count (which pairs get
an edge in a forward trace: :mod:`tracing.forward`):

- ``exposed_at``: the first moment an exposure of the pair counts;
- ``place_id``, ``rule_version``, ``source``, ``criterion``: those of the exposure that counts
  first (``place_id`` None for an imported contact);
- ``first_together``, ``last_together``: from the first to the last moment of any of them;
- ``minutes``: their minutes added up; ``exposure_count``: how many there are;
- ``exposures``: the :class:`~tracing.rows.Exposure` rows themselves, earliest first (a tuple:
  drop it before writing GraphML, which takes only scalars).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import networkx as nx

from tracing.judging import exposure_order
from tracing.rows import Exposure


def edge_attributes(counted: Iterable[tuple[datetime, Exposure]]) -> dict[str, Any]:
    """The attributes of one pair's edge from its exposures and the moment each counts from.

    >>> from datetime import timezone, timedelta
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> shop = Exposure("A", "B", "SHOP", t, t + timedelta(minutes=20), 20, "QD-1", "stream", "interval_overlap")
    >>> talk = Exposure("A", "B", None, t - timedelta(hours=1), t, 5, "interview", "imported", "household")
    >>> edge = edge_attributes([(t, shop), (t, talk)])
    >>> edge["place_id"], edge["source"], edge["minutes"], edge["exposure_count"]
    (None, 'imported', 25.0, 2)
    """
    counted = list(counted)
    if len(counted) == 1:  # the common case: one exposure of the pair
        (at, first), = counted
        exposures = (first,)
    else:
        at, first = min(counted, key=lambda pair: (pair[0], exposure_order(pair[1])))
        exposures = tuple(sorted((exposure for _, exposure in counted), key=exposure_order))
    return {
        "exposed_at": at,
        "place_id": first.place_id,
        "rule_version": first.rule_version,
        "source": first.source,
        "criterion": first.criterion,
        "first_together": min(e.first_together for e in exposures),
        "last_together": max(e.last_together for e in exposures),
        "minutes": float(sum(e.minutes for e in exposures)),
        "exposure_count": len(exposures),
        "exposures": exposures,
    }


def tiers(graph: nx.DiGraph) -> dict[int, list[str]]:
    """The people of a trace by tier, in tier order, each tier sorted.

    >>> graph = nx.DiGraph()
    >>> graph.add_nodes_from([("F0", {"tier": 0}), ("B", {"tier": 1}), ("A", {"tier": 1}), ("C", {"tier": 2})])
    >>> tiers(graph)
    {0: ['F0'], 1: ['A', 'B'], 2: ['C']}
    """
    found: dict[int, list[str]] = {}
    for citizen, tier in graph.nodes(data="tier"):
        found.setdefault(tier, []).append(citizen)
    return {tier: sorted(found[tier]) for tier in sorted(found)}
