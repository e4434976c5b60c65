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
