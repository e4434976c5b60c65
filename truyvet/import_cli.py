"""``truyvet import``: bring records kept outside the system (scan logs) into it.

Attached to the main command with ``main.add_command(import_)``. Like the rest of the CLI it
imports what a command runs only when the command runs, so ``--help`` stays fast. The rules
(which rows count, how Kafka's answer is counted) are :mod:`webapp.scanlog_import`'s, shared
with the officers' upload page.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from truyvet.cliapp import bilingual, registry, settings


@click.group("import")
def import_() -> None:
    """Import records kept outside the system: scan logs (paper check-in books, device exports)."""


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


