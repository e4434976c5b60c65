"""Everything the web app opens, started and closed in one place.

:func:`webapp.create_app` builds one :class:`Resources` per app; ``app.close()`` (the CLI, the
standalone runtime, tests, and ``atexit`` under gunicorn) closes it. A warehouse client handed in
by the caller (``truyvet run`` shares one embedded warehouse between web server and worker) is
the caller's to close.
"""
from __future__ import annotations

import logging
import threading

from clickhouse_connect.driver.client import Client
from flask import Flask, current_app
from sqlalchemy import text

from config import Settings
from tracing.rules import TraceRuleSets, load_trace_rules
from ingest.producer import EventPublisher, check_broker
from warehouse.client import connect, ping
from webapp.extensions import db
from webapp.health import HealthMonitor
from webapp.outbox import OutboxRelay, pending_count

log = logging.getLogger(__name__)


class Resources:
    """The publisher, the outbox relay, the warehouse client and the health monitor of one app,
    and the trace rule sets it offers (read once: a bad rules file stops the app at start)."""

    def __init__(self, app: Flask, settings: Settings, warehouse: Client | None = None) -> None:
        self.settings = settings
        self.trace_rules: TraceRuleSets = load_trace_rules(settings.trace_rules or None)
        self._app = app
        self._warehouse = warehouse
        self._owns_warehouse = warehouse is None
        self._warehouse_lock = threading.Lock()
        self.health = HealthMonitor({
            "kafka": lambda: check_broker(settings.kafka_servers),
            "warehouse": lambda: ping(self.warehouse()),
            "database": self._probe_database,
        })
        self.publisher = EventPublisher(
            settings.kafka_servers, on_outcome=lambda ok: self.health.report("kafka", ok))
        self.relay = OutboxRelay(app, self.publisher)
        self._closed = False

    def start(self) -> None:
        """Start the outbox relay unless turned off; health probes start with the first request.

        Commands that build an app only to use its database (``truyvet seed``, ``migrate``) turn
        the relay off and never serve, so they start no thread.
        """
        self._app.before_request(self.health.start)
        if self.settings.outbox_relay:
            # Events staged before a restart, or by `truyvet seed` while Kafka was down, go out
            # now rather than after the next declaration.
            self.relay.start()

    def warehouse(self) -> Client:
        """The warehouse client, opened on first use when the app owns it."""
        with self._warehouse_lock:
            if self._warehouse is None:
                self._warehouse = connect(self.settings.clickhouse_url)
            return self._warehouse

    def close(self) -> None:
        """Stop the threads and close what the app opened; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.relay.stop()
        self.health.stop()
        self.publisher.close()
        with self._warehouse_lock:
            if self._owns_warehouse and self._warehouse is not None:
                self._warehouse.close()
                self._warehouse = None
        with self._app.app_context():
            db.engine.dispose()

    def _probe_database(self) -> int:
        """The database answers; return the outbox backlog (events accepted, not yet in Kafka)."""
        with self._app.app_context():
            try:
                db.session.execute(text("SELECT 1"))
                return pending_count()
            finally:
                db.session.remove()


def get_resources() -> Resources:
    """The current app's resources; accessors below have the shape of flaskr's ``get_db()``."""
    return current_app.extensions["truyvet"]


def get_settings() -> Settings:
    return get_resources().settings


def get_publisher() -> EventPublisher:
    return get_resources().publisher


def get_warehouse() -> Client:
    """The app's warehouse client (shared with a worker in the same process)."""
    return get_resources().warehouse()
