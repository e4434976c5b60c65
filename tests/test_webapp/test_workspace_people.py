"""The officials' search (/truy-vet), a person's page and a place's page (webapp/workspace/people.py)."""
from __future__ import annotations

import random
import re
import string
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from sqlalchemy import select

from tests.conftest import random_cccd
from tests.factories import declaration
from tests.staff import add_place, add_staff, sign_in
from tests.test_warehouse.conftest import T0, crowd, edge, random_place, scan, verified_scan
from warehouse.writer import write_contacts, write_crowd_exposures, write_scans
from webapp.audit import AuditEntry
from webapp.extensions import db
from webapp.models import Case, Citizen, User
from webapp.roles import Role

REASON = "reason=contact_follow_up"
H = timedelta(hours=1)
HANOI_WARD = 70  # a ward of province 1, where the default official works


def register(app, full_name: str = "Nguyễn Văn An", province_code: int = 1, ward_code: int = HANOI_WARD,
             phone: str | None = None, cmnd: str | None = None) -> str:
    citizen_id = random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, cmnd=cmnd, full_name=full_name, date_of_birth=date(1990, 5, 1),
                               sex="female", province_code=province_code, ward_code=ward_code,
                               phone=phone or "09" + "".join(random.choices(string.digits, k=8))))
        db.session.commit()
    return citizen_id


def audit_entries(app) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def unique_word() -> str:
    """A made-up syllable no other test's people carry in their names."""
    return "".join(random.choices("bcghklmnpqrstvx", k=10))


def found_ids(page: str) -> list[str]:
    return re.findall(r'data-citizen="([0-9]{12})"', page)


def official_of(app, *areas: str):
    client = app.test_client()
    sign_in(client, add_staff(app, Role.OFFICIAL, areas=areas))
    return client


# --- search -----------------------------------------------------------------------------------

def test_without_a_query_the_search_is_its_form_and_reads_nothing(app, official_client):
    response = official_client.get("/truy-vet")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="search-form"' in page and 'name="reason"' in page and 'id="results"' not in page
    assert audit_entries(app) == []


def test_a_person_is_found_by_cccd_cmnd_phone_and_name(app, official_client):
    word = unique_word()
    person = register(app, full_name=f"Đặng Thị Ánh {word.capitalize()}", phone="0912003004", cmnd="012345678")

    for query in (person, f"{person[:3]} {person[3:6]} {person[6:]}", "012345678", "+84 912 003 004",
                  "0912.003.004", f"dang thi anh {word}", f"ĐẶNG THỊ ÁNH {word.upper()}", f"Ánh {word}", word[2:8]):
        response = official_client.get(f"/truy-vet?q={quote(query)}&{REASON}")
        assert response.status_code == 200, query
        assert person in found_ids(response.get_data(as_text=True)), query


def test_a_name_search_tells_marked_letters_apart_as_vietnamese_does(app, official_client):
    word = unique_word()
    hoa = register(app, full_name=f"Lê Thị Hoa {word}")
    hoa_with_marks = register(app, full_name=f"Lê Thị Hòa {word}")
    hoang = register(app, full_name=f"Lê Hoàng {word}")

    plain = found_ids(official_client.get(f"/truy-vet?q={quote('hoa ' + word)}&{REASON}").get_data(as_text=True))
    marked = found_ids(official_client.get(f"/truy-vet?q={quote('Hòa ' + word)}&{REASON}").get_data(as_text=True))
    wildcard = found_ids(official_client.get(f"/truy-vet?q={quote('h_a%')}&{REASON}").get_data(as_text=True))

    assert set(plain) == set(marked) == {hoa, hoa_with_marks}  # diacritics ignored, hoang not a substring
    assert hoang not in plain
    assert wildcard == []  # LIKE's wildcards are letters typed, not patterns


def test_each_result_links_to_the_person_page_with_the_reason(app, official_client):
    person = register(app)

    page = official_client.get(f"/truy-vet?q={person}&{REASON}").get_data(as_text=True)

    assert f'href="/truy-vet/nguoi/{person}?reason=contact_follow_up"' in page


def test_people_living_outside_the_officials_scope_are_not_found(app, official_client):
    word = unique_word()
    elsewhere = register(app, full_name=f"Phạm Minh {word}", province_code=79, ward_code=26734, phone="0987000111")

    for query in (elsewhere, f"Phạm Minh {word}", "0987000111"):
        page = official_client.get(f"/truy-vet?q={quote(query)}&{REASON}").get_data(as_text=True)
        assert found_ids(page) == [] and 'id="no-results"' in page, query
    assert found_ids(official_of(app, "79").get(f"/truy-vet?q={elsewhere}&{REASON}").get_data(as_text=True)) == [
        elsewhere]
    ward_official = official_of(app, "1:4")
    assert found_ids(ward_official.get(f"/truy-vet?q={quote(word)}&{REASON}").get_data(as_text=True)) == []


