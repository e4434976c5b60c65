"""Exposure alerts: who of a case's trace is alerted, with what, once per case, while the case is open.

The pure rules (streams/alerting.py) on hand-built traces, then the cases and route agents'
logic (streams/agents/alerts.py) with plain dicts for their Faust tables, a recording topic and
a trace over rows in memory: no broker and no warehouse (tests/test_truyvet/test_alerts_pipeline.py
runs the real thing).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from faust.exceptions import PartitionsMismatch

from streams import topics
from streams.agents import alerts as alert_agents
from streams.agents.alerts import TRACE_REFUSED, CaseTracer, Routing, alerts_published, write_table
from streams.alerting import (OPEN_WITHOUT_ISOLATION, OpenCase, alert_id, case_alerts, decode_case, first_time,
                              longest_window, remember, route)
from streams.errors import UndecodableEvent
from streams.records import AlertToRoute, CaseEvent
from tests.conftest import settings_for_tests
from tests.test_tracing import met, talked
from tracing.forward import trace
from tracing.rules import DEFAULT_TRACE_RULES as RULES
from warehouse.errors import TooMuchToRead, WarehouseError

NOW = datetime(2026, 11, 28, 3, tzinfo=timezone.utc)
H = timedelta(hours=1)
DAY = timedelta(days=1)
CASE_PARTITION = 4
# The cases' citizen ids (a case event carries a real CCCD number); contacts keep short names.
F0, G0, K0 = "079090000001", "079190000002", "001090000003"


def a_case(case_id: str = "case-1", citizen: str = F0, onset: str = "2026-11-25", reported: datetime = NOW,
           isolated: datetime | None = None) -> CaseEvent:
    return CaseEvent(event_id=f"event-{case_id}", case_id=case_id, citizen_id=citizen, date_kind=CaseEvent.ONSET,
                     case_date=onset, reported_at=reported, isolated_at=isolated)


def open_case(**changes) -> OpenCase:
    return OpenCase.of(a_case(**changes), RULES, CASE_PARTITION)


def traced(rows, case: OpenCase, until: datetime = NOW):
    """The case's trace, two tiers deep, over ``rows`` (exposures, as the warehouse would give them)."""
    return trace(case.citizen_id, case.infectious_from, 2, RULES,
                 lambda citizens, since, until: [row for row in rows if row.involves(citizens)], until=until)


def at(hours: float) -> datetime:
    """Hours after the infectious start of the default case (onset 2026-11-25: from 11-23 00:00 local)."""
    return open_case().infectious_from + hours * H


def meets(a: str, b: str, hours: float, **kwargs):
    """tests.test_tracing.met, timed from the default case's infectious start."""
    found = met(a, b, 0, **kwargs)
    shift = at(hours) - found.first_together
    return type(found)(found.citizen_a, found.citizen_b, found.place_id, found.first_together + shift,
                       found.last_together + shift, found.minutes, found.rule_version, found.source, found.criterion)


# -- which people become alerts ------------------------------------------------------------------

def test_every_f1_and_f2_becomes_an_alert_with_its_tier_and_first_exposure_and_nobody_else_does():
    case = open_case()
    rows = [meets(F0, "A", 2, place="MARKET"), meets("A", "B", 5, place="SCHOOL"),
            meets("B", "C", 9, place="BUS"),  # an F3: not alerted
            meets("A", "Z", 1, place="GYM")]  # met A before A's exposure: no one's contact
    alerts = case_alerts(traced(rows, case), case, NOW)

    assert [(a.contact_citizen_id, a.tier, a.first_exposure, a.place_id) for a in alerts] == [
        ("A", 1, at(2), "MARKET"), ("B", 2, at(5), "SCHOOL")]
    assert all((a.case_id, a.case_citizen_id, a.alerted_at, a.source) == ("case-1", F0, NOW, "stream")
               for a in alerts)
    assert [a.event_id for a in alerts] == [alert_id("case-1", "A"), alert_id("case-1", "B")]


