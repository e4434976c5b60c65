"""CRUD tables: the population registry, declarations, and the outbox that feeds Kafka."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A stored time with its zone: SQLite hands back naive datetimes, and every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Citizen(db.Model):
    """One person of the population registry (standing in for the national database)."""

    __tablename__ = "citizens"

    citizen_id: Mapped[str] = mapped_column(String(12), primary_key=True)  # CCCD
    cmnd: Mapped[str | None] = mapped_column(String(9), index=True)  # old ID: an alias only
    full_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(6))
    province_code: Mapped[int] = mapped_column(Integer)  # residence, current 34 provinces
    ward_code: Mapped[int] = mapped_column(Integer)
    phone: Mapped[str] = mapped_column(String(11))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Declaration(db.Model):
    """A health declaration for one person; dependants get their own, linked to the declarer's."""

    __tablename__ = "declarations"
    __table_args__ = (Index("ix_declarations_lookup", "id_number", "phone", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    declared_by_id: Mapped[str | None] = mapped_column(ForeignKey("declarations.id"), index=True)
    relation: Mapped[str | None] = mapped_column(String(12))
    position: Mapped[int] = mapped_column(Integer, default=0)  # 0: the declarer, then dependants in order
    id_number: Mapped[str] = mapped_column(String(12))  # as entered: CCCD, or CMND alias
    citizen_id: Mapped[str | None] = mapped_column(String(12), index=True)  # the CCCD, once known
    full_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(6))
    phone: Mapped[str] = mapped_column(String(11))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    verification: Mapped[str] = mapped_column(String(8))
    mismatched_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    qr_ref: Mapped[str] = mapped_column(String(32), unique=True)
    qr_token: Mapped[str] = mapped_column(String(255))
    qr_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxEvent(db.Model):
    """An event committed with the change it describes, waiting to be published to Kafka."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "published_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claim: Mapped[str | None] = mapped_column(String(16), index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
