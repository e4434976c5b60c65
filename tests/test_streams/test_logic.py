"""Decoding scans off the topic: what goes to the sink and what to the dead-letter topic."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from streams.errors import UndecodableEvent
from streams.logic import decode_scan, refusal_reason, unique_events
from streams.records import ScanEvent

TS = datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc)


def scan(event_id: str = "e1", **changes) -> ScanEvent:
    fields = dict(event_id=event_id, citizen_id="001090000001", place_id="P1", ts=TS, direction="in")
    return ScanEvent(**{**fields, **changes})


def test_what_the_web_app_publishes_decodes_to_the_same_scan():
    original = scan()
    assert decode_scan(original.dumps()) == original


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"event_id": "e"}).encode(), "citizen_id is missing"),
        (json.dumps({**json.loads(scan().dumps()), "direction": "up"}).encode(), "unknown direction"),
        (json.dumps({**json.loads(scan().dumps()), "ts": "soon"}).encode(), "ts is not an ISO 8601"),
        (json.dumps({**json.loads(scan().dumps()), "ts": "2026-11-28T08:00:00"}).encode(), "no time zone"),
    ],
)
def test_undecodable_payloads_say_why(payload, reason):
    with pytest.raises(UndecodableEvent, match=reason):
        decode_scan(payload)


def test_a_scan_published_before_precision_existed_is_an_instant():
    payload = json.loads(scan().dumps())
    del payload["precision"]
    assert decode_scan(json.dumps(payload).encode()) == scan()


def test_a_day_record_decodes_with_its_precision():
    day = scan(ts=datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc), precision="day")
    assert decode_scan(day.dumps()) == day


@pytest.mark.parametrize("precision, reason", [
    ("week", "unknown precision"),
    (None, "precision is missing or not a string"),
    ("", "precision is missing or not a string"),
    (1, "precision is missing or not a string"),
])
def test_a_precision_given_must_be_a_known_one(precision, reason):
    payload = {**json.loads(scan().dumps()), "precision": precision}
    with pytest.raises(UndecodableEvent, match=reason):
        decode_scan(json.dumps(payload).encode())


def test_redelivered_copies_are_kept_once_and_other_content_under_the_same_id_kept_apart():
    events = [scan("a"), scan("b"), scan("a"), scan("a", place_id="P2"), scan("c")]
    kept = unique_events(events)
    assert [(e.event_id, e.place_id) for e in kept] == [("a", "P1"), ("b", "P1"), ("a", "P2"), ("c", "P1")]


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+07:00", "9999-12-31T23:59:59-07:00"])
def test_times_outside_what_a_clock_can_hold_are_undecodable_not_a_crash(text):
    with pytest.raises(UndecodableEvent, match="outside the representable range"):
        decode_scan(json.dumps({**json.loads(scan().dumps()), "ts": text}).encode())


@pytest.mark.parametrize("offset, retention, reason", [
    (timedelta(0), timedelta(days=30), None),
    (timedelta(days=-29), timedelta(days=30), None),
    (timedelta(days=-31), timedelta(days=30), "past_retention"),
    (timedelta(days=-3000), None, None),
    (timedelta(minutes=4), timedelta(days=30), None),
    (timedelta(minutes=6), None, "in_future"),
])
def test_refusal_reasons_follow_retention_and_clock_skew(offset, retention, reason):
    assert refusal_reason(scan(ts=TS + offset), TS, retention) == reason
