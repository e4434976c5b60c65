"""Verify: scans and declarations checked against the registry table.

A scan with a possible identity becomes a verified scan, keyed by its place (the
repartitioning co-location needs), flagged when the registry does not know the person; an
impossible identity becomes a rejection with a reason code. A declaration is only ever
rejected here: the web app stored it and told the citizen already.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import faust
from faust.types import AgentT, StreamT

from streams import metrics, topics
from streams.agents.deadletter import DeadLetters
from streams.errors import UndecodableEvent
from streams.gapless import Gapless, Taken
from streams.logic import decode_event, decode_scan, refusal_reason
from streams.records import SCAN_FIELDS, VIETNAM_TIME, DeadLetter, DeclarationEvent, Rejection, VerifiedScan
from streams.verification import verdict

log = logging.getLogger(__name__)

# Rejections keep the number as sent, cut to what the warehouse column holds.
CITIZEN_ID_LIMIT = 64
SCANS_AGENT = "truyvet.verify_scans"
DECLARATIONS_AGENT = "truyvet.verify_declarations"


@dataclass
class Verify:
    """The verify agents of one app, with the topics they answer on."""

    registry: faust.Table
    verified: faust.TopicT
    rejections: faust.TopicT
    dead_letters: DeadLetters
    retention: timedelta | None
    scans_agent: AgentT | None = None
    declarations_agent: AgentT | None = None

    async def take_scan(self, event: Taken) -> None:
        now = datetime.now(timezone.utc)
        try:
            scan = decode_scan(event.value)
        except UndecodableEvent as exc:
            await self.dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
            return
        reason = refusal_reason(scan, now, self.retention)
        if reason is not None:
            await self.dead_letters.send(event, reason, f"ts {scan.ts.isoformat()} refused: {reason}")
            return
        found = verdict(scan.citizen_id, self.registry.get(scan.citizen_id), now.astimezone(VIETNAM_TIME).date())
        if found.rejected:
            await self._reject(SCANS_AGENT, scan.event_id, Rejection.SCAN, scan.citizen_id, scan.ts, found)
            return
        fields = {name: getattr(scan, name) for name in SCAN_FIELDS}
        await self.verified.send(key=scan.place_id, value=VerifiedScan(**fields, registered=found.registered))
        metrics.stream_events.labels(metrics.agent_label(SCANS_AGENT), metrics.OUT).inc()
        metrics.place_scans.labels(scan.place_id).inc()

    async def take_declaration(self, event: Taken) -> None:
        try:
            declaration = decode_event(event.value, DeclarationEvent)
        except UndecodableEvent as exc:
            await self.dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
            return
        entry = self.registry.get(declaration.citizen_id)
        found = verdict(declaration.citizen_id, entry, datetime.now(VIETNAM_TIME).date(), cmnd_allowed=True)
        if found.rejected:
            await self._reject(DECLARATIONS_AGENT, declaration.event_id, Rejection.DECLARATION,
                               declaration.citizen_id, declaration.declared_at, found)

    async def _reject(self, agent: str, event_id: str, source: str, citizen_id: str, occurred_at: datetime,
                      found) -> None:
        citizen_id = citizen_id[:CITIZEN_ID_LIMIT]
        await self.rejections.send(key=citizen_id, value=Rejection(
            event_id=event_id, source=source, citizen_id=citizen_id, occurred_at=occurred_at,
            reason=found.reason, detail=found.detail,
        ))
        label = metrics.agent_label(agent)
        metrics.stream_rejections.labels(label, found.reason).inc()
        metrics.stream_events.labels(label, metrics.OUT).inc()


def register(app: faust.App, registry: faust.Table, dead_letters: DeadLetters,
             retention: timedelta | None) -> Verify:
    """Add the verify agents (scans, declarations) to ``app``."""
    verify = Verify(
        registry=registry,
        verified=app.topic(topics.VERIFIED_SCANS, key_serializer="raw", value_type=VerifiedScan),
        rejections=app.topic(topics.REJECTIONS, key_serializer="raw", value_type=Rejection),
        dead_letters=dead_letters,
        retention=retention,
    )
    scans = app.topic(topics.SCANS, key_serializer="raw", value_serializer="raw")
    declarations = app.topic(topics.DECLARATIONS, key_serializer="raw", value_serializer="raw")

    scans_in_order = Gapless.of(app, topics.SCANS, SCANS_AGENT)
    declarations_in_order = Gapless.of(app, topics.DECLARATIONS, DECLARATIONS_AGENT)

    # One event at a time, acknowledged by Faust once handled: nothing to batch (the producer
    # batches the sends), and no buffer between the stream and the offsets it commits.
    @app.agent(scans, name=SCANS_AGENT)
    async def verify_scans(stream: StreamT) -> None:
        async for event in scans_in_order.events(stream):
            await verify.take_scan(event)

    @app.agent(declarations, name=DECLARATIONS_AGENT)
    async def verify_declarations(stream: StreamT) -> None:
        async for event in declarations_in_order.events(stream):
            await verify.take_declaration(event)

    verify.scans_agent, verify.declarations_agent = verify_scans, verify_declarations
    return verify
