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
- Faust can also lose track of offsets it did deliver, and stop committing below them for
  good. When every agent on the topic is waiting, and took in this generation offsets Faust
  has not committed, those are committed.

Faust's bookkeeping is per partition, not per agent: an offset is marked done only when every
agent of the app reading the topic (its ``peers``) has taken it.

Each view counts, for its agent (:mod:`streams.metrics`): the events passed on
(``truyvet_stream_events_total{direction="in"}``), the offsets read back from the broker
(``truyvet_late_events_total``) and the repeats skipped (``truyvet_duplicates_dropped_total``).

Messages read from the broker are handed over as :class:`Fetched`, which has what agents use of
a Faust event (``value`` and ``message``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

import faust
from aiokafka import ConsumerRecord, TopicPartition
from faust.types import EventT, StreamT

from streams import metrics
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
    # Every Gapless of the app on the same topic, this one included: Faust's bookkeeping of
    # offsets is per partition, not per agent, so an offset is done only when all have taken it.
    peers: list["Gapless"] = field(default_factory=list)
    # The agent's label in the metrics (streams.metrics.agent_label); the topic if unnamed.
    agent: str = ""
    _next: dict[TopicPartition, int] = field(default_factory=dict)
    _done: dict[TopicPartition, int] = field(default_factory=dict)
    _generation: dict[TopicPartition, int] = field(default_factory=dict)
    _holes: list[tuple[TopicPartition, int, int]] = field(default_factory=list)
    _waiting_since: float | None = None

    @classmethod
    def of(cls, app: faust.App, topic: str, agent: str = "") -> "Gapless":
        """A hole-free view of ``topic`` for ``app``'s agent named ``agent``, with its stall check scheduled."""
        peers = _PEERS.setdefault(app, {}).setdefault(topic, [])
        gapless = cls(app, topic, PartitionReader.of(app), peers, agent=metrics.agent_label(agent))
        app.timer(STALL_CHECK_SECONDS, name=f"truyvet.stall_check.{topic}.{len(peers)}")(gapless.check_stalled)
        return gapless

    def __post_init__(self) -> None:
        if not any(peer is self for peer in self.peers):
            self.peers.append(self)

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
        label = self.agent or self.topic
        if offset < expected:
            metrics.duplicates_dropped.labels(label).inc()
            return []
        missing: list[Taken] = []
        if offset > expected:
            log.warning("%s[%d]: the consumer skipped offsets %d to %d; reading them from the broker",
                        tp.topic, tp.partition, expected, offset - 1)
            async for batch in self.reader.read(_kafka_tp(tp), expected, offset):
                missing.extend(Fetched(message) for message in batch)
            self._holes.append((tp, expected, offset - 1))
            metrics.late_events.labels(label).inc(len(missing))
        self._next[tp] = offset + 1
        metrics.stream_events.labels(label, metrics.IN).inc(len(missing) + 1)
        return missing + [event]

    async def _expected(self, tp: TopicPartition) -> int:
        generation = self.app.consumer_generation_id
        if self._generation.get(tp) != generation or tp not in self._next:
            committed = await self.reader.committed(_kafka_tp(tp))
            self._generation[tp] = generation
            self._next[tp] = self._done[tp] = committed
        return self._next[tp]

    async def _settle_holes(self) -> None:
        """The agent has taken all it was given: tell Faust which filled offsets are done.

        A filled offset is done once every agent on the topic has taken it (the others fill the
        same hole when they come to it); until then it stays pending.
        """
        self._done.update(self._next)
        pending: list[tuple[TopicPartition, int, int]] = []
        for tp, first, last in self._holes:
            done_until = self._done_by_all(tp)
            if done_until > first:
                await self.app.consumer._add_gap(tp, first, min(last, done_until - 1))
            if done_until <= last:
                pending.append((tp, max(first, done_until), last))
        self._holes = pending

    def _done_by_all(self, tp: TopicPartition) -> int:
        """The offset below which every agent on the topic has taken everything, this generation."""
        generation = self.app.consumer_generation_id
        return min((peer._done.get(tp, 0) if peer._generation.get(tp) == generation else 0) for peer in self.peers)

    async def check_stalled(self) -> None:
        """Where the agent has waited too long: seek back to offsets the broker holds and it was
        not given; let Faust commit what every agent on the topic has taken."""
        waiting_since = self._waiting_since
        if waiting_since is None or time.monotonic() - waiting_since < STALL_SECONDS:
            return
        consumer = self.app.consumer
        if self.app.rebalancing or not consumer.flow_active:
            return
        await self._settle_holes()
        for tp in consumer.assignment():
            if tp.topic != self.topic:
                continue
            await self._unstick_commit(tp)
            position = await self._expected(tp)
            end = consumer.highwater(tp)
            if end is not None and end > position:
                log.warning("%s[%d]: offsets %d to %d are on the broker but were not delivered for %.0fs; "
                            "seeking back", tp.topic, tp.partition, position, end - 1,
                            time.monotonic() - waiting_since)
                await consumer.seek(tp, position)

    async def _unstick_commit(self, tp: TopicPartition) -> None:
        """Faust's commit of ``tp`` behind what every agent took, for a while: commit those offsets.

        Faust can lose track of offsets it delivered (acknowledged in a generation it then
        cleared): its commit stops below them for good although the agents took them. Every
        offset below what all agents on the topic took in this generation is theirs, done.
        """
        committed = self.app.consumer._committed_offset.get(tp)
        done_until = self._done_by_all(tp)
        if committed is not None and committed < done_until - 1 and all(
                peer._waiting_since is not None for peer in self.peers):
            log.warning("%s[%d]: commits stopped at %d while offsets to %d are done; committing them",
                        tp.topic, tp.partition, committed, done_until - 1)
            # Committed directly: Faust's own commit walks its acknowledgements, which are what
            # it lost track of, and would move on by a message at a time.
            await self.app.consumer._commit_offsets({tp: done_until})


# The Gapless views of each app, by topic (see Gapless.peers).
_PEERS: WeakKeyDictionary = WeakKeyDictionary()


def topics_read(app: faust.App) -> set[str]:
    """The topics ``app``'s agents read (every agent reads through a Gapless view)."""
    return set(_PEERS.get(app, {}))


def _kafka_tp(tp: TopicPartition) -> TopicPartition:
    """Faust's TP as aiokafka's TopicPartition (the same two fields)."""
    return TopicPartition(tp.topic, tp.partition)
