"""Reading a partition straight from the broker, outside the worker's consumer group.

The co-location state is rebuilt this way, and :mod:`streams.gapless` reads back what the
worker's own consumer skipped. Each call opens a consumer of its own for the duration of the
call: both are rare (a partition taken over, a hole found), and a consumer kept open for them
would hold a connection for nothing the rest of the time.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

READ_BATCH = 10_000
READ_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class PartitionReader:
    """Reads partitions of the cluster at ``bootstrap``; ``group`` names whose offsets it looks up."""

    bootstrap: list[str]
    group: str

    @classmethod
    def of(cls, app: faust.App) -> "PartitionReader":
        """A reader of ``app``'s cluster, looking up the offsets of ``app``'s consumer group."""
        return cls([f"{url.host}:{url.port}" for url in app.conf.broker], app.conf.id)

    async def committed(self, tp: TopicPartition) -> int:
        """The group's committed offset for ``tp``: where its consumer starts; the first offset if none."""
        async with self._consumer(self.group) as consumer:
            committed = await consumer.committed(tp)
            if committed is not None:
                return committed
            return (await consumer.beginning_offsets([tp]))[tp]

    async def offset_at(self, tp: TopicPartition, timestamp_ms: int) -> int | None:
        """The first offset of ``tp`` written at or after ``timestamp_ms``; None if there is none."""
        async with self._consumer(None) as consumer:
            found = (await consumer.offsets_for_times({tp: max(timestamp_ms, 0)}))[tp]
            return found.offset if found is not None else None

    async def read(self, tp: TopicPartition, start: int, until: int) -> AsyncIterator[list[ConsumerRecord]]:
        """The messages of ``tp`` from offset ``start`` up to ``until`` (exclusive), in batches."""
        if start >= until:
            return
        async with self._consumer(None) as consumer:
            consumer.assign([tp])
            consumer.seek(tp, start)
            position = start
            while position < until:
                fetched = await consumer.getmany(tp, timeout_ms=READ_TIMEOUT_MS, max_records=READ_BATCH)
                batch = [message for message in fetched.get(tp, []) if message.offset < until]
                if fetched.get(tp) and not batch:
                    return
                if batch:
                    position = batch[-1].offset + 1
                    yield batch

    @asynccontextmanager
    async def _consumer(self, group: str | None) -> AsyncIterator[AIOKafkaConsumer]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        # Let the consumer's own tasks start: aiokafka's stop() cancels them, and awaiting a task
        # cancelled before it ever ran raises CancelledError out of stop().
        await asyncio.sleep(0)
        try:
            yield consumer
        finally:
            await consumer.stop()
