"""The stream's contacts equal a brute-force pass over the same scans, whatever Kafka does.

Scans arrive shuffled, redelivered and late, in batches, across a change of rule version; the
edges and crowd exposures the co-location state publishes (latest revision of each, without
the retracted ones) must be exactly those the reference below finds over the scans it took.
The reference is the rules applied to every pair of presences, with no state at all.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.colocate import PlaceState
from streams.meetings import hours_covered, meet
from streams.records import VIETNAM_TIME, ScanEvent
from streams.rules import RuleBook, RuleVersion
from warehouse.presence import presences

START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
SPAN_MINUTES = 36 * 60
PEOPLE = [f"0790900000{n:02d}" for n in range(6)]
PLACES = ["MARKET", "SCHOOL"]
# Two versions, the second stricter and with a lower crowd threshold, in force from local
# midnight of 2 January: the span above crosses it.
BOOK = RuleBook([
    RuleVersion("v1", date(2026, 1, 1), timedelta(minutes=60), timedelta(minutes=15), crowd_threshold=4),
    RuleVersion("v2", date(2026, 1, 2), timedelta(minutes=30), timedelta(minutes=5), crowd_threshold=3),
])


def local_midnight(moment: datetime) -> datetime:
    day = moment.astimezone(VIETNAM_TIME).date()
    return datetime.combine(day, datetime.min.time(), VIETNAM_TIME).astimezone(timezone.utc)


@st.composite
def scan_events(draw, span_minutes: int = SPAN_MINUTES, places: tuple[str, ...] = tuple(PLACES)) -> ScanEvent:
    minute = draw(st.integers(0, span_minutes))
    ts = START + timedelta(minutes=minute)
    precision = draw(st.sampled_from(["instant"] * 6 + ["day"]))
    if precision == "day":
        ts = local_midnight(ts)
    return ScanEvent(
        event_id=f"e{draw(st.integers(0, 10**6))}",
        citizen_id=draw(st.sampled_from(PEOPLE)),
        place_id=draw(st.sampled_from(places)),
        ts=ts,
        direction=draw(st.sampled_from(["in", "in", "out", "out", "pass"])),
        precision=precision,
    )


@st.composite
def deliveries(draw, scans=scan_events()) -> list[list[ScanEvent]]:
    """Scans as Kafka might deliver them: shuffled, some twice, cut into batches."""
    scans = draw(st.lists(scans, min_size=1, max_size=40))
    # A redelivered event is decoded again: the same content in another object.
    again = [copy.copy(scan) for scan in draw(st.lists(st.sampled_from(scans), max_size=8))]
    order = draw(st.permutations(scans + again))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=6)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def stream(batches: list[list[ScanEvent]], lateness: timedelta):
    """Feed the batches; return the latest state of every edge and exposure, and the scans taken."""
    states = {place: PlaceState(place, BOOK, lateness) for place in PLACES}
    edges, exposures, taken = {}, {}, []
    for revision, batch in enumerate(batches):
        for place, state in states.items():
            here = [scan for scan in batch if scan.place_id == place]
            changes = state.add(here, revision)
            late = {id(scan) for scan in changes.too_late}
            taken += [scan for scan in here if id(scan) not in late]
            for edge in changes.edges:
                key = (edge.place_id, edge.citizen_a, edge.citizen_b, edge.rule_version, edge.window_start)
                assert key not in edges or edges[key][0] <= revision  # revisions only grow
                edges[key] = (revision, edge)
            for exposure in changes.exposures:
                exposures[exposure.place_id, exposure.window_start] = exposure
            state.forget_settled()
    current = {key: _content(edge) for key, (_, edge) in edges.items() if not edge.retracted}
    crowds = {key: e.head_count for key, e in exposures.items() if not e.retracted}
    return current, crowds, taken


def reference(scans: list[ScanEvent]):
    """Every pair of presences at each place, judged by the rules; nothing remembered."""
    by_place = defaultdict(list)
    for presence in presences(scans):
        by_place[presence.place_id].append(presence)
    edges, crowds = {}, {}
    for place, found in by_place.items():
        heads = defaultdict(set)
        for presence in found:
            for hour in hours_covered(presence):
                heads[hour].add(presence.citizen_id)
        crowded = {hour for hour, people in heads.items() if len(people) > BOOK.at(hour).crowd_threshold}
        crowds.update({(place, hour): len(heads[hour]) for hour in crowded})
        meetings = defaultdict(list)
        for one in found:
            for other in found:
                if one.citizen_id >= other.citizen_id:
                    continue
                meeting = meet(one, other, BOOK)
                if meeting is not None and meeting.window not in crowded:
                    key = (place, one.citizen_id, other.citizen_id, meeting.rule.version, meeting.window)
                    meetings[key].append(meeting)
        for key, found_meetings in meetings.items():
            found_meetings.sort(key=lambda m: (m.first, m.last, m.criterion))
            edges[key] = (found_meetings[0].criterion, found_meetings[0].first,
                          max(m.last for m in found_meetings), sum(m.minutes for m in found_meetings))
    return edges, crowds


def _content(edge) -> tuple:
    return (edge.criterion, edge.first_together, edge.last_together, edge.overlap_minutes)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=deliveries(), lateness_hours=st.sampled_from([2, 6, 48]))
def test_stream_edges_equal_the_brute_force_reference(batches, lateness_hours):
    edges, crowds, taken = stream(batches, timedelta(hours=lateness_hours))
    expected_edges, expected_crowds = reference(taken)
    assert edges == expected_edges
    assert crowds == expected_crowds


# Everyone at one place within three hours around the change of version: crowds come and go.
CROWDED = deliveries(scan_events(span_minutes=180, places=("MARKET",)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=CROWDED.map(lambda batches: [[_shifted(scan) for scan in batch] for batch in batches]))
def test_crowded_hours_give_one_exposure_and_no_pairs_as_the_reference_does(batches):
    edges, crowds, taken = stream(batches, timedelta(hours=48))
    expected_edges, expected_crowds = reference(taken)
    assert (edges, crowds) == (expected_edges, expected_crowds)


def _shifted(scan: ScanEvent) -> ScanEvent:
    """The scan moved to the three hours around local midnight of 2 January, when v2 takes over."""
    return copy.copy(scan).derive(ts=scan.ts + timedelta(hours=3, minutes=30)) if scan.precision == "instant" else scan


def test_a_check_out_withdraws_a_contact_the_check_in_alone_had_made():
    """Checked in 10 minutes apart, but one left after 5 minutes: not 15 minutes together."""
    state = PlaceState("CAFE", BOOK)
    at = START + timedelta(hours=1)

    def scan(who, minutes, direction):
        return ScanEvent(event_id=f"{who}{minutes}", citizen_id=who, place_id="CAFE",
                         ts=at + timedelta(minutes=minutes), direction=direction)

    first = state.add([scan(PEOPLE[0], 0, "in"), scan(PEOPLE[1], 10, "in")], revision=1)
    assert [(e.criterion, e.retracted) for e in first.edges] == [("point_window", False)]
    second = state.add([scan(PEOPLE[0], 5, "out"), scan(PEOPLE[1], 40, "out")], revision=2)
    assert [(e.criterion, e.retracted, e.revision) for e in second.edges] == [("point_window", True, 2)]


def test_a_scan_older_than_the_lateness_is_handed_back_and_changes_nothing():
    state = PlaceState("CAFE", BOOK, lateness=timedelta(hours=2))
    now = ScanEvent(event_id="a", citizen_id=PEOPLE[0], place_id="CAFE", ts=START + timedelta(hours=5),
                    direction="pass")
    old = ScanEvent(event_id="b", citizen_id=PEOPLE[1], place_id="CAFE", ts=START + timedelta(hours=2, minutes=30),
                    direction="pass")
    state.add([now], revision=1)
    changes = state.add([old], revision=2)
    assert changes.too_late == [old] and not changes.edges