def test_without_a_reason_a_search_is_refused_and_nothing_is_read_or_audited(app, official_client):
    person = register(app)

    for reason in ("", "&reason=because", "&reason=other:hi"):
        response = official_client.get(f"/truy-vet?q={person}{reason}")
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert 'id="search-form"' in page and "field-error" in page and found_ids(page) == []
    assert audit_entries(app) == []


def test_a_query_that_is_no_key_is_refused_by_name(app, official_client):
    for query in ("12345", "x", "a" * 65, "@@@"):
        response = official_client.get(f"/truy-vet?q={quote(query)}&{REASON}")
        assert response.status_code == 400, query
        assert 'id="q-error"' in response.get_data(as_text=True), query
    assert audit_entries(app) == []


def test_a_search_is_audited_with_its_kind(app, official_client):
    person = register(app, phone="0911222333")

    official_client.get(f"/truy-vet?q={person}&{REASON}")
    official_client.get(f"/truy-vet?q=0911%20222%20333&{REASON}")

    searches = [(entry.what, entry.subject, entry.detail["kind"], entry.detail["query"], entry.reason)
                for entry in audit_entries(app)]
    assert searches == [("person_lookup", "search", "cccd", person, "contact_follow_up"),
                        ("person_lookup", "search", "phone", "0911222333", "contact_follow_up")]


def test_past_fifty_people_the_search_asks_to_refine(app, official_client):
    phone = "09" + "".join(random.choices(string.digits, k=8))
    for _ in range(51):
        register(app, phone=phone)

    page = official_client.get(f"/truy-vet?q={phone}&{REASON}").get_data(as_text=True)

    assert len(found_ids(page)) == 50 and 'id="more-results"' in page


# --- a person's page --------------------------------------------------------------------------

def person_url(citizen_id: str, extra: str = "") -> str:
    return f"/truy-vet/nguoi/{citizen_id}?{REASON}{extra}"


def test_a_persons_page_without_a_reason_is_the_reason_form_alone(app, official_client):
    person = register(app, full_name="Vũ Thị Bình")

    response = official_client.get(f"/truy-vet/nguoi/{person}")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="reason-form"' in page and "Vũ Thị Bình" not in page
    assert audit_entries(app) == []


def test_a_persons_page_shows_the_registry_declarations_cases_and_trace_link(app, client, official_client):
    payload = declaration(full_name="Trần Văn Cúc", symptoms=["fever"])
    assert client.post("/api/v1/declarations", json=payload).status_code == 201
    person = payload["citizen_id"]
    with app.app_context():
        db.session.add(Citizen(citizen_id=person, full_name="Trần Văn Cúc", date_of_birth=date(1990, 5, 17),
                               sex="male", province_code=1, ward_code=HANOI_WARD, phone="0912345678"))
        reporter = db.session.scalar(select(User.id))
        db.session.add(Case(case_id="c" * 32, citizen_id=person, date_kind="onset", case_date=date(2026, 11, 20),
                            reported_by=reporter))
        db.session.commit()

    response = official_client.get(person_url(person))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Trần Văn Cúc" in page and "Nam" in page and "0912345678" in page
    assert "Phường Hoàn Kiếm, Thành phố Hà Nội" in page
    assert 'id="declarations"' in page and "Sốt" in page
    assert "c" * 32 in page and "20/11/2026" in page
    assert f'href="/truy-vet/ca/{person}?reason=contact_follow_up"' in page
    [entry] = audit_entries(app)
    assert (entry.what, entry.subject, entry.detail["outcome"]) == ("movements", person, "shown")


def test_a_persons_scans_come_newest_first_fifty_a_page(app, official_client, warehouse):
    person = register(app)
    market = add_place(app, random_place(), kind="venue", name="Chợ Hôm")
    elsewhere = add_place(app, random_place(), kind="venue", name="Chợ Bến Thành", province_code=79)
    write_scans(warehouse, [scan(f"{person}-{n}", person, ts=T0 + n * H, place_id=market if n % 2 else elsewhere)
                            for n in range(55)])

    first = official_client.get(person_url(person)).get_data(as_text=True)
    events = re.findall(r'data-event="([^"]+)"', first)
    older = re.search(r'href="([^"]+)" id="older-page"', first).group(1).replace("&amp;", "&")
    second = official_client.get(older).get_data(as_text=True)

    assert events == [f"{person}-{n}" for n in range(54, 4, -1)]
    assert re.findall(r'data-event="([^"]+)"', second) == [f"{person}-{n}" for n in range(4, -1, -1)]
    assert 'id="older-page"' not in second and 'id="newest-page"' in second
    assert "reason=contact_follow_up" in older
    # the place in scope links to its page; the other is named only
    assert f'href="/truy-vet/dia-diem/{market}?reason=contact_follow_up"' in first
    assert "Chợ Bến Thành" in first and f"/truy-vet/dia-diem/{elsewhere}" not in first
    local = (T0 + 54 * H).astimezone(timezone(timedelta(hours=7)))
    assert local.strftime("%d/%m/%Y %H:%M") in first


def test_a_malformed_page_cursor_is_refused(app, official_client):
    person = register(app)

    assert official_client.get(person_url(person, "&before=not-a-cursor!")).status_code == 400


