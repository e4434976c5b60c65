"""Traces through the real embedded warehouse: scans and imported contacts in, tiers out.

The scenario is a health official's: a case at a market in the morning, a person met there who
later spends an hour at a school, someone at the school with them, someone at the school before
them (not a contact: before their own exposure), a household contact from the case's
interview. The answer is known by hand.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ingest.contactlog import LoggedContact
from tests.conftest import random_cccd
from tests.test_warehouse.conftest import BIG_ROWS, T0, Reads, big_citizen, random_place, scan
from tracing.forward import trace
from tracing.graph import tiers
from tracing.rules import DEFAULT_TRACE_RULES as RULES
from warehouse.errors import TooMuchToRead
from warehouse.imported import store_imported_contacts
from warehouse.traces import rows_of, trace_fetch
from warehouse.writer import write_scans

H = timedelta(hours=1)
M = timedelta(minutes=1)
DAY = timedelta(days=1)
# Inside the big table's three months of scans (2026-01-01 onwards).
IN_BIG_TABLE = datetime(2026, 2, 15, tzinfo=timezone.utc)


@pytest.fixture
def outbreak(warehouse):
    """Who was where, and the people's roles in the story."""
    case, market_f1, school_f2, school_before, stranger, household = (random_cccd() for _ in range(6))
    market, school = random_place(), random_place()
    write_scans(warehouse, [
        scan(f"{case}-1", case, ts=T0, place_id=market),
        scan(f"{market_f1}-1", market_f1, ts=T0 + 40 * M, place_id=market),
        scan(f"{stranger}-1", stranger, ts=T0 + 3 * H, place_id=market),  # beyond the point window
        scan(f"{market_f1}-2", market_f1, ts=T0 + 4 * H, place_id=school),
        scan(f"{market_f1}-3", market_f1, ts=T0 + 5 * H, place_id=school, direction="out"),
        scan(f"{school_f2}-1", school_f2, ts=T0 + 4 * H + 30 * M, place_id=school),
        scan(f"{school_f2}-2", school_f2, ts=T0 + 6 * H, place_id=school, direction="out"),
        # With the F1 at the school an hour, before the market: before the F1's own exposure, so
        # not an F2 (ignoring time would make them one).
        scan(f"{market_f1}-0", market_f1, ts=T0 - 3 * H, place_id=school),
        scan(f"{market_f1}-00", market_f1, ts=T0 - 2 * H, place_id=school, direction="out"),
        scan(f"{school_before}-1", school_before, ts=T0 - 3 * H, place_id=school),
        scan(f"{school_before}-2", school_before, ts=T0 - 2 * H, place_id=school, direction="out"),
    ])
    store_imported_contacts(warehouse, [LoggedContact(*sorted((case, household)), T0 + 10 * H, T0 + 12 * H,
                                                      "household", "interview")])
    return dict(case=case, market_f1=market_f1, school_f2=school_f2, school_before=school_before,
                stranger=stranger, household=household)


def test_a_trace_finds_f1_by_place_and_interview_and_f2_only_after_the_f1s_exposure(warehouse, outbreak):
    people = outbreak

    graph = trace(people["case"], T0 - DAY, 2, RULES, trace_fetch(warehouse, RULES), until=T0 + 3 * DAY)

    assert tiers(graph) == {0: [people["case"]], 1: sorted([people["market_f1"], people["household"]]),
                            2: [people["school_f2"]]}
    # Scanned 40 minutes apart: together, at the earliest, from the first of the two scans.
    assert graph.nodes[people["market_f1"]]["first_exposure"] == T0
    household = graph.edges[people["case"], people["household"]]
    assert (household["source"], household["criterion"], household["minutes"]) == ("imported", "household", 120.0)
    school = graph.edges[people["market_f1"], people["school_f2"]]
    assert (school["source"], school["criterion"], school["minutes"]) == ("stream", "interval_overlap", 30.0)


def test_a_stricter_rule_set_drops_the_contacts_it_does_not_count(warehouse, outbreak):
    from dataclasses import replace
    strict = replace(RULES, name="strict-30", point_window=30 * M, min_overlap=45 * M, min_imported=3 * H)
    people = outbreak

    graph = trace(people["case"], T0 - DAY, 2, strict, trace_fetch(warehouse, strict), until=T0 + 3 * DAY)

    assert tiers(graph) == {0: [people["case"]]}


def test_a_tier_is_read_in_two_key_range_steps_not_a_table_scan(big_table):
    reads = Reads(big_table.client)
    citizen = big_citizen(123)

    found = rows_of(reads, [citizen], IN_BIG_TABLE - 14 * DAY, IN_BIG_TABLE, RULES)

    own = [row for row in found if getattr(row, "citizen_id", None) == citizen]
    assert own, "the person has presences in the window"
    assert len(reads.rows) == 3  # their scans, scans at their places, their imported contacts
    assert sum(reads.rows) < BIG_ROWS / 20, reads.rows


def test_values_are_bound_so_a_crafted_id_finds_nothing(warehouse, outbreak):
    crafted = "' OR 1=1 --"

    assert rows_of(warehouse, [crafted, f"{outbreak['case']}' OR '1'='1"], T0 - DAY, T0 + DAY, RULES) == []


def test_a_window_holding_too_many_scans_is_refused_not_cut_short(big_table, monkeypatch):
    from warehouse import traces
    monkeypatch.setattr(traces, "MAX_SCANS_READ", 10)

    with pytest.raises(TooMuchToRead, match="trace a shorter period"):
        rows_of(big_table.client, [big_citizen(7)], IN_BIG_TABLE - 30 * DAY, IN_BIG_TABLE, RULES)
