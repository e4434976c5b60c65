"""Batched inserts into the warehouse."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from clickhouse_connect.driver.client import Client

from warehouse.errors import driver_errors

SCAN_COLUMNS = ("event_id", "citizen_id", "place_id", "ts", "direction")


class ScanRow(Protocol):
    event_id: str
    citizen_id: str
    place_id: str
    ts: datetime
    direction: str


def write_scans(client: Client, scans: Sequence[ScanRow]) -> int:
    """Insert a batch of scans in one round trip; return the number of rows sent."""
    if not scans:
        return 0
    rows = [[getattr(scan, column) for column in SCAN_COLUMNS] for scan in scans]
    with driver_errors(f"inserting {len(rows)} scans"):
        client.insert("scans", rows, column_names=SCAN_COLUMNS)
    return len(rows)
