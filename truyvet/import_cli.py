"""``truyvet import``: bring records kept outside the system (scan logs, contact logs) into it.

Attached to the main command with ``main.add_command(import_)``. Like the rest of the CLI it
imports what a command runs only when the command runs, so ``--help`` stays fast. The rules
(which rows count, how Kafka's answer is counted) are :mod:`webapp.scanlog_import`'s, shared
with the officers' upload page. Contact logs go to the warehouse: see ``import contacts``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from truyvet.cliapp import bilingual, open_warehouse, registry, settings


@click.group("import")
def import_() -> None:
    """Import records kept outside the system: scan logs (paper check-in books, device exports),
    contact logs (case interviews, proximity devices)."""


@import_.command("scans")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--place-radius-m", type=click.FloatRange(min=0, min_open=True), default=100.0,
              show_default=True, help="A row's latitude/longitude names the nearest place within this distance.")
@click.option("--dry-run", is_flag=True, help="Check the file and report its errors; publish nothing.")
def scans(file: Path, place_radius_m: float, dry_run: bool) -> None:
    """Publish the scans of the CSV scan log FILE to Kafka.

    Columns: citizen_id; place_code, or latitude and longitude; time, or date when only the
    day is known; direction (optional, default in). Good rows are published, bad ones reported
    as "line N: column: message". Importing the same file again adds nothing. Exits 1 if any
    row failed or any scan was not acknowledged by Kafka.
    """
    from datetime import datetime, timezone

    from ingest.producer import EventPublisher
    from ingest.scanlog import UnreadableScanLog
    from streams.topics import SCANS
    from webapp.scanlog_import import publish, read_scan_log, registered_places

    current = settings()
    with registry(current):
        places = registered_places()
    try:
        report = read_scan_log(file.read_bytes(), places=places, allowed_places=None, now=datetime.now(timezone.utc),
                               retention=current.retention, radius_m=place_radius_m)
    except UnreadableScanLog as exc:
        raise click.ClickException(f"{file}: {bilingual(exc.message)}") from exc

    # Reported before publishing, which may wait for Kafka: the errors are known now.
    for error in report.errors:
        click.echo(f"line {error.line}: {error.field}: {bilingual(error.message)}", err=True)
    days = sum(scan.precision == "day" for scan in report.scans)
    click.echo(f"{file}: {len(report.scans)} scan(s) read ({days} for a whole day), "
               f"{report.bad_rows} row(s) with errors"
               + (f", {report.duplicates} repeated row(s) counted once" if report.duplicates else ""))
    if dry_run or not report.scans:
        click.echo("nothing published" + (" (dry run)" if dry_run else ""))
        sys.exit(0 if report.ok else 1)

    publisher = EventPublisher(current.kafka_servers)
    try:
        result = publish(report, publisher)
    finally:
        publisher.close()
    click.echo(f"kafka: {result.accepted} of {len(report.scans)} scan(s) accepted on {SCANS}")
    if result.not_accepted:
        click.echo(f"kafka: {result.not_accepted} scan(s) NOT accepted ({result.reason}); import the file "
                   "again once Kafka is reachable: scans already accepted are not duplicated", err=True)
    sys.exit(0 if result.ok else 1)




@import_.command("contacts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report its errors; store nothing.")
def contacts(file: Path, dry_run: bool) -> None:
    """Store the contacts of the CSV contact log FILE in the warehouse.

    Contacts named in case interviews or recorded by proximity devices. Columns: citizen_a,
    citizen_b; start; end, or duration_minutes (at most 24 hours); setting (household,
    workplace, school, healthcare, transport, social, other); source (interview, device,
    other); place_code (optional); note (optional, never stored). Good rows are stored, bad
    ones reported as "line N: column: message". Importing the same file again adds nothing.
    Exits 1 if any row failed or the warehouse could not store them.

    The contacts go straight to the warehouse, not through Kafka: they are a record made
    offline, not stream events, and nothing in the stream derives anything from them. So with
    the embedded warehouse (chdb://, one process at a time) stop `truyvet run` first; a
    ClickHouse server takes them while the system runs.
    """
    from datetime import datetime, timezone

    from ingest.contactlog import UnreadableContactLog, parse_contact_log
    from warehouse.errors import WarehouseError
    from warehouse.imported import store_imported_contacts
    from webapp.scanlog_import import registered_places

    current = settings()
    with registry(current):
        places = {code for code, _, _ in registered_places()}
    try:
        report = parse_contact_log(file.read_bytes(), now=datetime.now(timezone.utc),
                                   retention=current.retention, known_places=places)
    except UnreadableContactLog as exc:
        raise click.ClickException(f"{file}: {bilingual(exc.message)}") from exc

    for error in report.errors:
        click.echo(f"line {error.line}: {error.field}: {bilingual(error.message)}", err=True)
    click.echo(f"{file}: {len(report.contacts)} contact(s) read, {report.bad_rows} row(s) with errors"
               + (f", {report.duplicates} repeated row(s) counted once" if report.duplicates else ""))
    if dry_run or not report.contacts:
        click.echo("nothing stored" + (" (dry run)" if dry_run else ""))
        sys.exit(0 if report.ok else 1)

    with open_warehouse(current, "nothing was stored") as warehouse:
        try:
            result = store_imported_contacts(warehouse, report.contacts)
        except WarehouseError as exc:
            raise click.ClickException(f"{exc}; import the file again once fixed: nothing is stored twice") from exc
    click.echo(f"warehouse: {result.added} added, {result.updated} updated (another place), "
               f"{result.unchanged} already stored")
    sys.exit(0 if report.ok else 1)
