"""Contact follow-up: a person's status after an exposure, with who changed it and when.

Every change is a new row (``follow_ups``), so the history stays; the newest row is the status.
Statuses in the order a follow-up usually goes: notified, quarantined, tested, negative,
positive, released. Setting ``positive`` reports the person as a new case (webapp/cases.py), in
the same transaction as the status row (:func:`change_status`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, DateTime, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ingest.errors import InvalidInput, Message
from ingest.fields import NOT_AN_OBJECT, FieldErrors, is_plain_text, normalize_name
from ingest.identity import vietnam_today
from webapp.cases import CaseReport, record_case
from webapp.extensions import db
from webapp.models import Case, User, utcnow

STATUSES: dict[str, Message] = {
    "notified": Message("Notified", "Đã thông báo"),
    "quarantined": Message("Quarantined", "Đang cách ly"),
    "tested": Message("Tested", "Đã lấy mẫu"),
    "negative": Message("Negative", "Âm tính"),
    "positive": Message("Positive", "Dương tính"),
    "released": Message("Released", "Kết thúc theo dõi"),
}
POSITIVE = "positive"
MAX_NOTE = 200
FIELDS = ("status", "case_id", "note")
BAD_STATUS = Message(f"must be one of {', '.join(STATUSES)}", f"phải là một trong {', '.join(STATUSES)}")
NOT_TEXT = Message("must be plain text", "phải là văn bản thường")
NOTE_TOO_LONG = Message(f"may be at most {MAX_NOTE} characters", f"tối đa {MAX_NOTE} ký tự")
UNKNOWN_CASE = Message("no reported case has this id", "không có ca bệnh nào với mã này")


class FollowUp(db.Model):
    """One change of a person's follow-up status."""

    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_person", "citizen_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_id: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12))  # one of STATUSES
    case_id: Mapped[str | None] = mapped_column(String(32))  # the case whose trace found them, if known
    note: Mapped[str | None] = mapped_column(String(MAX_NOTE))
    changed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    changer: Mapped[User] = relationship(lazy="joined")


@dataclass(frozen=True)
class StatusChange:
    """A status change as an official asked for it, checked."""

    status: str
    case_id: str | None
    note: str | None


@dataclass(frozen=True)
class StatusChanged:
    """The stored row and, for ``positive``, the person's case (``new_case``: reported just now)."""

    follow_up: FollowUp
    case: Case | None = None
    new_case: bool = False


def parse_change(values: Mapping[str, Any]) -> StatusChange:
    """Read ``status``, ``case_id`` and ``note`` from a form or a JSON object; InvalidInput per field.

    ``case_id`` (optional) names a reported case, the one whose trace found the person.
    """
    errors = FieldErrors()
    status = values.get("status")
    if not isinstance(status, str) or status not in STATUSES:
        errors.add("status", BAD_STATUS)
    case_id, note = (_optional_text(values.get(name), name, errors) for name in ("case_id", "note"))
    if note is not None and len(note) > MAX_NOTE:
        errors.add("note", NOTE_TOO_LONG)
    if case_id is not None and (len(case_id) > 32 or db.session.get(Case, case_id) is None):
        errors.add("case_id", UNKNOWN_CASE)
    if errors:
        raise InvalidInput(dict(errors))
    return StatusChange(status, case_id, note)


def parse_change_json(payload: Any) -> StatusChange:
    """:func:`parse_change` for a JSON body: an object with no other fields."""
    if not isinstance(payload, dict):
        raise InvalidInput({"body": NOT_AN_OBJECT})
    unknown = sorted(str(name)[:64] for name in set(payload) - set(FIELDS))
    if unknown:
        raise InvalidInput({"body": Message(f"unknown fields: {', '.join(unknown[:10])}",
                                            f"trường không hợp lệ: {', '.join(unknown[:10])}")})
    return parse_change(payload)


def _optional_text(value: Any, field: str, errors: FieldErrors) -> str | None:
    if value is None:
        return None
    text = normalize_name(value) if isinstance(value, str) else None
    if text is None or not is_plain_text(text):
        errors.add(field, NOT_TEXT)
        return None
    return text or None


def change_status(citizen_id: str, change: StatusChange, user_id: int) -> StatusChanged:
    """Store a person's new status (the caller checked the scope) and commit.

    ``positive`` reports the person as a case whose positive sample is of today (Viet Nam), in
    the same transaction; a case of that person and date already reported is kept, and the
    status row is committed all the same.
    """
    row = FollowUp(citizen_id=citizen_id, status=change.status, case_id=change.case_id, note=change.note,
                   changed_by=user_id, changed_at=utcnow())
    db.session.add(row)
    if change.status != POSITIVE:
        db.session.commit()
        return StatusChanged(row)
    case, created = record_case(CaseReport(citizen_id, "sample", vietnam_today(), None), user_id)
    if not created:  # record_case committed nothing, or rolled back when another report won the race
        db.session.add(row)
        db.session.commit()
    return StatusChanged(row, case, created)


def current_statuses(citizen_ids: Iterable[str]) -> dict[str, FollowUp]:
    """The newest follow-up row of each of ``citizen_ids`` that has one."""
    ids = sorted(set(citizen_ids))
    if not ids:
        return {}
    newest = (select(func.max(FollowUp.id)).where(FollowUp.citizen_id.in_(ids))
              .group_by(FollowUp.citizen_id).scalar_subquery())
    return {row.citizen_id: row for row in db.session.scalars(select(FollowUp).where(FollowUp.id.in_(newest)))}


def history(citizen_id: str) -> list[FollowUp]:
    """Every status change of a person, newest first."""
    return list(db.session.scalars(select(FollowUp).where(FollowUp.citizen_id == citizen_id)
                                   .order_by(FollowUp.id.desc())))
