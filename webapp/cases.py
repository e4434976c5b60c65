"""Health officials: reporting a confirmed case (F0), and the exposure alerts of a ward.

``POST /api/v1/cases`` stores the case and stages its event for ``truyvet.cases.v1`` in one
transaction (the outbox): a case is never published without being stored, nor stored without
being published. The stream traces it and alerts its F1s and F2s in the wards where they live
(streams/agents/alerts.py); ``GET /api/v1/wards/<ward_code>/alerts`` reads those alerts back.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ingest.errors import InvalidInput, Message
from ingest.fields import NOT_AN_OBJECT, FieldErrors, parse_date
from ingest.scans import CCCD_REQUIRED, TIME_FORMAT
from streams import topics
from streams.records import (EARLIEST_SCAN, MAX_CLOCK_SKEW, VIETNAM_TIME, CaseEvent, ExposureAlert, is_citizen_id,
                             new_event_id)
from tracing.rules import TraceRules
from warehouse.alerts import MAX_WARD_CODE, alerts_of_ward
from warehouse.errors import TooMuchToRead
from webapp import outbox
from webapp.audit import audited
from webapp.extensions import db
from webapp.models import Case, as_utc
from webapp.official import TOO_MUCH, moment_arg, utc_text, window_arg
from webapp.resources import get_resources, get_warehouse
from webapp.roles import Role, allow, current_principal
from webapp.scope import cases_in_scope, person_in_scope, ward_in_scope

bp = Blueprint("cases", __name__)

FIELDS = ("citizen_id", "onset_date", "sample_date", "isolated_at")
# Where every case's alerts go: the ward each F1 and F2 lives in, on this topic and this route.
WARD_ALERTS = "/api/v1/wards/{ward_code}/alerts"
UNKNOWN_CITIZEN = "no one with this citizen id is in the registry: a case is reported for a registered person"

ONE_DATE = Message("onset_date or sample_date is required", "cần điền onset_date hoặc sample_date")
BOTH_DATES = Message("give onset_date or sample_date, not both", "chỉ điền một trong onset_date hoặc sample_date")
IN_FUTURE = Message("is in the future", "nằm trong tương lai")
BEFORE_EARLIEST = Message(f"is before {EARLIEST_SCAN:%Y-%m-%d}", f"nằm trước ngày {EARLIEST_SCAN:%d/%m/%Y}")
BEFORE_INFECTIOUS = Message("is before the case became infectious: nothing to trace",
                            "nằm trước khi ca bệnh có khả năng lây nhiễm: không có gì để truy vết")
NOT_A_WARD = Message(f"must be a ward code from 0 to {MAX_WARD_CODE} (0: people the registry does not know)",
                     f"phải là mã phường/xã từ 0 đến {MAX_WARD_CODE} (0: người không có trong cơ sở dữ liệu dân cư)")


@dataclass(frozen=True)
class CaseReport:
    """A case as an official reported it, checked."""

    citizen_id: str
    date_kind: str
    case_date: date
    isolated_at: datetime | None


@bp.post("/api/v1/cases")
@allow(Role.OFFICIAL)
def report_case():
    """Report a confirmed case: 201 with the new case, 200 with the one already reported."""
    resources = get_resources()
    report = parse_case_report(request.get_json(silent=True), datetime.now(timezone.utc),
                               resources.settings.retention, resources.trace_rules.choose(None))
    case, created = record_case(report, current_principal().user_id)
    return case_json(case), 201 if created else 200


@bp.get("/api/v1/wards/<int:ward_code>/alerts")
@allow(Role.OFFICIAL, Role.WARD_STAFF)
@audited("alerts", "ward_code", ("since", "until"))
def ward_alerts(ward_code: int):
    """The exposure alerts of people living in a ward, issued in ``?since=&until=``, newest first.

    For the officials and the ward staff whose scope holds the ward (404 otherwise). Ward 0
    holds the alerts of contacts the registry does not know: officials see there those of
    their own cases.
    """
    if ward_code > MAX_WARD_CODE:
        raise InvalidInput({"ward_code": NOT_A_WARD})
    ward_in_scope(ward_code)
    since, until, found = read_ward_alerts(ward_code, request.args)
    # A ward needs to know that a contact happened, where and when; not who the case is.
    shows_case = current_principal().role != Role.WARD_STAFF
    return {
        "ward_code": ward_code, "since": utc_text(since), "until": utc_text(until),
        "alerts": [{"alert_id": alert.event_id, "case_id": alert.case_id,
                    "case_citizen_id": alert.case_citizen_id if shows_case else None,
                    "contact_citizen_id": alert.contact_citizen_id, "tier": alert.tier,
                    "first_exposure": utc_text(alert.first_exposure), "place_id": alert.place_id,
                    "criterion": alert.criterion, "source": alert.source, "alerted_at": utc_text(alert.alerted_at),
                    "province_code": alert.province_code} for alert in found],
    }


def read_ward_alerts(ward_code: int, args: Mapping[str, str]) -> tuple[datetime, datetime, list[ExposureAlert]]:
    """The window of ``args`` and a ward's alerts in it, newest first (the caller checked the
    scope); in ward 0, those of the scope's cases only."""
    since, until = window_arg(args)
    try:
        found = alerts_of_ward(get_warehouse(), ward_code, since, until)
    except TooMuchToRead:
        raise InvalidInput({"until": TOO_MUCH}) from None
    if ward_code == 0:
        mine = cases_in_scope(alert.case_citizen_id for alert in found)
        found = [alert for alert in found if alert.case_citizen_id in mine]
    return since, until, found


