"""``truyvet place``: add, import and list checkpoints and venues.

Attached to the main command with ``main.add_command(place)``. Like the rest of the CLI it
imports the web app only when a command runs, so ``--help`` stays fast.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO

import click

from truyvet.cliapp import bilingual, registry


@click.group()
def place() -> None:
    """Checkpoints (chốt kiểm soát) and venues (địa điểm) where people are scanned or check in."""


@place.command("add")
@click.argument("code")
@click.option("--kind", required=True, help="checkpoint (chốt kiểm soát) or venue (địa điểm).")
@click.option("--name", required=True, help="The name printed on the poster, up to 120 characters.")
@click.option("--province", required=True, help="Province code, one of the 34 (e.g. 1 for Hà Nội).")
@click.option("--ward", default="", help="Ward code, a ward of that province.")
@click.option("--lat", default="", help="Latitude, decimal degrees (with --lon).")
@click.option("--lon", default="", help="Longitude, decimal degrees (with --lat).")
def add(code: str, kind: str, name: str, province: str, ward: str, lat: str, lon: str) -> None:
    """Add the place CODE (letters, digits and _ . : -)."""
    from ingest.errors import InvalidInput
    from webapp import places

    with registry():
        try:
            added = places.add_place(code=code, kind=kind, name=name, province_code=province,
                                     ward_code=ward, latitude=lat, longitude=lon)
        except InvalidInput as exc:
            for field, message in exc.errors.items():
                click.echo(f"{_option(field)}: {bilingual(message)}", err=True)
            raise click.ClickException(f"place {code} not added") from exc
        click.echo(f"added {added.kind} {added.code}: {added.name}")


@place.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--update", is_flag=True,
              help="Update places whose code exists with other values (default: report them, change nothing).")
def import_(file: IO[bytes], update: bool) -> None:
    """Import places from a CSV file (UTF-8, header code,kind,name,province_code[,ward_code,latitude,longitude]).

    Good rows are kept, bad ones reported with their line; importing the same file again
    changes nothing. Exits 1 if any row was not imported.
    """
    from ingest.errors import InvalidInput
    from webapp import places

    with registry():
        try:
            report = places.import_places(file, update=update)
        except InvalidInput as exc:
            raise click.ClickException(f"{file.name}: " + "; ".join(
                bilingual(message) for message in exc.errors.values())) from exc
    for error in report.errors:
        for field, message in error.errors.items():
            click.echo(f"{file.name}:{error.line}: {field}: {bilingual(message)}", err=True)
    click.echo(f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
               f"{len(report.errors)} row(s) with errors")
    if not report.ok:
        sys.exit(1)


@place.command("list")
@click.option("--csv", "as_csv", is_flag=True, help="Print in the import format (to edit and import again).")
def list_(as_csv: bool) -> None:
    """List the places, by code."""
    from webapp import places

    with registry():
        found = places.list_places()
        if as_csv:
            click.echo(places.places_csv(found), nl=False)
            return
        rows = [("CODE", "KIND", "PROVINCE / WARD", "NAME")]
        for item in found:
            ward, province = places.location(item)
            where = f"{item.province_code} {province or '?'}" + (f" / {ward}" if ward else "")
            rows.append((item.code, item.kind + ("" if item.active else " (inactive)"), where, item.name))
    _echo_table(rows)


def _option(field: str) -> str:
    """The command-line name of a place field, so an error points at what was typed."""
    return {"code": "CODE", "province_code": "--province", "ward_code": "--ward",
            "latitude": "--lat", "longitude": "--lon"}.get(field, f"--{field}")


def _echo_table(rows: list[tuple[str, ...]], echo: Callable[[str], None] = click.echo) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        echo("  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]).rstrip())
