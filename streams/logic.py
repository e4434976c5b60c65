"""Pure stream logic: lists in, lists out, no Kafka and no I/O."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from streams.errors import UndecodableEvent
from streams.records import (MAX_CLOCK_SKEW, SCAN_DIRECTIONS, SCAN_FIELDS, SCAN_PRECISIONS, DeadLetter,
                             ScanEvent)

_SCAN_TYPES = ScanEvent._options.fields
# Fields added to the schema later have defaults: events published before them lack the field.
_SCAN_DEFAULTS = ScanEvent._options.defaults


def decode_scan(payload: bytes) -> ScanEvent:
    """Decode one scan message, raising :class:`UndecodableEvent` with the reason.

    The fields and their types come from :class:`ScanEvent`, the one written schema; a field
    with a default may be absent (an event published before the field existed) and then takes it.

    >>> scan = decode_scan(b'{"event_id":"e1","citizen_id":"001","place_id":"p",'
    ...                    b'"ts":"2026-01-01T08:00:00Z","direction":"in"}')
    >>> scan.place_id, scan.precision
    ('p', 'instant')
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UndecodableEvent(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableEvent("not a JSON object")
    values = {}
    for field in SCAN_FIELDS:
        if field not in data and field in _SCAN_DEFAULTS:
            values[field] = _SCAN_DEFAULTS[field]
        elif _SCAN_TYPES[field] is datetime:
            values[field] = _aware_time(field, data.get(field))
        elif not isinstance(data.get(field), str) or not data[field]:
            raise UndecodableEvent(f"{field} is missing or not a string")
        else:
            values[field] = data[field]
    if values["direction"] not in SCAN_DIRECTIONS:
        raise UndecodableEvent(f"unknown direction {values['direction']!r}")
    if values["precision"] not in SCAN_PRECISIONS:
        raise UndecodableEvent(f"unknown precision {values['precision']!r}")
    return ScanEvent(**values)


def refusal_reason(scan: ScanEvent, now: datetime, retention: timedelta | None) -> str | None:
    """Why a decoded scan cannot be stored (a :class:`DeadLetter` reason code), or None.

    An event already past retention is refused with a reason, never accepted and then dropped
    by the warehouse's TTL: accepted means stored.

    >>> now = datetime(2026, 11, 28, tzinfo=timezone.utc)
    >>> old = ScanEvent(event_id="e", citizen_id="c", place_id="p", direction="in",
    ...                 ts=datetime(2021, 7, 1, tzinfo=timezone.utc))
    >>> refusal_reason(old, now, timedelta(days=30)), refusal_reason(old, now, None)
    ('past_retention', None)
    """
    if scan.ts > now + MAX_CLOCK_SKEW:
        return DeadLetter.IN_FUTURE
    if retention is not None and scan.ts < now - retention:
        return DeadLetter.PAST_RETENTION
    return None


def unique_scans(events: list[ScanEvent]) -> list[ScanEvent]:
    """Drop redelivered copies (same id, same content), keeping arrival order.

    A second event with the same id and other content is kept: the warehouse keeps it apart
    rather than letting it rewrite what was stored.

    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> scans = [ScanEvent(event_id=i, citizen_id="c", place_id=p, ts=t, direction="in")
    ...          for i, p in (("a", "P1"), ("b", "P1"), ("a", "P1"), ("a", "P2"))]
    >>> [(s.event_id, s.place_id) for s in unique_scans(scans)]
    [('a', 'P1'), ('b', 'P1'), ('a', 'P2')]
    """
    return list({_content(event): event for event in events}.values())


def _content(scan: ScanEvent) -> tuple:
    return tuple(getattr(scan, field) for field in SCAN_FIELDS)


def _aware_time(field: str, value: object) -> datetime:
    try:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        ts = None
    if ts is None:
        raise UndecodableEvent(f"{field} is not an ISO 8601 time: {value!r}")
    if ts.tzinfo is None:
        raise UndecodableEvent(f"{field} has no time zone")
    try:
        return ts.astimezone(timezone.utc)
    except OverflowError as exc:  # year 1 east of UTC, year 9999 west of it
        raise UndecodableEvent(f"{field} is outside the representable range: {value!r}") from exc
