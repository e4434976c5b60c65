"""Self check-in at venues: a citizen scans the venue's poster and checks in with their own QR code.

No account and no cookie: the phone sends a personal QR token it keeps (the declaration result
page stores them in localStorage), the server resolves it like a station would, and publishes
the scan. The answer says nothing about the person the phone did not already know.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask import render_template, request

from ingest.errors import InvalidInput, Message
from ingest.fields import NOT_AN_OBJECT
from ingest.scans import parse_scan
from streams import topics
from webapp import metrics, stations
from webapp.checkpoint.blueprint import bp
from webapp.errors import error_response
from webapp.extensions import csrf, db, limiter
from webapp.models import Place
from webapp.resources import get_publisher, get_settings
from webapp.roles import ANYONE, allow

SELF_CHECK_IN_RATE = "30/minute"  # a family checks in a few people; a script guessing tokens waits
SELF_CHECK_IN_KIND = "venue"  # at a checkpoint an officer decides: nobody lets themselves through
SELF_CHECK_IN_ACTIONS = ("in", "out")
SELF_CHECK_IN_FIELDS = ("place_code", "qr_token", "action")
NOT_A_PLACE = Message("is not a registered place", "không phải địa điểm đã đăng ký")
NOT_A_VENUE = Message("this place does not take self check-in: show your QR code to the officer",
                      "địa điểm này không nhận tự khai báo vào/ra: hãy đưa mã QR cho cán bộ quét")
NO_CCCD = Message("this QR code was declared with a 9-digit CMND: declare again with your 12-digit CCCD number",
                  "mã QR này được khai bằng số CMND 9 số: hãy khai báo lại bằng số CCCD 12 chữ số")


@bp.get("/check-in/<place_code>")
@allow(ANYONE)
def check_in(place_code: str):
    """The page behind a venue's poster: the people whose QR codes this phone keeps, one tap each."""
    place = db.session.get(Place, place_code)
    if place is None or not place.active:
        return error_response(404)
    return render_template("checkpoint/checkin.html", place=place,
                           accepts=place.kind == SELF_CHECK_IN_KIND)


@bp.post("/api/v1/self-check-ins")
@allow(ANYONE)
@csrf.exempt  # JSON from a public page with no cookies: nothing another site's form could ride on
@limiter.limit(SELF_CHECK_IN_RATE)
def self_check_in():
    """Check the holder of a personal QR token in to (or out of) a venue."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput({"body": NOT_AN_OBJECT})
    errors: dict[str, Message] = {}
    place = db.session.get(Place, body.get("place_code")) if isinstance(body.get("place_code"), str) else None
    if place is None or not place.active:
        errors["place_code"] = NOT_A_PLACE
    elif place.kind != SELF_CHECK_IN_KIND:
        errors["place_code"] = NOT_A_VENUE
    if not isinstance(body.get("qr_token"), str) or not body["qr_token"]:
        errors["qr_token"] = Message("send a personal QR code", "cần có mã QR cá nhân")
    if body.get("action") not in SELF_CHECK_IN_ACTIONS:
        errors["action"] = Message("must be in or out", "phải là in hoặc out")
    unknown = sorted(str(name)[:64] for name in set(body) - set(SELF_CHECK_IN_FIELDS))
    if unknown:
        errors["body"] = Message(f"unknown fields: {', '.join(unknown[:10])}",
                                 f"trường không hợp lệ: {', '.join(unknown[:10])}")
    if errors:
        raise InvalidInput(errors)
    # Only the token: a typed ID number would let anyone check anyone in.
    person = stations.resolve({"qr_token": body["qr_token"]})
    if person.citizen_id is None:
        raise InvalidInput({"qr_token": NO_CCCD})
    scan = parse_scan({
        "citizen_id": person.citizen_id, "place_id": place.code, "direction": body["action"],
        "ts": datetime.now(timezone.utc).isoformat(), "event_id": uuid.uuid4().hex,
    }, retention=get_settings().retention)
    get_publisher().publish(topics.SCANS, key=scan.citizen_id, event=scan)
    metrics.scans_accepted.labels(metrics.SELF_CHECK_IN).inc()
    return {"event_id": scan.event_id, "action": scan.direction, "place_name": place.name}, 202
