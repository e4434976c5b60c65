"""Exposure alerts, pure: which people of a case's trace are alerted, when, once, and for how long.

A reported case (:class:`~streams.records.CaseEvent`) is traced over its infectious window,
from the trace rule set's days before its onset or sample date until its isolation (or now),
two tiers deep. Every F1 and F2 of that trace becomes an alert
(:class:`~streams.records.AlertToRoute`): the contact, their tier, when they were first exposed,
and where and how (the edge that gave that first exposure). The ward it goes to is the contact's
residence, looked up in the registry (:func:`route`).

- **Once per contact and case.** An alert's id comes from the case and the contact
  (:func:`alert_id`), and the routing agent keeps, per contact, the cases already alerted
  (:func:`first_time`, :func:`remember`): a re-delivered case or a re-trace alerts nobody twice.
- **Open cases.** Later data (new scans, paper logs typed in later, imported contacts) can
  reveal new contacts, so a case is traced again periodically while it is open
  (:class:`OpenCase`): until its isolation plus the rule set's longest window
  (:func:`longest_window`), or :data:`OPEN_WITHOUT_ISOLATION` after its report when it was not
  isolated.

No Kafka and no warehouse here: the agents in :mod:`streams.agents.alerts` do the I/O.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import networkx as nx

from streams.errors import UndecodableEvent
from streams.logic import json_object, values_of
from streams.records import AlertToRoute, CaseEvent, ExposureAlert, is_citizen_id
from streams.verification import RegistryEntry
from tracing.rules import TraceRules

# F1 and F2: the tiers a case's alerts go to, and so the depth of its trace.
ALERTED_TIERS = (1, 2)
ALERT_DEPTH = max(ALERTED_TIERS)
# A case reported without isolation is traced again for this long after its report: an
# incubation period, the longest the F-rules look back.
OPEN_WITHOUT_ISOLATION = timedelta(days=14)
# Alert ids are name-based UUIDs in this namespace (a fixed, arbitrary UUID of truyvet's).
_ALERT_NAMESPACE = uuid.UUID("6f1d2a0c-5b3e-4c8e-9a47-2e0d3f6b9c51")

# The open cases of one person, as the open-cases table holds them: case id -> OpenCase.as_entry().
OpenCases = dict[str, dict[str, Any]]
# The cases already alerted for one contact, as the dedupe table holds them: sorted case ids.
AlertedCases = list[str]


def decode_case(payload: bytes) -> CaseEvent:
    """One message of the cases topic, checked field by field; :class:`UndecodableEvent` says why not.

    >>> case = decode_case(b'{"event_id": "e1", "case_id": "c1", "citizen_id": "079090012345", '
    ...                    b'"date_kind": "onset", "case_date": "2026-11-20", '
    ...                    b'"reported_at": "2026-11-22T03:00:00Z", "isolated_at": null}')
    >>> case.case_date, case.isolated_at
    ('2026-11-20', None)
    >>> decode_case(b'{"event_id": "e1", "case_id": "c1", "citizen_id": "079090012345", '
    ...             b'"date_kind": "onset", "case_date": "20/11/2026", "reported_at": "2026-11-22T03:00:00Z"}')
    Traceback (most recent call last):
    ...
    streams.errors.UndecodableEvent: case_date is not a date written YYYY-MM-DD: '20/11/2026'
    """
    data = json_object(payload)
    # values_of checks every field but the optional time, which it has no type for.
    values = values_of({name: value for name, value in data.items() if name != "isolated_at"}, CaseEvent)
    if not is_citizen_id(values["citizen_id"]):
        raise UndecodableEvent(f"citizen_id is not a 12-digit CCCD number: {values['citizen_id']!r}")
    if values["date_kind"] not in CaseEvent.DATE_KINDS:
        raise UndecodableEvent(f"date_kind must be one of {CaseEvent.DATE_KINDS}, got {values['date_kind']!r}")
    try:
        date.fromisoformat(values["case_date"])
    except ValueError:
        raise UndecodableEvent(f"case_date is not a date written YYYY-MM-DD: {values['case_date']!r}") from None
    isolated = data.get("isolated_at")
    values["isolated_at"] = None if isolated is None else _aware(isolated, "isolated_at")
    return CaseEvent(**values)


def longest_window(rules: TraceRules) -> timedelta:
    """The longest span the rule set looks over: how long after an isolation a case stays open.

    Past it, nothing the rules count can still come to light: the backward window (14 days by
    default) is the incubation the rules allow, and it is longer than the point window, the
    overlap and the infectious period before onset.

    >>> from tracing.rules import DEFAULT_TRACE_RULES
    >>> longest_window(DEFAULT_TRACE_RULES)
    datetime.timedelta(days=14)
    """
    return max(rules.backward_window, rules.infectious_before, rules.point_window, rules.min_overlap,
               rules.min_imported)


@dataclass(frozen=True)
class OpenCase:
    """A case as the alerting keeps it: whose, infectious from when, until when, open until when.

    ``partition`` is the cases topic's partition the case came from: the worker that holds
    that partition traces the case again.
    """

    case_id: str
    citizen_id: str
    infectious_from: datetime
    isolated_at: datetime | None
    closes_at: datetime
    partition: int

    @classmethod
    def of(cls, case: CaseEvent, rules: TraceRules, partition: int) -> "OpenCase":
        """The case a :class:`CaseEvent` reports, under ``rules``.

        >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
        >>> reported = datetime(2026, 11, 22, 3, tzinfo=timezone.utc)
        >>> case = OpenCase.of(CaseEvent(event_id="e", case_id="c", citizen_id="079090012345", date_kind="onset",
        ...                              case_date="2026-11-20", reported_at=reported), rules, 3)
        >>> case.infectious_from.isoformat(), case.closes_at.isoformat()
        ('2026-11-17T17:00:00+00:00', '2026-12-06T03:00:00+00:00')
        """
        isolated = case.isolated_at.astimezone(timezone.utc) if case.isolated_at else None
        if isolated is None:
            closes = case.reported_at.astimezone(timezone.utc) + OPEN_WITHOUT_ISOLATION
        else:
            closes = isolated + longest_window(rules)
        return cls(case.case_id, case.citizen_id, rules.infectious_from(date.fromisoformat(case.case_date)),
                   isolated, closes, partition)

    def is_open(self, now: datetime) -> bool:
        return now < self.closes_at

    def trace_period(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The [since, until) to trace ``now``: infectious start to isolation or now; None if empty.

        >>> t = datetime(2026, 11, 20, tzinfo=timezone.utc)
        >>> case = OpenCase("c", "079090012345", t, t + timedelta(days=3), t + timedelta(days=17), 0)
        >>> def days(period): return [f"{moment:%d}" for moment in period]
        >>> days(case.trace_period(t + timedelta(days=1))), days(case.trace_period(t + timedelta(days=9)))
        (['20', '21'], ['20', '23'])
        >>> case.trace_period(t) is None
        True
        """
        until = now if self.isolated_at is None else min(self.isolated_at, now)
        return (self.infectious_from, until) if self.infectious_from < until else None

    def as_entry(self) -> dict[str, Any]:
        """The case as JSON, for the open-cases table."""
        return {"case_id": self.case_id, "citizen_id": self.citizen_id,
                "infectious_from": self.infectious_from.isoformat(),
                "isolated_at": self.isolated_at.isoformat() if self.isolated_at else None,
                "closes_at": self.closes_at.isoformat(), "partition": self.partition}

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> "OpenCase":
        """The case :meth:`as_entry` wrote.

        >>> t = datetime(2026, 11, 20, tzinfo=timezone.utc)
        >>> case = OpenCase("c", "079090012345", t, None, t + OPEN_WITHOUT_ISOLATION, 2)
        >>> OpenCase.from_entry(case.as_entry()) == case
        True
        """
        isolated = entry["isolated_at"]
        return cls(entry["case_id"], entry["citizen_id"], datetime.fromisoformat(entry["infectious_from"]),
                   datetime.fromisoformat(isolated) if isolated else None,
                   datetime.fromisoformat(entry["closes_at"]), int(entry["partition"]))


