"""The event schema shared by producers (ingest, webapp) and the Faust agents.

This module does not import the Faust app, so producers can use it without starting a worker.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import faust

SCAN_DIRECTIONS = ("in", "out", "pass", "turn_back")
# "instant": the scan happened at ``ts``. "day": only the date is known (paper logs, published
# case routes); the person was at the place some time that local day (Viet Nam time, UTC+7,
# ``ingest.identity.VIETNAM_TIME``), and ``ts`` is that day's local midnight, in UTC.
SCAN_PRECISIONS = ("instant", "day")
# Device clocks drift; a scan from further in the future than this is a wrong clock, not a scan.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Nothing older is movement data of this system; the warehouse refuses it too.
EARLIEST_SCAN = datetime(2000, 1, 1, tzinfo=timezone.utc)
# A CCCD number: twelve ASCII digits, nothing around them. Not \d (it also matches full-width
# and Arabic-Indic digits) and not ``$`` (it also matches before a trailing newline).
CITIZEN_ID = re.compile(r"[0-9]{12}")


def is_citizen_id(value: object) -> bool:
    """Whether ``value`` is written as a CCCD number (the one check every layer uses).

    >>> is_citizen_id("001090000001"), is_citizen_id("001090000001\\n"), is_citizen_id("００１０９００００００１")
    (True, False, False)
    """
    return isinstance(value, str) and CITIZEN_ID.fullmatch(value) is not None


def new_event_id() -> str:
    return uuid.uuid4().hex


class Event(faust.Record, abstract=True, serializer="json", isodates=True):
    """Every event carries an id; consumers are idempotent on it (Kafka delivers at least once)."""


class ScanEvent(Event, namespace="truyvet.scan.v1"):
    """A citizen's QR scanned at a checkpoint or venue."""

    event_id: str
    citizen_id: str
    place_id: str
    ts: datetime
    direction: str
    # A default, so events published before the field existed still decode.
    precision: str = "instant"


# The scan schema, written once above: the API parser, the stream decoder, the warehouse writer
# and its queries all derive their field lists from it.
SCAN_FIELDS: tuple[str, ...] = tuple(ScanEvent._options.fields)


class DeclarationEvent(Event, namespace="truyvet.declaration.v1"):
    """A submitted health declaration; ``verification`` is the registry check's outcome.

    ``citizen_id`` is the CCCD when known, else the number as entered (a CMND alias).
    """

    event_id: str
    declaration_id: str
    citizen_id: str
    declared_at: datetime
    verification: str
    mismatched_fields: list[str]
    symptoms: list[str]
    contact_with_case: bool
    visited_outbreak_area: bool


class CitizenRecord(Event, namespace="truyvet.citizen.v1"):
    """The registry's current entry for a person (compacted topic: the latest per id wins)."""

    event_id: str
    citizen_id: str
    cmnd: str | None
    full_name: str
    date_of_birth: str  # YYYY-MM-DD: Faust's isodates would turn a date into a datetime
    sex: str
    province_code: int
    ward_code: int


class DeadLetter(Event, namespace="truyvet.deadletter.v1"):
    """An event an agent could not take, kept with where it came from and why.

    ``reason`` is a stable code for counting (one of ``REASONS``); ``error`` explains it.
    """

    UNDECODABLE = "undecodable"
    PAST_RETENTION = "past_retention"
    IN_FUTURE = "in_future"
    WAREHOUSE_REFUSED = "warehouse_refused"

    event_id: str
    topic: str
    partition: int
    offset: int
    reason: str
    error: str
    payload: str
