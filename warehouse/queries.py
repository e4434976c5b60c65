"""Read queries over movement data. Every value is bound server-side ({name:Type})."""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.records import SCAN_FIELDS
from warehouse.errors import InvalidCursor, driver_errors

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Generous for real positions (a 32-character event id and a 64-character place make 212;
# event ids up to ~630 ASCII characters fit), small enough that a cursor carries no payload.
MAX_CURSOR_LENGTH = 1024
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]+")
_CURSOR_KEYS = {"t": int, "e": str, "p": str, "d": str, "r": str}
# Cursors given out before scans had a precision lack "r"; every scan then was an instant.
_OPTIONAL_CURSOR_KEYS = {"r": "instant"}
# DateTime64(3) as ClickHouse can hold it: 1900-01-01 to 2299-12-31, in ms since the epoch.
_MIN_MS, _MAX_MS = -2_208_988_800_000, 10_413_791_999_999
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

# Newest first, then the rest of scans_by_citizen's sorting key: rows kept apart (same event
# id, different content) still have a strict order, so a cursor never skips nor repeats one.
_PAGE_OF_SCANS = """
SELECT {columns}
FROM scans_by_citizen FINAL
WHERE citizen_id = {{citizen_id:String}}{before}
ORDER BY ts DESC, event_id DESC, place_id DESC, direction DESC, precision DESC
LIMIT {{limit:UInt32}}
"""
# The plain ts bound narrows the primary-key range; the tuple is the exact keyset position.
_BEFORE = """
  AND ts <= fromUnixTimestamp64Milli({before_ms:Int64}, 'UTC')
  AND (ts, event_id, place_id, direction, precision)
      < (fromUnixTimestamp64Milli({before_ms:Int64}, 'UTC'), {before_event_id:String},
         {before_place_id:String}, {before_direction:String}, {before_precision:String})"""
# Only constants are formatted in: the column list and the keyset condition. Values are bound.
FIRST_PAGE = _PAGE_OF_SCANS.format(columns=", ".join(SCAN_FIELDS), before="")
NEXT_PAGE = _PAGE_OF_SCANS.format(columns=", ".join(SCAN_FIELDS), before=_BEFORE)


@dataclass(frozen=True)
class ScanCursor:
    """A position in one person's scans, newest first: the page continues with older rows.

    ``encode()`` gives an opaque URL-safe string for HTTP clients; ``decode()`` reads it back.

    >>> cursor = ScanCursor(datetime(2026, 11, 28, 8, 0, 1, 234000, tzinfo=timezone.utc), "e1", "P1", "in")
    >>> ScanCursor.decode(cursor.encode()) == cursor
    True
    """

    ts: datetime
    event_id: str
    place_id: str
    direction: str
    precision: str = "instant"

    @classmethod
    def at(cls, scan: dict[str, Any]) -> ScanCursor:
        """The position of a scan as :func:`scans_of_citizen` returns it."""
        return cls(scan["ts"], scan["event_id"], scan["place_id"], scan["direction"], scan["precision"])

    @property
    def ts_ms(self) -> int:
        """The timestamp in ms since the epoch: the warehouse keeps ms, so nothing is lost."""
        ts = self.ts if self.ts.tzinfo else self.ts.replace(tzinfo=timezone.utc)
        return (ts - _EPOCH) // _MS

    def encode(self) -> str:
        """An opaque, URL-safe string (base64 of a small JSON, without padding)."""
        payload = {"t": self.ts_ms, "e": self.event_id, "p": self.place_id, "d": self.direction,
                   "r": self.precision}
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: object) -> ScanCursor:
        """Read a cursor made by :meth:`encode`; anything else raises InvalidCursor.

        >>> ScanCursor.decode("not a cursor")
        Traceback (most recent call last):
        ...
        warehouse.errors.InvalidCursor: malformed paging cursor
        """
        if not isinstance(text, str) or len(text) > MAX_CURSOR_LENGTH or not _CURSOR_TEXT.fullmatch(text):
            raise InvalidCursor("malformed paging cursor")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            payload = json.loads(raw.decode("ascii"))
        # UnicodeDecodeError and JSON errors are ValueErrors; deep nesting exhausts recursion.
        except (binascii.Error, ValueError, RecursionError) as exc:
            raise InvalidCursor("malformed paging cursor") from exc
        if isinstance(payload, dict):
            payload = {**_OPTIONAL_CURSOR_KEYS, **payload}
        if not isinstance(payload, dict) or payload.keys() != _CURSOR_KEYS.keys():
            raise InvalidCursor("malformed paging cursor")
        for key, kind in _CURSOR_KEYS.items():
            # bool is an int to Python, never to a cursor
            if type(payload[key]) is not kind:
                raise InvalidCursor("malformed paging cursor")
        if not _MIN_MS <= payload["t"] <= _MAX_MS:
            raise InvalidCursor("paging cursor out of range")
        return cls(_EPOCH + payload["t"] * _MS, payload["e"], payload["p"], payload["d"], payload["r"])


@dataclass(frozen=True)
class ScanPage:
    """One page of a person's scans, newest first; ``next`` is None on the last page."""

    scans: list[dict[str, Any]]
    next: ScanCursor | None


def scans_of_citizen(
    client: Client, citizen_id: str, limit: int = DEFAULT_PAGE_SIZE, before: ScanCursor | None = None
) -> ScanPage:
    """One person's scans, newest first, ``limit`` per page, older than ``before`` if given.

    Each scan comes once however often it was delivered; two events with the same id and
    different content both come back. Scans are dicts keyed by ``SCAN_FIELDS``, with ``ts`` a
    timezone-aware UTC datetime.
    """
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got {limit!r}")
    # One row more than asked says whether there is a next page without counting.
    parameters: dict[str, Any] = {"citizen_id": citizen_id, "limit": limit + 1}
    if before is not None:
        parameters.update(before_ms=before.ts_ms, before_event_id=before.event_id,
                          before_place_id=before.place_id, before_direction=before.direction,
                          before_precision=before.precision)
    with driver_errors("reading a citizen's scans"):
        result = client.query(FIRST_PAGE if before is None else NEXT_PAGE, parameters=parameters, tz_mode="aware")
    scans = [dict(zip(result.column_names, row)) for row in result.result_rows]
    if len(scans) <= limit:
        return ScanPage(scans, None)
    return ScanPage(scans[:limit], ScanCursor.at(scans[limit - 1]))