def test_a_person_outside_the_scope_is_not_found_and_the_lookup_is_audited(app, official_client):
    elsewhere = register(app, province_code=79, ward_code=26734)
    unknown = random_cccd()

    assert official_client.get(person_url(elsewhere)).status_code == 404
    assert official_client.get(person_url(unknown)).status_code == 404
    assert [(entry.subject, entry.detail["outcome"]) for entry in audit_entries(app)] == [
        (elsewhere, "not_found"), (unknown, "not_found")]


# --- a place's page ---------------------------------------------------------------------------

def place_url(place_code: str, since: datetime, until: datetime, reason: str = REASON) -> str:
    local = timezone(timedelta(hours=7))
    return (f"/truy-vet/dia-diem/{place_code}?since={since.astimezone(local):%Y-%m-%dT%H:%M}"
            f"&until={until.astimezone(local):%Y-%m-%dT%H:%M}&{reason}")


@pytest.fixture
def market(app, warehouse):
    """A market in province 1 where a local met someone from province 79, and a crowded hour after."""
    local = register(app, full_name="Hoàng Văn Dũng")
    visitor = register(app, full_name="Lý Thị Em", province_code=79, ward_code=26734)
    stranger = random_cccd()  # not in the registry
    code = add_place(app, random_place(), kind="venue", name="Chợ Đồng Xuân")
    write_scans(warehouse, [verified_scan(f"{local}-m", local, ts=T0, place_id=code),
                            verified_scan(f"{visitor}-m", visitor, ts=T0 + 10 * timedelta(minutes=1), place_id=code),
                            verified_scan(f"{stranger}-m", stranger, registered=False, ts=T0 + 2 * H, place_id=code)])
    write_contacts(warehouse, [edge(code, tuple(sorted((local, visitor))))])
    write_crowd_exposures(warehouse, [crowd(code, hours=1, head_count=480)])
    return dict(code=code, local=local, visitor=visitor, stranger=stranger)


def test_a_place_shows_who_was_there_who_met_and_crowded_hours(app, official_client, market):
    response = official_client.get(place_url(market["code"], T0 - H, T0 + 3 * H))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Chợ Đồng Xuân" in page
    presences = page.split('id="presences"')[1].split("</table>")[0]
    assert f'href="/truy-vet/nguoi/{market["local"]}?reason=contact_follow_up">Hoàng Văn Dũng</a>' in presences
    assert "ngoài phạm vi" in presences and market["visitor"] not in page and "Lý Thị Em" not in page
    assert market["stranger"] in presences and "chưa có trong CSDL dân cư" in presences
    contacts = page.split('id="contacts"')[1].split("</table>")[0]
    assert "Hoàng Văn Dũng" in contacts and "ngoài phạm vi" in contacts
    crowds = page.split('id="crowds"')[1].split("</table>")[0]
    assert "480" in crowds
    [entry] = audit_entries(app)
    assert (entry.what, entry.subject, entry.detail["outcome"]) == ("place_view", market["code"], "shown")


def test_a_place_page_without_a_reason_reads_nothing(app, official_client, market):
    response = official_client.get(place_url(market["code"], T0 - H, T0 + 3 * H, reason=""))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="window-form"' in page and "Chợ Đồng Xuân" not in page and "Hoàng Văn Dũng" not in page
    assert audit_entries(app) == []


def test_a_place_page_refuses_a_bad_window_beside_its_field(app, official_client, market):
    too_long = official_client.get(place_url(market["code"], T0 - 40 * 24 * H, T0))
    backwards = official_client.get(place_url(market["code"], T0, T0 - H))
    malformed = official_client.get(f"/truy-vet/dia-diem/{market['code']}?since=yesterday&{REASON}")

    assert too_long.status_code == backwards.status_code == malformed.status_code == 400
    assert 'data-error-field="until"' in too_long.get_data(as_text=True)
    assert 'data-error-field="until"' in backwards.get_data(as_text=True)
    assert 'data-error-field="since"' in malformed.get_data(as_text=True)
    assert "Hoàng Văn Dũng" not in too_long.get_data(as_text=True)


def test_a_place_page_defaults_to_the_last_day(app, official_client, market):
    response = official_client.get(f"/truy-vet/dia-diem/{market['code']}?{REASON}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    since, until = (datetime.fromisoformat(re.search(rf'id="{name}" name="{name}" value="([^"]+)"', page).group(1))
                    for name in ("since", "until"))
    assert until - since == 24 * H
    now_in_vietnam = datetime.now(timezone(timedelta(hours=7))).replace(tzinfo=None)
    assert abs(until - now_in_vietnam) < timedelta(minutes=2)


def test_a_place_outside_the_scope_is_not_found(app, official_client):
    elsewhere = add_place(app, random_place(), province_code=79)

    assert official_client.get(f"/truy-vet/dia-diem/{elsewhere}?{REASON}").status_code == 404
    assert official_client.get(f"/truy-vet/dia-diem/NO-SUCH-PLACE?{REASON}").status_code == 404
