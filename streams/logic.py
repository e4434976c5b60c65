"""Pure stream logic: lists in, lists out, no Kafka and no I/O."""
from __future__ import annotations

import json
import typing
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from streams.errors import UndecodableEvent
from streams.records import (MAX_CLOCK_SKEW, SCAN_DIRECTIONS, SCAN_PRECISIONS, DeadLetter, Event,
                             ScanEvent)

R = TypeVar("R", bound=Event)
S = TypeVar("S", bound=ScanEvent)

def decode_event(payload: bytes, record: type[R]) -> R:
    """Decode one message as ``record``, raising :class:`UndecodableEvent` with the reason.

    >>> decode_event(b'{"event_id":"e1","citizen_id":"001","place_id":"p",'
    ...              b'"ts":"2026-01-01T08:00:00Z","direction":"in"}', ScanEvent).precision
    'instant'
    """
    return record(**values_of(json_object(payload), record))


def json_object(payload: bytes) -> dict:
    """The JSON object a message holds, or :class:`UndecodableEvent` saying why not."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise UndecodableEvent(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UndecodableEvent("not a JSON object")
    return data


def values_of(data: object, record: type[Event]) -> dict:
    """The fields of ``record`` from a JSON object, checked; :class:`UndecodableEvent` names the first wrong one.

    Fields and types come from the record class, the one written schema: a text field must be
    non-empty text, a time an ISO 8601 time with a zone, a number a number; a field with a
    default may be absent (an event published before the field existed) and then takes it.
    """
    if not isinstance(data, dict):
        raise UndecodableEvent(f"not a JSON object for {record.__name__}")
    defaults = record._options.defaults
    values = {}
    for field, kind in record._options.fields.items():
        if field not in data and field in defaults:
            values[field] = defaults[field]
        elif kind is datetime:
            values[field] = _aware_time(field, data.get(field))
        elif not _is_a(data.get(field), kind):
            raise UndecodableEvent(f"{field} is missing or not {_NAMES.get(kind, kind)}")
        else:
            values[field] = data[field]
    return values


def decode_scan(payload: bytes, record: type[S] = ScanEvent) -> S:
    """Decode one scan message (or a verified one), checking its direction and precision too.

    >>> scan = decode_scan(b'{"event_id":"e1","citizen_id":"001","place_id":"p",'
    ...                    b'"ts":"2026-01-01T08:00:00Z","direction":"in"}')
    >>> scan.place_id, scan.precision
    ('p', 'instant')
    """
    scan = decode_event(payload, record)
    if scan.direction not in SCAN_DIRECTIONS:
        raise UndecodableEvent(f"unknown direction {scan.direction!r}")
    if scan.precision not in SCAN_PRECISIONS:
        raise UndecodableEvent(f"unknown precision {scan.precision!r}")
    return scan


_NAMES = {str: "a string", bool: "true or false", int: "a whole number", float: "a number",
          list: "a list"}


def _is_a(value: object, kind: object) -> bool:
    if kind is str:
        return isinstance(value, str) and value != ""
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typing.get_origin(kind) is list:
        return isinstance(value, list)
    if kind == (str | None):
        return value is None or isinstance(value, str)
    return False


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


def unique_events(events: list[R]) -> list[R]:
    """Drop redelivered copies (same id, same content), keeping arrival order.

    A second event with the same id and other content is kept: the warehouse keeps it apart
    rather than letting it rewrite what was stored.

    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> scans = [ScanEvent(event_id=i, citizen_id="c", place_id=p, ts=t, direction="in")
    ...          for i, p in (("a", "P1"), ("b", "P1"), ("a", "P1"), ("a", "P2"))]
    >>> [(s.event_id, s.place_id) for s in unique_events(scans)]
    [('a', 'P1'), ('b', 'P1'), ('a', 'P2')]
    """
    return list({content(event): event for event in events}.values())


def content(event: Event) -> tuple:
    """Everything an event says, as a hashable value: equal content, equal tuple."""
    return tuple(_hashable(getattr(event, field)) for field in event._options.fields)


def _hashable(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


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
