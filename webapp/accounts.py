"""Staff accounts and station tokens: creation, passwords, two-factor codes, revocation."""
from __future__ import annotations

import re
import secrets
from collections.abc import Iterable

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from ingest.errors import IngestError
from webapp.extensions import db
from webapp.models import Place, StationToken, User, utcnow
from webapp.roles import AREA_ROLES, PLACE_ROLES, STATION_TOKEN_PREFIX, Role, hash_station_token

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
AREA = re.compile(r"[0-9]{1,3}(?::[0-9]{1,6})?")  # a province code, or province:ward
MIN_PASSWORD_LENGTH = 12
TOTP_ISSUER = "truyvet"

_hasher = PasswordHasher()  # argon2id with the library's current parameters
# Checked when a username is unknown, so a wrong name costs the same time as a wrong password.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(IngestError):
    """An account or token request that cannot be carried out; the message says why."""


def create_user(username: str, full_name: str, role: str, password: str, *,
                places: Iterable[str] = (), areas: Iterable[str] = ()) -> User:
    """Add a staff account; officers and venue managers need places, officials and ward staff areas."""
    if not USERNAME.fullmatch(username):
        raise AccountError("usernames are 3-64 lowercase letters, digits, . _ or -")
    if role not in {r.value for r in Role} or role == Role.STATION:
        raise AccountError(f"unknown role {role!r}: one of officer, venue_manager, official, ward_staff, ops, admin")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"passwords have at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    place_rows = [_place(code) for code in places]
    area_list = list(areas)
    if role in PLACE_ROLES and not place_rows:
        raise AccountError(f"a {role} is bound to at least one place (--place)")
    if role == Role.OFFICIAL and not area_list:
        raise AccountError("an official is bound to at least one province or ward (--area 79 or 79:26734)")
    if role == Role.WARD_STAFF and not area_list:
        raise AccountError("ward staff are bound to at least one ward (--area 79:26734)")
    if role not in AREA_ROLES and area_list:
        raise AccountError(f"a {role} is not bound to areas")
    for area in area_list:
        if not AREA.fullmatch(area):
            raise AccountError(f"area {area!r} is not a province code or province:ward")
        if role == Role.WARD_STAFF and ":" not in area:
            raise AccountError(f"ward staff are bound to wards, not to a whole province: {area!r} is no province:ward")
    user = User(username=username, full_name=full_name, role=role, password_hash=_hasher.hash(password),
                places=place_rows, areas=area_list)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, else None (same time either way)."""
    user = db.session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _UNKNOWN_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.commit()
    return user


def disable_user(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    user.active = False
    db.session.commit()
    return user


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(user: User, secret: str) -> str:
    """What an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def totp_matches(secret: str, code: str) -> bool:
    """A six-digit code of this or the neighbouring 30-second step (clocks drift)."""
    code = code.strip().replace(" ", "")
    return code.isascii() and code.isdigit() and pyotp.TOTP(secret).verify(code, valid_window=1)


def enrol_totp(user: User, secret: str) -> None:
    user.totp_secret = secret
    db.session.commit()


def issue_station_token(place_code: str, label: str, created_by: int | None = None) -> tuple[StationToken, str]:
    """A new device token for one place: the token is shown once, only its hash is kept."""
    _place(place_code)
    token = STATION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    station = StationToken(place_code=place_code, label=label, token_hash=hash_station_token(token),
                           created_by=created_by)
    db.session.add(station)
    db.session.commit()
    return station, token


def revoke_station_token(token_id: int) -> StationToken:
    station = db.session.get(StationToken, token_id)
    if station is None:
        raise AccountError(f"no station token {token_id}")
    station.revoked_at = station.revoked_at or utcnow()
    db.session.commit()
    return station


def _place(code: str) -> Place:
    place = db.session.get(Place, code)
    if place is None:
        raise AccountError(f"no place {code!r} (add it with `truyvet place add`)")
    return place
