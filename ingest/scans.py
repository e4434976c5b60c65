"""Checkpoint scans as submitted by officers' devices: field-by-field validation."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from typing import Any

from ingest.errors import InvalidInput, Message
from ingest.fields import NOT_AN_OBJECT
from streams.records import VIETNAM_TIME
# The clock bounds are the stream's too: a scan the API accepts is one the sink will store.
from streams.records import (EARLIEST_SCAN, MAX_CLOCK_SKEW, SCAN_DIRECTIONS, SCAN_FIELDS, SCAN_PRECISIONS,
                             ScanEvent, is_citizen_id, new_event_id)

# Matched whole (fullmatch): ``$`` would let a trailing newline into the event.
PLACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
CCCD_REQUIRED = Message("must be a 12-digit CCCD number", "phải là số CCCD gồm 12 chữ số")
TIME_FORMAT = Message(
    "must be an ISO 8601 time with a UTC offset, e.g. 2026-11-28T08:00:00+07:00",
    "phải là thời điểm ISO 8601 có múi giờ, ví dụ 2026-11-28T08:00:00+07:00",
)
_UNKNOWN_FIELDS_SHOWN = 10


def parse_scan(payload: Any, now: datetime | None = None, retention: timedelta | None = None) -> ScanEvent:
    """Validate a submitted scan and build its event, or raise :class:`InvalidInput`.

    ``retention`` is how long the warehouse keeps scans (None or zero: forever); an older scan
    is refused, since it would be accepted and then never kept.

    >>> now = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
    >>> scan = parse_scan({"citizen_id": "001090000001", "place_id": "CP-HN-01",
    ...                    "ts": "2026-11-28T08:00:00+07:00", "direction": "in"}, now=now)
    >>> scan.ts.isoformat()
    '2026-11-28T01:00:00+00:00'
    >>> parse_scan({"citizen_id": "001090000001", "place_id": "CP-HN-01",
    ...             "ts": "2026-10-01T08:00:00+07:00", "direction": "in"},
    ...            now=now, retention=timedelta(days=30))
    Traceback (most recent call last):
    ...
    ingest.errors.InvalidInput: ts: is older than the 30-day retention period: it would not be kept
    """
    if not isinstance(payload, dict):
        raise InvalidInput({"body": NOT_AN_OBJECT})
    now = now or datetime.now(timezone.utc)
    errors: dict[str, Message] = {}

    citizen_id = payload.get("citizen_id")
    if not is_citizen_id(citizen_id):
        errors["citizen_id"] = CCCD_REQUIRED

    place_id = payload.get("place_id")
    if not isinstance(place_id, str) or not PLACE_ID.fullmatch(place_id):
        errors["place_id"] = Message(
            "must be 1-64 letters, digits or _ . : - (starting with a letter or digit)",
            "phải gồm 1-64 chữ cái, chữ số hoặc _ . : - (bắt đầu bằng chữ cái hoặc chữ số)",
        )

    direction = payload.get("direction")
    if not isinstance(direction, str) or direction not in SCAN_DIRECTIONS:
        errors["direction"] = Message(
            f"must be one of {', '.join(SCAN_DIRECTIONS)}", f"phải là một trong {', '.join(SCAN_DIRECTIONS)}"
        )

    ts = _parse_time(payload.get("ts"), now, retention, errors)

    event_id = payload.get("event_id")
    if event_id is None:
        event_id = new_event_id()
    elif not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        errors["event_id"] = Message(
            "must be 8-64 letters, digits, _ or -", "phải gồm 8-64 chữ cái, chữ số, _ hoặc -"
        )

    unknown = sorted(str(name) for name in set(payload) - set(SCAN_FIELDS))
    if unknown:
        # A few names are enough to see the mistake; the whole list could be the whole body.
        shown = ", ".join(name[:64] for name in unknown[:_UNKNOWN_FIELDS_SHOWN])
        more = len(unknown) - _UNKNOWN_FIELDS_SHOWN
        errors["body"] = Message(
            f"unknown fields: {shown}" + (f" and {more} more" if more > 0 else ""),
            f"trường không hợp lệ: {shown}" + (f" và {more} trường khác" if more > 0 else ""),
        )

    precision = payload.get("precision", "instant")
    if not isinstance(precision, str) or precision not in SCAN_PRECISIONS:
        errors["precision"] = Message(f"must be one of {', '.join(SCAN_PRECISIONS)}",
                                      f"phải là một trong {', '.join(SCAN_PRECISIONS)}")
    elif precision == "day" and ts is not None and ts.astimezone(VIETNAM_TIME).time() != time(0):
        # Only the day is known: the presence is the whole local day, stored from its midnight.
        errors["ts"] = Message(
            "with precision day, must be the local midnight of the date, e.g. 2026-11-28T00:00:00+07:00",
            "với precision day, phải là 0 giờ (giờ Việt Nam) của ngày đó, ví dụ 2026-11-28T00:00:00+07:00")

    if errors:
        raise InvalidInput(errors)
    return ScanEvent(event_id=event_id, citizen_id=citizen_id, place_id=place_id, ts=ts, direction=direction,
                     precision=precision)


def _parse_time(
    value: Any, now: datetime, retention: timedelta | None, errors: dict[str, Message]
) -> datetime | None:
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
    problem = time_problem(ts, now, retention)
    if problem is not None:
        errors["ts"] = problem
        return None
    return ts.astimezone(timezone.utc)


def time_problem(ts: datetime, now: datetime, retention: timedelta | None) -> Message | None:
    """Why a scan at the aware time ``ts`` cannot be accepted ``now``, or None.

    The one statement of the rule for every way scans come in (API, stations, scan logs).
    Compared before converting: aware comparisons never overflow, but astimezone() does for
    times near year 1 or 9999. A time before EARLIEST_SCAN is a device whose clock was reset
    (to 0001 or 1970): say so now rather than let the scan be refused later in the stream.

    >>> now = datetime(2026, 11, 28, tzinfo=timezone.utc)
    >>> time_problem(datetime(2026, 10, 1, tzinfo=timezone.utc), now, timedelta(days=30)).en
    'is older than the 30-day retention period: it would not be kept'
    >>> time_problem(datetime(2026, 10, 1, tzinfo=timezone.utc), now, None) is None
    True
    """
    if ts < EARLIEST_SCAN:
        return Message(f"is before {EARLIEST_SCAN:%Y-%m-%d}; check the device clock",
                       f"nằm trước ngày {EARLIEST_SCAN:%d/%m/%Y}; hãy kiểm tra đồng hồ thiết bị")
    if ts > now + MAX_CLOCK_SKEW:
        return Message("is in the future; check the device clock", "nằm trong tương lai; hãy kiểm tra đồng hồ thiết bị")
    if retention and ts < now - retention:
        days = f"{retention / timedelta(days=1):g}"
        return Message(f"is older than the {days}-day retention period: it would not be kept",
                       f"đã quá thời hạn lưu trữ {days} ngày nên sẽ không được lưu")
    return None
