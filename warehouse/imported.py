"""Imported contacts (interviews, proximity devices): stored once, read by person.

``truyvet import contacts`` writes them here directly, not through Kafka: a file of contacts is a
record made offline, from which the stream derives nothing, so a topic and a sink would only
carry it to this table. The table and its by-person copy are ``0005_imported_contacts.sql``'s.
These are not the stream's records (:mod:`warehouse.writer` writes those from their Faust
schemas): whatever has the attributes of :class:`ContactToStore` can be stored, so the warehouse
does not depend on the file reader (:mod:`ingest.contactlog`).
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from clickhouse_connect.driver.client import Client

from warehouse.contacts import MAX_ROWS_READ, to_ms
from warehouse.errors import TooMuchToRead, WarehouseError, driver_errors

TABLE = "imported_contacts"
COLUMNS = ("contact_id", "citizen_a", "citizen_b", "started_at", "ended_at", "setting", "source", "place_id")
# The table's duration_in_range constraint, and ingest.contactlog's file rule: a contact ending
# in a window started at most this long before it, so reads start the key range there.
MAX_DURATION = timedelta(hours=24)
# Rows per insert, and contact ids per look-up of what is stored: within ClickHouse's advice of
# 10k-100k rows per insert, and an id list (~35 bytes each) that fits an HTTP request's URL.
BATCH = 10_000
UNKNOWN_TABLE = 60  # ClickHouse's UNKNOWN_TABLE

# Only constants are formatted in; every value is bound server-side.
_STORED = f"""
SELECT contact_id, place_id
FROM {TABLE} FINAL
WHERE started_at >= fromUnixTimestamp64Milli({{first_ms:Int64}}, 'UTC')
  AND started_at <= fromUnixTimestamp64Milli({{last_ms:Int64}}, 'UTC')
  AND contact_id IN {{ids:Array(String)}}
"""
_OF_CITIZENS = """
SELECT citizen_id, other_id, started_at, ended_at,
       (toUnixTimestamp64Milli(ended_at) - toUnixTimestamp64Milli(started_at)) / 60000 AS minutes,
       setting, source, place_id, contact_id
FROM imported_contacts_by_citizen FINAL
WHERE citizen_id IN {citizens:Array(String)}
  AND started_at >= fromUnixTimestamp64Milli({earliest_ms:Int64}, 'UTC')
  AND started_at < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
  AND ended_at >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
ORDER BY citizen_id, started_at, other_id, ended_at, setting, source
LIMIT {limit:UInt32}
"""


class ContactToStore(Protocol):
    """A contact to store: the pair in order (``citizen_a`` < ``citizen_b``), aware times to the ms."""

    @property
    def contact_id(self) -> str: ...
    @property
    def citizen_a(self) -> str: ...
    @property
    def citizen_b(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def ended_at(self) -> datetime: ...
    @property
    def setting(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def place_id(self) -> str: ...


@dataclass(frozen=True)
class ImportedContact:
    """One person's imported contact: ``citizen_id`` is the person asked about, ``other_id`` the other."""

    citizen_id: str
    other_id: str
    started_at: datetime
    ended_at: datetime
    minutes: float
    setting: str
    source: str
    place_id: str  # empty: not at a known place
    contact_id: str


@dataclass(frozen=True)
class StoreResult:
    """What storing did: new contacts, stored ones given another place, and ones already stored as they are."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0


def store_imported_contacts(client: Client, contacts: Sequence[ContactToStore]) -> StoreResult:
    """Write the contacts not stored yet, or stored with another place; leave the others.

    So importing a file again writes nothing. Two imports of one file at the same time may both
    write a contact; the table collapses the copies (the same sorting key).
    """
    added = updated = 0
    ordered = sorted(contacts, key=lambda contact: contact.started_at)  # each batch: a short time range
    for first in range(0, len(ordered), BATCH):
        batch = ordered[first:first + BATCH]
        stored = _stored_places(client, batch)
        new = [contact for contact in batch if stored.get(contact.contact_id) != contact.place_id]
        write_imported_contacts(client, new)
        changed = sum(contact.contact_id in stored for contact in new)
        added, updated = added + len(new) - changed, updated + changed
    return StoreResult(added, updated, len(ordered) - added - updated)


def write_imported_contacts(client: Client, contacts: Sequence[ContactToStore]) -> int:
    """Insert contacts in batches, stored or not; return the rows sent."""
    for first in range(0, len(contacts), BATCH):
        rows = [[contact.contact_id, contact.citizen_a, contact.citizen_b, contact.started_at, contact.ended_at,
                 contact.setting, contact.source, contact.place_id] for contact in contacts[first:first + BATCH]]
        with _table_errors(f"inserting {len(rows)} rows into {TABLE}"):
            client.insert(TABLE, rows, column_names=list(COLUMNS))
    return len(contacts)


def imported_contacts_of(client: Client, citizens: Collection[str], since: datetime,
                         until: datetime) -> list[ImportedContact]:
    """The imported contacts of ``citizens`` whose [start, end] overlaps [since, until).

    Once for each of ``citizens`` in a contact: a contact between two of them comes back twice,
    once as each one's. Ordered by person, then start. An answer of more than
    :data:`warehouse.contacts.MAX_ROWS_READ` rows raises :class:`TooMuchToRead`.
    """
    for name, moment in (("since", since), ("until", until)):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    if since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if isinstance(citizens, str) or not all(isinstance(citizen, str) for citizen in citizens):
        raise ValueError("citizens must be a collection of citizen id strings")
    if not citizens:
        return []
    parameters = {
        "citizens": sorted(set(citizens)),
        "earliest_ms": to_ms(since - MAX_DURATION),
        "since_ms": to_ms(since),
        "until_ms": to_ms(until),
        "limit": MAX_ROWS_READ + 1,  # one row more than allowed says the answer is too large
    }
    with _table_errors("reading imported contacts"):
        result = client.query(_OF_CITIZENS, parameters=parameters, tz_mode="aware")
    if len(result.result_rows) > MAX_ROWS_READ:
        raise TooMuchToRead(f"more than {MAX_ROWS_READ} imported contacts of {len(parameters['citizens'])} "
                            f"people between {since.isoformat()} and {until.isoformat()}: ask for a shorter window")
    return [ImportedContact(*row) for row in result.result_rows]


def _stored_places(client: Client, batch: Sequence[ContactToStore]) -> dict[str, str]:
    """The place each of the batch's contacts is stored with, for those already stored."""
    if not batch:
        return {}
    parameters = {"first_ms": to_ms(batch[0].started_at), "last_ms": to_ms(batch[-1].started_at),
                  "ids": [contact.contact_id for contact in batch]}
    with _table_errors("reading which imported contacts are stored"):
        return dict(client.query(_STORED, parameters=parameters).result_rows)


@contextmanager
def _table_errors(action: str) -> Iterator[None]:
    """:func:`driver_errors`, saying what to do when the tables' migration was not applied."""
    try:
        with driver_errors(action):
            yield
    except WarehouseError as exc:
        if exc.code != UNKNOWN_TABLE:
            raise
        raise WarehouseError(f"{action} failed: no table {TABLE}: apply the warehouse migrations first "
                             "(truyvet migrate)", code=exc.code, transient=False) from exc
