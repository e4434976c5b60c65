"""What another site or a crafted parameter can do: nothing.

- **CSRF on every form**: every POST route of the URL map, sent by a signed-in browser session of
  a role that may use it but without the CSRF token, is refused (400) and changes nothing. The
  only exceptions are named below with why no cookie can be ridden there.
- **Injection on every search and trace parameter**: SQL and ClickHouse payloads in each query
  parameter of the officials' and wards' pages and API are answered below 500, find no one, and
  leave the registry and the warehouse as they were.
"""
from __future__ import annotations

import re
from datetime import date
from urllib.parse import quote

import pytest

from ingest.units import wards
from tests.conftest import random_cccd
from tests.staff import add_staff, sign_in
from webapp.extensions import db
from webapp.models import Citizen
from webapp.roles import ANYONE, Role, allowed_roles

# POST routes that take no cookie-authenticated form: nothing another site's page could ride.
NO_SESSION_NEEDED = {
    "citizen.api_declare": "JSON from anyone; the answer goes to the sender, no session is read",
    "citizen.api_card_qr": "JSON, reads the text a camera gave, changes nothing",
    "checkpoint.self_check_in": "JSON from anyone with a personal QR token; no session is read",
}
SAMPLE = {"place_code": "CP-HN-01", "event_id": "0" * 32, "ward_code": 70}
HANOI_WARD = 70


def post_routes(app):
    return sorted((rule.endpoint, rule) for rule in app.url_map.iter_rules() if "POST" in rule.methods)


def session_for(app, roles) -> object:
    """A browser session of a role that may use the route (anonymous for public ones), without a CSRF header."""
    client = app.test_client()
    staff = [role for role in roles if role not in (ANYONE, Role.STATION)]
    if staff:
        role = staff[0]
        sign_in(client, add_staff(app, role, areas=("1",) if role == Role.OFFICIAL else ()))
    return client


def test_every_form_refuses_a_post_without_its_csrf_token(app):
    refused, unexpected = [], []
    for endpoint, rule in post_routes(app):
        if endpoint in NO_SESSION_NEEDED:
            continue
        url = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(SAMPLE.get(m.group(1), random_cccd())), rule.rule)
        client = session_for(app, allowed_roles(app, endpoint))
        response = client.post(url, data={"status": "notified", "username": "x", "password": "y"})
        (refused if response.status_code == 400 else unexpected).append((endpoint, response.status_code))
    assert not unexpected, f"POST without a CSRF token was not refused: {unexpected}"
    assert len(refused) >= 10  # the walk found the forms


def test_the_routes_that_need_no_token_are_the_ones_named(app):
    from webapp.extensions import csrf

    exempt = {name.rsplit(".", 1)[-1] for name in csrf._exempt_views}
    posts = {endpoint for endpoint, _ in post_routes(app)}
    for endpoint in NO_SESSION_NEEDED:
        assert endpoint in posts and endpoint.split(".")[-1] in exempt


PAYLOADS = ["' OR '1'='1", "1' OR 1=1 --", "'; DROP TABLE citizens; --", "%' OR full_name LIKE '%",
            "0 UNION SELECT citizen_id FROM citizens", "{since:String}", "') OR ('a'='a", "\\'", "%00", "1e9999",
            "../../etc/passwd", "<script>alert(1)</script>"]


@pytest.fixture
def official(app):
    client = app.test_client()
    sign_in(client, add_staff(app, Role.OFFICIAL, areas=("1",)))
    return client


@pytest.fixture
def registered(app):
    citizen_id = random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name="Nguyễn Thị Thử", date_of_birth=date(1991, 2, 3),
                               sex="Nữ", province_code=1, ward_code=HANOI_WARD, phone="0911222333"))
        db.session.commit()
    return citizen_id


def urls_with(payload: str, person: str) -> list[str]:
    why = "reason=case_investigation"
    p = quote(payload, safe="")
    return [
        f"/truy-vet?q={p}&{why}",
        f"/truy-vet/nguoi/{person}?before={p}&{why}",
        f"/truy-vet/ca/{person}?depth={p}&{why}", f"/truy-vet/ca/{person}?since={p}&{why}",
        f"/truy-vet/ca/{person}?until={p}&{why}", f"/truy-vet/ca/{person}?rules={p}&{why}",
        f"/truy-vet/dia-diem/{p}?{why}", f"/truy-vet/dia-diem/CP-HN-01?since={p}&{why}",
        f"/canh-bao/{HANOI_WARD}?ngay={p}&{why}", f"/canh-bao/{HANOI_WARD}/in?ngay={p}&{why}",
        f"/api/v1/traces/{person}?depth={p}&{why}", f"/api/v1/traces/{person}?since={p}&{why}",
        f"/api/v1/traces/{person}?rules={p}&{why}", f"/api/v1/traces/{person}?format={p}&{why}",
        f"/api/v1/traces/{p}?{why}", f"/api/v1/citizens/{p}/scans?{why}",
        f"/api/v1/citizens/{person}/scans?limit={p}&{why}", f"/api/v1/citizens/{person}/scans?before={p}&{why}",
        f"/api/v1/places/{p}/presences?{why}", f"/api/v1/places/CP-HN-01/contacts?until={p}&{why}",
        f"/api/v1/wards/{HANOI_WARD}/alerts?since={p}&{why}",
        f"/truy-vet?q=Th%E1%BB%AD&reason={p}",
    ]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_crafted_parameters_are_answered_below_500_and_find_no_one(app, official, registered, warehouse, payload):
    from tests.staff import add_place

    add_place(app, "CP-HN-01")
    with app.app_context():
        people_before = db.session.scalar(db.select(db.func.count()).select_from(Citizen))
    scans_before = warehouse.command("SELECT count() FROM scans")

    for url in urls_with(payload, registered):
        response = official.get(url)
        assert response.status_code < 500, (url, response.status_code)
        if url.startswith("/truy-vet?q="):
            assert "Nguyễn Thị Thử" not in response.get_data(as_text=True), url

    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Citizen)) == people_before
    assert warehouse.command("SELECT count() FROM scans") >= scans_before  # nothing dropped or deleted
    found = official.get("/truy-vet?q=nguyen%20thi%20thu&reason=case_investigation").get_data(as_text=True)
    assert "Nguyễn Thị Thử" in found  # and the search still works


def test_a_ward_staff_cannot_reach_another_ward_by_crafting_its_code(app):
    client = app.test_client()
    sign_in(client, add_staff(app, Role.WARD_STAFF, areas=(f"1:{HANOI_WARD}",)))
    other = next(code for code, _ in wards(1) if code != HANOI_WARD)
    for crafted in (f"{other}", f"0{other}", f"{HANOI_WARD}%20OR%201=1", f"{other}?ward_code={HANOI_WARD}"):
        response = client.get(f"/canh-bao/{crafted}&reason=case_investigation"
                              if "?" in crafted else f"/canh-bao/{crafted}?reason=case_investigation")
        assert response.status_code in (400, 404), (crafted, response.status_code)
