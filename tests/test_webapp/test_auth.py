"""Staff sign-in: passwords, a second factor for officials and admins, sessions, CLI accounts."""
from __future__ import annotations

import re
from datetime import date

import pyotp
from click.testing import CliRunner

from tests.staff import PASSWORD, add_place, add_staff, csrf_token, sign_in
from config import Settings
from truyvet.cli import main
from webapp import create_app
from webapp import accounts
from webapp.extensions import db
from webapp.models import Citizen, User


def post_login(client, username: str, password: str = PASSWORD, path: str = "/dang-nhap"):
    return client.post(path, data={"username": username, "password": password,
                                   "csrf_token": csrf_token(client, "/dang-nhap")})


def test_an_officer_signs_in_with_a_password_and_lands_on_their_checkpoints(app, client):
    officer = add_staff(app, "officer")

    response = post_login(client, officer.username)

    assert response.status_code == 302 and response.headers["Location"] == "/chot"
    assert "Chốt Pháp Vân" in client.get("/chot").get_data(as_text=True)


def test_a_wrong_password_or_unknown_user_gets_the_same_answer(app, client):
    officer = add_staff(app, "officer")
    wrong_password = post_login(client, officer.username, "not the password at all")
    unknown_user = post_login(client, "nobody-here", PASSWORD)
    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu" in response.get_data(as_text=True)


def test_session_cookies_are_secure_httponly_and_samesite(app, client):
    sign_in(client, add_staff(app, "ops"))
    cookie = client.get_cookie("session")
    assert cookie.secure and cookie.http_only and cookie.same_site == "Lax"


def test_an_official_enrols_a_second_factor_at_the_first_sign_in(app, client):
    with app.app_context():
        accounts.create_user("bs-lan", "Bác sĩ Lan", "official", PASSWORD, areas=["79"])
        db.session.add(Citizen(citizen_id="079090000001", full_name="Trần Thị Bình", date_of_birth=date(1990, 1, 2),
                               sex="Nữ", province_code=79, ward_code=26734, phone="0912345678"))
        db.session.commit()

    response = post_login(client, "bs-lan")
    assert response.headers["Location"] == "/dang-nhap/ma-xac-thuc"
    page = client.get("/dang-nhap/ma-xac-thuc").get_data(as_text=True)
    assert "<svg" in page  # the enrolment QR code
    secret = re.search(r"<code data-secret>([A-Z2-7]+)</code>", page).group(1)
    # Not signed in yet: the password alone opens nothing.
    assert client.get("/api/v1/citizens/079090000001/scans").status_code == 401

    wrong = client.post("/dang-nhap/ma-xac-thuc", data={"code": "000000", "csrf_token": csrf_token(
        client, "/dang-nhap/ma-xac-thuc")})
    assert wrong.status_code == 401
    right = client.post("/dang-nhap/ma-xac-thuc", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(
        client, "/dang-nhap/ma-xac-thuc")})

    assert right.status_code == 302
    assert client.get("/api/v1/citizens/079090000001/scans?reason=case_investigation").status_code == 200
    with app.app_context():
        assert db.session.scalar(db.select(User.totp_secret).where(User.username == "bs-lan")) == secret


def test_a_disabled_account_loses_its_session(app, client):
    officer = add_staff(app, "officer")
    sign_in(client, officer)
    with app.app_context():
        accounts.disable_user(officer.username)
    response = client.get("/chot")
    assert response.status_code == 302 and "/dang-nhap" in response.headers["Location"]


def test_sign_in_never_redirects_to_another_site(app, client):
    officer = add_staff(app, "officer")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = client.post(f"/dang-nhap?next={target}", data={
            "username": officer.username, "password": PASSWORD, "csrf_token": csrf_token(client, "/dang-nhap")})
        assert response.headers["Location"] == "/chot", target
        client.post("/dang-xuat", headers={"X-CSRFToken": csrf_token(client, "/dang-nhap")})


def test_guessing_passwords_is_rate_limited(make_app):
    app = make_app()
    client = app.test_client()
    officer = add_staff(app, "officer")
    answers = [post_login(client, officer.username, f"guess number {n:04d}").status_code for n in range(12)]
    assert answers[:10] == [401] * 10
    assert 429 in answers[10:]


def test_user_and_station_commands(tmp_path):
    env = {"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    runner = CliRunner()
    app = create_app(Settings.from_env(env))  # the registry the commands open
    with app.app_context():
        db.create_all()
    add_place(app, "CP-HN-01")
    app.close()

    added = runner.invoke(main, ["user", "add", "can-bo-an", "--role", "officer", "--full-name", "Cán bộ An",
                                 "--place", "CP-HN-01", "--password", PASSWORD], env=env)
    assert added.exit_code == 0, added.output
    refused = runner.invoke(main, ["user", "add", "bs-ha", "--role", "official", "--full-name", "BS Hà",
                                   "--password", PASSWORD], env=env)
    assert refused.exit_code == 1 and "--area" in refused.output
    ward_staff = ["user", "add", "tram-y-te", "--role", "ward_staff", "--full-name", "Trạm Y tế", "--password", PASSWORD]
    whole_province = runner.invoke(main, [*ward_staff, "--area", "1"], env=env)
    assert whole_province.exit_code == 1 and "wards, not to a whole province" in whole_province.output
    assert runner.invoke(main, [*ward_staff, "--area", "1:70"], env=env).exit_code == 0
    officer_with_area = runner.invoke(main, ["user", "add", "can-bo-binh", "--role", "officer", "--full-name", "Bình",
                                             "--place", "CP-HN-01", "--area", "1", "--password", PASSWORD], env=env)
    assert officer_with_area.exit_code == 1 and "not bound to areas" in officer_with_area.output
    listed = runner.invoke(main, ["user", "list"], env=env)
    assert "can-bo-an\tofficer\tactive" in listed.output
    assert "tram-y-te\tward_staff\tactive" in listed.output and "1:70" in listed.output
    assert runner.invoke(main, ["user", "disable", "can-bo-an"], env=env).exit_code == 0
    assert "can-bo-an\tofficer\tdisabled" in runner.invoke(main, ["user", "list"], env=env).output

    issued = runner.invoke(main, ["station", "add", "CP-HN-01", "--label", "Làn 2"], env=env)
    assert issued.exit_code == 0, issued.output
    assert re.search(r"station 1 at CP-HN-01: tvst_\S{40,}", issued.output)
    assert "tvst_" not in runner.invoke(main, ["station", "list"], env=env).output
    assert runner.invoke(main, ["station", "revoke", "1"], env=env).exit_code == 0
    assert "revoked" in runner.invoke(main, ["station", "list"], env=env).output


def test_signed_in_staff_see_their_name_and_sign_out_from_any_page(app, client):
    sign_in(client, add_staff(app, "officer"))
    page = client.get("/chot").get_data(as_text=True)
    assert "Đăng xuất (Cán bộ Thử)" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    response = client.post("/dang-xuat", data={"csrf_token": token})

    assert response.status_code == 302
    assert client.get("/chot").status_code == 302  # back to the sign-in page
    assert "Đăng nhập cán bộ" in client.get("/").get_data(as_text=True)
