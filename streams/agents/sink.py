"""Sink: scans from Kafka into the ClickHouse warehouse, in batches, idempotent on content.

Error policy, per event and never silent:
- undecodable, past retention or from the future: dead-lettered with a reason code;
- a warehouse error that may pass (connection, timeout, too many parts): the batch is retried
  with backoff, and offsets are committed only once it is stored;
- a warehouse refusal of the rows themselves: the batch is split until the refused rows are
  found; those are dead-lettered with ClickHouse's error, the rest are stored.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import faust
from clickhouse_connect.driver.client import Client
from faust.types import AgentT, EventT, StreamT, TopicT

from streams import topics
from streams.errors import UndecodableEvent
from streams.logic import decode_scan, refusal_reason, unique_scans
from streams.records import DeadLetter, ScanEvent, new_event_id
from warehouse.errors import WarehouseError
from warehouse.writer import write_scans

log = logging.getLogger(__name__)

AGENT_NAME = "truyvet.sink_scans"
BATCH_SIZE = 10_000
BATCH_WITHIN_SECONDS = 0.5
RETRY_BACKOFF_SECONDS = (0.5, 1, 2, 5, 10)
DEADLETTER_PAYLOAD_LIMIT = 10_000


@dataclass
class ScanSink:
    """The sink of one Faust app: its agent, and the topic refused events go to."""

    warehouse: Client
    retention: timedelta | None
    deadletter_topic: TopicT
    agent: AgentT | None = None

    async def take(self, events: list[EventT]) -> None:
        """Store a batch of scan messages; dead-letter what cannot be stored."""
        scans: list[tuple[ScanEvent, EventT]] = []
        now = datetime.now(timezone.utc)
        for event in events:
            try:
                scan = decode_scan(event.value)
            except UndecodableEvent as exc:
                await self._dead_letter(event, DeadLetter.UNDECODABLE, str(exc))
                continue
            reason = refusal_reason(scan, now, self.retention)
            if reason is not None:
                await self._dead_letter(event, reason, f"ts {scan.ts.isoformat()} refused: {reason}")
                continue
            scans.append((scan, event))
        source = {id(scan): event for scan, event in scans}
        unique = unique_scans([scan for scan, _ in scans])
        if not unique:
            return
        refused = await self._store_until_done(unique)
        for scan, error in refused:
            await self._dead_letter(source[id(scan)], DeadLetter.WAREHOUSE_REFUSED, str(error))

    async def _store_until_done(self, scans: list[ScanEvent]) -> list[tuple[ScanEvent, WarehouseError]]:
        """Retry transient failures until the warehouse answers; return the rows it refused."""
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(store_isolating_refused, self.warehouse, scans)
            except WarehouseError as exc:
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                log.error("warehouse write of %d scans failed (%s); retrying in %ss", len(scans), exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _dead_letter(self, event: EventT, reason: str, error: str) -> None:
        message = event.message
        log.warning("scan at %s[%s]@%s refused (%s): %s",
                    message.topic, message.partition, message.offset, reason, error)
        await self.deadletter_topic.send(value=DeadLetter(
            event_id=new_event_id(),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
            error=error,
            payload=bytes(event.value or b"")[:DEADLETTER_PAYLOAD_LIMIT].decode("utf-8", "replace"),
        ))


def store_isolating_refused(client: Client, scans: Sequence[ScanEvent]) -> list[tuple[ScanEvent, WarehouseError]]:
    """Write ``scans``; when the warehouse refuses their content, halve until the culprits are found.

    Transient errors propagate (the caller retries the whole batch: rows written by a half that
    succeeded are identical copies, which the warehouse collapses). One bad row among n costs
    about 2·log2(n) inserts.
    """
    try:
        write_scans(client, scans)
        return []
    except WarehouseError as exc:
        if exc.transient:
            raise
        if len(scans) == 1:
            return [(scans[0], exc)]
    middle = len(scans) // 2
    return store_isolating_refused(client, scans[:middle]) + store_isolating_refused(client, scans[middle:])


def register(app: faust.App, warehouse: Client, retention: timedelta | None) -> ScanSink:
    """Add the sink agent to ``app``, writing to ``warehouse``."""
    sink = ScanSink(
        warehouse=warehouse,
        retention=retention,
        deadletter_topic=app.topic(topics.DEADLETTER, value_type=DeadLetter),
    )
    scans_topic = app.topic(topics.SCANS, key_serializer="raw", value_serializer="raw")

    @app.agent(scans_topic, name=AGENT_NAME)
    async def sink_scans(stream: StreamT) -> None:
        async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_SECONDS):
            await sink.take(events)

    sink.agent = sink_scans
    return sink
