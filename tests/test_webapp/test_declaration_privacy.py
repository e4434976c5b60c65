"""What a stranger learns from declaring: whether it verified, and nothing the registry holds.

The JSON API, the form's result page and "my declarations" answer anyone; only staff (the
officer typing a paper form, an official) are told which fields differ from the registry.
Repeated unverified declarations for one ID are refused for an hour.
"""
from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from tests.factories import child, declaration
from tests.staff import add_place, add_staff, sign_in
from tests.test_webapp.test_citizen_pages import Page, open_form
from webapp.extensions import db
from webapp.models import Citizen, Declaration
from webapp.roles import Role

CCCD, CMND = "001090000001", "012345678"
REGISTERED = dict(full_name="Nguyễn Văn An", date_of_birth="1990-05-17", sex="male")
NEUTRAL = "Thông tin chưa khớp với Cơ sở dữ liệu quốc gia về dân cư, vui lòng kiểm tra lại thẻ CCCD"
NEUTRAL_EN = "The details do not match the national population database: please check them against your ID card"
FIELD_NAMES = ("Họ và tên", "Ngày sinh", "Giới tính", "full_name", "date_of_birth", "sex")


@pytest.fixture
def app(make_app):
    # A generous per-ID budget: these tests are about the unverified-declaration limit.
    app = make_app(declaration_rate_per_id="100/hour")
    with app.app_context():
        db.session.add(Citizen(citizen_id=CCCD, cmnd=CMND, full_name=REGISTERED["full_name"],
                               date_of_birth=date(1990, 5, 17), sex="male", province_code=1, ward_code=70,
                               phone="0912345678"))
        db.session.commit()
    return app


def post(client, **changes):
    return client.post("/api/v1/declarations", json=declaration(citizen_id=CCCD, **{**REGISTERED, **changes}))


def stored(app, declaration_id: str) -> Declaration:
    with app.app_context():
        return db.session.get(Declaration, declaration_id)


def verification_block(html: str) -> str:
    """The text of the registry check on a result page (one person's card)."""
    return Page(html.split('class="verification"', 1)[1].split("</div>", 1)[0]).text


# --- the JSON answer -------------------------------------------------------------------------------

def test_a_wrong_birth_date_is_answered_without_naming_the_field(app, client):
    response = post(client, date_of_birth="1990-05-18")

    assert response.status_code == 201
    assert response.json["verification"] == "mismatch"
    assert set(response.json) == {"declaration_id", "citizen_id", "verification", "qr_token", "qr_expires_at",
                                  "dependants"}
    assert not any(name in response.get_data(as_text=True) for name in FIELD_NAMES[3:])
    # Officials still read what differed.
    assert stored(app, response.json["declaration_id"]).mismatched_fields == ["date_of_birth"]


def test_a_number_not_in_the_registry_is_answered_like_a_mismatch(app, client):
    """Otherwise the answer would say which numbers belong to someone."""
    mismatch = post(client, full_name="Trần Văn Bình").json
    unknown = client.post("/api/v1/declarations", json=declaration(citizen_id="001090999999", **REGISTERED)).json

    assert mismatch["verification"] == unknown["verification"] == "mismatch"
    assert set(mismatch) == set(unknown)
    assert stored(app, unknown["declaration_id"]).verification == "unknown"


def test_a_cmnd_is_echoed_as_sent_never_as_the_cccd_behind_it(app, client):
    kid = child()
    response = client.post("/api/v1/declarations", json=declaration(
        citizen_id="012.345.678", **REGISTERED, dependants=[kid]))

    assert response.status_code == 201
    assert response.json["citizen_id"] == CMND
    assert response.json["verification"] == "verified"
    assert response.json["dependants"][0]["citizen_id"] == kid["citizen_id"]
    assert CCCD not in response.get_data(as_text=True)
    page = client.get(f"/khai-bao/{response.json['declaration_id']}").get_data(as_text=True)
    assert CCCD not in page and "•••••5678" in page  # the card's hint ends like the CMND sent
    assert stored(app, response.json["declaration_id"]).citizen_id == CCCD  # resolved for the pipeline


def test_a_cmnd_with_a_wrong_birth_date_says_nothing_of_its_holder(app, client):
    response = client.post("/api/v1/declarations", json=declaration(
        citizen_id=CMND, **{**REGISTERED, "date_of_birth": "1991-01-01"}))

    assert response.json == {**response.json, "citizen_id": CMND, "verification": "mismatch"}
    assert CCCD not in response.get_data(as_text=True)


# --- the pages -------------------------------------------------------------------------------------

def test_the_result_page_gives_the_neutral_answer_in_both_languages(app, client):
    form = open_form(client)
    data = dict(form.values, citizen_id="001 090 000001", phone="0912345678",
                **{**REGISTERED, "date_of_birth": "1990-06-17"})

    response = client.post("/khai-bao", data=data)

    assert response.status_code == 303
    vietnamese = verification_block(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Chưa xác thực" in vietnamese and NEUTRAL in vietnamese
    assert not any(name in vietnamese for name in FIELD_NAMES)
    english = verification_block(client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True))
    assert NEUTRAL_EN in english and "Date of birth" not in english


def test_my_declarations_give_the_neutral_answer_too(app, client):
    post(client, date_of_birth="1990-05-18")
    page = open_form(client, "/tra-cuu")

    response = client.post("/tra-cuu", data={"csrf_token": page.values["csrf_token"], "id_number": CCCD,
                                             "phone": "0912345678"})

    html = response.get_data(as_text=True)
    assert NEUTRAL in verification_block(html)
    assert "Ngày sinh" not in Page(html).text
    assert "Chưa xác thực" in Page(html).text