def parse_case_report(payload: Any, now: datetime, retention: timedelta | None, rules: TraceRules) -> CaseReport:
    """Check a case report field by field; :class:`InvalidInput` names every bad field.

    A date is a local (Viet Nam) date, neither in the future nor older than the retention
    period (the movements around it are no longer kept). ``isolated_at`` is not in the future
    and not before the case became infectious under ``rules``.
    """
    if not isinstance(payload, dict):
        raise InvalidInput({"body": NOT_AN_OBJECT})
    errors = FieldErrors()
    citizen_id = payload.get("citizen_id")
    if not is_citizen_id(citizen_id):
        errors.add("citizen_id", CCCD_REQUIRED)
    given = [kind for kind in CaseEvent.DATE_KINDS if payload.get(f"{kind}_date") is not None]
    if not given:
        errors.add("onset_date", ONE_DATE)
    for kind in given[1:]:
        errors.add(f"{kind}_date", BOTH_DATES)
    case_date = None
    if given:
        field = f"{given[0]}_date"
        case_date = parse_date(payload[field], field, errors)
        if case_date is not None:
            _check_date(case_date, field, now, retention, errors)
    isolated_at = None
    if payload.get("isolated_at") is not None:
        isolated_at = _isolation(payload["isolated_at"], now, errors)
        if isolated_at is not None and case_date is not None and isolated_at <= rules.infectious_from(case_date):
            errors.add("isolated_at", BEFORE_INFECTIOUS)
    unknown = sorted(str(name)[:64] for name in set(payload) - set(FIELDS))
    if unknown:
        errors.add("body", Message(f"unknown fields: {', '.join(unknown[:10])}",
                                   f"trường không hợp lệ: {', '.join(unknown[:10])}"))
    if errors:
        raise InvalidInput(dict(errors))
    return CaseReport(citizen_id, given[0], case_date, isolated_at)


def record_case(report: CaseReport, user_id: int) -> tuple[Case, bool]:
    """Store the case and stage its event in one transaction; (case, created).

    The same person and date again is the case already stored (created False), whatever else
    the second report says. A person not in the registry is a 404.
    """
    person_in_scope(report.citizen_id, UNKNOWN_CITIZEN)
    existing = _case_of(report)
    if existing is not None:
        return existing, False
    now = datetime.now(timezone.utc)
    case = Case(case_id=new_event_id(), citizen_id=report.citizen_id, date_kind=report.date_kind,
                case_date=report.case_date, isolated_at=report.isolated_at, reported_by=user_id, reported_at=now)
    db.session.add(case)
    outbox.add(topics.CASES, case.citizen_id, CaseEvent(
        event_id=new_event_id(), case_id=case.case_id, citizen_id=case.citizen_id, date_kind=case.date_kind,
        case_date=case.case_date.isoformat(), reported_at=now, isolated_at=report.isolated_at))
    try:
        db.session.commit()
    except IntegrityError:
        # Reported at the same moment by someone else: theirs is the case.
        db.session.rollback()
        existing = _case_of(report)
        if existing is None:
            raise
        return existing, False
    get_resources().relay.notify()
    return case, True


def case_json(case: Case) -> dict[str, Any]:
    """The answer for a case: what was stored, and where its alerts go."""
    return {
        "case_id": case.case_id,
        "citizen_id": case.citizen_id,
        f"{case.date_kind}_date": case.case_date.isoformat(),
        "isolated_at": utc_text(as_utc(case.isolated_at)) if case.isolated_at else None,
        "reported_at": utc_text(as_utc(case.reported_at)),
        "alerts": {
            "routed_to": "the ward of residence of each F1 and F2 (ward 0: not in the registry)",
            "topic": topics.EXPOSURE_ALERTS,
            "ward_alerts": WARD_ALERTS,
        },
    }


def _check_date(case_date: date, field: str, now: datetime, retention: timedelta | None,
                errors: FieldErrors) -> None:
    today = now.astimezone(VIETNAM_TIME).date()
    if case_date > today:
        errors.add(field, IN_FUTURE)
    elif case_date < EARLIEST_SCAN.date():
        errors.add(field, BEFORE_EARLIEST)
    elif retention is not None and case_date < today - retention:
        days = f"{retention / timedelta(days=1):g}"
        errors.add(field, Message(
            f"is older than the {days}-day retention period: the movements around it are no longer kept",
            f"đã quá thời hạn lưu trữ {days} ngày: dữ liệu di chuyển quanh ngày này không còn"))


def _isolation(value: Any, now: datetime, errors: FieldErrors) -> datetime | None:
    found: dict[str, Message] = {}
    moment = moment_arg(value, "isolated_at", found) if isinstance(value, str) else None
    if moment is None:
        errors.add("isolated_at", found.get("isolated_at", TIME_FORMAT))
        return None
    if moment > now + MAX_CLOCK_SKEW:
        errors.add("isolated_at", IN_FUTURE)
        return None
    return moment


def _case_of(report: CaseReport) -> Case | None:
    return db.session.scalar(select(Case).where(Case.citizen_id == report.citizen_id,
                                                Case.case_date == report.case_date))
