"""The wards' alert pages (/canh-bao): who sees which ward, the reason first, acting on an alert, the A4 day list."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from streams.records import VIETNAM_TIME, ExposureAlert
from tests.conftest import random_cccd
from tests.staff import add_staff, csrf_token, sign_in, station_headers
from warehouse.alerts import write_alerts
from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import Citizen, Place
from webapp.roles import Role
from webapp.workspace.ward_alerts import AlertAction

NOW = datetime.now(timezone.utc)
TODAY = NOW.astimezone(VIETNAM_TIME).date()
H = timedelta(hours=1)
HOAN_KIEM, CUA_NAM = 70, 73  # wards of Hà Nội (province 1)
HCMC_WARD = 26734  # a ward of Hồ Chí Minh City (province 79)
REASON = {"reason": "contact_follow_up"}


def register(app, full_name: str, ward_code: int = HOAN_KIEM, province_code: int = 1,
             phone: str = "0912345678") -> str:
    citizen_id = random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name=full_name, date_of_birth=date(1985, 3, 9),
                               sex="female", province_code=province_code, ward_code=ward_code, phone=phone))
        db.session.commit()
    return citizen_id


def alert(warehouse, contact: str, ward_code: int = HOAN_KIEM, alerted_at: datetime = NOW - H,
          **changes) -> ExposureAlert:
    """An alert for ``contact``, stored in the warehouse."""
    values = dict(event_id=uuid.uuid4().hex, case_id=uuid.uuid4().hex, case_citizen_id=random_cccd(),
                  contact_citizen_id=contact, tier=1, first_exposure=alerted_at - 5 * H, place_id="CHO-DONG-XUAN",
                  criterion="point_window", source="stream", alerted_at=alerted_at, ward_code=ward_code,
                  province_code=1 if ward_code else 0)
    found = ExposureAlert(**{**values, **changes})
    write_alerts(warehouse, [found])
    return found


def signed_in(app, role: str, areas: tuple[str, ...] = ()):
    client = app.test_client()
    if role == Role.STATION:
        client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    elif role != "anonymous":
        sign_in(client, add_staff(app, role, areas=areas))
    return client


def audit_entries(app) -> list[AuditEntry]:
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        db.session.expunge_all()
        return entries


def actions(app) -> list[AlertAction]:
    with app.app_context():
        rows = db.session.scalars(select(AlertAction).order_by(AlertAction.id)).all()
        db.session.expunge_all()
        return rows


def act(client, ward_code: int, event_id: str, with_token: bool = True, **form):
    if with_token:
        form["csrf_token"] = csrf_token(client, "/canh-bao")
    return client.post(f"/canh-bao/{ward_code}/{event_id}", data=form)


@pytest.fixture
def ward_staff(app):
    return signed_in(app, Role.WARD_STAFF)  # bound to ward 70 (1:70)


@pytest.fixture
def official(app):
    return signed_in(app, Role.OFFICIAL)  # bound to province 1


# -- who sees which ward ---------------------------------------------------------------------------

def test_ward_staff_see_their_wards_alerts_newest_first_and_no_other_ward(app, warehouse, ward_staff):
    older = alert(warehouse, register(app, "Trần Thị Bình", phone="0987654321"), alerted_at=NOW - 3 * H)
    newer = alert(warehouse, register(app, "Lê Văn Cường"), tier=2, alerted_at=NOW - H)
    alert(warehouse, register(app, "Phạm Thị Dung", ward_code=CUA_NAM), ward_code=CUA_NAM)

    page = ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string=REASON)

    body = page.get_data(as_text=True)
    assert page.status_code == 200, body
    assert "Phường Hoàn Kiếm" in body and "Thành phố Hà Nội" in body
    assert body.index("Lê Văn Cường") < body.index("Trần Thị Bình")
    assert "0987654321" in body and "1985" in body and "F2" in body
    assert f'id="alert-{older.event_id}"' in body and f'id="alert-{newer.event_id}"' in body
    assert "Phạm Thị Dung" not in body
    assert "Chưa tiếp nhận" in body
    for other in (CUA_NAM, HCMC_WARD, 0):
        assert ward_staff.get(f"/canh-bao/{other}", query_string=REASON).status_code == 404
        assert ward_staff.get(f"/canh-bao/{other}/in", query_string=REASON).status_code == 404


def test_an_official_sees_the_wards_of_their_province_and_not_another_provinces(app, warehouse, official):
    alert(warehouse, register(app, "Phạm Thị Dung", ward_code=CUA_NAM), ward_code=CUA_NAM)

    page = official.get(f"/canh-bao/{CUA_NAM}", query_string=REASON)

    assert page.status_code == 200 and "Phạm Thị Dung" in page.get_data(as_text=True)
    assert official.get(f"/canh-bao/{HCMC_WARD}", query_string=REASON).status_code == 404


def test_an_official_bound_to_one_ward_sees_only_that_ward(app, warehouse):
    client = signed_in(app, Role.OFFICIAL, areas=("79:26734",))
    assert client.get(f"/canh-bao/{HCMC_WARD}", query_string=REASON).status_code == 200
    assert client.get(f"/canh-bao/{HOAN_KIEM}", query_string=REASON).status_code == 404


@pytest.mark.parametrize("role", [Role.OFFICER, Role.VENUE_MANAGER, Role.OPS, Role.ADMIN, Role.STATION])
def test_other_roles_are_refused(app, warehouse, role):
    client = signed_in(app, role)
    contact = alert(warehouse, register(app, "Trần Thị Bình"))

    for path in ("/canh-bao", f"/canh-bao/{HOAN_KIEM}", f"/canh-bao/{HOAN_KIEM}/in"):
        assert client.get(path, query_string=REASON).status_code == 403, path
    if role != Role.STATION:
        token = csrf_token(client, "/dang-nhap")
        refused = client.post(f"/canh-bao/{HOAN_KIEM}/{contact.event_id}", data={"status": "acknowledged",
                                                                                  "csrf_token": token})
        assert refused.status_code == 403
    assert actions(app) == []


def test_strangers_are_sent_to_sign_in(app, client):
    for path in ("/canh-bao", f"/canh-bao/{HOAN_KIEM}?reason=contact_follow_up", f"/canh-bao/{HOAN_KIEM}/in"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/dang-nhap" in answer.headers["Location"], path
    assert client.post(f"/canh-bao/{HOAN_KIEM}/{'0' * 32}", data={"status": "done"}).status_code == 302


# -- the reason first, and the audit ---------------------------------------------------------------

@pytest.mark.parametrize("query", [{}, {"reason": "curious"}, {"reason": "other:", "reason_other": "hi"},
                                   {**REASON, "ngay": "28/11/2026"}, {**REASON, "ngay": "2999-01-01"}])
def test_without_a_valid_reason_or_day_the_form_answers_and_nothing_is_read(app, warehouse, ward_staff, query):
    contact = alert(warehouse, register(app, "Trần Thị Bình", phone="0987654321"))

    for path in (f"/canh-bao/{HOAN_KIEM}", f"/canh-bao/{HOAN_KIEM}/in"):
        page = ward_staff.get(path, query_string=query)

        body = page.get_data(as_text=True)
        assert page.status_code == 400
        assert 'name="reason"' in body and 'name="ngay"' in body and 'class="field-error"' in body
        assert "Trần Thị Bình" not in body and "0987654321" not in body and contact.event_id not in body
    assert audit_entries(app) == []


def test_every_view_of_a_wards_alerts_is_audited(app, warehouse, ward_staff):
    alert(warehouse, register(app, "Trần Thị Bình"))

    ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string=REASON)
    ward_staff.get(f"/canh-bao/{HOAN_KIEM}/in", query_string={"ngay": TODAY.isoformat(),
                                                              "reason": "other:", "reason_other": "in cho tổ dân phố"})
    ward_staff.get(f"/canh-bao/{CUA_NAM}", query_string=REASON)
    ward_staff.get("/canh-bao")

    entries = audit_entries(app)
    assert [(entry.what, entry.subject, entry.detail, entry.reason, entry.role) for entry in entries] == [
        ("alerts", "70", {"view": "list", "outcome": "shown"}, "contact_follow_up", "ward_staff"),
        ("alerts", "70", {"view": "print", "ngay": TODAY.isoformat(), "outcome": "shown"},
         "other:in cho tổ dân phố", "ward_staff"),
        ("alerts", "73", {"view": "list", "outcome": "not_found"}, "contact_follow_up", "ward_staff"),
    ]


# -- acting on an alert ----------------------------------------------------------------------------

def test_acknowledging_records_who_and_when_and_shows_on_the_list(app, warehouse, ward_staff):
    contact = alert(warehouse, register(app, "Trần Thị Bình"))
    day = (NOW - H).astimezone(VIETNAM_TIME).date().isoformat()

    answer = act(ward_staff, HOAN_KIEM, contact.event_id, status="acknowledged", note="  Đã gọi lần 1 ", ngay=day,
                 **REASON)

    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert location.path == f"/canh-bao/{HOAN_KIEM}" and location.fragment == f"alert-{contact.event_id}"
    assert parse_qs(location.query) == {"ngay": [day], "reason": ["contact_follow_up"]}
    [recorded] = actions(app)
    assert (recorded.alert_id, recorded.ward_code, recorded.status, recorded.note) == (
        contact.event_id, HOAN_KIEM, "acknowledged", "Đã gọi lần 1")
    assert abs(recorded.at.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    body = ward_staff.get(f"{location.path}?{location.query}").get_data(as_text=True)
    row = re.search(rf'<tr id="alert-{contact.event_id}">.*?</tr>', body, re.S).group(0)
    assert "Đã tiếp nhận" in row and "Cán bộ Thử" in row and "Đã gọi lần 1" in row
    assert recorded.at.replace(tzinfo=timezone.utc).astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M") in row


def test_the_newest_action_is_the_status_and_the_history_stays(app, warehouse, ward_staff):
    contact = alert(warehouse, register(app, "Trần Thị Bình"))

    for status in ("acknowledged", "unreachable", "contacted"):
        assert act(ward_staff, HOAN_KIEM, contact.event_id, status=status, **REASON).status_code == 303

    assert [action.status for action in actions(app)] == ["acknowledged", "unreachable", "contacted"]
    body = ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string=REASON).get_data(as_text=True)
    row = re.search(rf'<tr id="alert-{contact.event_id}">.*?</tr>', body, re.S).group(0)
    assert re.search(r"<strong>Đã liên hệ</strong>", row) and "Trước đó (2)" in row and "Không liên lạc được" in row


def test_an_alert_of_another_ward_cannot_be_acted_on(app, warehouse, ward_staff, official):
    elsewhere = alert(warehouse, register(app, "Phạm Thị Dung", ward_code=CUA_NAM), ward_code=CUA_NAM)

    assert act(ward_staff, HOAN_KIEM, elsewhere.event_id, status="acknowledged").status_code == 404
    assert act(ward_staff, CUA_NAM, elsewhere.event_id, status="acknowledged").status_code == 404
    assert act(official, HOAN_KIEM, elsewhere.event_id, status="acknowledged").status_code == 404
    assert act(official, HOAN_KIEM, "x" * 65, status="acknowledged").status_code == 404
    assert actions(app) == []
    assert act(official, CUA_NAM, elsewhere.event_id, status="done").status_code == 303


@pytest.mark.parametrize("form, message", [
    ({"status": "cured"}, "trạng thái phải là một trong"), ({}, "trạng thái phải là một trong"),
    ({"status": "done", "note": "x" * 201}, "ghi chú tối đa 200 ký tự")])
def test_a_bad_status_or_note_is_refused_with_a_message(app, warehouse, ward_staff, form, message):
    contact = alert(warehouse, register(app, "Trần Thị Bình"))

    answer = act(ward_staff, HOAN_KIEM, contact.event_id, **form)

    assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    assert actions(app) == []


def test_an_action_without_the_csrf_token_is_refused(app, warehouse, ward_staff):
    contact = alert(warehouse, register(app, "Trần Thị Bình"))

    answer = act(ward_staff, HOAN_KIEM, contact.event_id, with_token=False, status="acknowledged")

    assert answer.status_code == 400
    assert actions(app) == []


# -- the printed day list --------------------------------------------------------------------------

def test_the_print_page_holds_the_days_alerts_only_on_a4(app, warehouse, ward_staff):
    day = TODAY - timedelta(days=3)
    start = datetime.combine(day, time(0), VIETNAM_TIME)
    early = alert(warehouse, register(app, "Sáng Sớm"), alerted_at=start + timedelta(minutes=30))
    alert(warehouse, register(app, "Tối Muộn"), alerted_at=start + timedelta(hours=23, minutes=30))
    alert(warehouse, register(app, "Hôm Trước"), alerted_at=start - timedelta(minutes=30))
    alert(warehouse, register(app, "Hôm Sau"), alerted_at=start + timedelta(hours=24, minutes=10))
    act(ward_staff, HOAN_KIEM, early.event_id, status="quarantined", **REASON)

    page = ward_staff.get(f"/canh-bao/{HOAN_KIEM}/in", query_string={"ngay": day.isoformat(), **REASON})

    body = page.get_data(as_text=True)
    assert page.status_code == 200, body
    assert "Sáng Sớm" in body and "Tối Muộn" in body
    assert body.index("Sáng Sớm") < body.index("Tối Muộn")  # in the order they came
    assert "Hôm Trước" not in body and "Hôm Sau" not in body
    assert "Phường Hoàn Kiếm" in body and "Thành phố Hà Nội" in body and day.strftime("%d/%m/%Y") in body
    assert "Người in: Cán bộ Thử" in body and "In lúc:" in body
    assert "Ký tên" in body and "Kết quả, ghi chú" in body and "Đã cách ly" in body
    assert 'method="post"' not in body.split("<main", 1)[1]  # nothing to submit on the sheet
    stylesheet = re.search(r'href="(/static/alerts\.css[^"]*)"', body).group(1)
    css = app.test_client().get(stylesheet).get_data(as_text=True)
    assert re.search(r"@page\s*\{[^}]*size:\s*A4", css)


def test_the_list_links_to_the_print_page_of_its_day_with_the_reason(app, warehouse, ward_staff):
    day = (TODAY - timedelta(days=1)).isoformat()
    body = ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string={"ngay": day, **REASON}).get_data(as_text=True)
    assert f'href="/canh-bao/{HOAN_KIEM}/in?ngay={day}&amp;reason=contact_follow_up"' in body

    default = ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string=REASON).get_data(as_text=True)
    assert f'href="/canh-bao/{HOAN_KIEM}/in?ngay={TODAY.isoformat()}&amp;reason=contact_follow_up"' in default


# -- what the ward sees of a contact -----------------------------------------------------------------

def test_the_case_is_never_shown_to_the_ward_only_where_and_when(app, warehouse, ward_staff):
    with app.app_context():
        db.session.add(Place(code="CHO-DONG-XUAN", kind="venue", name="Chợ Đồng Xuân", province_code=1))
        db.session.commit()
    case = register(app, "Ca Bệnh Bí Mật", phone="0900000001")
    contact = alert(warehouse, register(app, "Trần Thị Bình"), case_citizen_id=case)
    household = alert(warehouse, register(app, "Lê Văn Cường"), case_citizen_id=case, place_id=None,
                      criterion="household", source="imported")

    pages = [ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string=REASON).get_data(as_text=True),
             ward_staff.get(f"/canh-bao/{HOAN_KIEM}/in", query_string=REASON).get_data(as_text=True)]

    for body in pages:
        assert "Chợ Đồng Xuân" in body and "Gia đình" in body
        assert contact.first_exposure.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M") in body
        for secret in (case, "Ca Bệnh Bí Mật", "0900000001", contact.case_id, household.case_id):
            assert secret not in body


def test_a_contact_not_in_the_registry_shows_their_id_in_ward_0_for_their_cases_official(app, warehouse, official):
    mine = alert(warehouse, random_cccd(), ward_code=0, case_citizen_id=register(app, "Ca Của Tôi"))
    others = alert(warehouse, random_cccd(), ward_code=0,
                   case_citizen_id=register(app, "Ca Nơi Khác", ward_code=HCMC_WARD, province_code=79))

    body = official.get("/canh-bao/0", query_string=REASON).get_data(as_text=True)

    assert f"{mine.contact_citizen_id} — không có trong CSDL dân cư" in body
    assert others.contact_citizen_id not in body
    assert act(official, 0, others.event_id, status="acknowledged").status_code == 404
    assert act(official, 0, mine.event_id, status="acknowledged").status_code == 303


# -- the wards one answers for -----------------------------------------------------------------------

def test_ward_staff_see_their_wards_and_nothing_personal(app, ward_staff):
    page = ward_staff.get("/canh-bao")

    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'href="/canh-bao/{HOAN_KIEM}"' in body and "Phường Hoàn Kiếm" in body
    assert 'value="0"' not in body  # the registry's unknowns are the officials'
    assert audit_entries(app) == []


def test_an_official_picks_a_ward_of_their_province_and_goes_on_with_the_day_and_reason(app, official):
    page = official.get("/canh-bao").get_data(as_text=True)
    assert f'<option value="{CUA_NAM}">Phường Cửa Nam</option>' in page and 'value="0"' in page
    assert f'value="{HCMC_WARD}"' not in page

    answer = official.get("/canh-bao", query_string={"phuong": str(CUA_NAM), "ngay": TODAY.isoformat(), **REASON})

    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == f"/canh-bao/{CUA_NAM}"
    assert parse_qs(location.query) == {"ngay": [TODAY.isoformat()], "reason": ["contact_follow_up"]}
    assert official.get("/canh-bao", query_string={"phuong": ""}).status_code == 400


def test_the_pages_speak_english_when_asked(app, warehouse, ward_staff):
    alert(warehouse, register(app, "Trần Thị Bình"))
    body = ward_staff.get(f"/canh-bao/{HOAN_KIEM}", query_string={"lang": "en", **REASON}).get_data(as_text=True)
    assert "Exposure alerts" in body and "Not yet acknowledged" in body and "Cảnh báo tiếp xúc" not in body

