"""Clusters: cases joined by shared exposures, for officials looking at an outbreak's shape.

Two cases are linked when they have an exposure with each other, or when a third person (a
shared contact, not a case) has an exposure with both. A cluster is a connected component of
these links (``networkx.connected_components``), with the exposures that make them. Time is
not ordered here: the rows given (a period, an area) decide what is looked at. Rows are judged
under a rule set as in :mod:`tracing.judging`.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import networkx as nx

from tracing.errors import InvalidTrace
from tracing.judging import Row, drop_short_imported, exposure_order, exposures_among
from tracing.rows import Exposure
from tracing.rules import TraceRules


@dataclass(frozen=True)
class Cluster:
    """Cases linked by exposures: the cases, the shared contacts between them, the exposures."""

    cases: tuple[str, ...]
    shared_contacts: tuple[str, ...]
    exposures: tuple[Exposure, ...]  # earliest first

    @property
    def first_together(self) -> datetime | None:
        return self.exposures[0].first_together if self.exposures else None

    @property
    def last_together(self) -> datetime | None:
        return max((e.last_together for e in self.exposures), default=None)


def clusters(cases: Iterable[str], rows: Iterable[Row], rules: TraceRules, *, min_size: int = 2) -> list[Cluster]:
    """The clusters of ``cases`` with at least ``min_size`` cases, largest first, then earliest.

    >>> from datetime import timezone
    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> t = datetime(2021, 7, 1, 2, tzinfo=timezone.utc)
    >>> def met(a, b, place="SHOP"):
    ...     return Exposure(a, b, place, t, t, 0, "QD-1", "stream", "point_window")
    >>> rows = [met("C1", "C2"), met("C2", "X"), met("C3", "X", "BAR"), met("C4", "Y")]
    >>> [(c.cases, c.shared_contacts, len(c.exposures)) for c in clusters(["C1", "C2", "C3", "C4"], rows, rules)]
    [(('C1', 'C2', 'C3'), ('X',), 3)]
    """
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise InvalidTrace(f"min_size must be a whole number of at least 1, got {min_size!r}")
    cases = set(cases)
    links = nx.Graph()
    links.add_nodes_from(cases)
    between_cases: list[Exposure] = []
    by_contact: dict[str, list[Exposure]] = defaultdict(list)
    for exposure in drop_short_imported(exposures_among(rows, rules, cases), rules):
        a, b = exposure.citizens
        if a in cases and b in cases:
            links.add_edge(a, b)
            between_cases.append(exposure)
        else:
            by_contact[b if a in cases else a].append(exposure)
    shared: dict[str, list[Exposure]] = {}
    for contact, found in by_contact.items():
        linked = sorted({exposure.other(contact) for exposure in found})
        if len(linked) > 1:
            shared[contact] = found
            nx.add_path(links, linked)
    found_clusters = []
    for component in nx.connected_components(links):
        if len(component) < min_size:
            continue
        exposures = [e for e in between_cases if e.citizen_a in component]
        contacts = sorted(c for c, found in shared.items() if found[0].other(c) in component)
        for contact in contacts:
            exposures.extend(shared[contact])
        found_clusters.append(Cluster(tuple(sorted(component)), tuple(contacts),
                                      tuple(sorted(exposures, key=exposure_order))))
    found_clusters.sort(key=lambda c: (-len(c.cases), c.first_together is None, c.first_together or 0, c.cases))
    return found_clusters
