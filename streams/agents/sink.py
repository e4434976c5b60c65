"""Sinks: verified scans, contacts, crowd exposures and rejections into the warehouse, in batches.

One agent per topic, each idempotent on content (a redelivered copy collapses in the
warehouse; a later revision of an edge replaces the earlier one there). A message becomes
one row or several (a contact-changes message holds every edge and crowd state one scan changed). Error policy, per
event and never silent:
- undecodable, or (scans) past retention or from the future: dead-lettered with a reason code;
- a warehouse error that may pass (connection, timeout, too many parts): the batch is retried
  with backoff, and offsets are committed only once it is stored;
- a warehouse refusal of the rows themselves: the batch is split until the refused rows are
  found; those are dead-lettered with ClickHouse's error, the rest are stored.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import faust
from clickhouse_connect.driver.client import Client
from faust.types import AgentT, StreamT

from streams import metrics, topics
from streams.agents.deadletter import DeadLetters
from streams.errors import UndecodableEvent
from streams.gapless import Gapless, Taken
from streams.logic import decode_event, decode_scan, refusal_reason, unique_events, values_of
from streams.records import ContactChanges, ContactEdge, CrowdExposure, DeadLetter, Event, Rejection, VerifiedScan
from warehouse import writer
from warehouse.errors import WarehouseError

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000
BATCH_WITHIN_SECONDS = 0.5
RETRY_BACKOFF_SECONDS = (0.5, 1, 2, 5, 10)

Write = Callable[[Client, Sequence[Event]], int]


@dataclass
class Sink:
    """One warehouse table fed from one topic."""

    what: str
    warehouse: Client
    decode: Callable[[bytes], list]
    write: Write
    dead_letters: DeadLetters
    refuse: Callable[[Event, datetime], str | None] = lambda record, now: None
    # Drop redelivered copies before writing; rows identified by a revision collapse anyway.
    unique: Callable[[list], list] = unique_events
    agent: AgentT | None = None

    @property
    def label(self) -> str:
        """The sink's agent label in the metrics (``sink_scans``, …)."""
        return f"sink_{self.what}"

    async def take(self, events: list[Taken]) -> None:
        """Store a batch of messages; dead-letter what cannot be stored."""
        records: list[tuple[object, Taken]] = []
        now = datetime.now(timezone.utc)
        for event in events:
            try:
                decoded = self.decode(event.value)
            except UndecodableEvent as exc:
                await self.dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
                continue
            for record in decoded:
                reason = self.refuse(record, now)
                if reason is not None:
                    await self.dead_letters.send(event, reason, f"{self.what} refused: {reason}")
                    continue
                records.append((record, event))
        source = {id(record): event for record, event in records}
        unique = self.unique([record for record, _ in records])
        if len(unique) < len(records):
            metrics.duplicates_dropped.labels(self.label).inc(len(records) - len(unique))
        if not unique:
            return
        started = time.monotonic()
        refused = await self._store_until_done(unique)
        stored = len(unique) - len(refused)
        metrics.sink_batch_seconds.labels(self.what).observe(time.monotonic() - started)
        metrics.sink_batch_rows.labels(self.what).observe(stored)
        metrics.stream_events.labels(self.label, metrics.OUT).inc(stored)
        for record, error in refused:
            await self.dead_letters.send(source[id(record)], DeadLetter.WAREHOUSE_REFUSED, str(error))

    async def _store_until_done(self, records: list[Event]) -> list[tuple[Event, WarehouseError]]:
        """Retry transient failures until the warehouse answers; return the rows it refused."""
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(store_isolating_refused, self.warehouse, records, self.write)
            except WarehouseError as exc:
                delay = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
                log.error("warehouse write of %d %s failed (%s); retrying in %ss", len(records), self.what, exc, delay)
                attempt += 1
                await asyncio.sleep(delay)


def store_isolating_refused(
    client: Client, records: Sequence[Event], write: Write = writer.write_scans
) -> list[tuple[Event, WarehouseError]]:
    """Write ``records``; when the warehouse refuses their content, halve until the culprits are found.

    Transient errors propagate (the caller retries the whole batch: rows written by a half that
    succeeded are identical copies, which the warehouse collapses). One bad row among n costs
    about 2·log2(n) inserts.
    """
    try:
        write(client, records)
        return []
    except WarehouseError as exc:
        if exc.transient:
            raise
        if len(records) == 1:
            return [(records[0], exc)]
    middle = len(records) // 2
    return (store_isolating_refused(client, records[:middle], write)
            + store_isolating_refused(client, records[middle:], write))


@dataclass
class Sinks:
    """The sinks of one Faust app, by what they store."""

    scans: Sink
    contacts: Sink
    rejections: Sink


class EdgeRow(SimpleNamespace):
    """A contact edge state read from a contact-changes message, on its way to ``contacts``."""


class ExposureRow(SimpleNamespace):
    """A crowd state read from a contact-changes message, on its way to ``crowd_exposures``."""


def decode_contact_changes(payload: bytes) -> list[EdgeRow | ExposureRow]:
    """The rows of one contact-changes message, each checked against its record's schema.

    Plain namespaces rather than Faust records: a message holds dozens of edges, and the
    writer needs only their attributes.
    """
    changes = decode_event(payload, ContactChanges)
    return ([EdgeRow(**values_of(edge, ContactEdge)) for edge in changes.edges]
            + [ExposureRow(**values_of(exposure, CrowdExposure)) for exposure in changes.exposures])


def write_contact_changes(client: Client, rows: Sequence[EdgeRow | ExposureRow]) -> int:
    """Insert edge and crowd states, one insert per table."""
    edges = [row for row in rows if isinstance(row, EdgeRow)]
    exposures = [row for row in rows if isinstance(row, ExposureRow)]
    return writer.write_contacts(client, edges) + writer.write_crowd_exposures(client, exposures)


def register(app: faust.App, warehouse: Client, retention: timedelta | None) -> Sinks:
    """Add one sink agent per stored topic to ``app``, writing to ``warehouse``."""
    dead_letters = DeadLetters.of(app)

    def sink(topic: str, what: str, decode, write: Write, **options) -> Sink:
        made = Sink(what, warehouse, decode, write, dead_letters, **options)
        source = app.topic(topic, key_serializer="raw", value_serializer="raw")
        in_order = Gapless.of(app, topic, made.label)

        async def store(stream: StreamT) -> None:
            async for events in in_order.batches(stream, BATCH_SIZE, within=BATCH_WITHIN_SECONDS):
                await made.take(events)

        made.agent = app.agent(source, name=f"truyvet.sink_{what}")(store)
        return made

    return Sinks(
        scans=sink(topics.VERIFIED_SCANS, "scans", lambda payload: [decode_scan(payload, VerifiedScan)],
                   writer.write_scans, refuse=lambda scan, now: refusal_reason(scan, now, retention)),
        contacts=sink(topics.CONTACTS, "contacts", decode_contact_changes, write_contact_changes,
                      unique=list),
        rejections=sink(topics.REJECTIONS, "rejections", lambda payload: [decode_event(payload, Rejection)],
                        writer.write_rejections),
    )
