"""Health officials: movement and trace queries."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, request

from ingest.errors import InvalidInput, Message
from ingest.scans import TIME_FORMAT
from streams.records import EARLIEST_SCAN, is_citizen_id
from warehouse.contacts import MAX_PLACE_WINDOW, contacts_at_place, crowd_exposures_at_place
from warehouse.errors import TooMuchToRead
from warehouse.presence import presences_at_place
from webapp import scans
from webapp.audit import audited
from webapp.models import Place
from webapp.resources import get_warehouse
from webapp.roles import Role, allow
from webapp.scope import person_in_scope, place_in_scope

bp = Blueprint("official", __name__)

DEFAULT_WINDOW = timedelta(hours=24)
# The warehouse holds times from 2000 to 2099 (its ts_in_range check); outside, no row can match.
LATEST_TIME = datetime(2100, 1, 1, tzinfo=timezone.utc)

NEEDS_ZONE = Message("needs a UTC offset (e.g. +07:00): a time without one is ambiguous",
                     "cần có múi giờ (ví dụ +07:00): thời điểm không có múi giờ là mơ hồ")
_LAST_DAY = LATEST_TIME - timedelta(days=1)
TIME_RANGE = Message(f"must be from {EARLIEST_SCAN:%Y-%m-%d} to {_LAST_DAY:%Y-%m-%d}",
                     f"phải nằm trong khoảng {EARLIEST_SCAN:%d/%m/%Y} đến {_LAST_DAY:%d/%m/%Y}")
SINCE_BEFORE_UNTIL = Message("since must be before until (until is now when not given)",
                             "since phải trước until (until là thời điểm hiện tại khi bỏ trống)")
WINDOW_TOO_LONG = Message(f"the window may span at most {MAX_PLACE_WINDOW.days} days",
                          f"khoảng thời gian tối đa {MAX_PLACE_WINDOW.days} ngày")
TOO_MUCH = Message("the window holds more records than one answer may carry: ask for a shorter window",
                   "khoảng thời gian có quá nhiều bản ghi cho một lần trả lời: hãy chọn khoảng ngắn hơn")


@bp.get("/api/v1/citizens/<citizen_id>/scans")
@allow(Role.OFFICIAL)
@audited("movements", "citizen_id", ("limit", "before"))  # the reason first: no reason, nothing read
def citizen_scans(citizen_id: str):
    """One person's scans, newest first; ``?limit=`` (1-1000) and ``?before=<next cursor>`` page on.

    Only of a registered person living in the official's scope: anyone else is the same 404, so
    the answer never tells whether the registry knows the number.
    """
    if is_citizen_id(citizen_id):
        person_in_scope(citizen_id)
    return scans.scans_of_citizen(citizen_id, request.args.get("limit"), request.args.get("before"))


@bp.get("/api/v1/places/<place_code>/presences")
@allow(Role.OFFICIAL)
@audited("place_view", "place_code", ("since", "until"), view="presences")
def place_presences(place_code: str):
    """Everyone at a place in ``?since=&until=`` (the last 24 h by default), with their registry flag."""
    place, since, until = _place_and_window(place_code, request.args)
    try:
        found = presences_at_place(get_warehouse(), place.code, since, until)
    except TooMuchToRead:
        raise InvalidInput({"until": TOO_MUCH}) from None
    return {
        **_answer_head(place, since, until),
        "presences": [{"citizen_id": item.presence.citizen_id, "kind": item.presence.kind,
                       "start": utc_text(item.presence.start), "end": utc_text(item.presence.end),
                       "registered": item.registered} for item in found],
    }


@bp.get("/api/v1/places/<place_code>/contacts")
@allow(Role.OFFICIAL)
@audited("place_view", "place_code", ("since", "until"), view="contacts")
def place_contacts(place_code: str):
    """The contact edges at a place in ``?since=&until=``, and the hours too crowded to pair up."""
    place, since, until = _place_and_window(place_code, request.args)
    try:
        edges = contacts_at_place(get_warehouse(), place.code, since, until)
        crowds = crowd_exposures_at_place(get_warehouse(), place.code, since, until)
    except TooMuchToRead:
        raise InvalidInput({"until": TOO_MUCH}) from None
    return {
        **_answer_head(place, since, until),
        "contacts": [{"citizen_a": edge.citizen_a, "citizen_b": edge.citizen_b, "criterion": edge.criterion,
                      "rule_version": edge.rule_version, "window_start": utc_text(edge.window_start),
                      "first_together": utc_text(edge.first_together), "last_together": utc_text(edge.last_together),
                      "overlap_minutes": edge.overlap_minutes} for edge in edges],
        "crowd_exposures": [{"window_start": utc_text(crowd.window_start), "window_end": utc_text(crowd.window_end),
                             "head_count": crowd.head_count, "rule_version": crowd.rule_version}
                            for crowd in crowds],
    }


def _place_and_window(place_code: str, args: Mapping[str, str]) -> tuple[Place, datetime, datetime]:
    """The registered place in scope (404 otherwise) and the window asked for, or InvalidInput per field."""
    place = place_in_scope(place_code)
    since, until = window_arg(args)
    return place, since, until


def window_arg(args: Mapping[str, str], default_span: timedelta = DEFAULT_WINDOW,
               longest: timedelta = MAX_PLACE_WINDOW, too_long: Message = WINDOW_TOO_LONG,
               errors: dict[str, Message] | None = None) -> tuple[datetime, datetime]:
    """The window [since, until) of ``args``, or InvalidInput naming each bad field.

    ``until`` defaults to now, ``since`` to ``default_span`` before ``until``; at most ``longest``.
    ``errors`` found in the caller's other fields are raised with these.
    """
    errors = {} if errors is None else errors
    given = {name: moment_arg(args.get(name), name, errors) for name in ("since", "until")}
    if errors:
        raise InvalidInput(errors)
    until = given["until"] or datetime.now(timezone.utc)
    since = given["since"] or until - default_span
    # The problem belongs to the field the caller gave: the other one is a default.
    field = "until" if given["until"] else "since"
    if since >= until:
        raise InvalidInput({field: SINCE_BEFORE_UNTIL})
    if until - since > longest:
        raise InvalidInput({field: too_long})
    return since, until


def moment_arg(value: str | None, field: str, errors: dict[str, Message]) -> datetime | None:
    """An aware UTC time from ``value``; None when absent; an error per field when malformed.

    Compared before converting: aware comparisons never overflow, astimezone() may near year 1.
    """
    if value is None:
        return None
    # A "+" left unencoded in a query string arrives as a space: "08:00:00 07:00" meant "+07:00".
    moment = _iso_or_none(value) or _iso_or_none("+".join(value.rsplit(" ", 1)))
    if moment is None:
        errors[field] = TIME_FORMAT
        return None
    if moment.tzinfo is None:
        errors[field] = NEEDS_ZONE
        return None
    if not EARLIEST_SCAN <= moment < LATEST_TIME:
        errors[field] = TIME_RANGE
        return None
    return moment.astimezone(timezone.utc)


def _iso_or_none(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _answer_head(place: Place, since: datetime, until: datetime) -> dict[str, Any]:
    return {"place_code": place.code, "place_name": place.name, "since": utc_text(since), "until": utc_text(until)}


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as every time in the API: 2026-11-28T01:00:00.000Z."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
