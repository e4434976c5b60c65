"""The sink agent, driven with Faust's agent.test_context() into the real embedded warehouse."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from unittest import mock

import pytest

from streams.app import configure
from streams.records import ScanEvent, new_event_id
from tests.conftest import random_cccd
from truyvet.settings import Settings
from warehouse.queries import scans_of_citizen


# Collecting doctests imports the agents first; the sink reads only the warehouse URL we set here.
@pytest.mark.filterwarnings("ignore::faust.exceptions.AlreadyConfiguredWarning")
def test_sink_stores_scans_once_and_dead_letters_garbage(warehouse, warehouse_url, tmp_path):
    configure(Settings.from_env({"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_CLICKHOUSE_URL": warehouse_url}))
    from streams.agents import sink

    citizen = random_cccd()
    scan = ScanEvent(event_id=new_event_id(), citizen_id=citizen, place_id="GATE-1",
                     ts=datetime.now(timezone.utc), direction="in")

    async def feed() -> mock.AsyncMock:
        with mock.patch.object(sink.deadletter_topic, "send", new=mock.AsyncMock()) as send:
            async with sink.sink_scans.test_context() as agent:
                await agent.put(scan.dumps())
                await agent.put(b"\x00 not a scan")
                await agent.put(scan.dumps())  # redelivered
                await asyncio.sleep(sink.BATCH_WITHIN_SECONDS * 3)
            return send

    send = asyncio.run(feed())

    assert [row["event_id"] for row in scans_of_citizen(warehouse, citizen)] == [scan.event_id]
    letter = send.await_args.kwargs["value"]
    assert (letter.topic, letter.offset) == ("truyvet.scans.v1", 1)
    assert letter.error.startswith("not JSON")
    assert letter.payload.endswith("not a scan")
