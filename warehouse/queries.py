"""Read queries over movement data. Every value is bound server-side ({name:Type})."""
from __future__ import annotations

from clickhouse_connect.driver.client import Client

from warehouse.errors import driver_errors

DEFAULT_SCAN_LIMIT = 1000

_SCANS_OF_CITIZEN = """
SELECT event_id, place_id, ts, direction
FROM scans FINAL
WHERE citizen_id = {citizen_id:String}
ORDER BY ts, event_id
LIMIT {limit:UInt32}
"""


def scans_of_citizen(client: Client, citizen_id: str, limit: int = DEFAULT_SCAN_LIMIT) -> list[dict]:
    """One person's scans, oldest first (each event once, however often it was delivered)."""
    with driver_errors("reading a citizen's scans"):
        result = client.query(_SCANS_OF_CITIZEN, parameters={"citizen_id": citizen_id, "limit": limit})
    return [dict(zip(result.column_names, row)) for row in result.result_rows]