def test_a_contact_reached_first_through_another_contact_is_alerted_with_that_first_exposure():
    """A is an F1 (met the case at hour 10) but was exposed sooner, at hour 2, by B at the school."""
    case = open_case()
    rows = [meets(F0, "B", 1, place="MARKET"), meets("B", "A", 2, place="SCHOOL"),
            meets(F0, "A", 10, place="MARKET")]
    alerts = {a.contact_citizen_id: a for a in case_alerts(traced(rows, case), case, NOW)}

    assert (alerts["A"].tier, alerts["A"].first_exposure, alerts["A"].place_id) == (1, at(2), "SCHOOL")


def test_an_imported_contact_is_alerted_with_its_setting_and_no_place():
    case = open_case()
    household = talked(F0, "H", 0, 600)
    shifted = type(household)(household.citizen_a, household.citizen_b, None, at(3), at(13), 600,
                              household.rule_version, "imported", "household")
    [alert] = case_alerts(traced([shifted], case), case, NOW)

    assert (alert.contact_citizen_id, alert.place_id, alert.criterion, alert.source) == (
        "H", None, "household", "imported")


def test_a_trace_of_the_case_alone_alerts_nobody():
    case = open_case()
    assert case_alerts(traced([], case), case, NOW) == []


# -- once per contact and case -------------------------------------------------------------------

def test_a_contact_is_alerted_once_per_case_and_again_for_another_case():
    alerted = None
    assert first_time(alerted, "case-1")
    alerted = remember(alerted, "case-1")
    assert not first_time(alerted, "case-1")
    assert first_time(alerted, "case-2")
    assert remember(remember(alerted, "case-2"), "case-1") == ["case-1", "case-2"]


def test_alert_ids_name_the_case_and_the_contact():
    assert alert_id("case-1", "A") == alert_id("case-1", "A")
    assert len({alert_id("case-1", "A"), alert_id("case-1", "B"), alert_id("case-2", "A")}) == 3


# -- open and closed cases -----------------------------------------------------------------------

def test_a_case_without_isolation_stays_open_fourteen_days_after_its_report():
    case = open_case(reported=NOW)
    assert case.closes_at == NOW + OPEN_WITHOUT_ISOLATION == NOW + 14 * DAY
    assert case.is_open(NOW + 14 * DAY - H) and not case.is_open(NOW + 14 * DAY)
    assert case.trace_period(NOW + DAY) == (case.infectious_from, NOW + DAY)


def test_an_isolated_case_stays_open_the_longest_window_after_isolation_and_is_traced_until_it():
    isolated = NOW - DAY
    case = open_case(isolated=isolated)
    assert longest_window(RULES) == RULES.backward_window == 14 * DAY
    assert case.closes_at == isolated + 14 * DAY
    assert case.trace_period(NOW + 5 * DAY) == (case.infectious_from, isolated)


def test_a_case_isolated_before_it_was_infectious_has_nothing_to_trace():
    case = open_case(onset="2026-11-25", isolated=datetime(2026, 11, 20, tzinfo=timezone.utc))
    assert case.trace_period(NOW) is None


def test_the_infectious_window_starts_the_rules_days_before_onset_in_viet_nam_time():
    case = open_case(onset="2026-11-25")
    assert case.infectious_from == datetime(2026, 11, 22, 17, tzinfo=timezone.utc)  # 23/11 00:00 UTC+7


def test_a_case_is_decoded_strictly():
    case = a_case(isolated=NOW - H)
    assert decode_case(case.dumps()).isolated_at == NOW - H
    for broken, why in ((b"[]", "not a JSON object"), (case.dumps().replace(b'"onset"', b'"fever"'), "date_kind"),
                        (case.dumps().replace(F0.encode(), b"F0"), "citizen_id"),
                        (case.dumps().replace(b'Z"', b'"', 1), "reported_at")):
        with pytest.raises(UndecodableEvent, match=why):
            decode_case(broken)


# -- the agents' logic, with dicts for tables ----------------------------------------------------

@dataclass
class Sent:
    """A topic that records what is sent to it."""

    messages: list[tuple[str, object]] = field(default_factory=list)

    async def send(self, key, value):
        self.messages.append((key, value))


class Letters:
    def __init__(self):
        self.sent = []

    async def send(self, event, reason, error):
        self.sent.append((reason, error))


def message(value: bytes, partition: int = CASE_PARTITION):
    return SimpleNamespace(value=value, message=SimpleNamespace(topic="t", partition=partition, offset=0))


