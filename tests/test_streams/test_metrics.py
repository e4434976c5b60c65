"""The worker's metrics: what each agent counts, the consumer lag gauge, and the worker's exporter.

Counters are process-wide: each test reads them before and after (``moved``).
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace
from unittest import mock

import pytest
import requests
from faust.types import TP
from prometheus_client import REGISTRY

from streams import metrics
from streams.app import create_app
from streams.metrics import LagWatch, start_exporter
from streams.partitions import PartitionReader
from streams.records import ScanEvent, new_event_id
from tests.conftest import random_cccd, settings_for_tests
from tests.test_streams.test_gapless import P0, Broker, event, make, taken
from tests.test_streams.test_sink_agent import stored, until

TOKEN = "worker-scrape-token"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moved:
    """Samples read now, to compare with later: ``moved(name, **labels)`` is the change since."""

    def __init__(self, *names: tuple[str, dict[str, str]]) -> None:
        self._before = {(name, tuple(sorted(labels.items()))): sample(name, **labels) for name, labels in names}

    def __call__(self, name: str, **labels: str) -> float:
        return sample(name, **labels) - self._before[name, tuple(sorted(labels.items()))]


def test_gapless_counts_what_its_agent_took_read_late_and_dropped_as_repeats():
    gapless, app = make(Broker())
    gapless.agent = "gapless_test"
    names = [("truyvet_stream_events_total", {"agent": "gapless_test", "direction": "in"}),
             ("truyvet_late_events_total", {"agent": "gapless_test"}),
             ("truyvet_duplicates_dropped_total", {"agent": "gapless_test"})]
    moved = Moved(*names)

    # 0, 1, then 4 (2 and 3 read back from the broker), then 1 again (the consumer sought back).
    got = taken(gapless, app, [event(P0, 0), event(P0, 1), event(P0, 4), event(P0, 1)])

    assert len(got) == 5
    assert [moved(name, **labels) for name, labels in names] == [5, 2, 1]


def test_an_unnamed_view_counts_under_its_topic():
    gapless, app = make(Broker())
    moved = Moved(("truyvet_stream_events_total", {"agent": P0.topic, "direction": "in"}))
    taken(gapless, app, [event(P0, 0)])
    assert moved("truyvet_stream_events_total", agent=P0.topic, direction="in") == 1


@pytest.fixture
def stream_app(warehouse, warehouse_url, tmp_path):
    return create_app(settings_for_tests(tmp_path, warehouse_url), warehouse)


def test_the_scans_sink_counts_rows_batches_copies_and_dead_letters(stream_app, warehouse):
    sink = stream_app.sinks.scans
    citizen = random_cccd()
    scan = ScanEvent(event_id=new_event_id(), citizen_id=citizen, place_id="GATE-M", ts=datetime.now(timezone.utc),
                     direction="in")
    names = [("truyvet_stream_events_total", {"agent": "sink_scans", "direction": "in"}),
             ("truyvet_stream_events_total", {"agent": "sink_scans", "direction": "out"}),
             ("truyvet_dead_letters_total", {"reason": "undecodable"}),
             ("truyvet_sink_batch_rows_sum", {"table": "scans"}),
             ("truyvet_sink_batch_seconds_count", {"table": "scans"})]
    moved = Moved(*names)

    async def feed() -> None:
        with mock.patch.object(sink.dead_letters.topic, "send", new=mock.AsyncMock()), \
                mock.patch.object(PartitionReader, "committed", new=mock.AsyncMock(return_value=0)):
            async with sink.agent.test_context() as agent:
                for message in (scan.dumps(), b"\x00 garbage", scan.dumps()):
                    await agent.put(message)
                await until(lambda: len(stored(warehouse, citizen)) == 1
                            and moved("truyvet_sink_batch_seconds_count", table="scans") >= 1)

    asyncio.run(feed())

    assert moved("truyvet_stream_events_total", agent="sink_scans", direction="in") == 3
    assert moved("truyvet_stream_events_total", agent="sink_scans", direction="out") == 1
    assert moved("truyvet_dead_letters_total", reason="undecodable") == 1
    assert moved("truyvet_sink_batch_rows_sum", table="scans") == 1
    # The copy was dropped in the batch, or stored again as the same row in the next one.
    assert moved("truyvet_sink_batch_seconds_count", table="scans") >= 1


def test_verify_counts_scans_by_place_and_rejections_by_reason(stream_app):
    verify = stream_app.verify
    place = "GATE-" + random_cccd()[-6:]
    good = ScanEvent(event_id=new_event_id(), citizen_id=random_cccd(), place_id=place,
                     ts=datetime.now(timezone.utc), direction="in")
    born_2099 = ScanEvent(event_id=new_event_id(), citizen_id="079299" + random_cccd()[-6:], place_id=place,
                          ts=datetime.now(timezone.utc), direction="in")
    names = [("truyvet_place_scans_total", {"place": place}),
             ("truyvet_stream_rejections_total", {"agent": "verify_scans", "reason": "birth_year"}),
             ("truyvet_stream_events_total", {"agent": "verify_scans", "direction": "out"})]
    moved = Moved(*names)

    async def feed() -> None:
        with mock.patch.object(verify.verified, "send", new=mock.AsyncMock()), \
                mock.patch.object(verify.rejections, "send", new=mock.AsyncMock()), \
                mock.patch.object(PartitionReader, "committed", new=mock.AsyncMock(return_value=0)):
            async with verify.scans_agent.test_context() as agent:
                await agent.put(good.dumps())
                await agent.put(born_2099.dumps())
                await until(lambda: moved("truyvet_stream_events_total", agent="verify_scans", direction="out") >= 2)

    asyncio.run(feed())

    assert [moved(name, **labels) for name, labels in names] == [1, 1, 2]


SCANS_0, SCANS_1 = TP("truyvet.scans.v1", 0), TP("truyvet.scans.v1", 1)
CHANGELOG = TP("truyvet-registry-changelog", 0)


def fake_worker(assigned: set[TP], ends: dict[TP, int], committed: dict[TP, int], positions: dict[TP, int]):
    async def highwaters(*tps):
        return {tp: ends[tp] for tp in tps}

    async def position(tp):
        return positions.get(tp)

    consumer = SimpleNamespace(assignment=lambda: assigned, highwaters=highwaters, position=position,
                               _committed_offset=committed)
    return SimpleNamespace(consumer=consumer, rebalancing=False, timer=lambda *args, **kwargs: (lambda f: f))


def lag_of(partition: int) -> float | None:
    return REGISTRY.get_sample_value("truyvet_consumer_lag", {"topic": "truyvet.scans.v1", "partition": str(partition)})


def test_the_lag_of_each_assigned_partition_is_its_end_minus_the_committed_offset_or_the_position():
    worker = fake_worker({SCANS_0, SCANS_1, CHANGELOG}, ends={SCANS_0: 100, SCANS_1: 95, CHANGELOG: 7},
                         committed={SCANS_0: 40}, positions={SCANS_1: 90})
    watch = LagWatch.of(worker, lambda: {"truyvet.scans.v1"})

    assert asyncio.run(watch.refresh()) == {("truyvet.scans.v1", 0): 60, ("truyvet.scans.v1", 1): 5}
    assert (lag_of(0), lag_of(1)) == (60, 5)
    assert REGISTRY.get_sample_value("truyvet_consumer_lag", {"topic": CHANGELOG.topic, "partition": "0"}) is None

    # Partition 0 goes to another worker: its series goes, not frozen at its last value.
    worker.consumer.assignment = lambda: {SCANS_1}
    asyncio.run(watch.refresh())
    assert (lag_of(0), lag_of(1)) == (None, 5)

    worker.rebalancing = True  # assignments move: nothing measured, nothing changed
    assert asyncio.run(watch.refresh()) == {}
    assert lag_of(1) == 5


def test_a_failed_lag_reading_is_logged_and_the_next_round_measures_again(caplog):
    async def broken(*tps):
        raise ConnectionError("broker gone")

    worker = fake_worker({SCANS_1}, ends={}, committed={}, positions={})
    worker.consumer.highwaters = broken
    asyncio.run(LagWatch(worker, lambda: {"truyvet.scans.v1"}).refresh_safely())
    assert "consumer lag not measured" in caplog.text


def test_the_worker_serves_its_metrics_to_the_bearer_of_the_token():
    metrics.dead_letters.labels("exporter_test").inc()
    server = start_exporter(0, TOKEN, addr="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        scraped = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert scraped.status_code == 200
        assert 'truyvet_dead_letters_total{reason="exporter_test"} 1.0' in scraped.text
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_token_the_worker_s_exporter_is_open():
    server = start_exporter(0, addr="127.0.0.1")
    try:
        assert requests.get(f"http://127.0.0.1:{server.server_port}/", timeout=10).status_code == 200
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_with_a_metrics_port_serves_them_behind_the_token(tmp_path, monkeypatch):
    """`truyvet worker` with TRUYVET_METRICS_PORT: the exporter starts before the worker runs."""
    import socket
    import urllib.error
    import urllib.request

    from config import Settings
    from truyvet import standalone

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_env({"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_METRICS_PORT": str(port),
                                  "TRUYVET_METRICS_TOKEN": "scraper-token-0123456789"})
    monkeypatch.setattr(standalone, "create_stream_app", lambda *_: None)
    monkeypatch.setattr(standalone, "_run_worker", lambda _app: None)

    standalone.run_worker(settings, sink=False)

    url = f"http://127.0.0.1:{port}/metrics"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 401
    request = urllib.request.Request(url, headers={"Authorization": "Bearer scraper-token-0123456789"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert "truyvet_stream_events_total" in answer.read().decode()
