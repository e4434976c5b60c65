"""Exposure alerts in the warehouse: the sink's insert, a ward's alerts for its health station,
and one alert of a ward (before the station records what it did about it).

The table (``warehouse/migrations/0006_exposure_alerts.sql``) is ordered by ward and the time
an alert was issued, so a ward's alerts over a period are one range of its key. Every value is
bound server-side; only constants are formatted into the query.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.records import ExposureAlert
from warehouse.errors import TooMuchToRead, driver_errors

ALERT_COLUMNS: tuple[str, ...] = tuple(ExposureAlert._options.fields)
# The table's ward_code column is a UInt32: anything above is no ward.
MAX_WARD_CODE = 2**32 - 1
# One ward's alerts over a month fit many times over; more is a window too wide for one answer.
MAX_ALERTS_READ = 100_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

# FINAL collapses copies of an alert (a redelivery, a replay); LIMIT 1 BY keeps one row per
# alert even if two copies ever carried different issue times.
_ALERTS_OF_WARD = f"""
SELECT {", ".join(ALERT_COLUMNS)}
FROM exposure_alerts FINAL
WHERE ward_code = {{ward_code:UInt32}}
  AND alerted_at >= fromUnixTimestamp64Milli({{since_ms:Int64}}, 'UTC')
  AND alerted_at < fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
ORDER BY alerted_at DESC, event_id
LIMIT 1 BY event_id
LIMIT {{limit:UInt32}}
"""

_ALERT_IN_WARD = f"""
SELECT {", ".join(ALERT_COLUMNS)}
FROM exposure_alerts FINAL
WHERE ward_code = {{ward_code:UInt32}} AND event_id = {{event_id:String}}
ORDER BY alerted_at DESC
LIMIT 1
"""


def write_alerts(client: Client, alerts: Sequence[ExposureAlert]) -> int:
    """Insert a batch of exposure alerts in one round trip; return the rows sent.

    A redelivered alert collapses with the one stored. An alert not at a place is stored with
    an empty ``place_id``.
    """
    if not alerts:
        return 0
    rows = [[_column_value(name, getattr(alert, name)) for name in ALERT_COLUMNS] for alert in alerts]
    with driver_errors(f"inserting {len(rows)} rows into exposure_alerts"):
        client.insert("exposure_alerts", rows, column_names=list(ALERT_COLUMNS))
    return len(rows)


def alerts_of_ward(client: Client, ward_code: int, since: datetime, until: datetime) -> list[ExposureAlert]:
    """The alerts for people living in ``ward_code`` issued in [since, until), newest first.

    Ward 0 holds the alerts of contacts the registry does not know. More than MAX_ALERTS_READ
    alerts is refused (TooMuchToRead): ask for a shorter window.
    """
    for name, moment in (("since", since), ("until", until)):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    _check_ward(ward_code)
    parameters = {"ward_code": ward_code, "since_ms": _ms(since), "until_ms": _ms(until),
                  "limit": MAX_ALERTS_READ + 1}
    with driver_errors(f"reading the alerts of ward {ward_code}"):
        result = client.query(_ALERTS_OF_WARD, parameters=parameters, tz_mode="aware")
    if len(result.result_rows) > MAX_ALERTS_READ:
        raise TooMuchToRead(f"more than {MAX_ALERTS_READ} alerts for ward {ward_code}: ask for a shorter window")
    return [_alert(dict(zip(result.column_names, row))) for row in result.result_rows]


def alert_in_ward(client: Client, ward_code: int, event_id: str) -> ExposureAlert | None:
    """The alert ``event_id`` if it is one for a person living in ``ward_code``; None otherwise."""
    _check_ward(ward_code)
    with driver_errors(f"reading an alert of ward {ward_code}"):
        result = client.query(_ALERT_IN_WARD, parameters={"ward_code": ward_code, "event_id": event_id},
                              tz_mode="aware")
    return _alert(dict(zip(result.column_names, result.result_rows[0]))) if result.result_rows else None


def _check_ward(ward_code: int) -> None:
    if isinstance(ward_code, bool) or not isinstance(ward_code, int) or not 0 <= ward_code <= MAX_WARD_CODE:
        raise ValueError(f"ward_code must be a whole number from 0 to {MAX_WARD_CODE}, got {ward_code!r}")


def _alert(row: dict[str, Any]) -> ExposureAlert:
    return ExposureAlert(**{**row, "place_id": row["place_id"] or None})


def _column_value(name: str, value: Any) -> Any:
    if name == "place_id" and value is None:
        return ""
    return value


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS
