"""Sink: scans from Kafka into the ClickHouse warehouse, in batches, idempotent on event id."""
from __future__ import annotations

import asyncio
import logging

from faust.types import EventT, StreamT

from streams import topics
from streams.app import app
from streams.errors import UndecodableEvent
from streams.logic import decode_scan, unique_by_event_id
from streams.records import DeadLetter, ScanEvent, new_event_id
from warehouse.client import get_client
from warehouse.errors import WarehouseError
from warehouse.writer import write_scans

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000
BATCH_WITHIN_SECONDS = 0.5
RETRY_BACKOFF_SECONDS = (0.5, 1, 2, 5, 10)
DEADLETTER_PAYLOAD_LIMIT = 10_000

scans_topic = app.topic(topics.SCANS, key_serializer="raw", value_serializer="raw")
deadletter_topic = app.topic(topics.DEADLETTER, value_type=DeadLetter)

_warehouse_url: str | None = None


def use_warehouse(url: str) -> None:
    global _warehouse_url
    _warehouse_url = url


@app.agent(scans_topic)
async def sink_scans(stream: StreamT) -> None:
    async for events in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_SECONDS):
        scans = unique_by_event_id(await _decode_or_deadletter(events))
        if scans:
            await _write_until_stored(scans)


async def _decode_or_deadletter(events: list[EventT]) -> list[ScanEvent]:
    scans = []
    for event in events:
        try:
            scans.append(decode_scan(event.value))
        except UndecodableEvent as exc:
            message = event.message
            log.warning(
                "undecodable scan at %s[%s]@%s: %s", message.topic, message.partition, message.offset, exc
            )
            await deadletter_topic.send(value=_dead_letter(message, event.value, exc))
    return scans


def _dead_letter(message, payload: bytes, exc: Exception) -> DeadLetter:
    return DeadLetter(
        event_id=new_event_id(),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        error=str(exc),
        payload=bytes(payload or b"")[:DEADLETTER_PAYLOAD_LIMIT].decode("utf-8", "replace"),
    )


async def _write_until_stored(scans: list[ScanEvent]) -> None:
    """Retry until the warehouse takes the batch: the offsets are committed only after it."""
    attempt = 0
    while True:
        try:
            written = await asyncio.to_thread(write_scans, get_client(_warehouse_url), scans)
            log.debug("stored %d scans", written)
            return
        except WarehouseError as exc:
            delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
            log.error("warehouse write of %d scans failed (%s); retrying in %ss", len(scans), exc, delay)
            attempt += 1
            await asyncio.sleep(delay)
