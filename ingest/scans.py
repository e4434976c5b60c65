"""Checkpoint scans as submitted by officers' devices: field-by-field validation."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ingest.errors import InvalidInput, Message
from ingest.fields import NOT_AN_OBJECT
from streams.records import SCAN_DIRECTIONS, ScanEvent, new_event_id

CITIZEN_ID = re.compile(r"^\d{12}$")
PLACE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CCCD_REQUIRED = Message("must be a 12-digit CCCD number", "phải là số CCCD gồm 12 chữ số")
TIME_FORMAT = Message(
    "must be an ISO 8601 time with a UTC offset, e.g. 2026-11-28T08:00:00+07:00",
    "phải là thời điểm ISO 8601 có múi giờ, ví dụ 2026-11-28T08:00:00+07:00",
)
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
        raise InvalidInput({"body": NOT_AN_OBJECT})
    now = now or datetime.now(timezone.utc)
    errors: dict[str, Message] = {}

    citizen_id = payload.get("citizen_id")
    if not isinstance(citizen_id, str) or not CITIZEN_ID.match(citizen_id):
        errors["citizen_id"] = CCCD_REQUIRED

    place_id = payload.get("place_id")
    if not isinstance(place_id, str) or not PLACE_ID.match(place_id):
        errors["place_id"] = Message(
            "must be 1-64 letters, digits or _ . : - (starting with a letter or digit)",
            "phải gồm 1-64 chữ cái, chữ số hoặc _ . : - (bắt đầu bằng chữ cái hoặc chữ số)",
        )

    direction = payload.get("direction")
    if direction not in SCAN_DIRECTIONS:
        errors["direction"] = Message(
            f"must be one of {', '.join(SCAN_DIRECTIONS)}", f"phải là một trong {', '.join(SCAN_DIRECTIONS)}"
        )

    ts = _parse_time(payload.get("ts"), now, errors)

    event_id = payload.get("event_id")
    if event_id is None:
        event_id = new_event_id()
    elif not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        errors["event_id"] = Message(
            "must be 8-64 letters, digits, _ or -", "phải gồm 8-64 chữ cái, chữ số, _ hoặc -"
        )

    unknown = sorted(set(payload) - {"citizen_id", "place_id", "direction", "ts", "event_id"})
    if unknown:
        errors["body"] = Message(f"unknown fields: {', '.join(unknown)}", f"trường không hợp lệ: {', '.join(unknown)}")

    if errors:
        raise InvalidInput(errors)
    return ScanEvent(event_id=event_id, citizen_id=citizen_id, place_id=place_id, ts=ts, direction=direction)


def _parse_time(value: Any, now: datetime, errors: dict[str, Message]) -> datetime | None:
    try:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        ts = None
    if ts is None:
        errors["ts"] = TIME_FORMAT
        return None
    if ts.tzinfo is None:
        errors["ts"] = Message(
            "needs a UTC offset (e.g. +07:00): a time without one is ambiguous",
            "cần có múi giờ (ví dụ +07:00): thời điểm không có múi giờ là mơ hồ",
        )
        return None
    ts = ts.astimezone(timezone.utc)
    if ts > now + MAX_CLOCK_SKEW:
        errors["ts"] = Message("is in the future; check the device clock", "nằm trong tương lai; hãy kiểm tra đồng hồ thiết bị")
        return None
    return ts
