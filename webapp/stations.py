"""What a checkpoint does with a person in front of it: resolve their QR, record the officer's action.

A personal QR holds an opaque signed reference; the server checks the signature and expiry,
maps the reference to the declaration, and refuses one that was revoked or superseded by a
newer declaration of the same person. Every refusal has a stable reason code and is counted.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ingest.errors import InvalidInput, InvalidToken, Message
from ingest.identity import is_cmnd
from ingest.qrtoken import verify
from ingest.scans import CCCD_REQUIRED, parse_scan
from streams import topics
from streams.records import ScanEvent, VIETNAM_TIME, is_citizen_id
from webapp import outbox
from webapp.extensions import db
from webapp.models import CheckpointDecision, Declaration, Place, as_utc
from webapp.qr import get_signer
from webapp.resources import get_publisher, get_resources, get_settings
from webapp.roles import Principal

ACTIONS = ("pass", "turn_back", "in", "out")
MAX_REASON_CHARS = 200
# Event ids are the server's: a client's retry key only names its own attempt, per principal.
_EVENT_IDS = uuid.UUID("6c1d0c52-3b0e-4f7e-9a53-0f1b8f6a2a10")

REVOKED = "revoked"
SUPERSEDED = "superseded"
UNKNOWN_REFERENCE = "unknown_reference"
NO_DECLARATION = "no_declaration"
REFUSAL_MESSAGES: dict[str, Message] = {
    InvalidToken.MALFORMED: Message("This is not a personal QR code of the health declaration.",
                                    "Đây không phải mã QR khai báo y tế cá nhân."),
    InvalidToken.UNKNOWN_KEY: Message("This QR code was not issued by this system.",
                                      "Mã QR này không do hệ thống cấp."),
    InvalidToken.BAD_SIGNATURE: Message("This QR code has been altered or forged.",
                                        "Mã QR này đã bị sửa hoặc giả mạo."),
    InvalidToken.EXPIRED: Message("This QR code has expired: the person must declare again.",
                                  "Mã QR đã hết hạn: người này cần khai báo lại."),
    InvalidToken.NOT_YET_VALID: Message("This QR code is dated in the future; check the device clock.",
                                        "Mã QR có thời điểm trong tương lai; hãy kiểm tra đồng hồ thiết bị."),
    UNKNOWN_REFERENCE: Message("This QR code matches no declaration.", "Mã QR không khớp tờ khai nào."),
    REVOKED: Message("This declaration was revoked.", "Tờ khai này đã bị thu hồi."),
    SUPERSEDED: Message("A newer declaration replaces this QR code: ask for the newest one.",
                        "Đã có tờ khai mới hơn thay thế mã QR này: hãy yêu cầu mã mới nhất."),
    NO_DECLARATION: Message("No health declaration for this ID number.",
                            "Không có tờ khai y tế nào cho số giấy tờ này."),
}
qr_refusals = Counter("truyvet_qr_refusals", "Personal QR codes refused at checkpoints", ["reason"])


class Refused(Exception):
    """A QR code or ID number that cannot be accepted; ``reason`` is a key of REFUSAL_MESSAGES."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = REFUSAL_MESSAGES[reason]


class NotYourPlace(Exception):
    """The officer or station is not bound to this place."""


@dataclass(frozen=True)
class Person:
    """Who stands at the checkpoint: their latest declaration, or just the ID number typed."""

    citizen_id: str | None
    declaration: Declaration | None

    def as_json(self, now: datetime) -> dict[str, Any]:
        d = self.declaration
        if d is None:
            return {"citizen_id": self.citizen_id, "declaration": None}
        details = d.details or {}
        declared_at = as_utc(d.created_at)
        return {
            "citizen_id": self.citizen_id,
            "declaration": {
                "declaration_id": d.id,
                "full_name": d.full_name,
                "birth_year": d.date_of_birth.year,
                "sex": d.sex,
                "verification": d.verification,
                "mismatched_fields": list(d.mismatched_fields or ()),
                "declared_at": declared_at.astimezone(VIETNAM_TIME).isoformat(timespec="minutes"),
                "age_hours": round((now - declared_at).total_seconds() / 3600, 1),
                "symptoms": details.get("symptoms", []),
                "contact_with_case": details.get("contact_with_case", False),
                "visited_outbreak_area": details.get("visited_outbreak_area", False),
                "vaccination_doses": details.get("vaccination_doses", 0),
                "trip": details.get("trip"),
                "qr_expires_at": as_utc(d.qr_expires_at).isoformat(timespec="minutes"),
            },
        }


def place_for(principal: Principal, place_code: Any, field: str = "place_code") -> Place:
    """The place a scan is for, if it exists and the principal is bound to it."""
    place = db.session.get(Place, place_code) if isinstance(place_code, str) else None
    if place is None or not place.active:
        raise InvalidInput({field: Message("is not a registered place", "không phải địa điểm đã đăng ký")})
    if not principal.may_scan_at(place.code):
        raise NotYourPlace(place.code)
    return place


