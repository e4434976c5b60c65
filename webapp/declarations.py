"""Submitting and looking up health declarations: registry check, storage, outbox, personal QR."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ingest.declarations import MAX_DEPENDANTS, DeclarationInput, PersonInput, parse_declaration
from ingest.errors import IngestError, InvalidInput, Message
from ingest.identity import classify_id
from ingest.qrtoken import new_subject_ref
from ingest.verification import MISMATCH, VERIFIED, mismatched_fields, outcome
from streams import topics
from streams.records import DeclarationEvent, new_event_id
from webapp import metrics, outbox
from webapp.extensions import db, exhausted, limiter, spend
from webapp.resources import get_resources, get_settings
from webapp.models import Citizen, Declaration, as_utc, utcnow
from webapp.qr import get_signer

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
LOOKUP_LIMIT = 20
MAX_COUNTED_ID_CHARS = 20  # a longer entry is no ID number; its budget need not be its own
# Declarations for one ID that the registry did not confirm: a typo or two, not a search for a
# birth date. Counted per ID however it is typed, in the shared rate-limit store.
UNVERIFIED_RATE = "5/hour"
TOO_MANY_FROM_ADDRESS = Message(
    "Too many declarations were sent from this connection. Please wait a few minutes, then send again.",
    "Quá nhiều lượt gửi tờ khai từ kết nối này. Vui lòng chờ vài phút rồi gửi lại.",
)
TOO_MANY_FOR_ID = Message(
    "Too many declarations for this ID number (or a person declared with it) in the last hour. "
    "Please send again later.",
    "Quá nhiều lượt gửi tờ khai cho số giấy tờ này (hoặc người được khai báo cùng) trong một giờ qua. "
    "Vui lòng gửi lại sau.",
)
TOO_MANY_UNVERIFIED = Message(
    "Several declarations for this ID number did not match the national population database in the "
    "last hour. Check the details on the ID card, then send again in an hour.",
    "Nhiều tờ khai với số giấy tờ này chưa khớp với Cơ sở dữ liệu quốc gia về dân cư trong một giờ qua. "
    "Vui lòng kiểm tra lại thông tin trên thẻ CCCD và gửi lại sau một giờ.",
)


class IdempotencyConflict(IngestError):
    """An Idempotency-Key was reused for a different declaration."""


class OverLimit(Exception):
    """A declaration refused by a rate limit: why, in both languages, and the seconds to wait."""

    def __init__(self, message: Message, wait: int) -> None:
        super().__init__(message.en)
        self.message = message
        self.wait = wait

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait)}


@dataclass(frozen=True)
class Issued:
    """What a citizen gets back for one person of a declaration; ``replayed`` when stored before."""

    declaration: Declaration
    replayed: bool = False

    def as_json(self) -> dict[str, Any]:
        """The answer to whoever sent the declaration: nothing in it they did not send, but the outcome."""
        d = self.declaration
        body: dict[str, Any] = {
            "declaration_id": d.id,
            "citizen_id": d.id_number,  # as sent: never the CCCD the registry links to a CMND
            "verification": public_verification(d),
            "qr_token": d.qr_token,
            "qr_expires_at": _iso(d.qr_expires_at),
        }
        if d.relation:
            body["relation"] = d.relation
        return body


def submit(payload: Any, idempotency_key: str | None = None) -> tuple[list[Issued], bool]:
    """Store a declaration (with its dependants) and stage its events; (results, replayed).

    The first result is the declarer's. With an idempotency key, a retry of the same request
    returns the first answer instead of declaring again.
    """
    request_hash = _request_hash(payload)
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidInput({"idempotency_key": Message(
            "must be 8-64 letters, digits, _ or -", "phải gồm 8-64 chữ cái, chữ số, _ hoặc -"
        )})
    declared = parse_declaration(payload)
    now = utcnow()
    main = _declaration(declared.person, declared, now, idempotency_key=idempotency_key,
                        request_hash=request_hash)
    people = [main] + [
        _declaration(dependant.person, declared, now, declared_by=main, relation=dependant.relation,
                     position=position)
        for position, dependant in enumerate(declared.dependants, start=1)
    ]
    db.session.add_all(people)
    for person in people:
        event = _event(person, declared, now)
        outbox.add(topics.DECLARATIONS, event.citizen_id, event)
    try:
        db.session.commit()
    except IntegrityError:
        # The key was used before (a retry, or a concurrent double tap that won the race): the
        # unique index says so without a lookup on every first submission.
        db.session.rollback()
        replay = _replay(idempotency_key, request_hash) if idempotency_key else None
        if replay is None:
            raise
        return replay, True
    get_resources().relay.notify()
    metrics.declarations_accepted.inc(len(people))
    return [Issued(person) for person in people], False


def public_verification(declaration: Declaration) -> str:
    """The registry check as anyone may hear it: ``verified``, or ``mismatch`` for any other outcome.

    Which fields differ, and whether the number is in the registry at all, are registry facts the
    sender did not send: told them, a stranger finds a birth date in at most 366 tries, or learns
    which numbers belong to someone. They stay stored (``verification``, ``mismatched_fields``) for
    officials and the officers who type paper forms.
    """
    return VERIFIED if declaration.verification == VERIFIED else MISMATCH


def counted_id(entered: Any) -> str | None:
    """The ID a person's declarations are counted under, from an ID number as entered.

    Spacing is dropped, and a CMND resolves to the CCCD the registry links it to, as a
    declaration resolves it: typing the number another way buys no fresh budget.
    """
    if not isinstance(entered, str):
        return None
    number = classify_id(entered)
    if not number.number:
        return None
    if number.kind == "cmnd":
        registered = _registered_cmnd(number.number)
        return registered.citizen_id if registered else number.number
    return number.number[:MAX_COUNTED_ID_CHARS]


def counted_ids(payload: Any) -> list[str]:
    """The counted IDs of everyone a declaration (the API's shape, unchecked) is for, declarer first."""
    return list(dict.fromkeys(key for key in map(counted_id, _people(payload)) if key))


def headcount(payload: Any) -> int:
    """How many people a declaration (the API's shape, unchecked) is for: one, and its dependants."""
    return max(1, len(_people(payload)))


def _people(payload: Any) -> list[Any]:
    """The ID numbers as entered, declarer first; a list past the limit counts as the limit."""
    if not isinstance(payload, dict):
        return []
    dependants = payload.get("dependants")
    rows = dependants[:MAX_DEPENDANTS] if isinstance(dependants, list) else []
    return [payload.get("citizen_id")] + [row.get("citizen_id") if isinstance(row, dict) else None
                                          for row in rows]


def admit(payload: Any, address: str) -> None:
    """Count a citizen's declaration against its address and each person's ID; :class:`OverLimit` if spent.

    Called before the registry check, by the API and the form alike (declaring is limited, not
    one way of doing it). A family of five spends five from the address's budget and one from
    each person's; an ID counts however it is typed (:func:`counted_id`). An ID with too many
    unverified declarations of late is refused until its hour has passed.
    """
    if not limiter.enabled:  # TRUYVET_RATE_LIMITS=off: not even the CMND look-ups
        return
    settings = get_settings()
    ids = [f"id:{key}" for key in counted_ids(payload)]
    wait = spend(settings.declaration_rate_per_ip, "declare-per-ip", [f"ip:{address}"], cost=headcount(payload))
    if wait:
        raise OverLimit(TOO_MANY_FROM_ADDRESS, wait)
    wait = exhausted(UNVERIFIED_RATE, "declare-unverified", ids)
    if wait:
        raise OverLimit(TOO_MANY_UNVERIFIED, wait)
    wait = spend(settings.declaration_rate_per_id, "declare-per-id", ids)
    if wait:
        raise OverLimit(TOO_MANY_FOR_ID, wait)


def count_unverified(issued: list[Issued]) -> None:
    """Count each person the registry did not confirm against their ID (once: not on a replay).

    A stranger hears ``mismatch`` for a number the registry lacks too, so both count: counting
    only one would tell them apart after a few tries.
    """
    spend(UNVERIFIED_RATE, "declare-unverified", [
        f"id:{person.declaration.citizen_id or person.declaration.id_number}" for person in issued
        if not person.replayed and person.declaration.verification != VERIFIED])


def get(declaration_id: str) -> Declaration:
    return db.get_or_404(Declaration, declaration_id)


def dependants_of(main: Declaration) -> list[Declaration]:
    """The people declared along with ``main``, in the order they were declared."""
    return list(db.session.scalars(
        select(Declaration).where(Declaration.declared_by_id == main.id).order_by(Declaration.position)
    ))


def lookup(id_number: str, phone: str) -> list[Declaration]:
    """A person's declarations, newest first, for the ID number and phone they declared with."""
    return list(db.session.scalars(
        select(Declaration)
        .where(Declaration.id_number == id_number, Declaration.phone == phone)
        .order_by(Declaration.created_at.desc())
        .limit(LOOKUP_LIMIT)
    ))


def _declaration(person: PersonInput, declared: DeclarationInput, now: datetime, *,
                 declared_by: Declaration | None = None, relation: str | None = None, position: int = 0,
                 idempotency_key: str | None = None, request_hash: str | None = None) -> Declaration:
    registered = _registry_entry(person)
    mismatched = [] if registered is None else mismatched_fields(
        (person.full_name, person.date_of_birth, person.sex),
        (registered.full_name, registered.date_of_birth, registered.sex),
    )
    ttl = timedelta(hours=get_settings().qr_token_ttl_hours)
    qr_ref = new_subject_ref()
    return Declaration(
        id=uuid.uuid4().hex,
        declared_by_id=declared_by.id if declared_by else None,
        relation=relation,
        position=position,
        id_number=person.id_number,
        citizen_id=registered.citizen_id if registered else (
            person.id_number if person.id_kind == "cccd" else None),
        full_name=person.full_name,
        date_of_birth=person.date_of_birth,
        sex=person.sex,
        phone=declared.phone,
        details=declared.health_details(),
        verification=outcome(registered is not None, mismatched),
        mismatched_fields=mismatched,
        qr_ref=qr_ref,
        qr_token=get_signer().issue(qr_ref, now=now, ttl=ttl),
        qr_expires_at=now + ttl,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_at=now,
    )


def _registry_entry(person: PersonInput) -> Citizen | None:
    if person.id_kind == "cccd":
        return db.session.get(Citizen, person.id_number)
    return _registered_cmnd(person.id_number)


def _registered_cmnd(cmnd: str) -> Citizen | None:
    # A CMND is only an alias: it identifies nobody when two registry entries share it.
    matches = db.session.scalars(select(Citizen).where(Citizen.cmnd == cmnd).limit(2)).all()
    return matches[0] if len(matches) == 1 else None


def _event(person: Declaration, declared: DeclarationInput, now: datetime) -> DeclarationEvent:
    return DeclarationEvent(
        event_id=new_event_id(),
        declaration_id=person.id,
        citizen_id=person.citizen_id or person.id_number,
        declared_at=now,
        verification=person.verification,
        mismatched_fields=list(person.mismatched_fields),
        symptoms=list(declared.symptoms),
        contact_with_case=declared.contact_with_case,
        visited_outbreak_area=declared.visited_outbreak_area,
    )


def _replay(idempotency_key: str, request_hash: str) -> list[Issued] | None:
    first = db.session.scalar(select(Declaration).where(Declaration.idempotency_key == idempotency_key))
    if first is None:
        return None
    if first.request_hash != request_hash:
        raise IdempotencyConflict("this Idempotency-Key was already used for a different declaration")
    return [Issued(first, replayed=True)] + [Issued(d, replayed=True) for d in dependants_of(first)]


def _request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    # surrogatepass: a lone surrogate in an ignored field must not turn a hash into a 500.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