@dataclass
class World:
    """The rows the warehouse holds, the two agents, and what reached the wards."""

    rows: list = field(default_factory=list)
    now: datetime = NOW
    partitions: set[int] | None = field(default_factory=lambda: {CASE_PARTITION})
    open_cases: dict = field(default_factory=dict)
    alerted: dict = field(default_factory=dict)
    registry: dict = field(default_factory=dict)
    to_route: Sent = field(default_factory=Sent)
    wards: Sent = field(default_factory=Sent)
    letters: Letters = field(default_factory=Letters)
    refuse: WarehouseError | None = None

    def __post_init__(self):
        self.tracer = CaseTracer(warehouse=None, rules=RULES, open_cases=self.open_cases, to_route=self.to_route,
                                 dead_letters=self.letters, active_partitions=lambda: self.partitions,
                                 trace=self.trace, clock=lambda: self.now)
        self.routing = Routing(self.registry, self.alerted, self.wards, self.letters)

    def trace(self, client, case, since, until, depth, rules):
        if self.refuse is not None:
            raise self.refuse
        rows = [row for row in self.rows if row.first_together < until]
        return trace(case, since, depth, rules, lambda citizens, a, b: [r for r in rows if r.involves(citizens)],
                     until=until)

    def report(self, case: CaseEvent) -> None:
        asyncio.run(self.tracer.take_case(message(case.dumps())))
        self.route()

    def retrace(self) -> int:
        traced = asyncio.run(self.tracer.retrace_open_cases())
        self.route()
        return traced

    def route(self) -> None:
        async def all_of_them():
            for _, alert in self.to_route.messages:
                await self.routing.take(message(alert.dumps()))
        asyncio.run(all_of_them())
        self.to_route.messages.clear()

    def ward_alerts(self) -> list[tuple[str, str, int]]:
        return [(key, alert.contact_citizen_id, alert.tier) for key, alert in self.wards.messages]


def test_a_case_alerts_each_contact_once_in_the_ward_they_live_in_and_stays_open():
    world = World(rows=[meets(F0, "A", 2), meets("A", "B", 5)])
    world.registry.update(A={"ward_code": 26734, "province_code": 79})  # B: not in the registry
    unknown_before = alerts_published.labels(ward="unknown")._value.get()

    world.report(a_case())
    world.report(a_case())  # delivered again

    assert world.ward_alerts() == [("26734", "A", 1), ("0", "B", 2)]
    assert [(a.ward_code, a.province_code) for _, a in world.wards.messages] == [(26734, 79), (0, 0)]
    assert alerts_published.labels(ward="unknown")._value.get() == unknown_before + 1
    assert world.alerted == {"A": ["case-1"], "B": ["case-1"]}
    assert list(world.open_cases[F0]) == ["case-1"]


def test_a_retrace_alerts_contacts_that_came_to_light_and_nobody_twice():
    world = World(rows=[meets(F0, "A", 2)])
    world.report(a_case())
    world.rows += [meets(F0, "N", 20), meets("A", "M", 30)]  # scans that arrived later
    world.now += timedelta(minutes=1)

    assert world.retrace() == 1
    assert world.ward_alerts() == [("0", "A", 1), ("0", "N", 1), ("0", "M", 2)]
    assert world.retrace() == 1
    assert len(world.wards.messages) == 3


def test_another_case_of_the_same_contact_alerts_them_again():
    world = World(rows=[meets(F0, "A", 2), meets(G0, "A", 3)])
    world.report(a_case("case-1", F0))
    world.report(a_case("case-2", G0))

    assert [a.case_id for _, a in world.wards.messages if a.contact_citizen_id == "A"] == ["case-1", "case-2"]
    assert world.alerted["A"] == ["case-1", "case-2"]


