"""Properties of forward tracing on small random contact histories, against brute force."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import combinations

import networkx as nx
from hypothesis import given, settings, target
from hypothesis import strategies as st

from tests.test_tracing import FAR, at, fetcher
from tracing.forward import trace
from tracing.rows import Exposure
from tracing.rules import DEFAULT_TRACE_RULES

RULES = DEFAULT_TRACE_RULES
PEOPLE = ["F0", "P1", "P2", "P3", "P4", "P5", "P6"]

PAIRS = list(combinations(PEOPLE, 2))

# Dense enough, over a day, that chains cross in time: a longer chain often comes first.
exposure_specs = st.lists(
    st.tuples(st.sampled_from(PAIRS), st.integers(0, 24), st.sampled_from([0, 0, 10, 30, 120, 600]),
              st.sampled_from(["stream", "imported"])).map(lambda spec: (*spec[0], *spec[1:])),
    min_size=8, max_size=20,
)
isolation_specs = st.dictionaries(st.sampled_from(PEOPLE), st.integers(0, 48), max_size=2)
rule_sets = st.sampled_from([RULES, replace(RULES, name="QD-imported-20", min_imported=timedelta(minutes=20))])


def exposures(specs) -> list[Exposure]:
    rows = []
    for a, b, hour, minutes, source in specs:
        place = "MARKET" if source == "stream" else None
        criterion = "interval_overlap" if source == "stream" else "household"
        rows.append(Exposure(a, b, place, at(hour), at(hour) + timedelta(minutes=minutes), minutes,
                             "QD-1", source, criterion))
    return list(dict.fromkeys(rows))  # the same row twice is one exposure, as a re-read one is


def passed_on(rows, parent, child, moment, isolations, rules):
    """When ``parent``, exposed at ``moment``, first exposes ``child``; None if they never do.

    An exposure counts from its first moment at or after ``moment`` and before the parent's
    isolation; the pair's imported contacts that count do only if their minutes add up.
    """
    stop = min(FAR, isolations.get(parent, FAR))
    counted = []
    for row in rows:
        if set(row.citizens) == {parent, child}:
            reached = max(row.first_together, moment)
            if reached <= row.last_together and reached < stop:
                counted.append((reached, row))
    if timedelta(minutes=sum(row.minutes for _, row in counted if row.source == "imported")) < rules.min_imported:
        counted = [(reached, row) for reached, row in counted if row.source != "imported"]
    return min((reached for reached, _ in counted), default=None)


def chains(rows, since, depth, isolations, rules):
    """Every time-respecting chain from F0 of at most ``depth`` exposures through distinct people.

    Each is (people, the moment each was reached). Chains that visit someone twice are left
    out: cutting the loop gives a shorter chain reaching everyone after it no later.
    """
    found = []

    def walk(people, moments):
        found.append((people, moments))
        if len(people) - 1 < depth:
            for child in PEOPLE:
                if child not in people:
                    moment = passed_on(rows, people[-1], child, moments[-1], isolations, rules)
                    if moment is not None:
                        walk(people + (child,), moments + (moment,))

    walk(("F0",), (since,))
    return found


def expected(rows, since, depth, isolations, rules):
    """Tiers, first exposures, their chains' lengths and the edges into each person, by brute force."""
    every = chains(rows, since, depth, isolations, rules)
    reaching = {}  # person -> (exposures, moment reached, last link's first person) of each chain
    for people, moments in every:
        parent = people[-2] if len(people) > 1 else None
        reaching.setdefault(people[-1], []).append((len(people) - 1, moments[-1], parent))
    tier = {person: min(hops for hops, _, _ in found) for person, found in reaching.items()}
    first = {person: min(moment for _, moment, _ in found) for person, found in reaching.items()}
    first_hops = {person: min(hops for hops, moment, _ in found if moment == first[person])
                  for person, found in reaching.items()}
    first["F0"] = None
    edges = set()
    for person, found in reaching.items():
        for hops, moment, parent in found:
            # A chain as short as the tier, or one no other chain beats on both length and time.
            beaten = any((h <= hops and m < moment) or (h < hops and m <= moment) for h, m, _ in found)
            if parent is not None and (hops == tier[person] or not beaten):
                edges.add((parent, person))
    return tier, first, first_hops, edges, every


@settings(max_examples=400, deadline=None)
@given(exposure_specs, isolation_specs, st.integers(1, 5), st.integers(0, 4), rule_sets)
def test_tiers_and_first_exposures_are_those_of_the_best_time_respecting_chains(specs, isolation_hours, depth,
                                                                                 start, rules):
    rows = exposures(specs)
    isolations = {person: at(hour) for person, hour in isolation_hours.items()}
    graph = trace("F0", at(start), depth, rules, fetcher(rows), until=FAR, isolations=isolations)

    tier, first, first_hops, edges, every = expected(rows, at(start), depth, isolations, rules)
    target(float(sum(first_hops[person] - tier[person] for person in tier)), label="longer chains that came first")
    assert dict(graph.nodes(data="tier")) == tier
    assert dict(graph.nodes(data="first_exposure")) == first
    assert dict(graph.nodes(data="first_exposure_hops")) == first_hops
    assert set(graph.edges) == edges

    # An edge counts its pair's exposures from the earliest moment its first person could pass
    # infection on along a chain leaving one exposure for the second.
    able_from = {}
    for people, moments in every:
        if len(people) - 1 < depth:
            able_from[people[-1]] = min(able_from.get(people[-1], moments[-1]), moments[-1])
    for parent, child in graph.edges:
        assert graph.edges[parent, child]["exposed_at"] == passed_on(rows, parent, child, able_from[parent],
                                                                     isolations, rules)
    for person in graph:
        if person != "F0":
            assert min(graph.edges[parent, person]["exposed_at"] for parent in graph.predecessors(person)) \
                == first[person]


@settings(max_examples=200, deadline=None)
@given(exposure_specs, st.integers(0, 4))
def test_when_time_never_stands_in_the_way_tiers_are_plain_bfs_distances(specs, depth):
    # Everyone together for the whole period: every chain is time-respecting.
    rows = [Exposure(a, b, "MARKET", at(0), FAR, 0, "QD-1", "stream", "interval_overlap") for a, b, *_ in specs]
    graph = trace("F0", at(0), depth, RULES, fetcher(rows), until=FAR)

    everyone = nx.Graph([row.citizens for row in rows])
    everyone.add_node("F0")
    assert dict(graph.nodes(data="tier")) == nx.single_source_shortest_path_length(everyone, "F0", cutoff=depth)
