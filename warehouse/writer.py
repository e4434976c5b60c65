"""Batched inserts into the warehouse; the columns are the scan schema's fields."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from clickhouse_connect.driver.client import Client

from streams.records import SCAN_FIELDS
from warehouse.errors import WarehouseError, driver_errors


def write_scans(client: Client, scans: Sequence[object]) -> int:
    """Insert a batch of scans in one round trip; return the number of rows sent.

    ``scans`` are objects with the attributes named in ``SCAN_FIELDS`` (``ScanEvent`` records).
    A row of the wrong types raises a permanent WarehouseError naming its event id, before
    anything is sent: the driver would otherwise fail deep inside with a bare ValueError.
    """
    if not scans:
        return 0
    rows = [_row(scan) for scan in scans]
    with driver_errors(f"inserting {len(rows)} scans"):
        client.insert("scans", rows, column_names=SCAN_FIELDS)
    return len(rows)


def _row(scan: object) -> list:
    row = [getattr(scan, field) for field in SCAN_FIELDS]
    for field, value in zip(SCAN_FIELDS, row):
        expected = datetime if field == "ts" else str
        if not isinstance(value, expected):
            raise WarehouseError(
                f"scan {getattr(scan, 'event_id', '?')!r}: {field} is a {type(value).__name__}, "
                f"not a {expected.__name__}",
                transient=False,
            )
    return row
