"""Field-by-field validation of submitted scans."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ingest.errors import InvalidInput
from ingest.scans import parse_scan

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
VALID = {"citizen_id": "001090000001", "place_id": "CP-HN-01", "ts": "2026-11-28T15:30:00+07:00", "direction": "in"}


def errors_for(**changes) -> dict:
    payload = {**VALID, **changes}
    payload = {k: v for k, v in payload.items() if v is not ...}
    with pytest.raises(InvalidInput) as caught:
        parse_scan(payload, now=NOW)
    return caught.value.errors


def test_valid_scan_becomes_an_event_in_utc_with_a_fresh_id():
    scan = parse_scan(VALID, now=NOW)
    assert scan.ts == datetime(2026, 11, 28, 8, 30, tzinfo=timezone.utc)
    assert (scan.citizen_id, scan.place_id, scan.direction) == ("001090000001", "CP-HN-01", "in")
    assert len(scan.event_id) == 32
    assert parse_scan(VALID, now=NOW).event_id != scan.event_id


def test_client_event_id_is_kept_for_idempotent_retries():
    assert parse_scan({**VALID, "event_id": "station7-000123"}, now=NOW).event_id == "station7-000123"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"citizen_id": "00109000000"}, "citizen_id"),
        ({"citizen_id": "00109000000A"}, "citizen_id"),
        ({"citizen_id": 1090000001}, "citizen_id"),
        ({"citizen_id": ...}, "citizen_id"),
        ({"place_id": ""}, "place_id"),
        ({"place_id": "x" * 65}, "place_id"),
        ({"place_id": "CP 01; DROP TABLE scans"}, "place_id"),
        ({"direction": "sideways"}, "direction"),
        ({"ts": "28/11/2026 08:00"}, "ts"),
        ({"ts": "2026-11-28T08:00:00"}, "ts"),
        ({"ts": "2026-02-30T08:00:00Z"}, "ts"),
        ({"ts": (NOW + timedelta(minutes=6)).isoformat()}, "ts"),
        ({"event_id": "short"}, "event_id"),
        ({"event_id": "has spaces in it"}, "event_id"),
        ({"citizen_name": "Nguyễn Văn A"}, "body"),
    ],
)
def test_each_bad_field_is_named(changes, field):
    assert set(errors_for(**changes)) == {field}


def test_every_error_is_reported_at_once():
    errors = errors_for(citizen_id="1", place_id="", direction="?", ts="later")
    assert set(errors) == {"citizen_id", "place_id", "direction", "ts"}


def test_slightly_fast_device_clock_is_tolerated():
    ahead = (NOW + timedelta(minutes=4)).isoformat()
    assert parse_scan({**VALID, "ts": ahead}, now=NOW).ts == NOW + timedelta(minutes=4)


@pytest.mark.parametrize("payload", [None, [], "scan", 42])
def test_non_object_body_is_rejected(payload):
    with pytest.raises(InvalidInput) as caught:
        parse_scan(payload, now=NOW)
    assert caught.value.messages("en") == {"body": "expected a JSON object"}
    assert caught.value.messages("vi") == {"body": "cần một đối tượng JSON"}


@pytest.mark.parametrize(
    "changes, field",
    [
        # $ matched before a trailing newline and \d took any script's digits: all went to Kafka.
        ({"citizen_id": "001090000001\n"}, "citizen_id"),
        ({"citizen_id": "００１０９００００００１"}, "citizen_id"),
        ({"citizen_id": "٠٠١٠٩٠٠٠٠٠٠١"}, "citizen_id"),
        ({"place_id": "CP-HN-01\n"}, "place_id"),
        ({"event_id": "station7-000123\n"}, "event_id"),
        ({"direction": ["in"]}, "direction"),
        ({"ts": "２０２６-11-28T08:00:00+07:00"}, "ts"),
        ({"ts": 1764316800}, "ts"),
    ],
)
def test_odd_spellings_are_refused_on_their_field(changes, field):
    assert set(errors_for(**changes)) == {field}


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+07:00", "1970-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
def test_a_scan_before_2000_is_refused_as_a_wrong_clock(ts):
    with pytest.raises(InvalidInput) as caught:
        parse_scan({**VALID, "ts": ts}, now=NOW)  # year 0001 used to overflow into a 500
    assert caught.value.messages("en") == {"ts": "is before 2000-01-01; check the device clock"}
    assert caught.value.messages("vi") == {"ts": "nằm trước ngày 01/01/2000; hãy kiểm tra đồng hồ thiết bị"}


def test_the_far_future_is_refused_without_overflowing():
    assert errors_for(ts="9999-12-31T23:00:00-05:00")["ts"].en == "is in the future; check the device clock"


def test_2000_onwards_is_accepted_when_everything_is_kept():
    assert parse_scan({**VALID, "ts": "2000-01-01T00:00:00Z"}, now=NOW).ts == datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert parse_scan({**VALID, "ts": "2000-01-01T00:00:00Z"}, now=NOW, retention=timedelta(0)).ts.year == 2000


def test_a_scan_older_than_the_retention_period_is_refused():
    retention = timedelta(days=30)
    too_old = (NOW - retention - timedelta(seconds=1)).isoformat()
    with pytest.raises(InvalidInput) as caught:
        parse_scan({**VALID, "ts": too_old}, now=NOW, retention=retention)
    assert caught.value.messages("en") == {"ts": "is older than the 30-day retention period: it would not be kept"}
    assert caught.value.messages("vi") == {"ts": "đã quá thời hạn lưu trữ 30 ngày nên sẽ không được lưu"}

    oldest_kept = (NOW - retention).isoformat()
    assert parse_scan({**VALID, "ts": oldest_kept}, now=NOW, retention=retention).ts == NOW - retention


def test_unknown_fields_are_named_but_a_flood_of_them_is_not_echoed_back():
    flood = {f"field{i:04d}": 1 for i in range(1000)}
    message = errors_for(**flood)["body"].en
    assert message.startswith("unknown fields: field0000, field0001")
    assert message.endswith("and 990 more")


def test_every_field_of_the_scan_schema_is_accepted():
    scan = parse_scan({**VALID, "event_id": "station7-000123"}, now=NOW)
    assert scan.asdict() == {**VALID, "event_id": "station7-000123", "ts": scan.ts, "precision": "instant"}


def test_a_day_presence_is_the_local_midnight_of_its_date():
    day = parse_scan({**VALID, "ts": "2026-11-27T00:00:00+07:00", "precision": "day"}, now=NOW)
    assert (day.precision, day.ts.isoformat()) == ("day", "2026-11-26T17:00:00+00:00")
    with pytest.raises(InvalidInput) as refused:
        parse_scan({**VALID, "ts": "2026-11-27T08:00:00+07:00", "precision": "day"}, now=NOW)
    assert set(refused.value.errors) == {"ts"}
    with pytest.raises(InvalidInput) as refused:
        parse_scan({**VALID, "precision": "hour"}, now=NOW)
    assert set(refused.value.errors) == {"precision"}