def test_closed_cases_are_not_retraced_and_leave_the_table_with_the_next_case_of_their_partition():
    world = World(rows=[meets(F0, "A", 2)])
    world.report(a_case("case-1", F0))
    world.report(a_case("case-2", F0, onset="2026-11-26", reported=NOW + 5 * DAY))
    world.open_cases[K0] = {"case-9": OpenCase.of(a_case("case-9", K0), RULES, 1).as_entry()}
    world.now = NOW + 14 * DAY  # case-1 and case-9 close, case-2 is open five days more

    assert world.retrace() == 1  # case-2; case-9 is on another worker's partition anyway
    assert sorted(world.open_cases[F0]) == ["case-1", "case-2"]  # a timer writes no table

    world.report(a_case("case-3", G0, onset="2026-12-11", reported=world.now))
    assert list(world.open_cases[F0]) == ["case-2"]
    assert K0 in world.open_cases  # partition 1: its own next case drops it

    world.now = NOW + 19 * DAY
    assert world.retrace() == 1  # case-3
    world.report(a_case("case-4", G0, onset="2026-12-15", reported=world.now))
    assert F0 not in world.open_cases and sorted(world.open_cases[G0]) == ["case-3", "case-4"]


def test_nothing_is_retraced_while_partitions_move():
    world = World(rows=[meets(F0, "A", 2)])
    world.report(a_case())
    world.partitions = None
    assert world.retrace() == 0


def test_a_case_closed_when_reported_is_traced_once_and_not_kept():
    """Isolated 20 days ago: open until six days ago, yet its contacts were never alerted."""
    world = World(rows=[meets(F0, "A", 2)], now=NOW + 20 * DAY)
    world.report(a_case(isolated=NOW))

    assert world.ward_alerts() == [("0", "A", 1)]
    assert world.open_cases == {}


def test_a_trace_the_warehouse_refuses_is_dead_lettered_and_the_case_not_kept():
    world = World(refuse=TooMuchToRead("more than 2000000 scans"))
    world.report(a_case())
    assert world.letters.sent == [(TRACE_REFUSED, "case case-1: more than 2000000 scans")]
    assert world.open_cases == {}


def test_a_transient_warehouse_error_in_a_retrace_keeps_the_case_for_the_next_round():
    world = World(rows=[meets(F0, "A", 2)])
    world.report(a_case())
    world.refuse = WarehouseError("connection refused")  # no code: transient
    assert world.retrace() == 0
    world.refuse = None
    assert world.retrace() == 1


def test_a_retrace_the_warehouse_refuses_for_its_content_is_not_tried_again():
    world = World(rows=[meets(F0, "A", 2)])
    world.report(a_case())
    world.refuse = TooMuchToRead("more than 2000000 scans")
    assert world.retrace() == 0
    world.refuse = None
    assert world.retrace() == 0


def test_garbage_on_either_topic_is_dead_lettered():
    world = World()
    asyncio.run(world.tracer.take_case(message(b"not json")))
    asyncio.run(world.routing.take(message(b'{"event_id": "x"}')))
    assert [reason for reason, _ in world.letters.sent] == ["undecodable", "undecodable"]


def test_an_alert_for_a_known_person_carries_their_ward_and_province():
    found = AlertToRoute(event_id="a", case_id="c", case_citizen_id=F0, contact_citizen_id="A", tier=2,
                         first_exposure=NOW, place_id=None, criterion="household", source="imported", alerted_at=NOW)
    routed = route(found, {"ward_code": 70, "province_code": 1, "sex": "male", "date_of_birth": "1990-01-01"})
    assert (routed.ward_code, routed.province_code, routed.tier, routed.criterion) == (70, 1, 2, "household")


def test_a_table_write_faust_refuses_for_an_unknown_changelog_waits_instead_of_losing_the_event(monkeypatch):
    monkeypatch.setattr(alert_agents, "TABLE_RETRY_SECONDS", 0)
    table, refusals = {}, [PartitionsMismatch("changelog has 0 partitions")]

    def write():
        if refusals:
            raise refusals.pop()
        table["A"] = ["case-1"]

    asyncio.run(write_table(write, "the alerted table"))
    assert table == {"A": ["case-1"]}


def test_the_tables_changelogs_are_among_the_topics_created_ahead(tmp_path):
    from streams.app import create_app

    app = create_app(settings_for_tests(tmp_path, f"chdb://{tmp_path}/warehouse"), warehouse=object())
    changelogs = {app.tables[name].changelog_topic.get_topic_name()
                  for name in (alert_agents.OPEN_CASES_TABLE, alert_agents.ALERTED_TABLE)}
    assert changelogs == {topics.OPEN_CASES_CHANGELOG, topics.ALERTED_CHANGELOG}
    assert changelogs <= {spec.name for spec in topics.TOPICS if spec.compacted}
