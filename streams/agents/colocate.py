"""Co-locate: verified scans by place in, contact edges and crowd exposures out.

The verified-scans topic is keyed by place, so one partition holds everything its places'
states need, and the topic itself is their changelog: the state of a partition is a function
of the partition's messages. When a worker takes a partition it has not been following (a
start, a rebalance, a restart after SIGKILL), it rebuilds the partition's state by reading
the partition back, without publishing, up to the first offset it is given; then it goes on.
What it publishes for an offset is the same whichever worker, or whichever life of a worker,
computes it, and the warehouse keeps one row per edge state: a replay adds nothing.

The read-back starts at the messages written a little more than the state's horizon ago
(allowed lateness plus the longest stay and a day, see :class:`streams.colocate.PlaceState`),
found by Kafka's own timestamp index.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import faust
from aiokafka import TopicPartition
from faust.types import AgentT, StreamT

from streams import metrics, topics
from streams.agents.deadletter import DeadLetters
from streams.colocate import PlaceState
from streams.errors import UndecodableEvent
from streams.gapless import Gapless, Taken
from streams.logic import decode_scan
from streams.partitions import PartitionReader
from streams.records import DeadLetter, VerifiedScan
from streams.rules import RuleBook
from warehouse.presence import DAY, MAX_STAY

log = logging.getLogger(__name__)

AGENT_NAME = "truyvet.colocate"
AGENT_LABEL = metrics.agent_label(AGENT_NAME)


@dataclass
class Colocate:
    """The co-location states of the partitions this worker follows."""

    book: RuleBook
    lateness: timedelta
    reader: PartitionReader
    contacts: faust.TopicT
    dead_letters: DeadLetters
    agent: AgentT | None = None
    _places: dict[int, dict[str, PlaceState]] = field(default_factory=dict)
    _next_offset: dict[int, int] = field(default_factory=dict)

    @property
    def read_back(self) -> timedelta:
        """How far back in the partition a rebuild reads: the state's horizon, and a margin."""
        return self.lateness + 2 * MAX_STAY + self.book.widest_window + 2 * DAY

    async def take(self, event: Taken) -> None:
        """Apply one verified scan to its place's state and publish what it changed.

        Offsets come without holes (:mod:`streams.gapless`): one below the next this worker
        expects is in its state already (the consumer went back to the committed offset), one
        above it was taken by another worker meanwhile, and the state is rebuilt.
        """
        partition, offset = event.message.partition, event.message.offset
        expected = self._next_offset.get(partition)
        if expected is not None and offset < expected:
            metrics.duplicates_dropped.labels(AGENT_LABEL).inc()
            return
        if expected != offset:
            await self._rebuild(partition, offset)
        self._next_offset[partition] = offset + 1
        try:
            scan = decode_scan(event.value, record=VerifiedScan)
        except UndecodableEvent as exc:
            await self.dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
            return
        changes = self._state(self._places[partition], scan.place_id).add([scan], offset)
        if changes.too_late:
            await self.dead_letters.send(
                event, DeadLetter.TOO_LATE,
                f"scan at {scan.ts.isoformat()} is more than {self.lateness} older than the newest at "
                f"{scan.place_id}: stored, but not paired by the stream",
            )
        if changes.edges or changes.exposures:
            await self.contacts.send(key=scan.place_id, value=changes.message(scan.place_id, offset))
            metrics.stream_events.labels(AGENT_LABEL, metrics.OUT).inc()

    def _state(self, places: dict[str, PlaceState], place_id: str) -> PlaceState:
        if place_id not in places:
            places[place_id] = PlaceState(place_id, self.book, self.lateness)
        return places[place_id]

    async def _rebuild(self, partition: int, until: int) -> None:
        """Read ``partition`` back up to ``until`` (exclusive) into a fresh state, publishing nothing."""
        started = time.monotonic()
        places: dict[str, PlaceState] = {}
        self._places[partition] = places
        tp = TopicPartition(topics.VERIFIED_SCANS, partition)
        since_ms = int((time.time() - self.read_back.total_seconds()) * 1000)
        start = await self.reader.offset_at(tp, since_ms)
        read = 0
        async for batch in self.reader.read(tp, until if start is None else start, until):
            by_place: dict[str, list[tuple[int, VerifiedScan]]] = defaultdict(list)
            for message in batch:
                try:
                    scan = decode_scan(message.value, record=VerifiedScan)
                except UndecodableEvent:
                    continue  # dead-lettered when it was first processed
                by_place[scan.place_id].append((message.offset, scan))
                read += 1
            for place_id, found_scans in by_place.items():
                self._state(places, place_id).add([scan for _, scan in found_scans], found_scans[-1][0])
        log.info("co-location state of partition %d rebuilt from %d scans (offsets to %d) in %.2fs",
                 partition, read, until, time.monotonic() - started)


def register(app: faust.App, book: RuleBook, lateness: timedelta, dead_letters: DeadLetters) -> Colocate:
    """Add the co-locate agent to ``app``."""
    colocate = Colocate(
        book=book,
        lateness=lateness,
        reader=PartitionReader.of(app),
        contacts=app.topic(topics.CONTACTS, key_serializer="raw", value_serializer="json"),
        dead_letters=dead_letters,
    )
    verified = app.topic(topics.VERIFIED_SCANS, key_serializer="raw", value_serializer="raw")
    in_order = Gapless.of(app, topics.VERIFIED_SCANS, AGENT_NAME)

    @app.agent(verified, name=AGENT_NAME)
    async def colocate_scans(stream: StreamT) -> None:
        # One event at a time: its offset is the revision of what it changes.
        async for event in in_order.events(stream):
            await colocate.take(event)

    colocate.agent = colocate_scans
    return colocate
