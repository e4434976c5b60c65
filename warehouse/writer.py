"""Batched inserts into the warehouse; each table's columns are its record's fields.

One helper writes every table: the columns come from the record class's schema
(``_options.fields``), so a field added to a record reaches its insert without a list to update.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.records import ContactEdge, CrowdExposure, Rejection, VerifiedScan
from warehouse.errors import WarehouseError, driver_errors

_MISSING = object()


def write_scans(client: Client, scans: Sequence[object]) -> int:
    """Insert a batch of scans in one round trip; return the number of rows sent.

    ``scans`` are ``VerifiedScan`` records, or plain ``ScanEvent`` ones, which are stored as
    registered (they were not checked against the registry: nothing says otherwise).
    A row of the wrong types raises a permanent WarehouseError naming its event id, before
    anything is sent: the driver would otherwise fail deep inside with a bare ValueError.
    """
    return _write(client, "scans", VerifiedScan, scans, "scan")


def write_contacts(client: Client, edges: Sequence[ContactEdge]) -> int:
    """Insert a batch of contact edges (any revision, retractions too); return the rows sent.

    The warehouse keeps each edge's highest revision; a replayed revision adds nothing.
    """
    return _write(client, "contacts", ContactEdge, edges, "contact")


def write_crowd_exposures(client: Client, exposures: Sequence[CrowdExposure]) -> int:
    """Insert a batch of crowd exposures (any revision, retractions too); return the rows sent."""
    return _write(client, "crowd_exposures", CrowdExposure, exposures, "crowd exposure")


def write_rejections(client: Client, rejections: Sequence[Rejection]) -> int:
    """Insert a batch of rejections; a redelivered one (same content) collapses with the first."""
    return _write(client, "rejections", Rejection, rejections, "rejection")


def _write(client: Client, table: str, schema: type, records: Sequence[object], noun: str) -> int:
    if not records:
        return 0
    fields: dict[str, type] = schema._options.fields
    defaults: dict[str, Any] = schema._options.defaults
    rows = [_row(record, fields, defaults, noun) for record in records]
    with driver_errors(f"inserting {len(rows)} rows into {table}"):
        client.insert(table, rows, column_names=list(fields))
    return len(rows)


def _row(record: object, fields: dict[str, type], defaults: dict[str, Any], noun: str) -> list:
    """The record's values in column order, each checked against its field's type.

    A field the record lacks takes the schema's default (a ScanEvent has no ``registered``).
    """
    row = []
    for field, expected in fields.items():
        value = getattr(record, field, defaults.get(field, _MISSING))
        problem = _type_problem(value, expected)
        if problem is not None:
            raise WarehouseError(
                f"{noun} {getattr(record, 'event_id', '?')!r}: {field} {problem}", transient=False
            )
        row.append(value)
    return row


def _type_problem(value: object, expected: type) -> str | None:
    """Why ``value`` cannot go in a column of the field type ``expected``, or None.

    Whole numbers here are revisions (Kafka offsets) and head counts, stored unsigned. A bool is
    an int to Python but not a count, and a float column takes a whole number too.

    >>> _type_problem(True, int), _type_problem(-1, int), _type_problem(3, float)
    ('is of type bool, expected int', 'is negative', None)
    """
    if value is _MISSING:
        return "is missing"
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and value < 0:  # type: ignore[operator]
            return "is negative"
    else:
        ok = isinstance(value, expected)
    return None if ok else f"is of type {type(value).__name__}, expected {expected.__name__}"
