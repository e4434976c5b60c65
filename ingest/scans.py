"""Checkpoint scans as submitted by officers' devices: field-by-field validation."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ingest.errors import InvalidInput
from streams.records import SCAN_DIRECTIONS, ScanEvent, new_event_id

CITIZEN_ID = re.compile(r"^\d{12}$")
PLACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Device clocks drift; a scan from further in the future than this is a wrong clock, not a scan.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def parse_scan(payload: Any, now: datetime | None = None) -> ScanEvent:
    """Validate a submitted scan and build its event, or raise :class:`InvalidInput`.

    >>> scan = parse_scan({"citizen_id": "001090000001", "place_id": "CP-HN-01",
    ...                    "ts": "2026-11-28T08:00:00+07:00", "direction": "in"})
    >>> scan.ts.isoformat()
    '2026-11-28T01:00:00+00:00'
    """
    if not isinstance(payload, dict):
        raise InvalidInput({"body": "expected a JSON object"})
    now = now or datetime.now(timezone.utc)
    errors: dict[str, str] = {}

    citizen_id = payload.get("citizen_id")
    if not isinstance(citizen_id, str) or not CITIZEN_ID.match(citizen_id):
        errors["citizen_id"] = "must be a 12-digit CCCD number"

    place_id = payload.get("place_id")
    if not isinstance(place_id, str) or not PLACE_ID.match(place_id):
        errors["place_id"] = "must be 1-64 letters, digits or _ . : - (starting with a letter or digit)"

    direction = payload.get("direction")
    if direction not in SCAN_DIRECTIONS:
        errors["direction"] = f"must be one of {', '.join(SCAN_DIRECTIONS)}"

    ts = _parse_time(payload.get("ts"), now, errors)

    event_id = payload.get("event_id")
    if event_id is None:
        event_id = new_event_id()
    elif not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        errors["event_id"] = "must be 8-64 letters, digits, _ or -"

    unknown = sorted(set(payload) - {"citizen_id", "place_id", "direction", "ts", "event_id"})
    if unknown:
        errors["body"] = f"unknown fields: {', '.join(unknown)}"

    if errors:
        raise InvalidInput(errors)
    return ScanEvent(event_id=event_id, citizen_id=citizen_id, place_id=place_id, ts=ts, direction=direction)


def _parse_time(value: Any, now: datetime, errors: dict[str, str]) -> datetime | None:
    if not isinstance(value, str):
        errors["ts"] = "must be an ISO 8601 time with a UTC offset, e.g. 2026-11-28T08:00:00+07:00"
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        errors["ts"] = "must be an ISO 8601 time with a UTC offset, e.g. 2026-11-28T08:00:00+07:00"
        return None
    if ts.tzinfo is None:
        errors["ts"] = "needs a UTC offset (e.g. +07:00): a time without one is ambiguous"
        return None
    ts = ts.astimezone(timezone.utc)
    if ts > now + MAX_CLOCK_SKEW:
        errors["ts"] = "is in the future; check the device clock"
        return None
    return ts
