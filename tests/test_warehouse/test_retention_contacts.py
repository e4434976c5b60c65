"""Retention covers what the stream derives from scans: contacts, crowds and rejections."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.test_warehouse.conftest import crowd, edge, pair, random_place, rejection
from warehouse.migrate import apply_migrations
from warehouse.retention import KEPT_FROM, apply_retention, current_ttls
from warehouse.writer import write_contacts, write_crowd_exposures, write_rejections

LONG_AGO = datetime(2001, 1, 1, 8, tzinfo=timezone.utc)
DERIVED = {"contacts": "last_together", "contacts_by_citizen": "last_together",
           "crowd_exposures": "window_end", "rejections": "occurred_at"}


@pytest.fixture
def migrated(scratch):
    apply_migrations(scratch)
    return scratch


def test_every_derived_table_follows_the_setting_from_its_own_time(migrated):
    assert apply_retention(migrated, 30) is True
    assert {table: ttl for table, ttl in current_ttls(migrated, KEPT_FROM).items() if table in DERIVED} == {
        table: f"toDateTime({column}) + toIntervalDay(30)" for table, column in DERIVED.items()}
    assert apply_retention(migrated, 30) is False

    assert apply_retention(migrated, 0) is True
    assert set(current_ttls(migrated, KEPT_FROM).values()) == {None}


def test_a_derived_table_left_behind_is_caught_up(migrated):
    apply_retention(migrated, 14)
    migrated.command("ALTER TABLE contacts_by_citizen REMOVE TTL")

    assert apply_retention(migrated, 14) is True
    assert current_ttls(migrated, ["contacts_by_citizen"]) == {
        "contacts_by_citizen": "toDateTime(last_together) + toIntervalDay(14)"}


def test_expired_edges_crowds_and_rejections_leave_their_tables(migrated):
    place, (a, b), (c, d) = random_place(), pair(), pair()
    recent = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    write_contacts(migrated, [
        edge(place, (a, b), window_start=LONG_AGO, first_together=LONG_AGO, last_together=LONG_AGO + timedelta(hours=1)),
        edge(place, (c, d), window_start=recent, first_together=recent, last_together=recent + timedelta(minutes=20)),
    ])
    write_crowd_exposures(migrated, [crowd(place, window_start=LONG_AGO, window_end=LONG_AGO + timedelta(hours=1)),
                                     crowd(place, window_start=recent, window_end=recent + timedelta(hours=1))])
    write_rejections(migrated, [rejection(occurred_at=LONG_AGO), rejection(occurred_at=recent, citizen_id="kept")])

    apply_retention(migrated, 30)
    for table in DERIVED:
        migrated.command(f"OPTIMIZE TABLE {table} FINAL")

    assert migrated.query("SELECT citizen_a FROM contacts").result_rows == [(c,)]
    assert sorted(migrated.query("SELECT citizen_id FROM contacts_by_citizen").result_rows) == sorted([(c,), (d,)])
    assert migrated.query("SELECT window_start FROM crowd_exposures", tz_mode="aware").result_rows == [(recent,)]
    assert migrated.query("SELECT citizen_id FROM rejections").result_rows == [("kept",)]
