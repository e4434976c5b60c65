"""Who may use what: roles, the principal of a request, and the rule that every route says.

Every view declares its roles with :func:`allow` (``ANYONE`` for public pages); the app refuses
to start when a route declares nothing (:func:`check_declared`), and a ``before_request`` hook
refuses a request whose principal lacks the role: 401 to strangers, 403 to the wrong role.
A session user is a staff account (Flask-Login); a station device sends a bearer token.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from flask import Flask, g, redirect, request, url_for
from flask_login import LoginManager, current_user
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, Unauthorized

from webapp.errors import wants_json
from webapp.extensions import db
from webapp.models import StationToken, User

ANYONE = "anyone"
STATION_TOKEN_PREFIX = "tvst_"
View = TypeVar("View", bound=Callable)


class Role(StrEnum):
    OFFICER = "officer"  # checkpoint officer, bound to places
    VENUE_MANAGER = "venue_manager"  # bound to places
    OFFICIAL = "official"  # health official, bound to provinces or wards
    WARD_STAFF = "ward_staff"  # a ward's health station or police, bound to wards: their alerts only
    OPS = "ops"
    ADMIN = "admin"
    STATION = "station"  # a device token bound to one place, not a person


STAFF_ROLES = (Role.OFFICER, Role.VENUE_MANAGER, Role.OFFICIAL, Role.WARD_STAFF, Role.OPS, Role.ADMIN)
PLACE_ROLES = (Role.OFFICER, Role.VENUE_MANAGER)
AREA_ROLES = (Role.OFFICIAL, Role.WARD_STAFF)  # bound to areas: see webapp.scope
# Those who read personal data or change who may: a password alone is not enough.
TWO_FACTOR_ROLES = (Role.OFFICIAL, Role.WARD_STAFF, Role.ADMIN)
SCANNING_ROLES = (Role.OFFICER, Role.VENUE_MANAGER, Role.STATION)


@dataclass(frozen=True)
class Principal:
    """Who is asking: a signed-in staff user or a station device."""

    role: Role
    name: str
    places: frozenset[str]
    areas: tuple[str, ...] = ()
    user_id: int | None = None
    station_id: int | None = None

    @property
    def by_session(self) -> bool:
        """Signed in through the browser (cookies): its writes need a CSRF token."""
        return self.station_id is None

    def may_scan_at(self, place_code: str) -> bool:
        return self.role in SCANNING_ROLES and place_code in self.places


def allow(*roles: str) -> Callable[[View], View]:
    """Declare who may use a view: roles, or ``ANYONE``."""
    if not roles:
        raise ValueError("a view must allow at least one role, or ANYONE")

    def declare(view: View) -> View:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return view

    return declare


def current_principal() -> Principal | None:
    return g.get("principal")


def hash_station_token(token: str) -> str:
    """Tokens are long random strings: a plain SHA-256 is enough to keep them unusable if read."""
    return hashlib.sha256(token.encode()).hexdigest()


login_manager = LoginManager()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(_authorize)


def check_declared(app: Flask) -> None:
    """Refuse to build an app with a route that does not say who may use it."""
    silent = sorted(endpoint for endpoint, view in app.view_functions.items()
                    if endpoint != "static" and not getattr(view, "allowed_roles", None))
    if silent:
        raise RuntimeError(f"routes without declared roles: {', '.join(silent)}")


def allowed_roles(app: Flask, endpoint: str) -> frozenset[str]:
    if endpoint == "static":
        return frozenset({ANYONE})
    return app.view_functions[endpoint].allowed_roles


def _authorize():
    from flask import current_app

    g.principal = _principal()
    if request.endpoint is None:  # no route: the 404 (or 405) handler answers
        return None
    roles = allowed_roles(current_app, request.endpoint)
    if ANYONE in roles:
        return None
    principal = g.principal
    if principal is None:
        if wants_json():
            raise Unauthorized("sign in, or send a station token")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if principal.role not in roles:
        raise Forbidden("your role may not use this")
    return None


def _principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return _station(header.removeprefix("Bearer ").strip())
    if current_user.is_authenticated:
        user: User = current_user  # type: ignore[assignment]
        return Principal(role=Role(user.role), name=user.full_name, places=user.place_codes,
                         areas=tuple(user.areas or ()), user_id=user.id)
    return None


def _station(token: str) -> Principal | None:
    if not token.startswith(STATION_TOKEN_PREFIX):
        return None
    station = db.session.scalar(select(StationToken).where(
        StationToken.token_hash == hash_station_token(token), StationToken.revoked_at.is_(None)))
    if station is None:
        return None
    return Principal(role=Role.STATION, name=station.label, places=frozenset({station.place_code}),
                     station_id=station.id)
