"""``truyvet run``: the whole system on one machine, in one Python process plus a Kafka JVM.

The embedded warehouse can be open in one process only, so the Faust worker (main thread,
asyncio) and the web server (threads) share this process and its warehouse client.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faust
from clickhouse_connect.driver.client import Client
from werkzeug.serving import make_server

from config import Settings
from streams.app import create_app as create_stream_app
from streams.topics import ensure_topics
from truyvet.broker import LocalBroker
from warehouse.client import connect
from warehouse.migrate import apply_migrations
from warehouse.retention import apply_retention

log = logging.getLogger(__name__)


class AlreadyRunning(RuntimeError):
    """Another ``truyvet run`` holds this data directory."""


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the data directory for as long as the block runs."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / "truyvet.lock"
    with open(lock_path, "a+") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            raise AlreadyRunning(
                f"truyvet is already running on {data_dir} (pid {holder}); "
                "stop it first, or set TRUYVET_DATA_DIR to another directory"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(str(os.getpid()))
        lock_file.flush()
        try:
            yield
        finally:
            lock_file.seek(0)
            lock_file.truncate()


def run(settings: Settings, host: str, port: int, echo=print) -> None:
    """Start broker, warehouse, database, web server and worker; stop all of them on exit.

    Ctrl-C or SIGTERM stops everything cleanly at any moment, start-up included: until Faust's
    worker installs its own handlers, SIGTERM is turned into the same interrupt as Ctrl-C.
    """
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with data_dir_lock(settings.data_dir):
            _run_everything(settings, host, port, echo)
    except KeyboardInterrupt:
        pass  # a requested stop; everything was stopped on the way out
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


def _run_everything(settings: Settings, host: str, port: int, echo) -> None:
    broker = LocalBroker.for_bootstrap(settings.data_dir / "kafka", settings.kafka_bootstrap)
    owns_broker = not broker.status().running
    warehouse = server = None
    try:
        echo(f"Starting Kafka on {broker.bootstrap} ...")
        broker.start(die_with_parent=True)
        ensure_topics(settings.kafka_servers)
        # One client for the web server and the worker: an embedded warehouse directory can be
        # open in one process only, and once in it.
        warehouse = connect(settings.clickhouse_url)
        prepare_warehouse(warehouse, settings)
        server = _start_web(settings, host, port, warehouse)
        echo(f"truyvet is running: http://{host}:{port}/  (health: http://{host}:{port}/healthz)")
        echo("Press Ctrl-C to stop.")
        _run_worker(create_stream_app(settings, warehouse))
    finally:
        echo("Stopping truyvet ...")
        if server is not None:
            server.shutdown()
            server.app.close()
        if warehouse is not None:
            warehouse.close()
        if owns_broker:
            broker.stop()
        echo("Stopped.")


def prepare_warehouse(warehouse: Client, settings: Settings) -> int:
    """Apply pending migrations and the retention setting; return how many migrations ran."""
    applied = apply_migrations(warehouse)
    if apply_retention(warehouse, settings.retention_days):
        log.info("warehouse retention set to %s", f"{settings.retention_days} days"
                 if settings.retention_days else "keep everything")
    return len(applied)


def _interrupt(signum: int, frame) -> None:
    raise KeyboardInterrupt


def run_worker(settings: Settings, sink: bool = True) -> None:
    """``truyvet worker``: the Faust worker alone (production topology); ``sink`` also stores.

    With ``settings.metrics_port``, its Prometheus metrics are served there (behind the metrics
    token when one is set).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust keeps its table state there
    if settings.metrics_port:
        from streams.metrics import start_exporter

        start_exporter(settings.metrics_port, settings.metrics_token)
    if not sink:
        _run_worker(create_stream_app(settings))
        return
    warehouse = connect(settings.clickhouse_url)
    try:
        prepare_warehouse(warehouse, settings)
        _run_worker(create_stream_app(settings, warehouse))
    finally:
        warehouse.close()


def _start_web(settings: Settings, host: str, port: int, warehouse: Client):
    from webapp import create_app
    from webapp.schema import create_or_upgrade

    app = create_app(settings, warehouse=warehouse)
    with app.app_context():
        create_or_upgrade()
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="web", daemon=True).start()
    return server


def _run_worker(app: faust.App) -> None:
    # Faust's worker installs its own SIGINT/SIGTERM handlers and stops gracefully on them.
    worker = faust.Worker(app, loglevel="info", redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        # Faust exits the process when it stops; a worker that failed must not look successful.
        if exit_.code not in (None, 0):
            raise
