"""Exposure alerts in the real embedded warehouse: stored once, read per ward newest first, kept as movements are."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest

from streams.records import ExposureAlert
from tests.conftest import random_cccd
from tests.test_warehouse.conftest import T0, Reads
from warehouse import alerts
from warehouse.alerts import alerts_of_ward, write_alerts
from warehouse.errors import TooMuchToRead, WarehouseError
from warehouse.migrate import apply_migrations
from warehouse.retention import apply_retention, current_ttls

H = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def migrated(scratch):
    apply_migrations(scratch)
    return scratch


def an_alert(ward_code: int = 26734, alerted_at: datetime = T0, **changes) -> ExposureAlert:
    values = dict(event_id=uuid.uuid4().hex, case_id=uuid.uuid4().hex, case_citizen_id=random_cccd(),
                  contact_citizen_id=random_cccd(), tier=1, first_exposure=alerted_at - 6 * H, place_id="CHO-1",
                  criterion="point_window", source="stream", alerted_at=alerted_at, ward_code=ward_code,
                  province_code=79)
    return ExposureAlert(**{**values, **changes})


def test_an_alert_stored_again_is_one_alert(migrated):
    alert = an_alert()
    write_alerts(migrated, [alert])
    write_alerts(migrated, [alert, alert])

    assert alerts_of_ward(migrated, 26734, T0 - H, T0 + H) == [alert]
    migrated.command("OPTIMIZE TABLE exposure_alerts FINAL")
    assert migrated.query("SELECT count() FROM exposure_alerts").result_rows == [(1,)]


def test_a_wards_alerts_are_its_own_newest_first_in_the_window(migrated):
    mine = [an_alert(alerted_at=T0 + hours * H) for hours in (0, 3, 1)]
    elsewhere = an_alert(ward_code=70, alerted_at=T0 + H)
    too_late = an_alert(alerted_at=T0 + 5 * H)
    unknown = an_alert(ward_code=ExposureAlert.UNKNOWN_WARD, province_code=0, place_id=None, criterion="household",
                       source="imported")
    write_alerts(migrated, [*mine, elsewhere, too_late, unknown])

    found = alerts_of_ward(migrated, 26734, T0, T0 + 4 * H)

    assert [alert.alerted_at for alert in found] == [T0 + 3 * H, T0 + H, T0]
    assert alerts_of_ward(migrated, 0, T0, T0 + H) == [unknown]  # place_id None comes back as None


def test_a_ward_is_read_from_its_own_range_of_the_key(migrated):
    """50,000 alerts in 50 wards: one ward's reads a granule or two, not the table."""
    migrated.command("""
        INSERT INTO exposure_alerts (event_id, case_id, case_citizen_id, contact_citizen_id, tier, first_exposure,
                                     criterion, source, alerted_at, ward_code, province_code)
        SELECT lower(hex(cityHash64(number))), 'case', '079090000001', '0791' || leftPad(toString(number), 8, '0'),
               1, toDateTime64('2026-11-01 00:00:00', 3, 'UTC'), 'point_window', 'stream',
               toDateTime64('2026-11-02 00:00:00', 3, 'UTC') + toIntervalSecond(number), 1000 + number % 50, 79
        FROM numbers(50000)""")
    since = datetime(2026, 11, 1, tzinfo=timezone.utc)
    reads = Reads(migrated)

    assert len(alerts_of_ward(reads, 1007, since, since + 10 * DAY)) == 1000
    assert reads.rows[0] < 2 * 8192 + 1000


def test_the_warehouse_refuses_an_alert_whose_contact_is_no_cccd(migrated):
    with pytest.raises(WarehouseError) as refused:
        write_alerts(migrated, [an_alert(contact_citizen_id="not-a-cccd")])
    assert not refused.value.transient


def test_more_alerts_than_one_answer_carries_are_refused(migrated):
    write_alerts(migrated, [an_alert(alerted_at=T0 + n * H) for n in range(3)])
    with mock.patch.object(alerts, "MAX_ALERTS_READ", 2), pytest.raises(TooMuchToRead):
        alerts_of_ward(migrated, 26734, T0, T0 + DAY)


def test_a_window_needs_aware_times_and_a_ward_a_code(migrated):
    with pytest.raises(ValueError, match="since"):
        alerts_of_ward(migrated, 70, datetime(2026, 11, 28), T0)
    with pytest.raises(ValueError, match="ward_code"):
        alerts_of_ward(migrated, -1, T0, T0 + H)


def test_alerts_are_kept_as_long_as_movements_from_the_first_exposure(migrated):
    apply_retention(migrated, 30)
    assert current_ttls(migrated, ["exposure_alerts"]) == {
        "exposure_alerts": "toDateTime(first_exposure) + toIntervalDay(30)"}
    recent = datetime.now(timezone.utc).replace(microsecond=0) - H
    kept = an_alert(alerted_at=recent)
    long_ago = datetime(2001, 1, 1, tzinfo=timezone.utc)
    write_alerts(migrated, [kept, an_alert(alerted_at=recent, first_exposure=long_ago)])
    migrated.command("OPTIMIZE TABLE exposure_alerts FINAL")

    assert alerts_of_ward(migrated, 26734, recent - H, recent + H) == [kept]
