"""Scans posted by officers' sessions and station devices, only for the places they are bound to."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import request

from ingest.errors import InvalidInput, Message
from ingest.fields import NOT_AN_OBJECT
from webapp import metrics, stations
from webapp.checkpoint.blueprint import bp
from webapp.errors import error_response
from webapp.extensions import csrf
from webapp.roles import SCANNING_ROLES, Principal, Role, allow, current_principal
from webapp.stations import NotYourPlace, Refused

NOT_YOUR_PLACE = Message("You are not assigned to this place.", "Bạn không được phân công tại địa điểm này.")


@bp.post("/api/v1/scans")
@allow(*SCANNING_ROLES)
@csrf.exempt  # checked below for sessions; a station token is no cookie another site can ride
def post_scan():
    """A raw scan (citizen id, place, time, direction) from a station or an officer's session.

    ``event_id``, if sent, is the client's retry key: the stored event id is derived from it and
    the sender, so a retry is stored once and two stations never collide.
    """
    principal = _principal_with_csrf()
    scan = stations.submit_raw(principal, _json_object())
    metrics.scans_accepted.labels(_source(principal)).inc()
    return {"event_id": scan.event_id, "status": "accepted"}, 202


@bp.post("/api/v1/checkpoint-lookups")
@allow(*SCANNING_ROLES)
@csrf.exempt  # checked below for sessions
def lookup():
    """Who the scanned QR code (or typed ID number) is: shown to the officer before any action."""
    principal = _principal_with_csrf()
    body = _json_object()
    stations.place_for(principal, body.get("place_code"))
    return {"person": stations.resolve(body).as_json(datetime.now(timezone.utc))}


@bp.post("/api/v1/checkpoint-scans")
@allow(*SCANNING_ROLES)
@csrf.exempt  # checked below for sessions
def checkpoint_scan():
    """The officer's decision (pass, turn back with a reason, in, out) as one scan event."""
    principal = _principal_with_csrf()
    body = _json_object()
    place = stations.place_for(principal, body.get("place_code"))
    person = stations.resolve(body)
    scan = stations.record(principal, place, person, body)
    metrics.scans_accepted.labels(_source(principal)).inc()
    return {"event_id": scan.event_id, "action": scan.direction, "place_code": place.code,
            "ts": scan.ts.isoformat(), "person": person.as_json(datetime.now(timezone.utc))}, 202


@bp.errorhandler(Refused)
def _refused(error: Refused):
    return error_response(422, error.message, reason=error.reason)


@bp.errorhandler(NotYourPlace)
def _not_your_place(error: NotYourPlace):
    return error_response(403, NOT_YOUR_PLACE)


def _source(principal: Principal) -> str:
    """Where a scan came from, for the metrics: a station device, or an officer's session."""
    return metrics.STATION if principal.role == Role.STATION else metrics.OFFICER


def _principal_with_csrf() -> Principal:
    principal = current_principal()
    if principal.by_session:
        csrf.protect()  # an officer's browser: the X-CSRFToken header of the station page
    return principal


def _json_object() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput({"body": NOT_AN_OBJECT})
    return dict(body)


