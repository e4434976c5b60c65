"""The Faust app, built by a factory with the resources its agents use.

Importing this module starts nothing and reads no environment. ``create_app(settings,
warehouse)`` is called by whoever starts a worker (``truyvet worker``, ``truyvet run``, tests);
each agent is registered with what it needs (the sink with the warehouse client and the
retention), so nothing is reached through module globals.
"""
from __future__ import annotations

import faust
from clickhouse_connect.driver.client import Client

from config import Settings
from streams.agents import sink
from streams.agents.sink import ScanSink

APP_ID = "truyvet"
TOPIC_PARTITIONS = 6


class StreamApp(faust.App):
    """The one Faust app of a worker process, with handles on its agents."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            APP_ID,
            broker=[f"kafka://{server}" for server in settings.kafka_servers],
            datadir=str(settings.data_dir / "faust"),
            # Flask serves the ops endpoints; Faust's own web server would only take a port.
            web_enabled=False,
            topic_partitions=TOPIC_PARTITIONS,
            consumer_auto_offset_reset="earliest",
            autodiscover=False,
        )
        self.scan_sink: ScanSink | None = None


def create_app(settings: Settings, warehouse: Client) -> StreamApp:
    """The Faust app with every agent registered; the caller owns (and closes) ``warehouse``."""
    app = StreamApp(settings)
    app.scan_sink = sink.register(app, warehouse, settings.retention)
    return app
