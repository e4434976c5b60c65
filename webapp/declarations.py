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

from ingest.declarations import DeclarationInput, PersonInput, parse_declaration
from ingest.errors import IngestError, InvalidInput, Message
from ingest.qrtoken import new_subject_ref
from ingest.verification import mismatched_fields, outcome
from streams import topics
from streams.records import DeclarationEvent, new_event_id
from webapp import outbox
from webapp.extensions import db
from webapp.resources import get_resources, get_settings
from webapp.models import Citizen, Declaration, as_utc, utcnow
from webapp.qr import get_signer

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
LOOKUP_LIMIT = 20


class IdempotencyConflict(IngestError):
    """An Idempotency-Key was reused for a different declaration."""


@dataclass(frozen=True)
class Issued:
    """What a citizen gets back for one person of a declaration."""

    declaration: Declaration

    def as_json(self) -> dict[str, Any]:
        d = self.declaration
        body: dict[str, Any] = {
            "declaration_id": d.id,
            "citizen_id": d.citizen_id or d.id_number,
            "verification": d.verification,
            "qr_token": d.qr_token,
            "qr_expires_at": _iso(d.qr_expires_at),
        }
        if d.verification == "mismatch":
            body["mismatched_fields"] = list(d.mismatched_fields)
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
    return [Issued(person) for person in people], False


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
    # A CMND is only an alias: it identifies nobody when two registry entries share it.
    matches = db.session.scalars(select(Citizen).where(Citizen.cmnd == person.id_number).limit(2)).all()
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
    return [Issued(first)] + [Issued(d) for d in dependants_of(first)]


def _request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    # surrogatepass: a lone surrogate in an ignored field must not turn a hash into a 500.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _iso(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
