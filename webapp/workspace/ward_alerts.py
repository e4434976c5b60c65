"""A ward's exposure alerts for its health station and police: the list, what they did, the day on A4.

``/canh-bao`` shows the wards the user answers for and opens one; ``/canh-bao/<ward>`` lists its
alerts newest first, ``?ngay=YYYY-MM-DD`` those issued on that Viet Nam day, without it the last
7 days (a station opening the list in the morning still sees what came in late yesterday, and a
week of follow-up stays in view); each alert has a form to record what the ward did
(:class:`AlertAction`: every change is a row, the newest is the alert's status).
``/canh-bao/<ward>/in`` is one day's list on A4 (today when no day is given), with columns to fill
by hand.

The ward needs to know that a contact happened, where and when, not who the case is: the case's
identity never reaches these pages. Who sees which ward: webapp/scope.py. Every page showing
alerts is audited with a reason (webapp/audit.py); without one, or with a bad day, the answer is
a 400 with the page's form and nothing is read.
"""
from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.exceptions import NotFound

from ingest.contactlog import SETTING_NAMES
from ingest.errors import InvalidInput, Message
from ingest.units import province_name, province_of_ward, wards
from streams.records import EARLIEST_SCAN, VIETNAM_TIME, ExposureAlert
from warehouse.alerts import alert_in_ward
from webapp.audit import audited
from webapp.audit_page import BAD_DATE, ISO_DATE
from webapp.cases import read_ward_alerts
from webapp.errors import error_response
from webapp.extensions import db
from webapp.i18n import t
from webapp.models import Citizen, Place, User
from webapp.resources import get_warehouse
from webapp.roles import Role, allow, current_principal
from webapp.scope import cases_in_scope, current_scope, ward_in_scope
from webapp.workspace.blueprint import bp
from webapp.workspace.display import local_time
from webapp.workspace.reasons import reason_choices, reason_query

# What a ward records about an alert, in the order the work usually goes.
STATUSES: dict[str, Message] = {
    "acknowledged": Message("Acknowledged", "Đã tiếp nhận"),
    "contacted": Message("Contacted", "Đã liên hệ"),
    "unreachable": Message("Could not be reached", "Không liên lạc được"),
    "quarantined": Message("Quarantined", "Đã cách ly"),
    "done": Message("Done", "Hoàn tất"),
}
# An imported contact has no place: its setting says where it happened.
SETTINGS: dict[str, Message] = {code: Message(code.capitalize(), vi.capitalize()) for vi, code in SETTING_NAMES.items()}
MAX_NOTE = 200
RECENT = timedelta(days=7)  # the list without ?ngay=
MAX_ALERT_ID = 64  # alert ids are 32 hex digits; anything much longer is no alert
# SQLite and PostgreSQL cap the values one statement binds (32,766 / 65,535): look up in slices.
IN_SLICE = 1000

BAD_STATUS = Message("the status must be one of: " + ", ".join(STATUSES),
                     "trạng thái phải là một trong: " + ", ".join(status.vi.lower() for status in STATUSES.values()))
BAD_NOTE = Message(f"the note may be at most {MAX_NOTE} characters, on one line",
                   f"ghi chú tối đa {MAX_NOTE} ký tự, trên một dòng")
DAY_OUT_OF_RANGE = Message(f"must be a day from {EARLIEST_SCAN:%Y-%m-%d} to today",
                           f"phải là ngày từ {EARLIEST_SCAN:%d/%m/%Y} đến hôm nay")
NO_WARD = Message("choose a ward", "hãy chọn phường, xã")
UNKNOWN_ALERT = "no such alert in this ward"
# Ward 0: the alerts of contacts the registry does not know (officials only, their cases').
UNKNOWN_CONTACTS = Message("Contacts not in the population registry", "Người không có trong CSDL dân cư")


class AlertAction(db.Model):
    """What a ward did about one of its alerts, who and when; the newest row is the alert's status."""

    __tablename__ = "alert_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(MAX_ALERT_ID), index=True)  # the alert's event_id
    ward_code: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # one of STATUSES
    note: Mapped[str] = mapped_column(String(MAX_NOTE), default="")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC


@dataclass(frozen=True)
class AlertRow:
    """An alert as the ward's pages show it: its contact (None: not in the registry), where the
    contact happened, and what the ward did, newest first, with who did it."""

    alert: ExposureAlert
    contact: Citizen | None
    where: str
    actions: list[tuple[AlertAction, str]]

    @property
    def current(self) -> tuple[AlertAction, str] | None:
        return self.actions[0] if self.actions else None