def with_case(cases: OpenCases | None, case: OpenCase) -> OpenCases:
    """A person's open cases with ``case`` added (or replaced, when it is delivered again)."""
    return {**(cases or {}), case.case_id: case.as_entry()}


def without_cases(cases: OpenCases | None, case_ids: Iterable[str]) -> OpenCases:
    """A person's open cases without ``case_ids`` (closed); empty when none is left."""
    closed = set(case_ids)
    return {case_id: entry for case_id, entry in (cases or {}).items() if case_id not in closed}


def closed_cases(cases: OpenCases | None, partition: int, now: datetime) -> list[str]:
    """The ids of a person's cases from ``partition`` that are closed ``now``.

    >>> t, day = datetime(2026, 11, 20, tzinfo=timezone.utc), timedelta(days=1)
    >>> cases = with_case(None, OpenCase("old", "F0", t, None, t + day, 2))
    >>> cases = with_case(cases, OpenCase("new", "F0", t, None, t + 20 * day, 2))
    >>> closed_cases(cases, 2, t + 2 * day), closed_cases(cases, 5, t + 2 * day)
    (['old'], [])
    """
    return sorted(case.case_id for case in open_cases_of(cases)
                  if case.partition == partition and not case.is_open(now))


def open_cases_of(cases: OpenCases | None) -> list[OpenCase]:
    """A person's cases as the table holds them, oldest infectious start first."""
    return sorted((OpenCase.from_entry(entry) for entry in (cases or {}).values()),
                  key=lambda case: (case.infectious_from, case.case_id))


def alert_id(case_id: str, contact_citizen_id: str) -> str:
    """The id of the alert for one contact of one case: the same however often it is found.

    >>> alert_id("c1", "079090012345") == alert_id("c1", "079090012345") != alert_id("c2", "079090012345")
    True
    """
    return uuid.uuid5(_ALERT_NAMESPACE, f"{case_id}:{contact_citizen_id}").hex


