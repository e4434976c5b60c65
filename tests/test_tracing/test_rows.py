"""Rows: exposures as the engine keeps them, and presences judged under a rule set."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.meetings import meet
from streams.records import ContactEdge
from tests.test_tracing import T0, at, met, scan, talked
from tracing.errors import InvalidRow
from tracing.judging import exposures_among
from tracing.rows import Exposure, Presence
from tracing.rules import DEFAULT_TRACE_RULES, contact_book

RULES = DEFAULT_TRACE_RULES


def edge(**changes) -> ContactEdge:
    fields = dict(event_id="e1", citizen_a="001090000001", citizen_b="001090000002", place_id="MARKET",
                  rule_version="QD-1", window_start=T0, criterion="interval_overlap", first_together=T0,
                  last_together=at(0.5), overlap_minutes=30.0, revision=7)
    return ContactEdge(**{**fields, **changes})


def test_an_exposure_is_the_same_read_from_either_side_and_kept_in_utc():
    hanoi = timezone(timedelta(hours=7))
    one = Exposure("B", "A", "MARKET", T0.astimezone(hanoi), at(1), 60, "QD-1", "stream", "interval_overlap")
    assert one == Exposure("A", "B", "MARKET", T0, at(1), 60, "QD-1", "stream", "interval_overlap")
    assert one.first_together.tzinfo == timezone.utc and one.citizens == ("A", "B")


@pytest.mark.parametrize("change, message", [
    ({"citizen_b": "A"}, "two different people"),
    ({"first_together": datetime(2021, 7, 5, 8)}, "first_together must be a timezone-aware datetime"),
    ({"last_together": at(-1)}, "is before first_together"),
    ({"minutes": -1}, "minutes must be a number of at least 0"),
    ({"minutes": float("nan")}, "minutes must be a number of at least 0"),
    ({"source": "rumour"}, "source must be one of"),
    ({"place_id": None}, "needs its place"),
])
def test_a_row_that_cannot_be_an_exposure_is_refused(change, message):
    with pytest.raises(InvalidRow, match=message):
        replace(met("A", "B", 0, minutes=30), **change)


def test_a_stream_contact_edge_is_kept_as_the_stream_judged_it():
    exposure = Exposure.from_contact_edge(edge())
    assert exposure == Exposure("001090000001", "001090000002", "MARKET", T0, at(0.5), 30.0, "QD-1", "stream",
                                "interval_overlap")
    with pytest.raises(InvalidRow, match="retracted"):
        Exposure.from_contact_edge(edge(retracted=True))


def test_rows_of_another_kind_are_refused_by_name():
    with pytest.raises(InvalidRow, match="got dict"):
        exposures_among([{"citizen_a": "A"}], RULES)


def test_judged_presences_and_given_exposures_come_once_earliest_first():
    rows = [talked("A", "C", 5, 20), scan("A", 1), scan("B", 1.5), scan("A", 1), met("A", "D", 0)]
    found = exposures_among(rows, RULES, {"A"})
    assert [(e.citizens, e.source) for e in found] == [(("A", "D"), "stream"), (("A", "B"), "stream"),
                                                       (("A", "C"), "imported")]


presence_lists = st.lists(
    st.tuples(st.sampled_from("ABCD"), st.sampled_from(["P1", "P2"]), st.integers(0, 600),
              st.integers(0, 240), st.sampled_from(["point", "interval", "day"])),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(presence_lists, st.sets(st.sampled_from("ABCD")), st.integers(0, 120))
def test_judging_asks_meet_about_every_pair_that_could_meet(specs, asked, window):
    """The engine skips pairs too far apart in time; it must find what all pairs would."""
    rules = replace(RULES, name="property", point_window=timedelta(minutes=window))
    presences = []
    for citizen, place, start, length, kind in specs:
        begin = T0 + timedelta(minutes=start)
        end = {"point": begin, "interval": begin + timedelta(minutes=length), "day": begin + timedelta(days=1)}[kind]
        presences.append(Presence(citizen, place, begin, end, kind))
    expected = set()
    for one, other in itertools.permutations(dict.fromkeys(presences), 2):
        if one.place_id == other.place_id and one.citizen_id != other.citizen_id and one.citizen_id in asked:
            meeting = meet(one, other, contact_book(rules))
            if meeting is not None:
                expected.add(Exposure.from_meeting(one, other, meeting))
    assert set(exposures_among(presences, rules, asked)) == expected
