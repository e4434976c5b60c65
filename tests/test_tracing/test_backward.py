"""Backward tracing: who could have infected a case, from the 14 days before onset."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.test_tracing import at, fetcher, met, scan, talked
from tracing.backward import backward, possible_sources
from tracing.rules import DEFAULT_TRACE_RULES

RULES = DEFAULT_TRACE_RULES
ONSET = at(20 * 24)
DAY = 24


def sources(graph):
    return sorted(graph.predecessors(graph.graph["case"]))


def test_only_exposures_in_the_fourteen_days_before_onset_are_possible_sources():
    rows = [
        met("F0", "A", 20 * DAY - 13 * DAY),                # 13 days before onset
        met("F0", "B", 20 * DAY - 15 * DAY),                # 15 days before: too early
        met("F0", "C", 20 * DAY + 1),                       # after onset: the case's F1, not a source
        met("F0", "D", 20 * DAY - 14 * DAY - 1, minutes=120),  # a stay that reaches into the window
        talked("F0", "E", 20 * DAY - 2, 30),                # an interview: two hours before onset
        met("X", "Y", 20 * DAY - 1),                        # nothing to do with the case
    ]
    calls = []
    graph = backward("F0", ONSET, RULES, fetcher(rows, calls))

    assert sources(graph) == ["A", "D", "E"]
    assert graph.graph["direction"] == "backward" and graph.graph["since"] == ONSET - timedelta(days=14)
    assert graph.nodes["A"]["tier"] == -1
    assert graph.nodes["E"]["last_exposure"] == at(20 * DAY - 2) + timedelta(minutes=30)
    assert graph.edges["D", "F0"]["exposed_at"] == ONSET - timedelta(days=14)
    assert graph.edges["E", "F0"]["source"] == "imported"
    assert [citizens for citizens, _, _ in calls] == [{"F0"}]


def test_the_window_and_the_imported_minimum_come_from_the_rule_set():
    rows = [met("F0", "A", 20 * DAY - 10 * DAY), met("F0", "B", 20 * DAY - 3 * DAY), talked("F0", "C", 20 * DAY - 5, 10)]
    week = replace(RULES, name="QD-7-days", backward_window=timedelta(days=7), min_imported=timedelta(minutes=15))
    assert sources(possible_sources("F0", ONSET, rows, week)) == ["B"]
    assert sources(possible_sources("F0", ONSET, rows, RULES)) == ["A", "B", "C"]


def test_scans_near_the_case_before_onset_are_judged_like_forward_ones():
    rows = [scan("F0", 10 * DAY), scan("A", 10 * DAY + 0.5), scan("B", 10 * DAY + 2)]
    graph = possible_sources("F0", ONSET, rows, RULES)
    assert sources(graph) == ["A"]
    assert graph.edges["A", "F0"]["rule_version"] == "truyvet-trace-default-1"
