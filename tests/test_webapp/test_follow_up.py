"""Contact follow-up statuses: the page's form and POST /api/v1/contacts/<citizen_id>/status."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from importlib.resources import files
from unittest import mock

import pytest
from sqlalchemy import select

from streams import topics
from streams.records import VIETNAM_TIME
from tests.conftest import random_cccd
from tests.staff import add_staff, csrf_token, sign_in
from tests.test_webapp.test_openapi import assert_documented
from webapp.extensions import db
from webapp.followup import FollowUp, current_statuses
from webapp.models import Case, Citizen, OutboxEvent, User
from webapp.roles import Role

REASON = "reason=contact_follow_up"
API = "/api/v1/contacts/{citizen_id}/status"


def register(app, province_code: int = 1, ward_code: int = 70) -> str:
    citizen_id = random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name="Đỗ Văn Giang", date_of_birth=date(1985, 2, 3),
                               sex="male", province_code=province_code, ward_code=ward_code, phone="0912345678"))
        db.session.commit()
    return citizen_id


@pytest.fixture
def official(app):
    """An official of province 1 (username kept), signed in, with the CSRF header for JSON writes."""
    staff = add_staff(app, Role.OFFICIAL)
    client = app.test_client()
    sign_in(client, staff)
    client.staff = staff
    return client


def person_page(citizen_id: str) -> str:
    return f"/truy-vet/nguoi/{citizen_id}?{REASON}"


def set_status(client, citizen_id: str, **form) -> object:
    token = csrf_token(client, person_page(citizen_id))
    return client.post(f"/truy-vet/nguoi/{citizen_id}/trang-thai",
                       data={"csrf_token": token, "next": person_page(citizen_id), **form})


def rows(app, citizen_id: str) -> list[FollowUp]:
    with app.app_context():
        # FollowUp.changer loads with the row (lazy="joined"), so it is there after the session closes.
        return list(db.session.scalars(select(FollowUp).where(FollowUp.citizen_id == citizen_id).order_by(FollowUp.id)))


def cases_of(app, citizen_id: str) -> list[Case]:
    with app.app_context():
        return list(db.session.scalars(select(Case).where(Case.citizen_id == citizen_id)))


def staged_cases(app, citizen_id: str) -> list[OutboxEvent]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topics.CASES,
                                                                 OutboxEvent.key == citizen_id)))


# --- the page's form --------------------------------------------------------------------------

def test_a_status_change_is_kept_with_who_and_when_and_shown_in_the_history(app, official):
    person = register(app)
    before = datetime.now(timezone.utc)

    first = set_status(official, person, status="notified", note="Gọi điện lúc 9 giờ")
    second = set_status(official, person, status="quarantined")

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == person_page(person)
    [notified, quarantined] = rows(app, person)
    assert (notified.status, notified.note, quarantined.status) == ("notified", "Gọi điện lúc 9 giờ", "quarantined")
    assert notified.changer.username == official.staff.username
    assert before - timedelta(seconds=1) <= notified.changed_at.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)
    with app.app_context():
        assert current_statuses([person])[person].status == "quarantined"
    page = official.get(person_page(person)).get_data(as_text=True)
    assert "Đã chuyển trạng thái sang Đang cách ly." in page
    history = page.split('id="status-history"')[1].split("</table>")[0]
    assert history.index("Đang cách ly") < history.index("Đã thông báo")  # newest first
    assert official.staff.username in history and "Gọi điện lúc 9 giờ" in history
    shown = notified.changed_at.replace(tzinfo=timezone.utc).astimezone(VIETNAM_TIME)
    assert shown.strftime("%d/%m/%Y %H:%M") in history


def test_a_case_id_ties_the_status_to_the_case_whose_trace_found_the_person(app, official):
    person, case = register(app), register(app)
    with app.app_context():
        reporter = db.session.scalar(select(User.id))
        db.session.add(Case(case_id="k" * 32, citizen_id=case, date_kind="onset", case_date=date(2026, 11, 20),
                            reported_by=reporter))
        db.session.commit()

    set_status(official, person, status="notified", case_id="k" * 32)
    refused = set_status(official, person, status="notified", case_id="no-such-case")

    assert [row.case_id for row in rows(app, person)] == ["k" * 32]
    assert refused.status_code == 303
    assert "Mã ca bệnh: không có ca bệnh nào với mã này" in official.get(refused.headers["Location"]).get_data(as_text=True)


def test_a_bad_status_is_named_and_nothing_is_stored(app, official):
    person = register(app)

    response = set_status(official, person, status="cured", note="x" * 201)

    assert response.status_code == 303 and rows(app, person) == []
    page = official.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-flash="error"' in page and "Trạng thái: phải là một trong notified" in page
    assert "Ghi chú: tối đa 200 ký tự" in page


def test_a_form_without_its_csrf_token_is_refused(app, official):
    person = register(app)

    response = official.post(f"/truy-vet/nguoi/{person}/trang-thai", data={"status": "notified"})

    assert response.status_code == 400 and rows(app, person) == []


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_next_goes_only_to_a_path_of_this_site(app, official, target):
    person = register(app)

    response = set_status(official, person, status="notified", next=target)

    assert response.headers["Location"] == f"/truy-vet/nguoi/{person}"


def test_next_may_be_another_workspace_page(app, official):
    person = register(app)
    trace = f"/truy-vet/ca/{random_cccd()}?depth=2&{REASON}"

    assert set_status(official, person, status="tested", next=trace).headers["Location"] == trace


def test_positive_reports_a_case_with_its_event_in_the_same_transaction(app, official):
    person = register(app)
    today = datetime.now(VIETNAM_TIME).date()

    response = set_status(official, person, status="positive")

    [case] = cases_of(app, person)
    assert (case.date_kind, case.case_date) == ("sample", today)
    [event] = staged_cases(app, person)
    assert json.loads(event.payload)["case_id"] == case.case_id
    assert [row.status for row in rows(app, person)] == ["positive"]
    page = official.get(response.headers["Location"]).get_data(as_text=True)
    assert "Đã báo cáo ca bệnh" in page and "sẽ nhận cảnh báo" in page
    assert case.case_id in page.split('id="cases"')[1]


def test_positive_stores_nothing_when_the_case_cannot_be_staged(app, official):
    person = register(app)
    token = csrf_token(official, person_page(person))

    with mock.patch("webapp.cases.outbox.add", side_effect=RuntimeError("outbox down")), \
            pytest.raises(RuntimeError, match="outbox down"):
        official.post(f"/truy-vet/nguoi/{person}/trang-thai", data={"csrf_token": token, "status": "positive"})

    assert rows(app, person) == [] and cases_of(app, person) == [] and staged_cases(app, person) == []


def test_positive_again_the_same_day_keeps_the_case_and_records_the_status(app, official):
    person = register(app)

    set_status(official, person, status="positive")
    again = set_status(official, person, status="positive", note="xét nghiệm lại")

    assert len(cases_of(app, person)) == 1 and len(staged_cases(app, person)) == 1
    assert [row.note for row in rows(app, person)] == [None, "xét nghiệm lại"]
    assert "đã được báo cáo trước đó" in official.get(again.headers["Location"]).get_data(as_text=True)


def test_the_status_of_someone_outside_the_scope_cannot_be_changed(app, official):
    elsewhere = register(app, province_code=79, ward_code=26734)
    token = csrf_token(official, "/truy-vet")

    for citizen_id in (elsewhere, random_cccd()):
        response = official.post(f"/truy-vet/nguoi/{citizen_id}/trang-thai", data={"csrf_token": token,
                                                                                   "status": "notified"})
        assert response.status_code == 404
    assert rows(app, elsewhere) == []


# --- the API ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def document():
    return json.loads(files("webapp").joinpath("openapi.json").read_text(encoding="utf-8"))


@pytest.fixture
def api(official):
    official.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(official, "/truy-vet")
    return official


def test_the_api_answers_the_new_status_row(app, api, document):
    person = register(app)

    response = api.post(API.format(citizen_id=person), json={"status": "tested", "note": "mẫu PCR"})

    assert response.status_code == 201, response.json
    assert_documented(document, response, API, "post")
    body = response.json
    assert (body["citizen_id"], body["status"], body["note"], body["case"]) == (person, "tested", "mẫu PCR", None)
    assert body["changed_by"] == api.staff.username and body["changed_at"].endswith("Z")
    assert [row.id for row in rows(app, person)] == [body["id"]]


def test_the_api_reports_a_case_for_positive(app, api, document):
    person = register(app)

    response = api.post(API.format(citizen_id=person), json={"status": "positive"})

    assert response.status_code == 201
    assert_documented(document, response, API, "post")
    assert response.json["new_case"] is True
    assert response.json["case"]["case_id"] == cases_of(app, person)[0].case_id
    assert response.json["case"]["alerts"]["ward_alerts"] == "/api/v1/wards/{ward_code}/alerts"
    again = api.post(API.format(citizen_id=person), json={"status": "positive"})
    assert again.json["new_case"] is False and again.json["case"]["case_id"] == response.json["case"]["case_id"]


@pytest.mark.parametrize("body, fields", [
    ({"status": "cured"}, {"status"}),
    ({}, {"status"}),
    ({"status": ["notified"]}, {"status"}),
    ({"status": "notified", "note": "x" * 201, "case_id": "nope"}, {"note", "case_id"}),
    ({"status": "notified", "note": 5}, {"note"}),
    ({"status": "notified", "colour": "red"}, {"body"}),
    (["notified"], {"body"}),
])
def test_the_api_names_each_bad_field(app, api, document, body, fields):
    person = register(app)

    response = api.post(API.format(citizen_id=person), json=body)

    assert response.status_code == 400
    assert set(response.json["errors"]) == fields
    assert_documented(document, response, API, "post")
    assert rows(app, person) == []


def test_the_api_answers_404_outside_the_scope_and_for_no_one(app, api, document):
    elsewhere = register(app, province_code=79, ward_code=26734)

    for citizen_id in (elsewhere, random_cccd()):
        response = api.post(API.format(citizen_id=citizen_id), json={"status": "notified"})
        assert response.status_code == 404
        assert_documented(document, response, API, "post")
    assert rows(app, elsewhere) == []


def test_the_api_needs_the_csrf_token_of_the_session(app, official, document):
    person = register(app)

    response = official.post(API.format(citizen_id=person), json={"status": "notified"})

    assert response.status_code == 400 and rows(app, person) == []
    assert_documented(document, response, API, "post")
