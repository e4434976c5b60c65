"""The case trace page of the officials' workspace: GET /truy-vet/ca/<citizen_id>."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from streams.records import VIETNAM_TIME
from tests.conftest import random_cccd
from tests.staff import add_staff, sign_in
from tests.test_warehouse.conftest import T0, random_place, scan
from warehouse.writer import write_scans
from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import Citizen
from webapp.roles import Role

H = timedelta(hours=1)
M = timedelta(minutes=1)
VENDOR = Path(__file__).parents[2] / "webapp" / "static" / "vendor"
LOCAL_INPUT = "%Y-%m-%dT%H:%M"
# The form's datetime-local inputs are Viet Nam time: T0 is 15:00 there.
WINDOW = {"since": (T0 - H).astimezone(VIETNAM_TIME).strftime(LOCAL_INPUT),
          "until": (T0 + 48 * H).astimezone(VIETNAM_TIME).strftime(LOCAL_INPUT)}
REASON = {"reason": "case_investigation"}


def register(app, citizen_id: str, full_name: str, phone: str, province_code: int = 1, ward_code: int = 4) -> None:
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name=full_name, date_of_birth=date(1990, 5, 1),
                               sex="Nữ", province_code=province_code, ward_code=ward_code, phone=phone))
        db.session.commit()


def meet(warehouse, case: str, f1: str, f2: str) -> tuple[str, str]:
    """The case meets F1 at a market; F1 meets F2 at a school three hours later."""
    market, school = random_place(), random_place()
    write_scans(warehouse, [
        scan(f"{case}-1", case, ts=T0, place_id=market),
        scan(f"{f1}-1", f1, ts=T0 + 20 * M, place_id=market),
        scan(f"{f1}-2", f1, ts=T0 + 3 * H, place_id=school),
        scan(f"{f1}-3", f1, ts=T0 + 4 * H, place_id=school, direction="out"),
        scan(f"{f2}-1", f2, ts=T0 + 3 * H, place_id=school),
        scan(f"{f2}-2", f2, ts=T0 + 4 * H, place_id=school, direction="out"),
    ])
    return market, school


@pytest.fixture
def chain(app, warehouse):
    """A case, an F1 and an F2, all living in Hà Nội (province 1, the official's area)."""
    people = dict(case=random_cccd(), f1=random_cccd(), f2=random_cccd())
    register(app, people["case"], "Trần Thị Ca", "0911000000", ward_code=4)
    register(app, people["f1"], "Lê Văn Một", "0911111111", ward_code=277)
    register(app, people["f2"], "Phạm Thị Hai", "0922222222", ward_code=167)
    market, school = meet(warehouse, people["case"], people["f1"], people["f2"])
    return people | {"market": market, "school": school}


def page_url(citizen_id: str, **args: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in args.items())
    return f"/truy-vet/ca/{citizen_id}?{query}"


def trace_data(html: str) -> dict | None:
    found = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1)) if found else None


def table(html: str, tier: int) -> str:
    found = re.search(rf'<table class="data contacts" id="contacts-f{tier}">(.*?)</table>', html, re.S)
    assert found, f"no table for F{tier}"
    return found.group(1)


def audit_entries(app) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_without_a_reason_the_page_is_the_form_alone_and_nothing_is_read(app, official_client, chain):
    response = official_client.get(page_url(chain["case"], depth="2", **WINDOW))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="trace-form"' in html and 'name="reason"' in html
    assert "cần nêu lý do trước khi xem dữ liệu" in html
    assert trace_data(html) is None and "Trần Thị Ca" not in html
    assert audit_entries(app) == []


def test_with_a_reason_the_page_shows_the_tiers_the_contacts_and_audits_the_read(app, official_client, chain):
    response = official_client.get(page_url(chain["case"], depth="2", **WINDOW, **REASON))

    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    data = trace_data(html)
    assert data["tiers"] == {"1": 1, "2": 1}
    assert {node["citizen_id"]: node["tier"] for node in data["nodes"]} == {
        chain["case"]: 0, chain["f1"]: 1, chain["f2"]: 2}
    first, second = table(html, 1), table(html, 2)
    assert "Lê Văn Một" in first and "0911111111" in first and "Phường Bạch Mai" in first
    assert "Phạm Thị Hai" in second and "0922222222" in second and "Phường Cầu Giấy" in second
    assert "28/11/2026 15:" in first, "times in Viet Nam time"
    [entry] = audit_entries(app)
    assert (entry.what, entry.subject, entry.reason) == ("trace", chain["case"], "case_investigation")
    assert entry.detail["depth"] == "2" and entry.detail["outcome"] == "shown"


def test_the_graph_links_people_and_places_and_the_exports_are_the_same_trace(official_client, chain):
    html = official_client.get(page_url(chain["case"], depth="2", **WINDOW, **REASON)).get_data(as_text=True)

    data = trace_data(html)
    f1 = next(node for node in data["nodes"] if node["citizen_id"] == chain["f1"])
    assert f1["label"] == "Lê Văn Một" and f1["outside"] is False
    assert urlsplit(f1["href"]).path == f"/truy-vet/nguoi/{chain['f1']}"
    assert parse_qs(urlsplit(f1["href"]).query)["reason"] == ["case_investigation"]
    places = {urlsplit(edge["href"]).path for edge in data["edges"]}
    assert places == {f"/truy-vet/dia-diem/{chain['market']}", f"/truy-vet/dia-diem/{chain['school']}"}
    assert 'src="/static/trace.js"' in html and "<script>" not in html, "no inline script"

    exports = dict(re.findall(r'<a class="button button-link" href="([^"]+)" download>([^<]+)</a>', html))
    assert sorted(exports.values()) == ["CSV", "Go.Data", "GraphML"]
    csv_link = next(href for href, label in exports.items() if label == "CSV").replace("&amp;", "&")
    assert csv_link.startswith(f"/api/v1/traces/{chain['case']}?")
    exported = official_client.get(csv_link)
    assert exported.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))) == 2


