"""Every offset of every partition, in order: what an agent is owed by its consumer.

faust-streaming 0.15 can lose messages around a rebalance or a restart (faust-streaming issues
#596 and #606; reproduced here by SIGKILLing a worker mid-stream,
tests/test_streams/test_workers.py). Messages it fetched are dropped from the agents' queues
while it counts them as read, so it never fetches them again: a hole of one offset is committed
over (the event is lost), a longer one stops the partition's commits for good.

Agents therefore read their stream through :class:`Gapless`, which holds the consumer to one
promise: the offsets of a partition reach the agent without a hole.
- It knows which offset comes next: at the start of a consumer generation, the group's
  committed offset (where the consumer starts); after that, the one after the last it passed on.
- A message that arrives past a hole has the missing offsets read straight from the broker and
  passed on first. Once the agent has taken them, Faust is told they are done (the "gap" Faust
  keeps for offsets it will never see), so its commits move past them and not before.
- A message the agent took already in this generation (the consumer sought back) is skipped.
- A hole at the end of a partition has no later message to reveal it: when the agent has been
  waiting for a while although the broker holds more of a partition than it was given, the
  consumer is sought back to the first offset it did not give.

Messages read from the broker are handed over as :class:`Fetched`, which has what agents use of
a Faust event (``value`` and ``message``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import faust
from aiokafka import ConsumerRecord, TopicPartition
from faust.types import EventT, StreamT

from streams.partitions import PartitionReader

log = logging.getLogger(__name__)

# How long an agent may wait for messages while its partitions hold more, before its consumer
# is sought back; and how often that is checked.
STALL_SECONDS = 10.0
STALL_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Fetched:
    """A message read straight from the broker, in the shape of the Faust event agents take."""

    message: ConsumerRecord

    @property
    def value(self) -> bytes:
        return self.message.value


Taken = EventT | Fetched


@dataclass
class Gapless:
    """The hole-free view of one agent's topic: wrap its stream in :meth:`events` or :meth:`batches`."""

    app: faust.App
    topic: str
    reader: PartitionReader
    _next: dict[TopicPartition, int] = field(default_factory=dict)
    _generation: dict[TopicPartition, int] = field(default_factory=dict)
    _holes: list[tuple[TopicPartition, int, int]] = field(default_factory=list)
    _waiting_since: float | None = None

    @classmethod
    def of(cls, app: faust.App, topic: str) -> "Gapless":
        """A hole-free view of ``topic`` for an agent of ``app``, with its stall check scheduled."""
        gapless = cls(app, topic, PartitionReader.of(app))
        app.timer(STALL_CHECK_SECONDS, name=f"truyvet.stall_check.{topic}")(gapless.check_stalled)
        return gapless

    async def events(self, stream: StreamT) -> AsyncIterator[Taken]:
        """The stream's events one at a time, holes filled, repeats within a generation skipped."""
        self._waiting_since = time.monotonic()
        async for event in stream.events():
            self._waiting_since = None
            for taken in await self._complete(event):
                yield taken
            await self._settle_holes()
            self._waiting_since = time.monotonic()

    async def batches(self, stream: StreamT, size: int, within: float) -> AsyncIterator[list[Taken]]:
        """The stream's events in batches (as ``take_events``), holes filled, repeats skipped."""
        self._waiting_since = time.monotonic()
        async for events in stream.take_events(size, within=within):
            self._waiting_since = None
            batch: list[Taken] = []
            for event in events:
                batch.extend(await self._complete(event))
            if batch:
                yield batch
            await self._settle_holes()
            self._waiting_since = time.monotonic()

    async def _complete(self, event: EventT) -> list[Taken]:
        """What the agent must take for ``event``: the offsets missing before it, and itself."""
        tp, offset = event.message.tp, event.message.offset
        expected = await self._expected(tp)
        if offset < expected:
            return []
        missing: list[Taken] = []
        if offset > expected:
            log.warning("%s[%d]: the consumer skipped offsets %d to %d; reading them from the broker",
                        tp.topic, tp.partition, expected, offset - 1)
            async for batch in self.reader.read(_kafka_tp(tp), expected, offset):
                missing.extend(Fetched(message) for message in batch)
            self._holes.append((tp, expected, offset - 1))
        self._next[tp] = offset + 1
        return missing + [event]

    async def _expected(self, tp: TopicPartition) -> int:
        generation = self.app.consumer_generation_id
        if self._generation.get(tp) != generation or tp not in self._next:
            self._generation[tp] = generation
            self._next[tp] = await self.reader.committed(_kafka_tp(tp))
        return self._next[tp]

    async def _settle_holes(self) -> None:
        """Tell Faust the filled offsets are done, now that the agent has taken them."""
        holes, self._holes = self._holes, []
        for tp, first, last in holes:
            await self.app.consumer._add_gap(tp, first, last)

    async def check_stalled(self) -> None:
        """Seek the consumer back where the agent has waited too long for offsets the broker holds."""
        waiting_since = self._waiting_since
        if waiting_since is None or time.monotonic() - waiting_since < STALL_SECONDS:
            return
        consumer = self.app.consumer
        if self.app.rebalancing or not consumer.flow_active:
            return
        for tp in consumer.assignment():
            if tp.topic != self.topic:
                continue
            position = await self._expected(tp)
            end = consumer.highwater(tp)
            if end is not None and end > position:
                log.warning("%s[%d]: offsets %d to %d are on the broker but were not delivered for %.0fs; "
                            "seeking back", tp.topic, tp.partition, position, end - 1,
                            time.monotonic() - waiting_since)
                await consumer.seek(tp, position)


def _kafka_tp(tp: TopicPartition) -> TopicPartition:
    """Faust's TP as aiokafka's TopicPartition (the same two fields)."""
    return TopicPartition(tp.topic, tp.partition)
