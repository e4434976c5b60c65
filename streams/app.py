"""The one Faust app. Agents register on it from ``streams.agents``.

Importing this module starts nothing and reads no environment: ``configure()`` is called by
whoever starts a worker (``truyvet worker`` or ``truyvet run``) with the process's settings.
"""
from __future__ import annotations

import faust

from truyvet.settings import Settings

APP_ID = "truyvet"

app = faust.App(APP_ID, autodiscover=False)


def configure(settings: Settings) -> faust.App:
    """Point the app at the broker and warehouse of ``settings`` and register the agents."""
    app.config_from_object(
        {
            "broker": [f"kafka://{server}" for server in settings.kafka_servers],
            "datadir": str(settings.data_dir / "faust"),
            # Flask serves the ops endpoints; Faust's own web server would only take a port.
            "web_enabled": False,
            "topic_partitions": 6,
            "consumer_auto_offset_reset": "earliest",
        },
        force=True,
    )
    from streams.agents import sink

    sink.use_warehouse(settings.clickhouse_url)
    return app