def case_alerts(graph: nx.DiGraph, case: OpenCase, alerted_at: datetime) -> list[AlertToRoute]:
    """An alert for every F1 and F2 of ``case``'s trace, in tier and exposure order.

    The place, criterion and source are those of the edge that gave the contact their first
    exposure (the earliest ``exposed_at`` into them; ties go to the first source by id).

    >>> from tracing.forward import start_graph
    >>> from tracing.rules import DEFAULT_TRACE_RULES as rules
    >>> t = datetime(2026, 11, 20, tzinfo=timezone.utc)
    >>> graph = start_graph("F0", t, t + timedelta(days=3), rules)
    >>> graph.add_node("A", tier=1, first_exposure=t + timedelta(hours=2))
    >>> graph.add_node("B", tier=2, first_exposure=t + timedelta(hours=5))
    >>> graph.add_node("C", tier=3, first_exposure=t + timedelta(hours=9))
    >>> def met(a, b, hours, place, criterion, source):
    ...     graph.add_edge(a, b, exposed_at=t + timedelta(hours=hours), place_id=place, criterion=criterion,
    ...                    source=source)
    >>> met("F0", "A", 2, "MARKET", "point_window", "stream")
    >>> met("A", "B", 5, None, "household", "imported")
    >>> met("B", "C", 9, "SCHOOL", "point_window", "stream")
    >>> case = OpenCase("case-1", "F0", t, None, t + OPEN_WITHOUT_ISOLATION, 0)
    >>> [(a.contact_citizen_id, a.tier, f"{a.first_exposure:%H:%M}", a.place_id, a.criterion)
    ...  for a in case_alerts(graph, case, t + timedelta(days=3))]
    [('A', 1, '02:00', 'MARKET', 'point_window'), ('B', 2, '05:00', None, 'household')]
    """
    alerts = []
    for contact, node in graph.nodes(data=True):
        if node.get("tier") not in ALERTED_TIERS:
            continue
        _, edge = min(((parent, data) for parent, _, data in graph.in_edges(contact, data=True)),
                      key=lambda found: (found[1]["exposed_at"], found[0]))
        alerts.append(AlertToRoute(
            event_id=alert_id(case.case_id, contact),
            case_id=case.case_id,
            case_citizen_id=case.citizen_id,
            contact_citizen_id=contact,
            tier=node["tier"],
            first_exposure=node["first_exposure"],
            place_id=edge["place_id"],
            criterion=edge["criterion"],
            source=edge["source"],
            alerted_at=alerted_at,
        ))
    return sorted(alerts, key=lambda alert: (alert.tier, alert.first_exposure, alert.contact_citizen_id))


def first_time(alerted: AlertedCases | None, case_id: str) -> bool:
    """Whether a contact whose alerted cases are ``alerted`` has not been alerted for ``case_id``.

    >>> first_time(None, "c1"), first_time(["c1"], "c1"), first_time(["c1"], "c2")
    (True, False, True)
    """
    return case_id not in (alerted or ())


def remember(alerted: AlertedCases | None, case_id: str) -> AlertedCases:
    """The contact's alerted cases with ``case_id`` added.

    >>> remember(remember(None, "c2"), "c1"), remember(["c1"], "c1")
    (['c1', 'c2'], ['c1'])
    """
    return sorted({*(alerted or ()), case_id})


def route(alert: AlertToRoute, entry: RegistryEntry | None) -> ExposureAlert:
    """The alert for the ward where the contact lives (ward and province 0: not in the registry).

    >>> t = datetime(2026, 11, 20, tzinfo=timezone.utc)
    >>> found = AlertToRoute(event_id="a1", case_id="c1", case_citizen_id="079090012345",
    ...                      contact_citizen_id="079090054321", tier=1, first_exposure=t, place_id="MARKET",
    ...                      criterion="point_window", source="stream", alerted_at=t)
    >>> routed = route(found, {"province_code": 79, "ward_code": 26734})
    >>> (routed.ward_code, routed.province_code, ward_key(routed)), ward_key(route(found, None))
    ((26734, 79, '26734'), '0')
    """
    fields = {name: getattr(alert, name) for name in AlertToRoute._options.fields}
    if entry is None:
        return ExposureAlert(**fields, ward_code=ExposureAlert.UNKNOWN_WARD, province_code=0)
    return ExposureAlert(**fields, ward_code=int(entry["ward_code"]), province_code=int(entry["province_code"]))


def ward_key(alert: ExposureAlert) -> str:
    """The exposure-alerts topic's key: the ward code, as text."""
    return str(alert.ward_code)


def _aware(value: object, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UndecodableEvent(f"{field} is not an ISO 8601 time with a zone: {value!r}")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as exc:  # year 1 east of UTC, year 9999 west of it
        raise UndecodableEvent(f"{field} is outside the representable range: {value!r}") from exc
