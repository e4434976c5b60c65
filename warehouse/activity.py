"""What ops read of movement data: places gone silent, and rejections by reason over the last hour.

No personal data leaves these queries: place codes, times and counts only. Every value is
bound server-side; only constants are formatted into the query.

A place has gone silent when the time since its last scan is longer than its usual gap between
scans, several times over: a checkpoint scanning every two minutes that has said nothing for
an hour has a broken device, a lost connection or nobody on duty; a village clinic scanning
twice a day has not.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from clickhouse_connect.driver.client import Client

from warehouse.errors import driver_errors

# The days whose scans say what a place's usual gap is.
USUAL_GAP_DAYS = 7
# Silent: more than this many usual gaps since the last scan ...
SILENCE_FACTOR = 3.0
# ... and at least this long, so a place scanning every few seconds is not silent after a minute.
MIN_SILENCE = timedelta(minutes=15)
# Fewer scans than this in the period tell no usual gap.
MIN_SCANS = 10
SILENT_PLACES_LIMIT = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)

# Scans are stored more than once until the warehouse merges their copies: the distinct times
# of a place, sorted, give its gaps. Day-precision records (paper logs) have no time of day.
_SILENT_PLACES = """
SELECT place_id, scans, last_scan_ms, usual_gap_ms, now_ms - last_scan_ms AS silent_ms
FROM (
    SELECT place_id,
           length(times) AS scans,
           arrayMax(times) AS last_scan_ms,
           arrayReduce('quantileExact(0.5)', arrayPopFront(arrayDifference(times))) AS usual_gap_ms,
           {now_ms:Int64} AS now_ms
    FROM (
        SELECT place_id, arraySort(groupUniqArray(toUnixTimestamp64Milli(ts))) AS times
        FROM scans
        WHERE ts >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
          AND ts <= fromUnixTimestamp64Milli({now_ms:Int64}, 'UTC')
          AND precision = 'instant'
        GROUP BY place_id
    )
    WHERE scans >= {min_scans:UInt32}
)
WHERE silent_ms > greatest({factor:Float64} * usual_gap_ms, {min_silence_ms:Float64})
ORDER BY silent_ms / greatest(usual_gap_ms, 1) DESC, place_id
LIMIT {limit:UInt32}
"""

# When the sink stored them (ingested_at), not when the refused event happened: a replay of
# last month's scans refused now is a burst now. The table is small beside scans.
_REJECTIONS_BY_MINUTE = """
SELECT toUnixTimestamp(toStartOfMinute(ingested_at)) AS minute, reason, uniqExact(event_id, source) AS rejected
FROM rejections
WHERE ingested_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
  AND ingested_at < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
GROUP BY minute, reason
ORDER BY minute, reason
"""


@dataclass(frozen=True)
class SilentPlace:
    """A place whose last scan is longer ago than its usual gap allows."""

    place_id: str
    scans: int  # in the period the usual gap was measured over
    last_scan: datetime
    usual_gap: timedelta  # the median time between two scans
    silent_for: timedelta

    @property
    def gaps_missed(self) -> float:
        """How many usual gaps the silence has lasted."""
        return self.silent_for / max(self.usual_gap, _MS)


def silent_places(client: Client, now: datetime, *, days: int = USUAL_GAP_DAYS, factor: float = SILENCE_FACTOR,
                  min_silence: timedelta = MIN_SILENCE, min_scans: int = MIN_SCANS,
                  limit: int = SILENT_PLACES_LIMIT) -> list[SilentPlace]:
    """The places silent at ``now`` for more than ``factor`` usual gaps (and ``min_silence``),
    the usual gap being the median over their scans of the ``days`` before; longest first.

    A place with fewer than ``min_scans`` scans in that period is never silent: its usual gap
    is unknown. Scans dated after ``now`` are left out.
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    parameters = {"now_ms": _ms(now), "since_ms": _ms(now - timedelta(days=days)), "factor": float(factor),
                  "min_silence_ms": min_silence / _MS, "min_scans": min_scans, "limit": limit}
    with driver_errors("reading the places gone silent"):
        rows = client.query(_SILENT_PLACES, parameters=parameters).result_rows
    return [SilentPlace(place_id=place_id, scans=scans, last_scan=_EPOCH + last_ms * _MS,
                        usual_gap=timedelta(milliseconds=float(gap_ms)), silent_for=silent_ms * _MS)
            for place_id, scans, last_ms, gap_ms, silent_ms in rows]


def rejections_by_minute(client: Client, since: datetime, until: datetime) -> dict[str, dict[datetime, int]]:
    """Rejections stored in [since, until), by reason code, then by the minute they were stored."""
    parameters = {"since_ms": _ms(since), "until_ms": _ms(until)}
    with driver_errors("reading rejections by minute"):
        rows = client.query(_REJECTIONS_BY_MINUTE, parameters=parameters).result_rows
    counts: dict[str, dict[datetime, int]] = {}
    for minute, reason, rejected in rows:
        counts.setdefault(reason, {})[datetime.fromtimestamp(minute, timezone.utc)] = rejected
    return counts


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS
