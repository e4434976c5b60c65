"""The read audit (webapp/audit.py): a reason before any read, one entry per read, a hash chain that
shows tampering, no change or deletion on SQLite or PostgreSQL, and the admin page /admin/nhat-ky."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from datetime import date, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import request
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from ingest.errors import InvalidInput
from tests.conftest import random_cccd
from tests.staff import add_place, add_staff, sign_in
from tests.test_warehouse.conftest import T0, random_place, scan, verified_scan
from tests.test_webapp.test_openapi import assert_documented
from warehouse.writer import write_scans
from webapp.audit import (CSV_COLUMNS, GENESIS_HASH, AppendOnly, AuditEntry, canonical, entry_hash,
                          reason_from, record_read, verify_chain)
from webapp.extensions import db
from webapp.models import Citizen, User
from webapp.roles import Principal, Role

H = timedelta(hours=1)
REASON = "reason=case_investigation"


def window(since: datetime, until: datetime) -> str:
    return f"since={quote(since.isoformat())}&until={quote(until.isoformat())}"


def entries(app) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def client_of(app, role: str):
    client = app.test_client()
    sign_in(client, add_staff(app, role))
    return client


def official_principal(app) -> Principal:
    staff = add_staff(app, "official")
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == staff.username))
    return Principal(role=Role.OFFICIAL, name="Cán bộ Thử", places=frozenset(), areas=("1",), user_id=user_id)


def append(app, principal: Principal, count: int, subject: str = "001090000001") -> None:
    with app.app_context():
        for number in range(count):
            record_read("movements", subject, {"limit": str(number)}, "contact_follow_up", principal=principal)


@pytest.fixture
def readable(app, warehouse):
    """A registered case with scans, and a place with a presence: something a read would show."""
    case, visitor = random_cccd(), random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=case, full_name="Nguyễn Văn An", date_of_birth=date(1990, 5, 1),
                               sex="Nam", province_code=1, ward_code=101, phone="0912345678"))
        db.session.commit()
    place = add_place(app, random_place(), kind="venue", name="Chợ Đồng Xuân")
    write_scans(warehouse, [scan(f"{case}-1", case, ts=T0, place_id=place),
                            verified_scan(f"{visitor}-1", visitor, ts=T0, place_id=place)])
    return dict(case=case, visitor=visitor, place=place, window=window(T0 - H, T0 + 2 * H))


def urls(readable) -> dict[str, str]:
    case, place, span = readable["case"], readable["place"], readable["window"]
    return {"movements": f"/api/v1/citizens/{case}/scans?limit=10",
            "presences": f"/api/v1/places/{place}/presences?{span}",
            "contacts": f"/api/v1/places/{place}/contacts?{span}",
            "trace": f"/api/v1/traces/{case}?depth=1&{span}",
            "export": f"/api/v1/traces/{case}?depth=1&format=csv&{span}"}


# --- a reason first ---------------------------------------------------------------------------

@pytest.mark.parametrize("reason", [None, "", "because", "other:hi", "other:" + "x" * 201, "other:tab\there"])
def test_a_read_without_a_valid_reason_is_a_400_naming_reason_that_shows_nothing(app, official_client, readable,
                                                                                  reason):
    for name, url in urls(readable).items():
        query = "" if reason is None else f"&reason={quote(reason)}"
        response = official_client.get(url + query + "&lang=en")

        assert response.status_code == 400, (name, response.get_data(as_text=True))
        assert set(response.json) == {"error", "errors"} and list(response.json["errors"]) == ["reason"]
        message = response.json["errors"]["reason"]
        assert "reason" in message and "case_investigation" in message
        body = response.get_data(as_text=True)
        assert readable["case"] not in body and readable["visitor"] not in body and readable["place"] not in body
    assert entries(app) == []


def test_the_missing_reason_answer_is_the_documented_400(official_client, readable):
    document = json.loads(files("webapp").joinpath("openapi.json").read_text(encoding="utf-8"))
    paths = ("/api/v1/citizens/{citizen_id}/scans", "/api/v1/places/{place_code}/presences",
             "/api/v1/places/{place_code}/contacts", "/api/v1/traces/{citizen_id}", "/api/v1/traces/{citizen_id}")
    for path, url in zip(paths, urls(readable).values()):
        operation = document["paths"][path]["get"]
        assert {"$ref": "#/components/parameters/reason"} in operation["parameters"]
        assert {"$ref": "#/components/parameters/reasonHeader"} in operation["parameters"]
        assert_documented(document, official_client.get(url), path)


def test_the_reason_comes_before_whether_the_subject_exists(official_client):
    for url in (f"/api/v1/traces/{random_cccd()}", f"/api/v1/places/{random_place()}/presences"):
        response = official_client.get(url)
        assert response.status_code == 400 and list(response.json["errors"]) == ["reason"]
        assert "lý do" in response.json["errors"]["reason"]  # Vietnamese first


def test_the_reason_may_come_as_a_form_field_or_a_percent_encoded_header(app):
    with app.test_request_context("/", method="POST", data={"reason": "outbreak_response"}):
        assert reason_from(request) == "outbreak_response"
    header = quote("other: yêu cầu của Sở Y tế")
    with app.test_request_context("/", headers={"X-Truyvet-Reason": header}):
        assert reason_from(request) == "other:yêu cầu của Sở Y tế"
    with app.test_request_context("/?reason=data_correction", headers={"X-Truyvet-Reason": "contact_follow_up"}):
        assert reason_from(request) == "data_correction"  # the query string wins
    with app.test_request_context("/"), pytest.raises(InvalidInput) as refused:
        reason_from(request)
    assert list(refused.value.errors) == ["reason"]


# --- one entry per read -----------------------------------------------------------------------

def test_each_read_leaves_an_entry_saying_who_what_about_whom_and_why(app, official_client, readable):
    for url in urls(readable).values():
        assert official_client.get(f"{url}&{REASON}").status_code == 200, url
    by_header = official_client.get(f"/api/v1/citizens/{readable['case']}/scans",
                                    headers={"X-Truyvet-Reason": quote("other:gọi lại cho F1")})
    assert by_header.status_code == 200

    found = entries(app)
    with app.app_context():
        user = db.session.get(User, found[0].user_id)
    assert user.role == "official"
    assert {(entry.username, entry.role) for entry in found} == {(user.username, "official")}
    assert [(entry.what, entry.subject) for entry in found] == [
        ("movements", readable["case"]), ("place_view", readable["place"]), ("place_view", readable["place"]),
        ("trace", readable["case"]), ("export", readable["case"]), ("movements", readable["case"])]
    assert [entry.reason for entry in found] == ["case_investigation"] * 5 + ["other:gọi lại cho F1"]
    assert found[0].detail == {"limit": "10", "outcome": "shown"}
    assert found[1].detail == {"view": "presences", "since": (T0 - H).isoformat(), "until": (T0 + 2 * H).isoformat(),
                               "outcome": "shown"}
    assert found[2].detail["view"] == "contacts"
    assert found[4].detail["format"] == "csv" and found[4].detail["depth"] == "1"
    now = datetime.now(timezone.utc)
    assert all(abs(now - entry.at.replace(tzinfo=entry.at.tzinfo or timezone.utc)) < timedelta(minutes=1)
               for entry in found)


def test_a_lookup_of_someone_unknown_is_recorded_as_an_attempt_and_a_bad_parameter_is_not(app, official_client):
    stranger = random_cccd()
    assert official_client.get(f"/api/v1/traces/{stranger}?{REASON}").status_code == 404
    assert official_client.get(f"/api/v1/traces/{stranger}?depth=99&{REASON}").status_code == 404  # 404 first
    assert official_client.get(f"/api/v1/citizens/12ab/scans?{REASON}").status_code == 400
    assert official_client.get(f"/api/v1/traces/%00?{REASON}").status_code == 404

    found = entries(app)
    assert [(entry.what, entry.subject, entry.detail["outcome"]) for entry in found] == [
        ("trace", stranger, "not_found"), ("trace", stranger, "not_found"), ("trace", "\\x00", "not_found")]


# --- the chain --------------------------------------------------------------------------------

def test_the_chain_links_every_entry_to_the_one_before_and_verifies(app, official_client, readable):
    for _ in range(3):
        for url in urls(readable).values():
            official_client.get(f"{url}&{REASON}")

    found = entries(app)
    assert [entry.id for entry in found] == list(range(1, 16))
    assert found[0].previous_hash == GENESIS_HASH
    assert all(later.previous_hash == earlier.entry_hash for earlier, later in zip(found, found[1:]))
    with app.app_context():
        rows = db.session.execute(select(AuditEntry.__table__).order_by(AuditEntry.id)).mappings().all()
        assert all(entry_hash(row) == row["entry_hash"] for row in rows)
        assert verify_chain() == []
    assert b'"previous_hash":"' + GENESIS_HASH.encode() in canonical(rows[0])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_app(request, make_app):
    """An app on SQLite (the default) or on PostgreSQL (the production database)."""
    if request.param == "sqlite":
        yield make_app()
        return
    app = make_app(database_url=request.getfixturevalue("postgres_url"))
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def raw(app, *statements: str) -> None:
    """Run SQL on the database directly, past the ORM and its guards."""
    with app.app_context(), db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def tamper(app, *statements: str) -> None:
    """Change the table as someone with the database's keys would: with its guard triggers off."""
    if db_kind(app) == "sqlite":
        path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        connection = sqlite3.connect(path)  # the file itself, not the app's engine
        connection.execute("DROP TRIGGER read_audit_no_update")
        connection.execute("DROP TRIGGER read_audit_no_delete")
        for statement in statements:
            connection.execute(statement)
        connection.commit()
        connection.close()
    else:
        raw(app, "ALTER TABLE read_audit DISABLE TRIGGER read_audit_no_change", *statements,
            "ALTER TABLE read_audit ENABLE TRIGGER read_audit_no_change")


def db_kind(app) -> str:
    return "sqlite" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else "postgres"


def test_tampering_is_found_and_shown_on_the_admin_page(any_db_app):
    app = any_db_app
    append(app, official_principal(app), 6)
    tamper(app, "UPDATE read_audit SET subject = '001090099999' WHERE id = 2",
           "DELETE FROM read_audit WHERE id = 4")

    with app.app_context():
        problems = verify_chain()
    assert [(problem.entry_id, problem.kind) for problem in problems] == [(2, "altered"), (5, "broken_link")]

    page = client_of(app, "admin").get("/admin/nhat-ky?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-chain="broken"' in html and "does NOT verify" in html
    assert 'data-broken-entry="2"' in html and 'data-broken-entry="5"' in html
    assert 'id="entry-2" class="audit-broken"' in html and 'id="entry-5" class="audit-broken"' in html
    assert 'id="entry-3" class="audit-broken"' not in html


def test_swapping_two_entries_is_found(any_db_app):
    app = any_db_app
    append(app, official_principal(app), 4)
    tamper(app, "UPDATE read_audit SET id = -2 WHERE id = 2", "UPDATE read_audit SET id = 2 WHERE id = 3",
           "UPDATE read_audit SET id = 3 WHERE id = -2")

    with app.app_context():
        problems = {(problem.entry_id, problem.kind) for problem in verify_chain()}
    assert {(2, "altered"), (3, "altered"), (2, "broken_link"), (3, "broken_link"), (4, "broken_link")} <= problems


def test_entries_cannot_be_changed_or_deleted_through_the_orm_or_sql(any_db_app):
    app = any_db_app
    append(app, official_principal(app), 2)
    with app.app_context():
        entry = db.session.get(AuditEntry, 1)
        entry.reason = "data_correction"
        with pytest.raises(AppendOnly):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(AuditEntry, 1))
        with pytest.raises(AppendOnly):
            db.session.commit()
        db.session.rollback()
        for statement in (update(AuditEntry).values(reason="data_correction"), delete(AuditEntry)):
            with pytest.raises(AppendOnly):
                db.session.execute(statement)
            db.session.rollback()
    for statement in ("UPDATE read_audit SET reason = 'data_correction' WHERE id = 1",
                      "DELETE FROM read_audit WHERE id = 2", "DELETE FROM read_audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            raw(app, statement)
    if db_kind(app) == "postgres":
        with pytest.raises(DBAPIError, match="append-only"):
            raw(app, "TRUNCATE read_audit")

    assert [entry.reason for entry in entries(app)] == ["contact_follow_up"] * 2
    with app.app_context():
        assert verify_chain() == []


def test_appends_at_once_from_many_threads_keep_one_chain(any_db_app):
    app = any_db_app
    principal = official_principal(app)
    threads_count, each = 8, 10
    start = threading.Barrier(threads_count)
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            start.wait()
            append(app, principal, each)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    found = entries(app)
    assert [entry.id for entry in found] == list(range(1, threads_count * each + 1))
    assert len({entry.previous_hash for entry in found}) == len(found)
    assert [entry.at for entry in found] == sorted(entry.at for entry in found)
    with app.app_context():
        assert verify_chain() == []


# --- the admin page ---------------------------------------------------------------------------

def test_only_admins_see_the_audit_page(app):
    anonymous = app.test_client().get("/admin/nhat-ky")
    assert anonymous.status_code == 302 and "/dang-nhap" in anonymous.headers["Location"]
    for role in ("official", "ops", "officer", "venue_manager"):
        assert client_of(app, role).get("/admin/nhat-ky").status_code == 403, role
        assert client_of(app, role).get("/admin/nhat-ky?format=csv").status_code == 403, role
    assert app.test_client().get(f"/api/v1/traces/{random_cccd()}").status_code == 401  # who, before why
    page = client_of(app, "admin").get("/admin/nhat-ky")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Nhật ký truy cập dữ liệu" in html and 'data-chain="ok"' in html


def test_the_page_lists_newest_first_filters_and_pages(app, official_client, readable, monkeypatch):
    other = official_principal(app)
    append(app, other, 3, subject="079090000123")
    for url in urls(readable).values():
        official_client.get(f"{url}&{REASON}")
    admin = client_of(app, "admin")

    page = admin.get("/admin/nhat-ky?lang=en").get_data(as_text=True)
    assert page.index('id="entry-8"') < page.index('id="entry-1"')
    assert "8 entr(y/ies) match" in page and "Contact follow-up" in page and "Case investigation" in page

    def shown(query: str) -> list[int]:
        html = admin.get(f"/admin/nhat-ky?{query}").get_data(as_text=True)
        return [number for number in range(1, 9) if f'id="entry-{number}"' in html]

    with app.app_context():
        username = db.session.get(User, other.user_id).username
    assert shown(f"user={username}") == [1, 2, 3]
    assert shown("what=place_view") == [5, 6]
    assert shown(f"subject={readable['case']}") == [4, 7, 8]
    today = datetime.now(timezone(timedelta(hours=7))).date()
    assert shown(f"from={today}&to={today}") == list(range(1, 9))
    assert shown(f"to={today - timedelta(days=1)}") == []
    assert shown(f"from={today + timedelta(days=1)}") == []

    monkeypatch.setattr("webapp.audit_page.PAGE_SIZE", 3)
    assert shown("page=2") == [3, 4, 5]
    assert 'rel="prev"' in admin.get("/admin/nhat-ky?page=3").get_data(as_text=True)

    refused = admin.get("/admin/nhat-ky?from=28/11/2026&what=gossip&lang=en")
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "must be a date as YYYY-MM-DD" in html and "is not one of the choices" in html


def test_the_csv_export_has_the_documented_columns_and_the_filtered_entries(app, official_client, readable):
    append(app, official_principal(app), 2, subject="=HYPERLINK(1)")
    for url in urls(readable).values():
        official_client.get(f"{url}&{REASON}")
    admin = client_of(app, "admin")

    everything = admin.get("/admin/nhat-ky?format=csv")
    assert everything.status_code == 200 and everything.mimetype == "text/csv"
    assert "attachment" in everything.headers["Content-Disposition"]
    assert everything.headers["Cache-Control"] == "private, no-store"
    text_ = everything.get_data(as_text=True)
    assert text_.splitlines()[0] == "id,at,user_id,username,role,what,subject,detail,reason,previous_hash,entry_hash"
    assert tuple(text_.splitlines()[0].split(",")) == CSV_COLUMNS
    rows = list(csv.DictReader(io.StringIO(text_)))
    assert [row["id"] for row in rows] == [str(number) for number in range(1, 8)]
    assert rows[0]["subject"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[0]["previous_hash"] == GENESIS_HASH and rows[1]["previous_hash"] == rows[0]["entry_hash"]
    assert rows[6]["detail"].startswith('{"depth":"1","format":"csv"')

    traces = admin.get("/admin/nhat-ky?format=csv&what=trace").get_data(as_text=True)
    filtered = list(csv.DictReader(io.StringIO(traces)))
    assert [(row["what"], row["subject"], row["reason"]) for row in filtered] == [
        ("trace", readable["case"], "case_investigation")]
    assert admin.get("/admin/nhat-ky?format=csv&from=yesterday").status_code == 400


def test_the_readmes_recipe_verifies_an_exported_log_elsewhere(app, official_client, readable, tmp_path,
                                                               monkeypatch):
    for url in urls(readable).values():
        official_client.get(f"{url}&{REASON}")
    official_client.get(f"/api/v1/traces/{random_cccd()}", headers={"X-Truyvet-Reason": quote("other:hỏi lại F0")})
    (tmp_path / "nhat-ky-doc.csv").write_bytes(client_of(app, "admin").get("/admin/nhat-ky?format=csv").data)
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    recipe = readme.split("### Read audit", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)

    exec(recipe, {})  # raises AssertionError on an entry that fails

    tamper(app, "UPDATE read_audit SET reason = 'data_correction' WHERE id = 3")
    (tmp_path / "nhat-ky-doc.csv").write_bytes(client_of(app, "admin").get("/admin/nhat-ky?format=csv").data)
    with pytest.raises(AssertionError, match="entry 3 fails"):
        exec(recipe, {})
