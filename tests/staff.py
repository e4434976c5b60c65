"""Test helpers for staff: places, accounts with their second factor, signing in like a browser."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pyotp

from webapp import accounts
from webapp.extensions import db
from webapp.models import Place
from webapp.roles import TWO_FACTOR_ROLES, Role

PASSWORD = "đúng-ngựa-pin-ghim"  # 18 characters, over the minimum


@dataclass(frozen=True)
class Staff:
    username: str
    role: str
    totp_secret: str | None = None


def add_place(app, code: str = "CP-HN-01", kind: str = "checkpoint", name: str = "Chốt Pháp Vân",
              province_code: int = 1) -> str:
    with app.app_context():
        if db.session.get(Place, code) is None:
            db.session.add(Place(code=code, kind=kind, name=name, province_code=province_code))
            db.session.commit()
    return code


def add_staff(app, role: str, places: tuple[str, ...] = (), areas: tuple[str, ...] = ()) -> Staff:
    """A new account of ``role``; officers get a place if none is given, officials an area."""
    if role in (Role.OFFICER, Role.VENUE_MANAGER):
        places = tuple(add_place(app, code) for code in places or ("CP-HN-01",))
    if role == Role.OFFICIAL and not areas:
        areas = ("1",)
    if role == Role.WARD_STAFF and not areas:
        areas = ("1:70",)
    username = f"{role.replace('_', '-')}-{secrets.token_hex(3)}"
    with app.app_context():
        user = accounts.create_user(username, "Cán bộ Thử", role, PASSWORD, places=places, areas=areas)
        secret = None
        if role in TWO_FACTOR_ROLES:
            secret = accounts.new_totp_secret()
            accounts.enrol_totp(user, secret)
    return Staff(username, role, secret)


def csrf_token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def sign_in(client, staff: Staff) -> None:
    """Sign in through the pages, second factor included; assert it worked."""
    response = client.post("/dang-nhap", data={"username": staff.username, "password": PASSWORD,
                                               "csrf_token": csrf_token(client, "/dang-nhap")})
    assert response.status_code == 302, response.get_data(as_text=True)
    if staff.totp_secret:
        token = csrf_token(client, "/dang-nhap/ma-xac-thuc")
        response = client.post("/dang-nhap/ma-xac-thuc", data={
            "code": pyotp.TOTP(staff.totp_secret).now(), "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)


def station_headers(app, place_code: str = "CP-HN-01") -> dict[str, str]:
    """The Authorization header of a new station device at ``place_code`` (created if missing)."""
    add_place(app, place_code)
    with app.app_context():
        _, token = accounts.issue_station_token(place_code, f"test device at {place_code}")
    return {"Authorization": f"Bearer {token}"}