def resolve(body: dict[str, Any], now: datetime | None = None) -> Person:
    """The person a station scanned (``qr_token``) or typed (``citizen_id``)."""
    now = now or datetime.now(timezone.utc)
    token, typed = body.get("qr_token"), body.get("citizen_id")
    if isinstance(token, str) and token:
        return Person(*_by_token(token, now))
    if typed is not None:
        if not (is_citizen_id(typed) or is_cmnd(typed)):
            raise InvalidInput({"citizen_id": CCCD_REQUIRED})
        declaration = _latest(typed)
        return Person(declaration.citizen_id if declaration and declaration.citizen_id else
                      (typed if is_citizen_id(typed) else None), declaration)
    raise InvalidInput({"qr_token": Message("scan a personal QR code or type an ID number",
                                            "hãy quét mã QR cá nhân hoặc nhập số giấy tờ")})


def record(principal: Principal, place: Place, person: Person, body: dict[str, Any]) -> ScanEvent:
    """Store the officer's decision and stage its scan event in one transaction (the outbox).

    Accepted means stored: a Kafka outage does not lose the decision, the relay publishes it
    when Kafka is back. A retry with the same ``retry_key`` returns the first decision.
    """
    action, reason = body.get("action"), body.get("reason")
    errors: dict[str, Message] = {}
    if action not in ACTIONS:
        errors["action"] = Message(f"must be one of {', '.join(ACTIONS)}", f"phải là một trong {', '.join(ACTIONS)}")
    if action == "turn_back" and not (isinstance(reason, str) and reason.strip()):
        errors["reason"] = Message("say why the person is turned back", "hãy ghi lý do không cho qua")
    elif reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        errors["reason"] = Message(f"at most {MAX_REASON_CHARS} characters", f"tối đa {MAX_REASON_CHARS} ký tự")
    if person.citizen_id is None:
        errors["citizen_id"] = Message("type the person's 12-digit CCCD number: a CMND alone cannot be recorded",
                                       "hãy nhập số CCCD 12 chữ số: không thể ghi nhận chỉ bằng số CMND")
    if errors:
        raise InvalidInput(errors)
    # An offline station replays its queue with the times the actions happened.
    scan = parse_scan({
        "citizen_id": person.citizen_id, "place_id": place.code, "direction": action,
        "ts": body.get("ts") or datetime.now(timezone.utc).isoformat(),
        "event_id": event_id_for(principal, body.get("retry_key")),
    }, retention=get_settings().retention)
    db.session.add(CheckpointDecision(
        event_id=scan.event_id, place_code=place.code, citizen_id=scan.citizen_id,
        declaration_id=person.declaration.id if person.declaration else None, action=action,
        reason=reason.strip() if isinstance(reason, str) and reason.strip() else None,
        decided_at=scan.ts, user_id=principal.user_id, station_id=principal.station_id))
    outbox.add(topics.SCANS, scan.citizen_id, scan)
    try:
        db.session.commit()
    except IntegrityError:  # this retry key was recorded before: the first answer stands
        db.session.rollback()
        first = db.session.get(CheckpointDecision, scan.event_id)
        if first is None:
            raise
        return _scan_of(first)
    get_resources().relay.notify()
    return scan


def _scan_of(decision: CheckpointDecision) -> ScanEvent:
    return ScanEvent(event_id=decision.event_id, citizen_id=decision.citizen_id, place_id=decision.place_code,
                     ts=as_utc(decision.decided_at), direction=decision.action)


def submit_raw(principal: Principal, body: dict[str, Any]) -> ScanEvent:
    """A raw scan (``POST /api/v1/scans``): every field checked, then the place, then published.

    The body's ``event_id`` is the sender's retry key; the stored id is derived from it.
    """
    body = {**body, "event_id": event_id_for(principal, body.get("event_id"), field="event_id")}
    scan = parse_scan(body, retention=get_settings().retention)
    place_for(principal, scan.place_id, field="place_id")
    get_publisher().publish(topics.SCANS, key=scan.citizen_id, event=scan)
    return scan


def event_id_for(principal: Principal, retry_key: Any, field: str = "retry_key") -> str:
    """The server's event id: new each time, or the same for a principal's retried attempt."""
    if retry_key is None:
        return uuid.uuid4().hex
    if not isinstance(retry_key, str) or not 8 <= len(retry_key) <= 64 or not retry_key.isascii():
        raise InvalidInput({field: Message("must be 8-64 ASCII characters", "phải gồm 8-64 ký tự ASCII")})
    scope = f"station:{principal.station_id}" if principal.station_id else f"user:{principal.user_id}"
    return uuid.uuid5(_EVENT_IDS, f"{scope}:{retry_key}").hex


def _by_token(token: str, now: datetime) -> tuple[str | None, Declaration]:
    try:
        claims = verify(token, get_signer().public_keys(), now)
    except InvalidToken as refused:
        qr_refusals.labels(refused.reason).inc()
        raise Refused(refused.reason) from None
    declaration = db.session.scalar(select(Declaration).where(Declaration.qr_ref == claims.subject_ref))
    reason = (UNKNOWN_REFERENCE if declaration is None else REVOKED if declaration.revoked_at else
              SUPERSEDED if _latest(declaration.id_number) is not declaration else None)
    if reason:
        qr_refusals.labels(reason).inc()
        raise Refused(reason)
    return declaration.citizen_id, declaration


def _latest(id_number: str) -> Declaration | None:
    return db.session.scalar(
        select(Declaration)
        .where((Declaration.id_number == id_number) | (Declaration.citizen_id == id_number))
        .order_by(Declaration.created_at.desc(), Declaration.id.desc())
        .limit(1)
    )
