"""Warehouse fixtures: scratch databases and a million-row table, in the session's chDB.

chDB opens one directory per process, so every client here is another client on the
session warehouse's directory, pointed at its own database.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from clickhouse_connect.driver.client import Client

from streams.records import ContactEdge, CrowdExposure, Rejection, ScanEvent, VerifiedScan
from tests.conftest import random_cccd
from warehouse.client import connect
from warehouse.migrate import apply_migrations

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)
BIG_ROWS = 1_000_000
BIG_CITIZENS = 20_000  # 50 scans each
BIG_PLACES = 5_000
BIG_MONTHS = 3


def scan(event_id: str, citizen_id: str, minutes: float = 0, place_id: str = "P1",
         direction: str = "in", ts: datetime | None = None, precision: str = "instant") -> ScanEvent:
    """A scan ``minutes`` after T0 (or at ``ts``)."""
    return ScanEvent(event_id=event_id, citizen_id=citizen_id, place_id=place_id,
                     ts=ts or T0 + timedelta(minutes=minutes), direction=direction, precision=precision)


def verified_scan(event_id: str, citizen_id: str, registered: bool = True, **changes) -> VerifiedScan:
    """A scan that passed verification; ``changes`` as for :func:`scan`."""
    plain = scan(event_id, citizen_id, **changes)
    return VerifiedScan(**plain.asdict(), registered=registered)


class Reads:
    """A client that remembers how many rows each query read (ClickHouse's own count)."""

    def __init__(self, client) -> None:
        self.client, self.rows = client, []

    def query(self, *args, **kwargs):
        result = self.client.query(*args, **kwargs)
        self.rows.append(int(result.summary["read_rows"]))
        return result


def random_place() -> str:
    """A place id no other test uses (tests share the warehouse)."""
    return f"PL-{uuid.uuid4().hex[:12]}"


def pair() -> tuple[str, str]:
    """Two fresh citizens in an edge's order (citizen_a < citizen_b)."""
    while True:
        a, b = sorted((random_cccd(), random_cccd()))
        if a != b:
            return a, b


def edge(place_id: str, citizens: tuple[str, str], minutes: float = 0, revision: int = 1,
         retracted: bool = False, **changes) -> ContactEdge:
    """An edge first together ``minutes`` after T0 for 20 minutes; its window is T0's hour."""
    first = T0 + timedelta(minutes=minutes)
    values = dict(event_id=uuid.uuid4().hex, citizen_a=citizens[0], citizen_b=citizens[1], place_id=place_id,
                  rule_version="truyvet-default-1", window_start=first.replace(minute=0, second=0, microsecond=0),
                  criterion=ContactEdge.INTERVAL_OVERLAP, first_together=first,
                  last_together=first + timedelta(minutes=20), overlap_minutes=20.0, revision=revision,
                  retracted=retracted)
    return ContactEdge(**{**values, **changes})


def crowd(place_id: str, hours: int = 0, head_count: int = 250, revision: int = 1, retracted: bool = False,
          **changes) -> CrowdExposure:
    """A crowded hour at ``place_id``, ``hours`` after T0's."""
    start = T0.replace(minute=0) + timedelta(hours=hours)
    values = dict(event_id=uuid.uuid4().hex, place_id=place_id, window_start=start,
                  window_end=start + timedelta(hours=1), head_count=head_count, rule_version="truyvet-default-1",
                  revision=revision, retracted=retracted)
    return CrowdExposure(**{**values, **changes})


def rejection(**changes) -> Rejection:
    """A scan refused for an impossible identity."""
    values = dict(event_id=uuid.uuid4().hex, source=Rejection.SCAN, citizen_id="079-not-a-cccd", occurred_at=T0,
                  reason="format", detail="not 12 digits")
    return Rejection(**{**values, **changes})


def big_citizen(n: int) -> str:
    """The n-th of the million-row table's citizens."""
    return "0790" + f"{n % BIG_CITIZENS:08d}"


@pytest.fixture
def scratch(warehouse, warehouse_url):
    """A client on a fresh, empty database of the session warehouse."""
    client = connect(warehouse_url)
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {name}")
    client.database = name
    yield client
    client.command(f"DROP DATABASE {name} SYNC")
    client.close()


@dataclass(frozen=True)
class BigTable:
    client: Client
    insert_seconds: float  # both tables: the view feeds scans_by_citizen in the same insert


@pytest.fixture(scope="session")
def big_table(warehouse, warehouse_url):
    """A migrated database holding a million scans, generated server-side.

    Spread over BIG_CITIZENS people, BIG_PLACES places and BIG_MONTHS months.
    """
    client = connect(warehouse_url)
    client.command("DROP DATABASE IF EXISTS bigtest")
    client.command("CREATE DATABASE bigtest")
    client.database = "bigtest"
    apply_migrations(client)
    started = time.perf_counter()
    client.command(f"""
        INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)
        SELECT lower(hex(cityHash64(number))),
               '0790' || leftPad(toString(number % {BIG_CITIZENS}), 8, '0'),
               'PLACE-' || toString(cityHash64(number, 1) % {BIG_PLACES}),
               toDateTime64('2026-01-01 00:00:00', 3, 'UTC')
                   + toIntervalMillisecond(cityHash64(number, 2) % ({BIG_MONTHS} * 30 * 86400000)),
               ['in', 'out', 'pass', 'turn_back'][1 + number % 4]
        FROM numbers({BIG_ROWS})""")
    yield BigTable(client, time.perf_counter() - started)
    client.command("DROP DATABASE bigtest")
    client.close()
