"""The ``truyvet`` command.

The top of the dependency graph. Commands import what they run when they run, so
``truyvet --help`` or ``truyvet kafka status`` does not load Faust, Flask and the warehouse.
"""
from __future__ import annotations

import logging
import sys

import click

from config import Settings
from truyvet.broker import BrokerError, LocalBroker
from truyvet.cliapp import registry, settings
from truyvet.import_cli import import_
from truyvet.places_cli import place
from truyvet.simulate_cli import simulate
from truyvet.staff_cli import declaration, station, user
from truyvet.trace_cli import trace


def _local_broker(settings: Settings) -> LocalBroker:
    try:
        return LocalBroker.for_bootstrap(settings.data_dir / "kafka", settings.kafka_bootstrap)
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """truyvet: health declarations, checkpoint scans and contact tracing."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every refused connection; truyvet says itself when Kafka is unreachable.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    # Alembic tells its plugins and context at every start; webapp.schema logs what it applied.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.group()
def kafka() -> None:
    """Run the local single-node Kafka broker (KRaft) from the official jars."""


@kafka.command("start")
def kafka_start() -> None:
    """Start the broker in the background and wait until it accepts connections."""
    broker = _local_broker(settings())
    try:
        click.echo(broker.start().describe())
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc


@kafka.command("jars")
def kafka_jars() -> None:
    """Resolve the broker jars from Maven Central (done by `start` when needed)."""
    broker = _local_broker(settings())
    try:
        broker.ensure_jars()
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Kafka jars ready in {broker.libs}")


@kafka.command("stop")
def kafka_stop() -> None:
    """Stop the broker cleanly."""
    broker = _local_broker(settings())
    click.echo("Kafka stopped" if broker.stop() else "Kafka was not running")


@kafka.command("status")
def kafka_status() -> None:
    """Say whether the broker runs; exit 1 if it does not."""
    status = _local_broker(settings()).status()
    click.echo(status.describe())
    sys.exit(0 if status.running else 1)


@main.command()
@click.option("--topics/--no-topics", default=True, help="Also create missing Kafka topics.")
def migrate(topics: bool) -> None:
    """Apply warehouse and database migrations, the warehouse's retention, and create Kafka topics."""
    from streams.topics import ensure_topics
    from truyvet.standalone import prepare_warehouse
    from warehouse.client import connect
    from warehouse.errors import WarehouseError
    from webapp.schema import SchemaError, current_revision

    current = settings()
    try:
        warehouse = connect(current.clickhouse_url)
        try:
            applied = prepare_warehouse(warehouse, current)
        finally:
            warehouse.close()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"warehouse: {applied} migration(s) applied, retention "
               + (f"{current.retention_days} days" if current.retention_days else "off (keep everything)"))
    try:
        with registry(current):  # applies the database's migrations
            click.echo(f"database: schema at revision {current_revision()}")
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from exc
    if topics:
        created = ensure_topics(current.kafka_servers)
        click.echo(f"kafka: {len(created)} topic(s) created")


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
def purge(dry_run: bool) -> None:
    """Delete what the CRUD database keeps past retention (README, Retention); run it nightly."""
    import getpass
    import os
    import socket
    from datetime import datetime, timezone

    from webapp.retention import purge as purge_tables

    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a name
        who = f"uid {os.getuid()}"
    current = settings()
    with registry(current):
        done = purge_tables(current, datetime.now(timezone.utc), dry_run=dry_run,
                            purged_by=f"{who}@{socket.gethostname()}")
    for result in done:
        if result.cutoff is None:
            click.echo(f"{result.table}: kept whole (retention 0)")
            continue
        note = f"; {result.note}" if result.note else ""
        click.echo(f"{result.table}: {result.deleted} {'to delete' if dry_run else 'deleted'} "
                   f"(older than {result.cutoff:%Y-%m-%d %H:%M} UTC{note})")


@main.command()
@click.option("--citizens", "count", type=click.IntRange(1, 10_000_000), required=True,
              help="How many synthetic citizens to add to the registry.")
@click.option("--seed", type=int, default=None, help="Random seed, for a reproducible population.")
def seed(count: int, seed: int | None) -> None:
    """Add a synthetic population to the registry and publish it to the citizens topic."""
    from ingest.errors import BrokerUnavailable
    from streams.topics import CITIZENS
    from webapp.outbox import pending_count, relay_pending
    from webapp.resources import get_publisher
    from webapp.registry import seed_population

    # This command relays its own events (and stops), rather than leaving it to a thread.
    with registry():
        added = seed_population(count, seed)
        click.echo(f"registry: {added} citizens added")
        try:
            while relay_pending(get_publisher()):
                pass
        except BrokerUnavailable:
            pass
        waiting = pending_count()
    if waiting:
        click.echo(f"kafka: {waiting} events wait in the outbox; the running system publishes them")
    else:
        click.echo(f"kafka: published to {CITIZENS}")


@main.command("qr-key")
def qr_key() -> None:
    """Print a new personal-QR signing key ("kid:seed") for TRUYVET_QR_SIGNING_KEYS.

    To rotate, append it to the setting (newest last); drop the oldest once its tokens expired.
    """
    from ingest.qrtoken import SigningKey

    key = SigningKey.generate()
    click.echo(f"{key.kid}:{key.export_seed()}")


@main.command()
@click.option("--sink/--no-sink", default=True, show_default=True,
              help="Also write to the warehouse. An embedded warehouse opens in one process only: "
                   "extra workers beside `truyvet run` (or another sinking worker) take --no-sink.")
def worker(sink: bool) -> None:
    """Run the Faust stream worker (production: one per container, up to one per partition)."""
    from truyvet.standalone import run_worker

    run_worker(settings(), sink=sink)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Run the whole local system: Kafka, worker, web app, warehouse and database."""
    from truyvet.standalone import AlreadyRunning
    from truyvet.standalone import run as run_standalone
    from warehouse.errors import WarehouseError
    from webapp.schema import SchemaError

    try:
        run_standalone(settings(), host, port, echo=click.echo)
    except (AlreadyRunning, BrokerError, SchemaError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from exc


main.add_command(place)
main.add_command(import_)
main.add_command(user)
main.add_command(station)
main.add_command(declaration)
main.add_command(simulate)
main.add_command(trace)
