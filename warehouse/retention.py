"""Retention of movement data: one setting, applied as a TTL by code on every start.

Migrations cannot know the deployment's setting, and a TTL change rewrites TTL information in
every part, so this reads the tables' current TTL and alters only the tables that differ.
Everything derived from scans (contacts, crowd exposures, rejections) follows the same setting:
a contact kept longer than the scans it came from would outlive what it says about a person.
Imported contacts (interviews, proximity devices) are movement data of the same kind, and an
exposure alert says where and when its contact was exposed.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from clickhouse_connect.driver.client import Client

from warehouse.errors import WarehouseError, driver_errors

log = logging.getLogger(__name__)

# The scan tables: their rows are kept from ts, when the scan happened.
RETENTION_TABLES = ("scans", "scans_by_citizen")
# Every table under the setting, and the time its rows are kept from: a contact from the last
# moment the two were together (the moment tracing needs it until), an imported contact from its
# end likewise, a crowd from the end of its hour, a rejection from when the refused event happened,
# an exposure alert from the contact's first exposure (past retention, past any incubation too).
KEPT_FROM: dict[str, str] = {
    **{table: "ts" for table in RETENTION_TABLES},
    "contacts": "last_together",
    "contacts_by_citizen": "last_together",
    "imported_contacts": "ended_at",
    "imported_contacts_by_citizen": "ended_at",
    "crowd_exposures": "window_end",
    "rejections": "occurred_at",
    "exposure_alerts": "first_exposure",
}
# A century: beyond it the expiry date leaves DateTime's range and the TTL means nothing.
MAX_RETENTION_DAYS = 36_500
# engine_full ends "... TTL <expression> [SETTINGS ...]"; ClickHouse writes the expression in
# its own normal form (INTERVAL 30 DAY becomes toIntervalDay(30)).
_TTL_CLAUSE = re.compile(r"\sTTL\s+(.*?)(?:\s+SETTINGS\s.*)?$", re.DOTALL)

_CURRENT_TTLS = """
SELECT name, engine_full
FROM system.tables
WHERE database = currentDatabase() AND name IN {tables:Array(String)}
"""


def apply_retention(client: Client, days: int) -> bool:
    """Keep movement data ``days`` days (0 keeps everything); return whether any table's TTL changed.

    ``days`` ends up in DDL, where ClickHouse binds no parameters, so only a plain int in range
    gets there; the column names are this module's constants.
    """
    if type(days) is not int or not 0 <= days <= MAX_RETENTION_DAYS:
        raise ValueError(f"retention must be a whole number of days from 0 to {MAX_RETENTION_DAYS}, got {days!r}")
    changed = False
    for table, current in current_ttls(client, KEPT_FROM).items():
        column = KEPT_FROM[table]
        wanted = ttl_expression(days, column)
        if current == wanted:
            continue
        clause = "REMOVE TTL" if wanted is None else f"MODIFY TTL toDateTime({column}) + INTERVAL {days} DAY"
        with driver_errors(f"setting the retention of {table}"):
            client.command(f"ALTER TABLE {table} {clause}")
        log.info("retention of %s: %s -> %s", table, current or "none", wanted or "none")
        changed = True
    return changed


def ttl_expression(days: int, column: str = "ts") -> str | None:
    """The TTL expression ClickHouse shows for keeping rows ``days`` after ``column`` (None: no TTL).

    >>> ttl_expression(30), ttl_expression(0), ttl_expression(7, "last_together")
    ('toDateTime(ts) + toIntervalDay(30)', None, 'toDateTime(last_together) + toIntervalDay(7)')
    """
    return f"toDateTime({column}) + toIntervalDay({days})" if days else None


def current_ttls(client: Client, tables: Iterable[str] = RETENTION_TABLES) -> dict[str, str | None]:
    """Each of ``tables``' TTL expression as ClickHouse shows it, None for no TTL.

    The scan tables unless told otherwise; :data:`KEPT_FROM` names every table under retention.
    """
    tables = list(tables)
    with driver_errors("reading the retention of the movement tables"):
        rows = client.query(_CURRENT_TTLS, parameters={"tables": tables}).result_rows
    found = {name: _ttl_of(engine_full) for name, engine_full in rows}
    missing = set(tables) - set(found)
    if missing:
        raise WarehouseError(
            f"no table {', '.join(sorted(missing))}: apply the warehouse migrations first", transient=False
        )
    return found


def _ttl_of(engine_full: str) -> str | None:
    """
    >>> _ttl_of("ReplacingMergeTree ORDER BY x TTL toDateTime(ts) + toIntervalDay(7) SETTINGS index_granularity = 8192")
    'toDateTime(ts) + toIntervalDay(7)'
    >>> _ttl_of("ReplacingMergeTree ORDER BY x SETTINGS index_granularity = 8192") is None
    True
    """
    match = _TTL_CLAUSE.search(engine_full)
    return match.group(1).strip() if match else None