def test_staff_still_see_which_fields_differ(app, client):
    """The officer typing a paper form, and an official opening the result, are told the fields."""
    add_place(app, "CP-HN-01")
    officer = app.test_client()
    sign_in(officer, add_staff(app, Role.OFFICER, places=("CP-HN-01",)))
    form = Page(officer.get("/chot/CP-HN-01/nhap-giay").get_data(as_text=True))
    data = dict(form.values, **dict(form.checked), citizen_id=CCCD, phone="0912345678",
                **{**REGISTERED, "date_of_birth": "1990-05-18"})

    response = officer.post("/chot/CP-HN-01/nhap-giay", data=data)

    assert response.status_code == 303, response.get_data(as_text=True)
    shown = verification_block(officer.get(response.headers["Location"]).get_data(as_text=True))
    assert "Các thông tin sau khác với Cơ sở dữ liệu quốc gia về dân cư: Ngày sinh." in shown

    with app.app_context():
        declared = db.session.scalars(select(Declaration).where(Declaration.id_number == CCCD)).one()
    official = app.test_client()
    sign_in(official, add_staff(app, Role.OFFICIAL))
    assert "Ngày sinh" in verification_block(official.get(f"/khai-bao/{declared.id}").get_data(as_text=True))
    assert "Ngày sinh" not in verification_block(client.get(f"/khai-bao/{declared.id}").get_data(as_text=True))


# --- repeated unverified declarations ----------------------------------------------------------------

def test_five_unverified_declarations_for_an_id_hold_it_back_for_an_hour(app, client):
    statuses = [post(client, date_of_birth=f"1990-05-{day:02}").status_code for day in range(1, 7)]
    assert statuses == [201] * 5 + [429]

    refused = post(client)  # even the right birth date: it could be the 366th guess
    assert refused.status_code == 429
    assert refused.json["error"].startswith("Nhiều tờ khai với số giấy tờ này chưa khớp")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    english = client.post("/api/v1/declarations?lang=en", json=declaration(citizen_id=CCCD, **REGISTERED))
    assert english.json["error"].startswith("Several declarations for this ID number did not match")

    # However it is typed, through its CMND, or as someone's dependant.
    assert post(client).status_code == 429
    assert client.post("/api/v1/declarations", json=declaration(citizen_id="001 090-000.001", **REGISTERED)
                       ).status_code == 429
    assert client.post("/api/v1/declarations", json=declaration(citizen_id=CMND, **REGISTERED)).status_code == 429
    assert client.post("/api/v1/declarations", json=declaration(dependants=[
        {"citizen_id": CCCD, **REGISTERED, "relation": "spouse"}])).status_code == 429
    assert client.post("/api/v1/declarations", json=declaration()).status_code == 201  # others go on
    with app.app_context():
        assert len(db.session.scalars(select(Declaration).where(Declaration.citizen_id == CCCD)).all()) == 5


def test_verified_declarations_are_not_counted(app, client):
    assert [post(client).status_code for _ in range(8)] == [201] * 8
    assert [post(client, full_name="Trần Văn Bình").status_code for _ in range(5)] == [201] * 5
    assert post(client, full_name="Trần Văn Bình").status_code == 429


def test_unverified_cmnd_and_dependant_declarations_count_for_the_cccd(app, client):
    wrong = {**REGISTERED, "date_of_birth": "1990-01-01"}
    for n in range(2):
        assert client.post("/api/v1/declarations", json=declaration(citizen_id=CMND, **wrong)).status_code == 201
    for n in range(3):
        assert client.post("/api/v1/declarations", json=declaration(dependants=[
            {"citizen_id": CCCD, **wrong, "relation": "spouse"}])).status_code == 201
    assert post(client).status_code == 429


def test_numbers_not_in_the_registry_count_too(app, client):
    """Counting only mismatches would tell a stranger, after a few tries, which numbers exist."""
    payload = declaration()
    assert [client.post("/api/v1/declarations", json=payload).status_code for _ in range(6)] == [201] * 5 + [429]


def test_a_retry_of_the_same_declaration_is_counted_once(app, client):
    headers = {"Idempotency-Key": "tap-000000001"}
    payload = declaration(citizen_id=CCCD, **{**REGISTERED, "full_name": "Trần Văn Bình"})
    for _ in range(6):
        assert client.post("/api/v1/declarations", json=payload, headers=headers).status_code == 201
    assert post(client).status_code == 201


def test_the_form_keeps_the_answers_when_the_id_is_held_back(app, client):
    page = open_form(client)
    answers = dict(page.values, citizen_id=CCCD, phone="0912345678", **{**REGISTERED, "full_name": "Trần Văn Bình"})
    for n in range(5):
        assert client.post("/khai-bao", data={**answers, "idempotency_key": f"tap-{n}-of-five"}).status_code == 303

    response = client.post("/khai-bao", data=answers)

    assert response.status_code == 429
    shown = Page(response.get_data(as_text=True))
    assert "Nhiều tờ khai với số giấy tờ này chưa khớp với Cơ sở dữ liệu quốc gia về dân cư" in shown.text
    assert shown.values["citizen_id"] == CCCD and shown.values["full_name"] == "Trần Văn Bình"


def test_the_declaration_event_still_carries_the_fields_for_the_pipeline(app, client):
    from webapp.models import OutboxEvent

    response = post(client, date_of_birth="1990-05-18")
    with app.app_context():
        staged = [json.loads(row.payload) for row in db.session.scalars(select(OutboxEvent))]
    [event] = [e for e in staged if e["declaration_id"] == response.json["declaration_id"]]
    assert (event["citizen_id"], event["verification"], event["mismatched_fields"]) == (
        CCCD, "mismatch", ["date_of_birth"])