def day_arg(value: str | None, today: date) -> date | None:
    """The Viet Nam day ``?ngay=`` names (None when absent), or InvalidInput naming ``ngay``.

    >>> day_arg("2026-11-28", date(2026, 11, 30)), day_arg("", date(2026, 11, 30))
    (datetime.date(2026, 11, 28), None)
    >>> day_arg("2026-12-01", date(2026, 11, 30))
    Traceback (most recent call last):
    ingest.errors.InvalidInput: ngay: must be a day from 2000-01-01 to today
    """
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput({"ngay": BAD_DATE})
    if not EARLIEST_SCAN.date() <= day <= today:
        raise InvalidInput({"ngay": DAY_OUT_OF_RANGE})
    return day


def window_of(day: date | None, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) of a Viet Nam day, or of the RECENT days up to ``now``.

    >>> [moment.isoformat() for moment in window_of(date(2026, 11, 28), datetime.now(timezone.utc))]
    ['2026-11-28T00:00:00+07:00', '2026-11-29T00:00:00+07:00']
    """
    if day is None:
        return now - RECENT, now
    start = datetime.combine(day, time(0), VIETNAM_TIME)
    return start, start + timedelta(days=1)


def ward_title(ward_code: int) -> dict[str, str | None]:
    """The names a ward's pages are headed with (ward 0 is no ward: the registry's unknowns)."""
    if ward_code == ExposureAlert.UNKNOWN_WARD:
        return {"ward_name": t(UNKNOWN_CONTACTS), "province_name": None}
    province = province_of_ward(ward_code)
    known = dict(wards(province)) if province is not None else {}
    return {"ward_name": known.get(ward_code, f"{t('Ward', 'Phường, xã')} {ward_code}"),
            "province_name": province_name(province) if province is not None else None}


def _with_day(view: Callable) -> Callable:
    """Pass ``?ngay=`` on as ``day``; a bad day answers the page's form (400) before any read."""
    @functools.wraps(view)
    def with_day(**kwargs: Any):
        try:
            day = day_arg(request.args.get("ngay"), datetime.now(VIETNAM_TIME).date())
        except InvalidInput as bad:
            return _ask(bad.errors, **kwargs), 400
        return view(**kwargs, day=day)
    return with_day


def _ask(errors: Mapping[str, Message], ward_code: int, **_: Any) -> str:
    """The page's form without alerts: the reason or the day is missing or wrong; nothing is read."""
    return render_template("workspace/alerts.html", ward_code=ward_code, **ward_title(ward_code), rows=None,
                           errors=errors, **reason_choices())


@bp.get("/canh-bao")
@allow(Role.OFFICIAL, Role.WARD_STAFF)
def my_wards():
    """Who: officials and ward staff. The wards they answer for and a form to open one's alerts.

    Reads nothing personal. The form's ``?phuong=`` goes on (302) to that ward's page with the
    day and the reason: a plain GET form cannot put the ward into the path.
    """
    chosen = request.args.get("phuong")
    if chosen and chosen.isascii() and chosen.isdigit() and len(chosen) <= 10:
        return redirect(url_for(".ward_alerts_page", ward_code=int(chosen), **_carried(request.args)))
    scope = current_scope()
    named = sorted(((code, ward_title(code)) for code in scope.wards), key=lambda ward: ward[1]["ward_name"])
    provinces = [(code, province_name(code), wards(code)) for code in sorted(scope.provinces)]
    errors = {"phuong": NO_WARD} if chosen is not None else {}
    return render_template("workspace/my_wards.html", named=named, provinces=provinces, errors=errors,
                           with_unknown=current_principal().role == Role.OFFICIAL,
                           unknown_contacts=UNKNOWN_CONTACTS, **reason_choices()), 400 if errors else 200


@bp.get("/canh-bao/<int:ward_code>")
@allow(Role.OFFICIAL, Role.WARD_STAFF)
@_with_day
@audited("alerts", "ward_code", ("ngay",), ask=_ask, view="list")
def ward_alerts_page(ward_code: int, day: date | None):
    """Who: officials and ward staff answering for the ward (404 otherwise). Its alerts newest
    first, of the day ``?ngay=`` or the last 7 days, each with a form to record an action."""
    ward_in_scope(ward_code)
    now = datetime.now(timezone.utc)
    since, until = window_of(day, now)
    print_day = day or now.astimezone(VIETNAM_TIME).date()
    return render_template("workspace/alerts.html", ward_code=ward_code, **ward_title(ward_code), day=day,
                           since=since, rows=_rows(ward_code, since, until), errors={}, statuses=STATUSES,
                           when=local_time, carried=_carried(request.args), print_day=print_day,
                           print_query={"ngay": print_day.isoformat(), **reason_query()}, **reason_choices())


