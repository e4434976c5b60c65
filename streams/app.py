"""The Faust app, built by a factory with the resources its agents use.

Importing this module starts nothing and reads no environment. ``create_app(settings,
warehouse)`` is called by whoever starts a worker (``truyvet worker``, ``truyvet run``, tests);
each agent is registered with what it needs, so nothing is reached through module globals.

Agents: registry (citizens topic -> registry table), verify (scans, declarations), colocate
(verified scans -> contacts, crowd exposures), alert routing (alerts -> the contact's ward, by
the registry table) and, when a warehouse is given, the sinks and the cases agent (cases traced
into alerts, open cases traced again on a timer). An embedded warehouse opens in one process
only, so with several workers on one machine exactly one runs the sinks and traces the cases;
with a ClickHouse server every worker may (production compose does).
"""
from __future__ import annotations

from pathlib import Path

import faust
from clickhouse_connect.driver.client import Client

from config import Settings
from streams import metrics, topics
from streams.agents import alerts, colocate, registry, sink, verify
from streams.agents.alerts import Alerts, Routing
from streams.agents.colocate import Colocate
from streams.agents.deadletter import DeadLetters
from streams.agents.registry import Registry
from streams.agents.sink import Sinks
from streams.agents.verify import Verify
from streams.gapless import topics_read
from streams.rules import load_rules
from tracing.rules import load_trace_rules

APP_ID = topics.CONSUMER_GROUP


class StreamApp(faust.App):
    """The one Faust app of a worker process, with handles on its agents."""

    registry: Registry
    verify: Verify
    colocate: Colocate
    routing: Routing
    sinks: Sinks | None
    alerts: Alerts | None
    lag: metrics.LagWatch

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            APP_ID,
            broker=[f"kafka://{server}" for server in settings.kafka_servers],
            datadir=str(settings.data_dir / "faust"),
            # Flask serves the ops endpoints; Faust's own web server would only take a port.
            web_enabled=False,
            topic_partitions=topics.PARTITIONS,
            # Faust's own topics (table changelogs, repartitions) get as many copies as ours:
            # 3 in production, where min.insync.replicas comes from the brokers' default (2).
            # Read here until Settings carries it (TRUYVET_TOPIC_REPLICATION, streams/topics.py).
            topic_replication_factor=topics.Replication.from_env().factor,
            consumer_auto_offset_reset="earliest",
            autodiscover=False,
            # Every agent is idempotent and Faust commits only what agents finished, so a stop need
            # not wait for messages in flight. (It could not always: a message delivered again
            # after a seek, for an offset acknowledged already, is never marked done by Faust.)
            stream_wait_empty=False,
        )


def create_app(settings: Settings, warehouse: Client | None = None) -> StreamApp:
    """The Faust app with every agent registered; the caller owns (and closes) ``warehouse``.

    Without a warehouse the worker verifies, co-locates and routes alerts only, and another
    process sinks and traces cases.
    """
    app = StreamApp(settings)
    dead_letters = DeadLetters.of(app)
    book = load_rules(Path(settings.contact_rules) if settings.contact_rules else None)
    app.registry = registry.register(app, dead_letters)
    app.verify = verify.register(app, app.registry.table, dead_letters, settings.retention)
    app.colocate = colocate.register(app, book, settings.colocation_lateness, dead_letters)
    app.sinks = sink.register(app, warehouse, settings.retention) if warehouse is not None else None
    # Routing needs the registry, not the warehouse: it runs wherever the registry does.
    app.routing = alerts.register_routing(app, app.registry.table, dead_letters)
    app.alerts = None
    if warehouse is not None:
        trace_rules = load_trace_rules(settings.trace_rules or None).choose(None)
        app.alerts = alerts.register(app, warehouse, trace_rules, settings.alert_retrace, settings.retention,
                                     dead_letters)
    app.lag = metrics.LagWatch.of(app, lambda: topics_read(app))
    return app
