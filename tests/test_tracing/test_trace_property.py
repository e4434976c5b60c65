"""Properties of forward tracing on small random contact histories, against brute force."""
from __future__ import annotations

from datetime import timedelta

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_tracing import FAR, at, fetcher
from tracing.forward import trace
from tracing.rows import Exposure
from tracing.rules import DEFAULT_TRACE_RULES

RULES = DEFAULT_TRACE_RULES
PEOPLE = ["F0", "P1", "P2", "P3", "P4", "P5"]

exposure_specs = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), st.integers(0, 40),
              st.sampled_from([0, 30, 120, 600]), st.sampled_from(["stream", "imported"])),
    max_size=12,
)
isolation_specs = st.dictionaries(st.sampled_from(PEOPLE), st.integers(0, 48), max_size=3)


def exposures(specs) -> list[Exposure]:
    rows = []
    for a, b, hour, minutes, source in specs:
        if a != b:
            place = "MARKET" if source == "stream" else None
            criterion = "interval_overlap" if source == "stream" else "household"
            rows.append(Exposure(a, b, place, at(hour), at(hour) + timedelta(minutes=minutes), minutes,
                                 "QD-1", source, criterion))
    return rows


def reference(rows, since, depth, isolations):
    """Tier by tier over all rows at once: the rule as DESIGN.md states it, with no reads."""
    tier, first = {"F0": 0}, {"F0": since}
    for k in range(depth):
        found = {}
        for parent in [person for person, level in tier.items() if level == k]:
            stop = min(FAR, isolations.get(parent, FAR))
            for row in rows:
                child = row.other(parent)
                if parent in row.citizens and child not in tier:
                    moment = max(row.first_together, first[parent])
                    if moment <= row.last_together and moment < stop:
                        found[child] = min(found.get(child, moment), moment)
        for child, moment in found.items():
            tier[child], first[child] = k + 1, moment
    first["F0"] = None
    return tier, first


def time_respecting_distances(rows, since, depth, isolations):
    """The fewest exposures on any time-respecting chain from F0 to each person, by brute force."""
    best = {"F0": 0}

    def walk(person, moment, hops, seen):
        if hops == depth:
            return
        for row in rows:
            if person not in row.citizens or row.other(person) in seen:
                continue
            reached = max(row.first_together, moment)
            if reached <= row.last_together and reached < min(FAR, isolations.get(person, FAR)):
                child = row.other(person)
                best[child] = min(best.get(child, hops + 1), hops + 1)
                walk(child, reached, hops + 1, seen | {child})

    walk("F0", since, 0, {"F0"})
    return best


@settings(max_examples=300, deadline=None)
@given(exposure_specs, isolation_specs, st.integers(0, 4), st.integers(0, 10))
def test_tiers_and_exposure_times_follow_the_rule_tier_by_tier(specs, isolation_hours, depth, start):
    rows = exposures(specs)
    isolations = {person: at(hour) for person, hour in isolation_hours.items()}
    graph = trace("F0", at(start), depth, RULES, fetcher(rows), until=FAR, isolations=isolations)

    tier, first = reference(rows, at(start), depth, isolations)
    assert dict(graph.nodes(data="tier")) == tier
    assert dict(graph.nodes(data="first_exposure")) == first

    # Every tier is the length of a time-respecting chain, and none is shorter than the shortest.
    shortest = time_respecting_distances(rows, at(start), depth, isolations)
    for person, level in tier.items():
        assert shortest[person] <= level
        if level:
            parents = list(graph.predecessors(person))
            assert parents and all(graph.nodes[parent]["tier"] == level - 1 for parent in parents)
            assert min(graph.edges[parent, person]["exposed_at"] for parent in parents) == first[person]


@settings(max_examples=200, deadline=None)
@given(exposure_specs, st.integers(0, 4))
def test_when_time_never_stands_in_the_way_tiers_are_plain_bfs_distances(specs, depth):
    # Everyone together for the whole period: every chain is time-respecting.
    rows = [Exposure(a, b, "MARKET", at(0), FAR, 0, "QD-1", "stream", "interval_overlap")
            for a, b, *_ in specs if a != b]
    graph = trace("F0", at(0), depth, RULES, fetcher(rows), until=FAR)

    everyone = nx.Graph([row.citizens for row in rows])
    everyone.add_node("F0")
    assert dict(graph.nodes(data="tier")) == nx.single_source_shortest_path_length(everyone, "F0", cutoff=depth)