def test_each_contact_has_a_follow_up_form_coming_back_here(official_client, chain):
    url = page_url(chain["case"], depth="2", **WINDOW, **REASON)

    html = official_client.get(url).get_data(as_text=True)

    forms = re.findall(r'<form method="post" action="([^"]+)" class="inline-form[^"]*">.*?name="next" value="([^"]+)"', html, re.S)
    assert {action for action, _ in forms} == {f"/truy-vet/nguoi/{chain[who]}/trang-thai" for who in ("f1", "f2")}
    assert {back.replace("&amp;", "&") for _, back in forms} == {url}
    assert 'name="csrf_token"' in html and 'value="quarantined"' in html


def test_a_status_changed_from_the_table_shows_when_the_page_comes_back(official_client, chain):
    url = page_url(chain["case"], depth="2", **WINDOW, **REASON)
    html = official_client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    answer = official_client.post(f"/truy-vet/nguoi/{chain['f1']}/trang-thai", follow_redirects=True,
                                  data={"csrf_token": token, "status": "quarantined", "next": url})

    assert answer.request.full_path == url
    row = re.search(rf'<tr data-citizen="{chain["f1"]}">(.*?)</tr>', answer.get_data(as_text=True), re.S).group(1)
    assert '<span class="status status-quarantined">Đang cách ly</span>' in row


def test_someone_living_outside_the_area_shows_under_a_pseudonym_with_their_ward_only(app, official_client, warehouse):
    case, f1, f2 = random_cccd(), random_cccd(), random_cccd()
    register(app, case, "Trần Thị Ca", "0911000000")
    register(app, f1, "Lê Văn Một", "0911111111")
    register(app, f2, "Võ Văn Xa", "0933333333", province_code=79, ward_code=26887)
    meet(warehouse, case, f1, f2)

    html = official_client.get(page_url(case, depth="2", **WINDOW, **REASON)).get_data(as_text=True)

    second = table(html, 2)
    assert "ngoài phạm vi — cảnh báo đã chuyển về phường/xã nơi cư trú" in second
    assert "Thành phố Hồ Chí Minh" in second and "An Nhơn" in second
    assert "Võ Văn Xa" not in html and "0933333333" not in html and f2 not in html
    outside = next(node for node in trace_data(html)["nodes"] if node["tier"] == 2)
    assert outside["outside"] is True and outside["href"] is None and outside["label"].startswith("ngoai-")
    assert "/trang-thai" not in second, "their own ward follows them up"


def test_a_case_outside_the_area_is_answered_as_no_one(app, official_client):
    elsewhere = random_cccd()
    register(app, elsewhere, "Võ Văn Xa", "0933333333", province_code=79, ward_code=26887)

    nobody = random_cccd()
    outside = official_client.get(page_url(elsewhere, **REASON))
    unknown = official_client.get(page_url(nobody, **REASON))

    assert outside.status_code == unknown.status_code == 404
    assert outside.get_data(as_text=True).replace(elsewhere, "?") == unknown.get_data(as_text=True).replace(nobody, "?")
    assert "Võ Văn Xa" not in outside.get_data(as_text=True)


def test_only_health_officials_open_a_trace(app, client, chain):
    url = page_url(chain["case"], **REASON)

    anonymous = client.get(url)

    assert anonymous.status_code == 302 and "/dang-nhap" in anonymous.headers["Location"]
    for role in (Role.OFFICER, Role.VENUE_MANAGER, Role.WARD_STAFF, Role.OPS, Role.ADMIN):
        staff = app.test_client()
        sign_in(staff, add_staff(app, role))
        assert staff.get(url).status_code == 403, role


@pytest.mark.parametrize("args, field", [
    ({"depth": "9"}, "depth"), ({"depth": "0"}, "depth"), ({"rules": "no-such-rules"}, "rules"),
    ({"since": "yesterday"}, "since"), ({"since": "2026-10-01T08:00", "until": "2026-11-28T08:00"}, "until"),
])
def test_a_bad_field_is_a_400_with_its_message_beside_it(app, official_client, chain, args, field):
    response = official_client.get(page_url(chain["case"], **REASON, **args))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="{field}-error"' in html and f'data-error-field="{field}"' in html
    assert trace_data(html) is None
    typed = {name: value for name, value in args.items() if name != "rules"}  # rules: a select
    assert all(f'value="{value}"' in html for value in typed.values()), "the form keeps what was typed"


def test_a_trace_reading_too_much_says_so_on_the_form(official_client, chain, monkeypatch):
    from warehouse import traces
    monkeypatch.setattr(traces, "MAX_SCANS_READ", 1)

    response = official_client.get(page_url(chain["case"], **WINDOW, **REASON, lang="en"))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="since-error"' in html and "trace a shorter period or fewer tiers" in html
    assert trace_data(html) is None


def test_cytoscape_is_served_from_the_app_as_vendored(client):
    response = client.get("/static/vendor/cytoscape-3.35.0/cytoscape.min.js")

    assert response.status_code == 200
    digest = hashlib.sha256(response.data).hexdigest()
    assert f"`cytoscape-3.35.0/cytoscape.min.js`, sha256 `{digest}`" in (VENDOR / "README.md").read_text()
    assert (VENDOR / "cytoscape-3.35.0" / "LICENSE").read_text().startswith("Copyright (c) 2016-2026, The Cytoscape Consortium.")
