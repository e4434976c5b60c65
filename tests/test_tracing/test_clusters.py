"""Clusters: cases joined by exposures with each other or with a shared contact."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.test_tracing import at, met, scan, talked
from tracing.clusters import clusters
from tracing.errors import InvalidTrace
from tracing.rules import DEFAULT_TRACE_RULES

RULES = DEFAULT_TRACE_RULES
CASES = ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
ROWS = [
    met("C1", "C2", 1),                       # two cases together
    met("C2", "X", 5, place="SCHOOL"),         # X, not a case, met C2 ...
    met("C3", "X", 30, place="SCHOOL"),        # ... and C3: C1, C2 and C3 are one cluster
    met("C4", "C5", 2, place="BAR"),           # a second cluster
    met("C6", "Y", 3),                         # C6 met nobody who met another case
    met("X", "Z", 4),                          # contacts of contacts are not links
    talked("C7", "C4", 10, 5),                 # a short interview contact
]


def test_cases_linked_directly_or_through_a_shared_contact_form_one_cluster():
    found = clusters(CASES, ROWS, RULES)

    assert [cluster.cases for cluster in found] == [("C1", "C2", "C3"), ("C4", "C5", "C7")]
    first = found[0]
    assert first.shared_contacts == ("X",)
    assert [e.citizens for e in first.exposures] == [("C1", "C2"), ("C2", "X"), ("C3", "X")]
    assert (first.first_together, first.last_together) == (at(1), at(30))


def test_the_imported_minimum_decides_whether_an_interview_links_cases():
    strict = replace(RULES, name="QD-15", min_imported=timedelta(minutes=15))
    assert [cluster.cases for cluster in clusters(CASES, ROWS, strict)] == [("C1", "C2", "C3"), ("C4", "C5")]


def test_single_cases_are_clusters_of_one_when_asked_for():
    found = clusters(CASES, ROWS, RULES, min_size=1)
    assert [cluster.cases for cluster in found][-1] == ("C6",)
    assert found[-1].exposures == () and found[-1].first_together is None
    with pytest.raises(InvalidTrace, match="min_size"):
        clusters(CASES, ROWS, RULES, min_size=0)


def test_presences_link_cases_that_were_at_one_place_together():
    found = clusters(["C1", "C2"], [scan("C1", 1, "BAR"), scan("C2", 1.5, "BAR"), scan("C3", 1.2, "BAR")], RULES)
    assert [(cluster.cases, cluster.shared_contacts) for cluster in found] == [(("C1", "C2"), ("C3",))]
