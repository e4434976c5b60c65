"""Forward tracing F0 -> Fn on hand-built scenarios whose answers a health official can check."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import networkx as nx
import pytest

from tests.test_tracing import FAR, at, fetcher, met, scan, stay, talked, whole_day
from tracing.errors import InvalidTrace
from tracing.forward import expand, next_fetch, start_graph, trace
from tracing.graph import tiers
from tracing.rules import DEFAULT_TRACE_RULES

RULES = DEFAULT_TRACE_RULES


def traced(rows, depth=3, rules=RULES, isolations=None, calls=None, since=0):
    return trace("F0", at(since), depth, rules, fetcher(rows, calls), until=FAR, isolations=isolations)


def tier_of(graph):
    return dict(graph.nodes(data="tier"))


def test_an_f1s_contact_before_the_f1_was_exposed_is_not_an_f2():
    rows = [
        met("F0", "A", 48),            # A becomes F1 on the third day
        met("A", "B", 10),             # A met B two days before that: B is no F2
        met("B", "D", 70),             # ...and so B's contacts are not F3s
        met("A", "C", 60),             # after A's exposure: an F2
        met("A", "E", 47, minutes=120),  # a stay around A's exposure counts from that moment on
    ]
    graph = traced(rows)

    assert tiers(graph) == {0: ["F0"], 1: ["A"], 2: ["C", "E"]}
    assert graph.nodes["A"]["first_exposure"] == at(48)
    assert graph.nodes["C"]["first_exposure"] == at(60)
    assert graph.nodes["E"]["first_exposure"] == at(48)
    assert graph.edges["A", "E"]["first_together"] == at(47)  # as recorded; counted from at(48)
    # Ignoring time would have made B an F2 and D an F3.
    everyone = nx.Graph([row.citizens for row in rows])
    assert set(nx.single_source_shortest_path_length(everyone, "F0", cutoff=3)) - set(graph) == {"B", "D"}


def test_a_person_reached_by_two_paths_keeps_the_lowest_tier_and_its_earliest_exposure():
    rows = [
        met("F0", "A", 10), met("F0", "B", 2),
        met("A", "D", 14), met("B", "D", 11, place="SCHOOL"),  # D: an F2 twice, first through B
        met("D", "F0", 20),                                      # met the case later too: an F1
        met("B", "X", 3), met("X", "Y", 4), met("Y", "Z", 5), met("A", "Z", 15),  # Z: F2 via A, exposed via Y
    ]
    graph = traced(rows, depth=4)

    assert tier_of(graph)["D"] == 1 and graph.nodes["D"]["first_exposure"] == at(11)
    assert set(graph.predecessors("D")) == {"F0", "B"}  # why D is an F1, and who exposed D first
    assert tier_of(graph)["Z"] == 2 and graph.nodes["Z"]["first_exposure"] == at(5)
    assert graph.nodes["Z"]["first_exposure_hops"] == 4  # F0 -> B -> X -> Y -> Z
    assert set(graph.predecessors("Z")) == {"A", "Y"}
    assert tier_of(graph)["X"] == 2 and tier_of(graph)["Y"] == 3
    assert traced(rows, depth=3).nodes["Z"]["first_exposure"] == at(15)  # the chain through Y is too long

    graph = traced([row for row in rows if row.citizens != ("D", "F0")])
    assert tier_of(graph)["D"] == 2
    assert graph.nodes["D"]["first_exposure"] == at(11)
    assert set(graph.predecessors("D")) == {"A", "B"}  # both exposures stay visible
    assert graph.edges["B", "D"]["place_id"] == "SCHOOL"
    assert graph.edges["A", "D"]["exposed_at"] == at(14)


def test_a_longer_chain_that_reached_someone_earlier_traces_their_contacts_from_then():
    # F0 met A only at hour 10, but F0 met B at 1 and B met A at 2: A was exposed from hour 2, so
    # C, whom A met at 5, was exposed along F0 -> B -> A -> C. Missing C would miss a real contact.
    rows = [met("F0", "B", 1), met("B", "A", 2), met("F0", "A", 10), met("A", "C", 5)]

    graph = traced(rows, depth=3)
    assert tier_of(graph) == {"F0": 0, "A": 1, "B": 1, "C": 3}
    assert graph.nodes["A"]["first_exposure"] == at(2) and graph.nodes["A"]["first_exposure_hops"] == 2
    assert graph.nodes["C"]["first_exposure"] == at(5)
    assert set(graph.predecessors("A")) == {"F0", "B"}  # F0 makes A an F1; B exposed A first
    assert graph.edges["F0", "A"]["exposed_at"] == at(10) and graph.edges["B", "A"]["exposed_at"] == at(2)
    assert list(graph.predecessors("C")) == ["A"] and graph.edges["A", "C"]["exposed_at"] == at(5)

    graph = traced(rows, depth=2)  # C is three exposures away
    assert tier_of(graph) == {"F0": 0, "A": 1, "B": 1}
    assert graph.nodes["A"]["first_exposure"] == at(2)

    # Isolated before meeting A, B could not have exposed A: A counts from hour 10, C is no contact.
    graph = traced(rows, depth=3, isolations={"B": at(1.5)})
    assert tier_of(graph) == {"F0": 0, "A": 1, "B": 1}
    assert graph.nodes["A"]["first_exposure"] == at(10)


def test_presences_of_people_already_traced_can_bring_their_exposure_forward():
    # A is an F1 from hour 10. B, an F2 from hour 1.5, scanned in at the cafe at 02:00, a quarter
    # of an hour before A: a chain of three exposures reached A at that meeting, from its first
    # scan, and then C at 05:00. A's presence is read while A is not in the round's frontier.
    rows = [met("F0", "A", 10), met("F0", "X", 1), met("X", "B", 1.5),
            scan("B", 2, "CAFE"), scan("A", 2.25, "CAFE"), met("A", "C", 5)]
    graph = traced(rows, depth=4)

    assert tier_of(graph) == {"F0": 0, "A": 1, "X": 1, "B": 2, "C": 4}
    assert graph.nodes["A"]["first_exposure"] == at(2) and graph.nodes["A"]["first_exposure_hops"] == 3
    assert graph.edges["B", "A"]["place_id"] == "CAFE"
    assert "C" not in traced(rows, depth=3)


def test_someone_reached_sooner_is_read_again_over_their_whole_period():
    # P is an F1 from hour 15, then exposed from hour 3 through B. P's interviews with Q add up
    # to 20 minutes only with the one after hour 15, which the read of P's first period covered.
    rules = replace(RULES, name="QD-imported-15", min_imported=timedelta(minutes=15))
    rows = [met("F0", "P", 15), met("F0", "B", 1), met("B", "P", 3),
            talked("P", "Q", 5, 10), talked("P", "Q", 20, 10)]
    calls = []
    graph = traced(rows, rules=rules, calls=calls)

    assert tier_of(graph) == {"F0": 0, "B": 1, "P": 1, "Q": 3}
    assert graph.nodes["Q"]["first_exposure"] == at(5)
    assert graph.edges["P", "Q"]["minutes"] == 20 and graph.edges["P", "Q"]["exposure_count"] == 2
    assert [citizens for citizens, _, _ in calls] == [{"F0"}, {"B", "P"}, {"P"}]
    _, since, until = calls[2]
    assert since <= at(3) - RULES.point_window and until >= FAR + RULES.point_window

    assert "Q" not in traced(rows[:4], rules=rules)  # ten minutes are no contact


def test_stream_and_imported_contacts_mix_with_a_minimum_for_imported_ones():
    rules = replace(RULES, name="QD-imported-15", min_imported=timedelta(minutes=15))
    rows = [
        talked("F0", "A", 1, 14),                          # 14 minutes in an interview: not a contact
        talked("F0", "B", 1, 15),                          # 15: a contact
        talked("F0", "C", 1, 10), talked("F0", "C", 30, 5, "workplace"),  # 10 + 5: a contact
        met("F0", "D", 2),                                 # two scans near in time: kept as judged
        met("F0", "E", 3, minutes=5),                      # a short overlap the stream judged: kept
        talked("B", "G", 20, 20),                          # an F1's imported contact: an F2
        talked("B", "H", 0.5, 10), talked("B", "H", 2, 10),  # only 10 minutes after B's exposure
    ]
    graph = traced(rows, rules=rules)

    assert tiers(graph) == {0: ["F0"], 1: ["B", "C", "D", "E"], 2: ["G"]}
    assert graph.edges["F0", "C"]["minutes"] == 15 and graph.edges["F0", "C"]["exposure_count"] == 2
    assert graph.edges["F0", "C"]["criterion"] == "household"
    assert (graph.edges["F0", "D"]["source"], graph.edges["F0", "D"]["place_id"]) == ("stream", "MARKET")
    assert (graph.edges["B", "G"]["source"], graph.edges["B", "G"]["place_id"]) == ("imported", None)
    assert graph.edges["F0", "D"]["rule_version"] == "truyvet-default-1"  # the stream's, as judged

    # Under the default any recorded contact counts.
    assert set(traced(rows)) == {"F0", "A", "B", "C", "D", "E", "G", "H"}


def test_isolation_cuts_the_chain_there():
    rows = [
        met("F0", "A", 5),
        met("A", "B", 19),                   # before A's isolation at 20: an F2
        met("A", "C", 21),                   # after it: not
        met("A", "D", 19.5, minutes=90),     # a stay begun before it: an F2
        met("F0", "E", 12),                  # after the case's own isolation at 10: not
    ]
    graph = traced(rows, isolations={"A": at(20), "F0": at(10)})

    assert tiers(graph) == {0: ["F0"], 1: ["A"], 2: ["B", "D"]}
    assert graph.nodes["A"]["isolated_at"] == at(20)


def test_the_depth_limits_the_tiers_and_the_reads():
    rows = [met(f"P{n}" if n else "F0", f"P{n + 1}", n + 1) for n in range(5)]
    calls = []
    graph = traced(rows, depth=2, calls=calls)
    assert tier_of(graph) == {"F0": 0, "P1": 1, "P2": 2}
    assert [citizens for citizens, _, _ in calls] == [{"F0"}, {"P1"}]

    calls.clear()
    assert tier_of(traced(rows, depth=0, calls=calls)) == {"F0": 0} and calls == []

    calls.clear()
    assert len(traced(rows, depth=10, calls=calls)) == 6
    assert len(calls) == 6  # the last tier finds nobody new, and the trace stops


def test_presences_are_judged_under_the_rules_the_trace_was_asked_under():
    rows = [scan("F0", 1), scan("A", 1.75), scan("B", 2.5),             # 45 and 90 minutes later
            stay("F0", 3, 4, "CAFE"), stay("C", 3.5, 5, "CAFE"), stay("D", 3.9, 5, "CAFE")]

    graph = traced(rows, depth=1)
    assert tiers(graph) == {0: ["F0"], 1: ["A", "C"]}
    assert graph.edges["F0", "A"]["rule_version"] == "truyvet-trace-default-1"
    assert graph.edges["F0", "C"]["minutes"] == 30 and graph.edges["F0", "C"]["criterion"] == "interval_overlap"

    narrow = replace(RULES, name="QD-30-min", point_window=timedelta(minutes=30), min_overlap=timedelta(minutes=5))
    graph = traced(rows, depth=1, rules=narrow)
    assert tiers(graph) == {0: ["F0"], 1: ["C", "D"]}
    assert graph.edges["F0", "D"]["rule_version"] == "QD-30-min"


def test_a_date_only_record_counts_over_its_whole_day_unless_the_rules_say_otherwise():
    # A became an F1 at 09:00 on 6 July; A's paper log says only "at the market on 6 July";
    # B scanned in there at 08:00 that day. A might have been there after 09:00.
    rows = [met("F0", "A", 25), whole_day("A", date(2021, 7, 6)), scan("B", 24)]

    assert set(traced(rows)) == {"F0", "A", "B"}
    assert traced(rows).nodes["B"]["first_exposure"] == at(25)
    assert set(traced(rows, rules=replace(RULES, name="as-recorded", same_day="as_recorded"))) == {"F0", "A"}
    assert set(traced(rows, rules=replace(RULES, name="no-dates", same_day="ignore"))) == {"F0", "A"}


def test_each_read_covers_the_open_periods_of_one_round_with_the_rules_margins():
    rows = [met("F0", "A", 5), met("F0", "B", 6), met("A", "C", 8), met("B", "D", 9)]
    calls = []
    graph = traced(rows, isolations={"B": at(4)}, calls=calls)  # B was isolated before meeting F0

    assert tiers(graph) == {0: ["F0"], 1: ["A", "B"], 2: ["C"]}
    citizens, since, until = calls[1]
    assert citizens == {"A"}  # B's period is empty: nobody to read for
    assert since <= at(5) - RULES.point_window and until >= FAR + RULES.point_window
    assert next_fetch(graph, ["B"], RULES) is None


def test_the_same_row_read_twice_counts_once():
    graph = traced([met("F0", "A", 1, minutes=20)] * 2)
    assert graph.edges["F0", "A"]["minutes"] == 20 and graph.edges["F0", "A"]["exposure_count"] == 1


@pytest.mark.parametrize("change, message", [
    ({"depth": -1}, "depth must be a whole number of at least 0"),
    ({"depth": True}, "depth must be a whole number"),
    ({"until": at(0).replace(tzinfo=None)}, "until must be a date or a timezone-aware datetime"),
    ({"until": at(-1)}, "must be before until"),
])
def test_a_trace_that_cannot_be_asked_is_refused(change, message):
    arguments = {"depth": 2, "until": FAR, **change}
    with pytest.raises(InvalidTrace, match=message):
        trace("F0", at(0), arguments["depth"], RULES, fetcher([]), until=arguments["until"])


def test_a_step_under_other_rules_or_across_rounds_is_refused():
    graph = start_graph("F0", at(0), FAR, RULES)
    expand(graph, {"F0"}, [met("F0", "A", 1)], RULES)
    with pytest.raises(InvalidTrace, match="traced under 'truyvet-trace-default-1', not 'other'"):
        expand(graph, {"A"}, [], replace(RULES, name="other"))
    with pytest.raises(InvalidTrace, match=r"mixes rounds \[0, 1\]"):
        expand(graph, {"F0", "A"}, [], RULES)
    with pytest.raises(InvalidTrace, match="not in the graph"):
        expand(graph, {"Q"}, [], RULES)
