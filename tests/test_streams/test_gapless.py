"""Gapless: an agent gets every offset of its partitions once per consumer generation, in order.

Driven here with a stand-in stream, consumer and broker reader: what a consumer delivers is
scripted, so each way Faust has been seen to lose or repeat messages is played exactly. The
same class on the real broker is tested by killing a worker mid-stream (test_workers.py).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from unittest import mock

from faust.types import TP

from streams import gapless as gapless_module
from streams.gapless import Fetched, Gapless

TOPIC = "truyvet.scans.v1"
P0, P1 = TP(TOPIC, 0), TP(TOPIC, 1)


def event(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=tp, topic=tp.topic, partition=tp.partition, offset=offset),
                           value=f"{tp.partition}:{offset}".encode())


@dataclass
class Broker:
    """What the broker holds and the group committed: every offset has a message."""

    committed: dict[TP, int] = field(default_factory=dict)
    reads: list[tuple[int, int, int]] = field(default_factory=list)

    async def committed_offset(self, tp) -> int:
        return self.committed.get(TP(tp.topic, tp.partition), 0)

    async def read(self, tp, start: int, until: int):
        self.reads.append((tp.partition, start, until))
        yield [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset,
                               value=f"{tp.partition}:{offset}".encode()) for offset in range(start, until)]


class Stream:
    """Delivers scripted events; each item is an event or a new consumer generation (an int)."""

    def __init__(self, app, script) -> None:
        self.app, self.script = app, script

    async def events(self):
        for item in self.script:
            if isinstance(item, int):
                self.app.consumer_generation_id = item
                continue
            yield item

    async def take_events(self, size, within):
        batch = []
        for item in self.script:
            if isinstance(item, int):
                self.app.consumer_generation_id = item
                continue
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def make(broker: Broker, peers: list | None = None, app=None) -> tuple[Gapless, SimpleNamespace]:
    if app is None:
        consumer = mock.Mock(_add_gap=mock.AsyncMock(), _commit_offsets=mock.AsyncMock(), seek=mock.AsyncMock(),
                             flow_active=True, _committed_offset={})
        app = SimpleNamespace(consumer_generation_id=1, consumer=consumer, rebalancing=False)
    reader = SimpleNamespace(committed=broker.committed_offset, read=broker.read)
    return Gapless(app, TOPIC, reader, [] if peers is None else peers), app


def taken(gapless: Gapless, app, script, batch_size: int | None = None) -> list[tuple[int, int, bool]]:
    """(partition, offset, read from the broker) of what the agent got, in order."""
    got = []

    async def agent():
        stream = Stream(app, script)
        if batch_size is None:
            async for one in gapless.events(stream):
                got.append(one)
        else:
            async for batch in gapless.batches(stream, batch_size, within=0.1):
                got.extend(batch)

    asyncio.run(agent())
    return [(one.message.partition, one.message.offset, isinstance(one, Fetched)) for one in got]


def test_a_hole_in_a_partition_is_read_from_the_broker_before_the_message_after_it():
    broker = Broker()
    gapless, app = make(broker)

    got = taken(gapless, app, [event(P0, 0), event(P0, 1), event(P1, 0), event(P0, 4), event(P0, 5)])

    assert got == [(0, 0, False), (0, 1, False), (1, 0, False),
                   (0, 2, True), (0, 3, True), (0, 4, False), (0, 5, False)]
    assert broker.reads == [(0, 2, 4)]
    app.consumer._add_gap.assert_awaited_once_with(P0, 2, 3)


def test_faust_hears_of_a_filled_hole_only_after_the_agent_took_it():
    broker = Broker()
    gapless, app = make(broker)
    seen_before_settled = []

    async def agent():
        async for one in gapless.events(Stream(app, [event(P0, 0), event(P0, 2)])):
            seen_before_settled.append((one.message.offset, app.consumer._add_gap.await_count))

    asyncio.run(agent())

    assert seen_before_settled == [(0, 0), (1, 0), (2, 0)]
    assert app.consumer._add_gap.await_count == 1


def test_the_first_message_of_a_generation_is_checked_against_the_committed_offset():
    # The message at the committed offset was dropped before it reached the agent.
    broker = Broker(committed={P0: 7})
    gapless, app = make(broker)

    got = taken(gapless, app, [event(P0, 8), event(P0, 9)])

    assert got == [(0, 7, True), (0, 8, False), (0, 9, False)]


def test_a_message_taken_already_in_this_generation_is_skipped_and_taken_again_in_the_next():
    broker = Broker()
    gapless, app = make(broker)
    # The consumer seeks back to 1 within generation 1; then a rebalance (generation 2) starts
    # again from the committed offset, 2.
    script = [event(P0, 0), event(P0, 1), event(P0, 2), event(P0, 1), event(P0, 2), event(P0, 3),
              2, event(P0, 2), event(P0, 3), event(P0, 4)]

    def commit_two_at_rebalance(tp):
        return 2 if app.consumer_generation_id == 2 else 0

    broker.committed_offset = mock.AsyncMock(side_effect=commit_two_at_rebalance)
    gapless.reader.committed = broker.committed_offset
    got = taken(gapless, app, script)

    assert [offset for _, offset, _ in got] == [0, 1, 2, 3, 2, 3, 4]
    assert broker.reads == []


def test_batches_have_their_holes_filled_in_place_and_settled_after_the_batch():
    broker = Broker()
    gapless, app = make(broker)

    got = taken(gapless, app, [event(P0, 0), event(P1, 0), event(P0, 3), event(P1, 1), event(P0, 0)], batch_size=5)

    assert got == [(0, 0, False), (1, 0, False), (0, 1, True), (0, 2, True), (0, 3, False), (1, 1, False)]
    app.consumer._add_gap.assert_awaited_once_with(P0, 1, 2)


def test_an_agent_waiting_while_the_broker_holds_more_has_its_consumer_sought_back(monkeypatch):
    broker = Broker()
    gapless, app = make(broker)
    taken(gapless, app, [event(P0, 0), event(P0, 1)])  # then the messages at 2 and 3 never come
    app.consumer.assignment.return_value = {P0, TP("another.topic", 0)}
    app.consumer.highwater.return_value = 4

    asyncio.run(gapless.check_stalled())
    app.consumer.seek.assert_not_awaited()  # not waiting for long yet

    clock = gapless_module.time.monotonic() + gapless_module.STALL_SECONDS + 1
    monkeypatch.setattr(gapless_module.time, "monotonic", lambda: clock)
    asyncio.run(gapless.check_stalled())
    app.consumer.seek.assert_awaited_once_with(P0, 2)

    app.consumer.seek.reset_mock()
    app.consumer.highwater.return_value = 2  # all delivered: nothing to do
    asyncio.run(gapless.check_stalled())
    app.consumer.seek.assert_not_awaited()


def test_with_two_agents_on_a_topic_a_filled_hole_is_done_only_once_both_took_it():
    broker = Broker()
    peers: list = []
    colocate, app = make(broker, peers)
    sink, _ = make(broker, peers, app)

    taken(colocate, app, [event(P0, 0), event(P0, 3)])
    app.consumer._add_gap.assert_not_awaited()  # the sink has not taken 1 and 2 yet

    taken(sink, app, [event(P0, 0), event(P0, 3)])
    app.consumer._add_gap.assert_awaited_once_with(P0, 1, 2)


def test_commits_stuck_below_what_every_agent_took_are_let_go(monkeypatch):
    broker = Broker()
    gapless, app = make(broker)
    taken(gapless, app, [event(P0, offset) for offset in range(10)])
    app.consumer.assignment.return_value = {P0}
    app.consumer.highwater.return_value = 10
    app.consumer._committed_offset = {P0: 3}  # Faust lost track of 3 to 9: its commit stays at 3

    clock = gapless_module.time.monotonic() + gapless_module.STALL_SECONDS + 1
    monkeypatch.setattr(gapless_module.time, "monotonic", lambda: clock)
    asyncio.run(gapless.check_stalled())

    app.consumer._commit_offsets.assert_awaited_once_with({P0: 10})
    app.consumer.seek.assert_not_awaited()  # everything on the broker was delivered