@bp.get("/canh-bao/<int:ward_code>/in")
@allow(Role.OFFICIAL, Role.WARD_STAFF)
@_with_day
@audited("alerts", "ward_code", ("ngay",), ask=_ask, view="print")
def ward_alerts_print(ward_code: int, day: date | None):
    """Who: as the list. One day's alerts (today by default) on A4, oldest first as they came in,
    with the station's columns to fill by hand."""
    ward_in_scope(ward_code)
    now = datetime.now(timezone.utc)
    day = day or now.astimezone(VIETNAM_TIME).date()
    rows = _rows(ward_code, *window_of(day, now))
    return render_template("workspace/alerts_print.html", ward_code=ward_code, **ward_title(ward_code), day=day,
                           rows=rows[::-1], statuses=STATUSES, when=local_time,
                           printed_by=current_principal().name, printed_at=local_time(now),
                           back_query=_carried(request.args))


@bp.post("/canh-bao/<int:ward_code>/<event_id>")
@allow(Role.OFFICIAL, Role.WARD_STAFF)
def act_on_alert(ward_code: int, event_id: str):
    """Who: as the list. Record what the ward did about one of its alerts (404 for an alert not
    in the ward; 400 for a bad status or note), then back to the list with its day and reason (303).

    ``event_id`` in the path is the alert's id, named as its field (``ExposureAlert.event_id``).
    """
    ward_in_scope(ward_code)
    status = request.form.get("status", "")
    note = unicodedata.normalize("NFC", request.form.get("note", "")).strip()
    if status not in STATUSES:
        return error_response(400, BAD_STATUS)
    if len(note) > MAX_NOTE or not note.isprintable():
        return error_response(400, BAD_NOTE)
    _check_alert_of_ward(ward_code, event_id)
    db.session.add(AlertAction(alert_id=event_id, ward_code=ward_code, status=status, note=note,
                               user_id=current_principal().user_id, at=datetime.now(timezone.utc)))
    db.session.commit()
    return redirect(url_for(".ward_alerts_page", ward_code=ward_code, _anchor=f"alert-{event_id}",
                            **_carried(request.form)), 303)


def _check_alert_of_ward(ward_code: int, event_id: str) -> None:
    """NotFound unless ``event_id`` is an alert of the ward (in ward 0: of a case in scope)."""
    alert = alert_in_ward(get_warehouse(), ward_code, event_id) if len(event_id) <= MAX_ALERT_ID else None
    if alert is None or (ward_code == ExposureAlert.UNKNOWN_WARD and not cases_in_scope([alert.case_citizen_id])):
        raise NotFound(UNKNOWN_ALERT)


def _carried(values: Mapping[str, str]) -> dict[str, str]:
    """The day and the reason a page passes on to the next one."""
    day = values.get("ngay", "")
    return {**({"ngay": day} if ISO_DATE.fullmatch(day) else {}), **reason_query()}


def _rows(ward_code: int, since: datetime, until: datetime) -> list[AlertRow]:
    """The ward's alerts issued in [since, until), newest first, with their contacts, places and actions."""
    _, _, found = read_ward_alerts(ward_code, {"since": since.isoformat(), "until": until.isoformat()})
    contacts = {person.citizen_id: person for person in _fetch(
        Citizen, Citizen.citizen_id, {alert.contact_citizen_id for alert in found})}
    places = {place.code: place.name for place in _fetch(Place, Place.code, {
        alert.place_id for alert in found if alert.place_id})}
    actions: dict[str, list[tuple[AlertAction, str]]] = {}
    for ids in _slices([alert.event_id for alert in found]):
        query = (select(AlertAction, User.full_name).join(User, User.id == AlertAction.user_id)
                 .where(AlertAction.ward_code == ward_code, AlertAction.alert_id.in_(ids))
                 .order_by(AlertAction.at.desc(), AlertAction.id.desc()))
        for action, name in db.session.execute(query):
            actions.setdefault(action.alert_id, []).append((action, name))
    return [AlertRow(alert, contacts.get(alert.contact_citizen_id), _where(alert, places),
                     actions.get(alert.event_id, [])) for alert in found]


def _where(alert: ExposureAlert, places: Mapping[str, str]) -> str:
    """The place's name (its code when not registered), or an imported contact's setting."""
    if alert.place_id:
        return places.get(alert.place_id, alert.place_id)
    setting = SETTINGS.get(alert.criterion)
    return t(setting) if setting else alert.criterion


def _fetch(model: type[db.Model], key: Any, values: set[str]) -> list[Any]:
    return [row for chunk in _slices(sorted(values)) for row in db.session.scalars(select(model).where(key.in_(chunk)))]


def _slices(values: list[str]) -> Iterable[list[str]]:
    return (values[start:start + IN_SLICE] for start in range(0, len(values), IN_SLICE))
