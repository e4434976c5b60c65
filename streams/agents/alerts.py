"""Exposure alerts: reported cases traced into F1/F2 alerts, routed to the ward where each contact lives.

The flow (the rules themselves are pure, in :mod:`streams.alerting`):

1. **cases** (``truyvet.cases.v1``, keyed by the case's citizen id; workers with a warehouse):
   each case is traced over its infectious window, two tiers deep, in the worker's warehouse,
   and every F1 and F2 goes to ``truyvet.alerts-to-route.v1``, keyed by the *contact's* citizen
   id. A case still open is kept in the open-cases table (keyed by the case's citizen id, on
   the cases topic's partitions), and a timer traces every open case of the worker's partitions
   again every ``TRUYVET_ALERT_RETRACE_SECONDS``: contacts that came to light since are alerted.
   Closed cases are dropped from the table by the cases agent, when the next case of their
   partition arrives (a Faust table is written while an event is handled, not by a timer).
2. **route** (``truyvet.alerts-to-route.v1``; every worker): the contact's ward is in the
   registry table, which is partitioned by citizen id like this topic, so the worker holding a
   partition of alerts holds its contacts' registry entries. It runs in every worker because
   the registry does: Faust co-partitions topics subscribed by the same workers, and a routing
   agent only in some workers would be given partitions whose registry entries another worker
   holds. Each contact is alerted once per case: the alerted table (keyed by contact citizen id,
   same partitions) holds the cases already alerted for them. The alert goes to
   ``truyvet.exposure-alerts.v1`` keyed by ward code ("0": a contact the registry does not
   know, published all the same and counted).
3. **sink** (``truyvet.exposure-alerts.v1``; workers with a warehouse): the ``exposure_alerts``
   table, in batches, as the other sinks store theirs.

Error policy: an undecodable event is dead-lettered; a trace the warehouse refuses for its
content (too much to read) is dead-lettered with reason ``trace_refused``; a transient
warehouse error holds the cases agent and retries with backoff, and a retrace round skips the
case until the next round.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import faust
import networkx as nx
from clickhouse_connect.driver.client import Client
from faust.exceptions import PartitionsMismatch
from faust.types import AgentT, StreamT, TopicT

from streams import alerting, metrics, topics
from streams.agents.deadletter import DeadLetters
from streams.agents.sink import BATCH_SIZE, BATCH_WITHIN_SECONDS, RETRY_BACKOFF_SECONDS, Sink
from streams.alerting import ALERT_DEPTH, OpenCase
from streams.errors import UndecodableEvent
from streams.gapless import Gapless, Taken
from streams.logic import decode_event
from streams.records import AlertToRoute, DeadLetter, ExposureAlert
from tracing.rules import TraceRules
from warehouse.alerts import write_alerts
from warehouse.errors import WarehouseError
from warehouse.traces import trace_case

log = logging.getLogger(__name__)

OPEN_CASES_TABLE = "open-cases"
ALERTED_TABLE = "alerted"
# A case whose trace the warehouse refuses for its content (more rows than one trace may read).
TRACE_REFUSED = "trace_refused"

ROUTE_AGENT = "truyvet.route_alerts"
CASES_AGENT = "truyvet.trace_cases"
alerts_published = metrics.exposure_alerts  # its name before streams.metrics held every metric
Trace = Callable[[Client, str, datetime, datetime, int, TraceRules], nx.DiGraph]
# How long a table write waits before it is tried again when Faust refuses it for a changelog
# topic its consumer's metadata does not know yet (see :func:`write_table`).
TABLE_RETRY_SECONDS = 5.0


@dataclass
class Routing:
    """The route agent: alerts keyed by contact in, alerts keyed by ward out, each contact once per case."""

    registry: MutableMapping
    alerted: MutableMapping
    exposure_alerts: TopicT
    dead_letters: DeadLetters
    agent: AgentT | None = None

    async def take(self, event: Taken) -> None:
        try:
            found = decode_event(event.value, AlertToRoute)
        except UndecodableEvent as exc:
            await self.dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
            return
        contact = found.contact_citizen_id
        if not alerting.first_time(self.alerted.get(contact), found.case_id):
            metrics.duplicates_dropped.labels(metrics.agent_label(ROUTE_AGENT)).inc()
            return
        alert = alerting.route(found, self.registry.get(contact))
        await self.exposure_alerts.send(key=alerting.ward_key(alert), value=alert)
        # Written once the alert is out: a crash in between sends it again, as the same event.
        await write_table(lambda: self._remember(contact, found.case_id), "the alerted table")
        known = alert.ward_code != ExposureAlert.UNKNOWN_WARD
        metrics.exposure_alerts.labels(ward="known" if known else "unknown").inc()
        metrics.stream_events.labels(metrics.agent_label(ROUTE_AGENT), metrics.OUT).inc()
        if not known:
            log.info("alert %s: contact not in the registry, published to ward 0", alert.event_id)

    def _remember(self, contact: str, case_id: str) -> None:
        self.alerted[contact] = alerting.remember(self.alerted.get(contact), case_id)


@dataclass
class CaseTracer:
    """The cases agent and the retrace timer: cases traced into alerts while they are open."""

    warehouse: Client
    rules: TraceRules
    open_cases: MutableMapping
    to_route: TopicT
    dead_letters: DeadLetters
    # The cases partitions this worker holds now; None while they move (a rebalance, a recovery).
    active_partitions: Callable[[], set[int] | None]
    trace: Trace = trace_case
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    agent: AgentT | None = None
    # One trace at a time per worker: a retrace round does not compete with a new case.
    _tracing: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Cases whose retrace the warehouse refused for their content: not retried in this process.
    _given_up: set[str] = field(default_factory=set)

    async def take_case(self, event: Taken) -> None:
        """Trace a reported case, alert its F1s and F2s, and keep it if it is still open."""
        try:
            reported = alerting.decode_case(event.value)
        except UndecodableEvent as exc:
            await self.dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
            return
        case = OpenCase.of(reported, self.rules, event.message.partition)
        now = self.clock()
        try:
            alerts = await self._alerts_retrying(case, now)
        except WarehouseError as exc:
            await self.dead_letters.send(event, TRACE_REFUSED, f"case {case.case_id}: {exc}")
            return
        await self._send(alerts)
        await write_table(lambda: self._keep(case, now), "the open-cases table")
        log.info("case %s traced: %d alert(s), %s", case.case_id, len(alerts),
                 f"open until {case.closes_at:%Y-%m-%d %H:%M}Z" if case.is_open(now) else "closed")

    async def retrace_open_cases(self) -> int:
        """Trace the open cases of this worker's partitions again; return how many were traced.

        Reads the open-cases table and never writes it: Faust writes a table's changelog on the
        partition of the event being handled, and a timer handles none. Closed cases are skipped
        here and dropped by the cases agent (:meth:`_keep`).
        """
        partitions = self.active_partitions()
        if partitions is None:
            return 0
        now = self.clock()
        # A snapshot: the cases agent may change the table while this round awaits.
        cases = [case for entry in list(self.open_cases.values()) for case in alerting.open_cases_of(entry)
                 if case.partition in partitions and case.is_open(now) and case.case_id not in self._given_up]
        traced = 0
        for case in cases:
            try:
                alerts = await self._alerts(case, now)
            except WarehouseError as exc:
                if exc.transient:
                    log.warning("retrace of case %s failed (%s); next round tries again", case.case_id, exc)
                else:
                    log.error("retrace of case %s refused (%s): later contacts of this case are not alerted",
                              case.case_id, exc)
                    self._given_up.add(case.case_id)
                continue
            await self._send(alerts)
            traced += 1
        return traced

    async def retrace_round(self) -> None:
        """The timer's round: whatever goes wrong in one is logged, and the next round runs."""
        try:
            await self.retrace_open_cases()
        except Exception:  # the timer must outlive any one bad round; the cases stay open
            log.exception("retrace round of the open cases failed")

    async def _alerts_retrying(self, case: OpenCase, now: datetime) -> list[AlertToRoute]:
        """The case's alerts; transient warehouse errors are retried with backoff, others raised."""
        attempt = 0
        while True:
            try:
                return await self._alerts(case, now)
            except WarehouseError as exc:
                if not exc.transient:
                    raise
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                log.error("trace of case %s failed (%s); retrying in %ss", case.case_id, exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _alerts(self, case: OpenCase, now: datetime) -> list[AlertToRoute]:
        period = case.trace_period(now)
        if period is None:
            return []
        async with self._tracing:
            graph = await asyncio.to_thread(self.trace, self.warehouse, case.citizen_id, *period, ALERT_DEPTH,
                                            self.rules)
        return alerting.case_alerts(graph, case, now)

    async def _send(self, alerts: list[AlertToRoute]) -> None:
        for alert in alerts:
            await self.to_route.send(key=alert.contact_citizen_id, value=alert)
        metrics.stream_events.labels(metrics.agent_label(CASES_AGENT), metrics.OUT).inc(len(alerts))

    def _keep(self, case: OpenCase, now: datetime) -> None:
        """Keep ``case`` while it is open, and drop the closed cases of its partition.

        Called while the case's event is handled, so every write goes to that event's changelog
        partition, which holds exactly the cases of its topic partition. A closed case stays in
        the table (skipped by the retraces) until the next case of its partition arrives.
        """
        for citizen, entry in list(self.open_cases.items()):
            closed = alerting.closed_cases(entry, case.partition, now)
            if not closed:
                continue
            remaining = alerting.without_cases(entry, closed)
            if remaining:
                self.open_cases[citizen] = remaining
            else:
                del self.open_cases[citizen]
            log.info("case(s) %s closed", ", ".join(closed))
        if case.is_open(now):
            self.open_cases[case.citizen_id] = alerting.with_case(self.open_cases.get(case.citizen_id), case)


async def write_table(write: Callable[[], None], what: str) -> None:
    """Run ``write`` (table writes, all or none of them made), waiting while Faust refuses it.

    Faust checks a table's changelog against its source topic at the first write, from the
    consumer's metadata. A changelog created as the worker started may not be in it yet (the
    consumer refreshes its metadata every 5 minutes), and the write raises
    :class:`PartitionsMismatch` before it changes anything. `truyvet migrate` and `truyvet run`
    create the changelogs ahead (``topics.TOPICS``); a worker started on a cluster without them
    holds its event here rather than lose it.
    """
    while True:
        try:
            write()
            return
        except PartitionsMismatch as exc:
            log.warning("%s cannot be written yet (%s); trying again in %.0fs", what, str(exc).splitlines()[0],
                        TABLE_RETRY_SECONDS)
            await asyncio.sleep(TABLE_RETRY_SECONDS)


@dataclass
class Alerts:
    """The alert agents of a worker with a warehouse: cases traced, and alerts stored."""

    tracer: CaseTracer
    sink: Sink


def register_routing(app: faust.App, registry: faust.Table, dead_letters: DeadLetters) -> Routing:
    """Add the route agent and its alerted table to ``app`` (every worker: see the module docstring)."""
    routing = Routing(
        registry=registry,
        alerted=app.Table(ALERTED_TABLE, default=None, partitions=topics.PARTITIONS, key_type=str),
        exposure_alerts=app.topic(topics.EXPOSURE_ALERTS, key_serializer="raw", value_type=ExposureAlert),
        dead_letters=dead_letters,
    )
    source = app.topic(topics.ALERTS_TO_ROUTE, key_serializer="raw", value_serializer="raw")
    in_order = Gapless.of(app, topics.ALERTS_TO_ROUTE, ROUTE_AGENT)

    # One event at a time: the alerted table is written on the changelog partition of the event
    # being handled, which is the contact's.
    @app.agent(source, name=ROUTE_AGENT)
    async def route_alerts(stream: StreamT) -> None:
        async for event in in_order.events(stream):
            await routing.take(event)

    routing.agent = route_alerts
    return routing


def register(app: faust.App, warehouse: Client, rules: TraceRules, retrace_every: timedelta,
             retention: timedelta | None, dead_letters: DeadLetters) -> Alerts:
    """Add the cases agent, the retrace timer and the alerts sink to ``app``, on ``warehouse``."""
    tracer = CaseTracer(
        warehouse=warehouse,
        rules=rules,
        open_cases=app.Table(OPEN_CASES_TABLE, default=None, partitions=topics.PARTITIONS, key_type=str),
        to_route=app.topic(topics.ALERTS_TO_ROUTE, key_serializer="raw", value_type=AlertToRoute),
        dead_letters=dead_letters,
        active_partitions=lambda: _active_partitions(app, topics.CASES),
    )
    cases = app.topic(topics.CASES, key_serializer="raw", value_serializer="raw")
    cases_in_order = Gapless.of(app, topics.CASES, CASES_AGENT)

    @app.agent(cases, name=CASES_AGENT)
    async def trace_cases(stream: StreamT) -> None:
        async for event in cases_in_order.events(stream):
            await tracer.take_case(event)

    tracer.agent = trace_cases
    app.timer(retrace_every.total_seconds(), name="truyvet.retrace_open_cases")(tracer.retrace_round)
    return Alerts(tracer, _alerts_sink(app, warehouse, retention, dead_letters))


def _alerts_sink(app: faust.App, warehouse: Client, retention: timedelta | None,
                 dead_letters: DeadLetters) -> Sink:
    """The sink of the exposure-alerts topic; an alert past retention is refused, as a scan is."""

    def refuse(alert: ExposureAlert, now: datetime) -> str | None:
        if retention is not None and alert.first_exposure < now - retention:
            return DeadLetter.PAST_RETENTION
        return None

    sink = Sink("exposure_alerts", warehouse, lambda payload: [decode_event(payload, ExposureAlert)],
                write_alerts, dead_letters, refuse=refuse)
    source = app.topic(topics.EXPOSURE_ALERTS, key_serializer="raw", value_serializer="raw")
    in_order = Gapless.of(app, topics.EXPOSURE_ALERTS, sink.label)

    async def store(stream: StreamT) -> None:
        async for events in in_order.batches(stream, BATCH_SIZE, within=BATCH_WITHIN_SECONDS):
            await sink.take(events)

    sink.agent = app.agent(source, name=f"truyvet.{sink.label}")(store)
    return sink


def _active_partitions(app: faust.App, topic: str) -> set[int] | None:
    """The partitions of ``topic`` this worker is assigned now; None while assignments move."""
    if app.rebalancing or app.in_recovery:
        return None
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
