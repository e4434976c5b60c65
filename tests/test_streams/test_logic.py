"""Decoding scans off the topic: what goes to the sink and what to the dead-letter topic."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from streams.errors import UndecodableEvent
from streams.logic import decode_scan, unique_by_event_id
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


def test_redelivered_events_are_kept_once_in_arrival_order():
    events = [scan("a"), scan("b"), scan("a", place_id="P2"), scan("c")]
    kept = unique_by_event_id(events)
    assert [e.event_id for e in kept] == ["a", "b", "c"]
    assert kept[0].place_id == "P1"
