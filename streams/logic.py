"""Pure stream logic: lists in, lists out, no Kafka and no I/O."""
from __future__ import annotations

import json
from datetime import datetime

from streams.errors import UndecodableEvent
from streams.records import SCAN_DIRECTIONS, ScanEvent

_SCAN_TEXT_FIELDS = ("event_id", "citizen_id", "place_id", "direction")


def decode_scan(payload: bytes) -> ScanEvent:
    """Decode one scan message, raising :class:`UndecodableEvent` with the reason.

    >>> decode_scan(b'{"event_id":"e1","citizen_id":"001","place_id":"p",'
    ...             b'"ts":"2026-01-01T08:00:00Z","direction":"in"}').place_id
    'p'
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableEvent(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableEvent("not a JSON object")
    for field in _SCAN_TEXT_FIELDS:
        if not isinstance(data.get(field), str) or not data[field]:
            raise UndecodableEvent(f"{field} is missing or not a string")
    if data["direction"] not in SCAN_DIRECTIONS:
        raise UndecodableEvent(f"unknown direction {data['direction']!r}")
    try:
        ts = datetime.fromisoformat(str(data.get("ts")))
    except ValueError as exc:
        raise UndecodableEvent(f"ts is not an ISO 8601 time: {data.get('ts')!r}") from exc
    if ts.tzinfo is None:
        raise UndecodableEvent("ts has no time zone")
    return ScanEvent(**{field: data[field] for field in _SCAN_TEXT_FIELDS}, ts=ts)


def unique_by_event_id(events: list[ScanEvent]) -> list[ScanEvent]:
    """Keep the first event of each id, in order (redelivered duplicates share an id).

    >>> from datetime import timezone
    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> scans = [ScanEvent(event_id=i, citizen_id="c", place_id="p", ts=t, direction="in")
    ...          for i in ("a", "b", "a")]
    >>> [s.event_id for s in unique_by_event_id(scans)]
    ['a', 'b']
    """
    seen: set[str] = set()
    unique = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    return unique
