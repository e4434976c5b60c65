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
# ``VIETNAM_TIME``), and ``ts`` is that day's local midnight, in UTC.
SCAN_PRECISIONS = ("instant", "day")
# Viet Nam has been UTC+7 without daylight saving since 1975; "today" and "a day" mean there.
VIETNAM_TIME = timezone(timedelta(hours=7))
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


class VerifiedScan(ScanEvent, namespace="truyvet.verified-scan.v1"):
    """A scan that passed verification, repartitioned by place (``place_id`` is its key).

    ``registered`` is False for a structurally sound number the registry does not hold
    (visitors, children without a card): still a presence, flagged for the official.
    """

    registered: bool = True


class Rejection(Event, namespace="truyvet.rejection.v1"):
    """A scan or declaration whose identity cannot be true, with a stable reason code.

    ``event_id`` is the rejected event's own id (a redelivered copy is the same rejection);
    ``reason`` is one of ``ingest.identity.REASONS`` (the number's structure, or the number
    against the registry's date of birth and sex); ``detail`` explains it in English.
    """

    SCAN = "scan"
    DECLARATION = "declaration"

    event_id: str
    source: str
    citizen_id: str
    occurred_at: datetime
    reason: str
    detail: str


class ContactEdge(Event, namespace="truyvet.contact.v1"):
    """Two people at one place at the same time, by one version of the contact rules.

    An edge is identified by its pair (``citizen_a`` < ``citizen_b``), place, rule version and
    window (the hour, UTC, in which they first met); ``revision`` orders the states of one edge
    (the offset in truyvet.verified-scans.v1 of the last presence that changed it), and a
    ``retracted`` state withdraws it (a check-out turned a point into a shorter stay, or the
    hour became crowded). The warehouse keeps the latest revision of each edge.
    """

    POINT_WINDOW = "point_window"
    INTERVAL_OVERLAP = "interval_overlap"
    SAME_DAY = "same_day"

    event_id: str
    citizen_a: str
    citizen_b: str
    place_id: str
    rule_version: str
    window_start: datetime
    criterion: str
    first_together: datetime
    last_together: datetime
    overlap_minutes: float
    revision: int
    retracted: bool = False


class CrowdExposure(Event, namespace="truyvet.crowd-exposure.v1"):
    """More people at a place in one hour than the rules pair up: one place-level exposure.

    Identified by place and window; ``revision`` and ``retracted`` as for :class:`ContactEdge`.
    Tracing expands it on demand (everyone present in the window).
    """

    event_id: str
    place_id: str
    window_start: datetime
    window_end: datetime
    head_count: int
    rule_version: str
    revision: int
    retracted: bool = False


class ContactChanges(Event, namespace="truyvet.contact-changes.v1"):
    """What one verified scan changed at its place, keyed by place: new edge and crowd states.

    ``edges`` are :class:`ContactEdge` objects and ``exposures`` :class:`CrowdExposure` objects,
    as JSON. One message per scan rather than one per edge: a scan at a busy place changes
    dozens of edges, and a Kafka message each cost more than working them out.
    """

    event_id: str
    place_id: str
    revision: int
    edges: list[dict]
    exposures: list[dict]


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
    # Older than the co-location state still holds (its place's newest presence minus the
    # allowed lateness): stored as a scan, but not paired with anyone by the stream.
    TOO_LATE = "too_late"

    event_id: str
    topic: str
    partition: int
    offset: int
    reason: str
    error: str
    payload: str


class CaseEvent(Event, namespace="truyvet.case.v1"):
    """A confirmed case (F0) reported by a health official, keyed by the case's citizen id.

    ``date_kind`` says what ``case_date`` is: ``onset`` (symptom onset) or ``sample`` (the
    positive sample, for a case without symptoms); the case is infectious from the trace rule
    set's days before that date, until ``isolated_at`` (None: not isolated when reported).
    ``case_date`` is ``YYYY-MM-DD`` text, as in :class:`CitizenRecord`.
    """

    ONSET = "onset"
    SAMPLE = "sample"
    DATE_KINDS = (ONSET, SAMPLE)

    event_id: str
    case_id: str
    citizen_id: str
    date_kind: str
    case_date: str
    reported_at: datetime
    isolated_at: datetime | None = None


class AlertToRoute(Event, namespace="truyvet.alert-to-route.v1"):
    """An F1 or F2 of a case, found by its trace, on its way to the ward where the contact lives.

    Keyed by the contact's citizen id, so the worker holding the contact's registry entry routes
    it. ``event_id`` is the alert's id, derived from the case and the contact: every copy of
    one alert (a re-delivered case, a re-trace) is the same event. ``first_exposure`` is when
    the contact was first exposed through the case; ``place_id`` is where (None: an imported
    contact, not at a place), ``criterion`` how (``point_window``, ``interval_overlap``,
    ``same_day``, or an imported contact's setting: ``household``, ``workplace``, ...), and
    ``source`` where the exposure was recorded (``stream`` or ``imported``). ``alerted_at`` is
    when the trace found the contact.
    """

    event_id: str
    case_id: str
    case_citizen_id: str
    contact_citizen_id: str
    tier: int
    first_exposure: datetime
    place_id: str | None
    criterion: str
    source: str
    alerted_at: datetime


class ExposureAlert(AlertToRoute, namespace="truyvet.exposure-alert.v1"):
    """An F1/F2 notice for the health station and police of the ward where the contact lives.

    Keyed by ``ward_code`` (as text); a contact the registry does not know has ward and
    province 0 and is published all the same.
    """

    UNKNOWN_WARD = 0

    ward_code: int
    province_code: int
