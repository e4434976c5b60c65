"""CRUD tables: the population registry, declarations, cases, and the outbox that feeds Kafka."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Table, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    phone: Mapped[str] = mapped_column(String(11), index=True)  # officials search by phone
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
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # its QR is refused


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


# Officers and venue managers work at places; officials answer for provinces or wards.
user_places = Table(
    "user_places", db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("place_code", ForeignKey("places.code", ondelete="CASCADE"), primary_key=True),
)


class Place(db.Model):
    """A checkpoint (chốt kiểm soát) or a venue where people are scanned or check in."""

    __tablename__ = "places"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # see webapp.places.PLACE_KINDS
    name: Mapped[str] = mapped_column(String(120))
    province_code: Mapped[int] = mapped_column(Integer)  # current 34 provinces
    ward_code: Mapped[int | None] = mapped_column(Integer)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(UserMixin, db.Model):
    """A staff account: officer, venue manager, health official, ops or admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16))  # see webapp.roles.Role
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret: Mapped[str | None] = mapped_column(String(64))  # set once enrolled
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Officials: the provinces and wards they answer for ("79", "79:26734"); empty for others.
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    places: Mapped[list[Place]] = relationship(secondary=user_places, lazy="selectin")

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled account's session stops working
        return self.active

    @property
    def place_codes(self) -> frozenset[str]:
        return frozenset(place.code for place in self.places)


class StationToken(db.Model):
    """A device at one place that posts scans with a bearer token; only the token's hash is kept."""

    __tablename__ = "station_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    place_code: Mapped[str] = mapped_column(ForeignKey("places.code"), index=True)
    label: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CheckpointDecision(db.Model):
    """What an officer or station decided about a person, and why: the scan event's audit row.

    Written with the event in one transaction (the outbox), so a decision is never recorded
    without its scan, nor a scan published without its decision.
    """

    __tablename__ = "checkpoint_decisions"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    place_code: Mapped[str] = mapped_column(ForeignKey("places.code"), index=True)
    citizen_id: Mapped[str] = mapped_column(String(12), index=True)
    declaration_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station_tokens.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Case(db.Model):
    """A confirmed case (F0) reported by a health official; its event goes to the cases topic.

    One case per person and date: the same report again is the case already stored (the
    unique constraint settles two reports racing each other).
    """

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("citizen_id", "case_date", name="uq_cases_citizen_date"),)

    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(12))  # CCCD, in the registry; indexed by the constraint
    date_kind: Mapped[str] = mapped_column(String(6))  # onset or sample: streams.records.CaseEvent.DATE_KINDS
    case_date: Mapped[date] = mapped_column(Date)
    isolated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
