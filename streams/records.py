"""The event schema shared by producers (ingest, webapp) and the Faust agents.

This module does not import the Faust app, so producers can use it without starting a worker.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import faust

SCAN_DIRECTIONS = ("in", "out", "pass", "turn_back")


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
    """An event no agent could decode, kept with where it came from and why it failed."""

    event_id: str
    topic: str
    partition: int
    offset: int
    error: str
    payload: str
