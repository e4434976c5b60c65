"""Who met whom at one place: the current contact edges and crowd exposures of a window.

The stream publishes revisions of edges and crowd exposures; the warehouse keeps every row until
merges collapse them, so reads use FINAL (the latest revision of each) and then skip retracted
states. The window rules of place-level reads (how long a window may be, how many rows one
answer may carry) are stated here, and :func:`warehouse.presence.presences_at_place` follows them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.records import ContactEdge, CrowdExposure
from warehouse.errors import TooMuchToRead, driver_errors

# A month of one place answers an outbreak investigation; longer windows are split by the caller.
MAX_PLACE_WINDOW = timedelta(days=31)
# A crowded market makes up to 19,900 edges an hour below the crowd threshold; an answer larger
# than this is a window too wide to read in one request, refused rather than cut short.
MAX_ROWS_READ = 100_000
# How long after its window an edge or exposure may still be going on. An edge's window is the
# hour of its first meeting, and a meeting ends when the shorter presence does (a whole-day
# record at the latest, a day after its start) or a point window after it (an hour by default;
# a rule version with a point window over 22 hours needs more here). Rows whose window starts
# earlier than this before ``since`` cannot reach into the window, so the primary key skips them.
MAX_SPAN_AFTER_WINDOW = timedelta(days=2)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

CONTACT_COLUMNS: tuple[str, ...] = tuple(ContactEdge._options.fields)
EXPOSURE_COLUMNS: tuple[str, ...] = tuple(CrowdExposure._options.fields)

# FINAL takes each edge's highest revision before WHERE looks at retracted or at the times, so
# an older revision never shows through a newer one. Only constants are formatted in.
_CONTACTS_AT_PLACE = f"""
SELECT {", ".join(CONTACT_COLUMNS)}
FROM contacts FINAL
WHERE place_id = {{place_id:String}}
  AND window_start >= fromUnixTimestamp64Milli({{earliest_window_ms:Int64}}, 'UTC')
  AND window_start < fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
  AND first_together < fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
  AND last_together >= fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
  AND NOT retracted
ORDER BY first_together, citizen_a, citizen_b, rule_version, window_start
LIMIT {{limit:UInt32}}
"""
_EXPOSURES_AT_PLACE = f"""
SELECT {", ".join(EXPOSURE_COLUMNS)}
FROM crowd_exposures FINAL
WHERE place_id = {{place_id:String}}
  AND window_start >= fromUnixTimestamp64Milli({{earliest_window_ms:Int64}}, 'UTC')
  AND window_start < fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
  AND window_end > fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
  AND NOT retracted
ORDER BY window_start
LIMIT {{limit:UInt32}}
"""


def check_place_window(since: datetime, until: datetime) -> None:
    """Refuse a window that is not [since, until) of aware times, at most MAX_PLACE_WINDOW long.

    >>> t = datetime(2026, 11, 28, tzinfo=timezone.utc)
    >>> check_place_window(t, t + MAX_PLACE_WINDOW)
    >>> check_place_window(t, t)
    Traceback (most recent call last):
    ValueError: since (2026-11-28T00:00:00+00:00) must be before until (2026-11-28T00:00:00+00:00)
    """
    for name, moment in (("since", since), ("until", until)):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if until - since > MAX_PLACE_WINDOW:
        raise ValueError(f"a place-level window may span at most {MAX_PLACE_WINDOW.days} days, "
                         f"got {since.isoformat()} to {until.isoformat()}")


def contacts_at_place(client: Client, place_id: str, since: datetime, until: datetime) -> list[ContactEdge]:
    """The current edges at ``place_id`` whose [first_together, last_together] overlaps [since, until).

    Current: each edge's latest revision, unless that revision retracts it. Ordered by when the
    two were first together.
    """
    rows = _read(client, _CONTACTS_AT_PLACE, place_id, since, until, "contacts")
    return [ContactEdge(**row) for row in rows]


def crowd_exposures_at_place(
    client: Client, place_id: str, since: datetime, until: datetime
) -> list[CrowdExposure]:
    """The current crowd exposures at ``place_id`` whose hour overlaps [since, until), in time order."""
    rows = _read(client, _EXPOSURES_AT_PLACE, place_id, since, until, "crowd exposures")
    return [CrowdExposure(**row) for row in rows]


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, bound as Int64 (the warehouse keeps ms, nothing is lost)."""
    return (moment - _EPOCH) // _MS


def _read(
    client: Client, query: str, place_id: str, since: datetime, until: datetime, what: str
) -> list[dict[str, Any]]:
    check_place_window(since, until)
    parameters = {
        "place_id": place_id,
        "earliest_window_ms": to_ms(since - MAX_SPAN_AFTER_WINDOW),
        "since_ms": to_ms(since),
        "until_ms": to_ms(until),
        # One row more than allowed says the answer is too large without counting.
        "limit": MAX_ROWS_READ + 1,
    }
    with driver_errors(f"reading the {what} at a place"):
        result = client.query(query, parameters=parameters, tz_mode="aware")
    if len(result.result_rows) > MAX_ROWS_READ:
        raise TooMuchToRead(
            f"more than {MAX_ROWS_READ} {what} at {place_id!r} between {since.isoformat()} and "
            f"{until.isoformat()}: ask for a shorter window"
        )
    return [dict(zip(result.column_names, row)) for row in result.result_rows]
