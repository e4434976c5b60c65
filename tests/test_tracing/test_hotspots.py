"""Hotspots: places ranked by exposures, or by exposed people, in a period."""
from __future__ import annotations

import pytest

from tests.test_tracing import at, met, scan, talked
from tracing.errors import InvalidTrace
from tracing.hotspots import hotspots
from tracing.rules import DEFAULT_TRACE_RULES

RULES = DEFAULT_TRACE_RULES
ROWS = [
    # The bar: one regular meeting the same two friends four times.
    met("A", "B", 1, place="BAR"), met("A", "B", 2, place="BAR"), met("A", "B", 3, place="BAR"),
    met("A", "B", 4, place="BAR"),
    # The market: three different pairs.
    met("C", "D", 1, place="MARKET"), met("E", "F", 2, place="MARKET"), met("G", "H", 3, place="MARKET"),
    met("I", "J", 50, place="SCHOOL"),           # outside the period
    talked("K", "L", 2, 60),                     # no place: counts nowhere
]


def test_places_rank_by_exposures_or_by_the_people_exposed():
    by_exposures = hotspots(ROWS, at(0), at(24), RULES)
    assert [(h.place_id, h.exposures, h.people) for h in by_exposures] == [("BAR", 4, 2), ("MARKET", 3, 6)]
    assert (by_exposures[0].first_together, by_exposures[0].last_together) == (at(1), at(4))

    assert [h.place_id for h in hotspots(ROWS, at(0), at(24), RULES, by="people")] == ["MARKET", "BAR"]
    assert [h.place_id for h in hotspots(ROWS, at(0), at(100), RULES, limit=1)] == ["BAR"]
    assert len(hotspots(ROWS, at(0), at(100), RULES)) == 3


def test_a_crowd_given_as_presences_counts_its_people():
    crowd = [scan(f"P{n}", 1 + n / 60, "STADIUM") for n in range(5)]  # five people within five minutes
    (stadium,) = hotspots(crowd, at(0), at(24), RULES)
    assert (stadium.place_id, stadium.exposures, stadium.people) == ("STADIUM", 10, 5)


@pytest.mark.parametrize("arguments, message", [
    ({"since": at(5), "until": at(5)}, "must be before until"),
    ({"by": "minutes"}, "by must be one of"),
    ({"limit": 0}, "limit must be a whole number of at least 1"),
])
def test_an_impossible_question_is_refused(arguments, message):
    arguments = {"since": at(0), "until": at(24), **arguments}
    with pytest.raises(InvalidTrace, match=message):
        hotspots(ROWS, arguments.pop("since"), arguments.pop("until"), RULES, **arguments)
