"""The sink agent, driven with Faust's agent.test_context() into the real embedded warehouse."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from streams.agents.sink import store_isolating_refused
from streams.app import create_app
from streams.partitions import PartitionReader
from streams.records import DeadLetter, ScanEvent, new_event_id
from tests.conftest import random_cccd, settings_for_tests
from warehouse.errors import WarehouseError
from warehouse.queries import scans_of_citizen


def a_scan(citizen: str, **changes) -> ScanEvent:
    fields = dict(event_id=new_event_id(), citizen_id=citizen, place_id="GATE-1",
                  ts=datetime.now(timezone.utc), direction="in")
    return ScanEvent(**{**fields, **changes})


def stored(warehouse, citizen: str) -> list[dict]:
    return scans_of_citizen(warehouse, citizen, limit=1000).scans


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll the observable result instead of sleeping and hoping."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def run_sink(app, messages: list[bytes], done: Callable[[], bool]) -> list[DeadLetter]:
    """Feed ``messages`` to the sink agent; return the dead letters it sent once ``done()``."""
    sink = app.sinks.scans

    async def feed() -> mock.AsyncMock:
        # Offsets in a test context start at 0, where a new consumer group would start.
        with mock.patch.object(sink.dead_letters.topic, "send", new=mock.AsyncMock()) as send, \
                mock.patch.object(PartitionReader, "committed", new=mock.AsyncMock(return_value=0)):
            async with sink.agent.test_context() as agent:
                for message in messages:
                    await agent.put(message)
                await until(done)
            return send

    send = asyncio.run(feed())
    return [call.kwargs["value"] for call in send.await_args_list]


@pytest.fixture
def stream_app(warehouse, warehouse_url, tmp_path):
    return lambda **changes: create_app(settings_for_tests(tmp_path, warehouse_url, **changes), warehouse)


def test_sink_stores_scans_once_and_dead_letters_garbage(stream_app, warehouse):
    citizen = random_cccd()
    scan = a_scan(citizen)

    letters = run_sink(stream_app(), [scan.dumps(), b"\x00 not a scan", scan.dumps()],
                       done=lambda: len(stored(warehouse, citizen)) == 1)

    assert [row["event_id"] for row in stored(warehouse, citizen)] == [scan.event_id]
    [letter] = letters
    assert (letter.topic, letter.offset, letter.reason) == ("truyvet.verified-scans.v1", 1, "undecodable")
    assert letter.error.startswith("not JSON")
    assert letter.payload.endswith("not a scan")


def test_scans_past_retention_or_from_the_future_are_dead_lettered_with_a_reason(stream_app, warehouse):
    citizen = random_cccd()
    now = datetime.now(timezone.utc)
    fresh, old, future = (a_scan(citizen, ts=now), a_scan(citizen, ts=now - timedelta(days=31)),
                          a_scan(citizen, ts=now + timedelta(hours=1)))

    letters = run_sink(stream_app(retention_days=30), [old.dumps(), future.dumps(), fresh.dumps()],
                       done=lambda: bool(stored(warehouse, citizen)))

    assert [row["event_id"] for row in stored(warehouse, citizen)] == [fresh.event_id]
    assert sorted(letter.reason for letter in letters) == ["in_future", "past_retention"]
    assert {json.loads(letter.payload)["event_id"] for letter in letters} == {old.event_id, future.event_id}


def test_a_batch_over_a_hundred_months_is_stored_whole_when_retention_is_off(stream_app, warehouse):
    citizen = random_cccd()
    start = datetime(2012, 1, 15, tzinfo=timezone.utc)
    scans = [a_scan(citizen, ts=start + timedelta(days=31 * month)) for month in range(120)]

    letters = run_sink(stream_app(retention_days=0), [scan.dumps() for scan in scans],
                       done=lambda: len(stored(warehouse, citizen)) == 120)

    assert letters == []
    assert len(stored(warehouse, citizen)) == 120


def test_rows_the_warehouse_refuses_are_isolated_and_the_rest_stored(warehouse):
    citizen = random_cccd()
    good = [a_scan(citizen) for _ in range(37)]
    bad = [a_scan(citizen, place_id="X" * 200), a_scan("not-a-cccd")]
    batch = good[:20] + [bad[0]] + good[20:] + [bad[1]]

    refused = store_isolating_refused(warehouse, batch)

    assert [scan for scan, _ in refused] == bad
    assert all(error.code == 469 for _, error in refused)  # VIOLATED_CONSTRAINT
    assert {row["event_id"] for row in stored(warehouse, citizen)} == {scan.event_id for scan in good}


def test_a_transient_failure_is_raised_for_the_whole_batch_to_be_retried():
    client = mock.Mock()
    citizen = random_cccd()
    refusing = mock.Mock(side_effect=WarehouseError("connection refused"))
    with pytest.raises(WarehouseError):
        store_isolating_refused(client, [a_scan(citizen), a_scan(citizen)], refusing)
    refusing.assert_called_once()
