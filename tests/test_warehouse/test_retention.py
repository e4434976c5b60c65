"""Retention as a TTL on both scan tables, applied by code and only when it differs."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.test_warehouse.conftest import scan
from warehouse.errors import WarehouseError
from warehouse.migrate import apply_migrations
from warehouse.retention import RETENTION_TABLES, apply_retention, current_ttls
from warehouse.writer import write_scans


@pytest.fixture
def migrated(scratch):
    apply_migrations(scratch)
    return scratch


def ttls(client) -> set[str | None]:
    return set(current_ttls(client).values())


def test_retention_is_set_changed_and_removed_only_when_it_differs(migrated):
    assert ttls(migrated) == {None}

    assert apply_retention(migrated, 30) is True
    assert ttls(migrated) == {"toDateTime(ts) + toIntervalDay(30)"}
    assert apply_retention(migrated, 30) is False

    assert apply_retention(migrated, 7) is True
    assert ttls(migrated) == {"toDateTime(ts) + toIntervalDay(7)"}

    assert apply_retention(migrated, 0) is True
    assert ttls(migrated) == {None}
    assert apply_retention(migrated, 0) is False


def test_a_table_left_behind_is_caught_up(migrated):
    apply_retention(migrated, 30)
    migrated.command("ALTER TABLE scans_by_citizen REMOVE TTL")

    assert apply_retention(migrated, 30) is True
    assert current_ttls(migrated) == {table: "toDateTime(ts) + toIntervalDay(30)" for table in RETENTION_TABLES}


def test_expired_scans_leave_both_tables(migrated):
    old = scan("old", "001090000001", ts=datetime(2001, 1, 1, tzinfo=timezone.utc))
    write_scans(migrated, [old, scan("recent", "001090000001")])

    apply_retention(migrated, 30)
    for table in RETENTION_TABLES:
        migrated.command(f"OPTIMIZE TABLE {table} FINAL")

    for table in RETENTION_TABLES:
        assert migrated.query(f"SELECT event_id FROM {table}").result_rows == [("recent",)]


@pytest.mark.parametrize("days", [-1, True, 30.0, "30", "30 DAY) --", None, 10**9])
def test_only_a_whole_number_of_days_reaches_the_ddl(migrated, days):
    with pytest.raises(ValueError, match="whole number of days"):
        apply_retention(migrated, days)
    assert ttls(migrated) == {None}


def test_retention_needs_the_migrated_tables(scratch):
    with pytest.raises(WarehouseError, match="apply the warehouse migrations first") as caught:
        apply_retention(scratch, 30)
    assert caught.value.transient is False
