"""Places: validation field by field, CSV import, the `truyvet place` commands and the A4 poster."""
from __future__ import annotations

import io
import os
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
import zxingcpp
from click.testing import CliRunner
from PIL import Image, ImageDraw

from ingest.errors import InvalidInput
from tests.staff import PASSWORD, add_place, add_staff, csrf_token
from truyvet.places_cli import place as place_command
from webapp import places
from webapp.checkpoint.places import check_in_url
from webapp.roles import Role

GOOD = {"code": "CP-HN-01", "kind": "checkpoint", "name": "Chốt Pháp Vân", "province_code": "1",
        "ward_code": "", "latitude": "20.9500", "longitude": "105.8400"}
HEADER = "code,kind,name,province_code,ward_code,latitude,longitude\n"
MM_AT_96_DPI = 96 / 25.4


def errors_of(**changes) -> dict:
    with pytest.raises(InvalidInput) as raised:
        places.parse_place({**GOOD, **changes})
    return raised.value.errors


# --- validation -------------------------------------------------------------------------------

def test_a_good_row_is_read_with_its_name_tidied_and_numbers_as_numbers():
    fields = places.parse_place({**GOOD, "name": "  Cho\u031b\u0323  Bến Thành ", "province_code": "79",
                                 "ward_code": "26743", "latitude": "10.7725", "longitude": "106.698"})
    assert fields == {"code": "CP-HN-01", "kind": "checkpoint", "name": "Chợ Bến Thành",
                      "province_code": 79, "ward_code": 26743, "latitude": 10.7725, "longitude": 106.698}


@pytest.mark.parametrize("field, value, expected", [
    ("code", "", "is required"),
    ("code", "chốt 1", "1-64 letters"),
    ("code", "-CP", "1-64 letters"),
    ("code", "C" * 65, "1-64 letters"),
    ("code", "CP/1", "1-64 letters"),
    ("code", 7, "1-64 letters"),
    ("kind", "", "is required"),
    ("kind", "shop", "one of: checkpoint, venue"),
    ("name", "   ", "is required"),
    ("name", "x" * 121, "1-120 characters"),
    ("name", "Chợ\x00", "1-120 characters"),
    ("province_code", "", "is required"),
    ("province_code", "2", "34 provinces"),  # a legacy code (Hà Giang), gone since 2025
    ("province_code", "1.0", "34 provinces"),
    ("ward_code", "26743", "not a ward of that province"),  # a ward of Hồ Chí Minh City
    ("ward_code", "x", "not a ward of that province"),
    ("latitude", "nan", "decimal degrees"),
    ("latitude", "2e1", "decimal degrees"),
    ("latitude", "٢١", "decimal degrees"),
    ("latitude", "48.8566", "outside Vietnam"),  # Paris, with a Vietnamese longitude
    ("longitude", "2.3522", "outside Vietnam"),
    ("longitude", "", "give both or neither"),
])
def test_each_field_is_checked_with_a_message_in_both_languages(field, value, expected):
    errors = errors_of(**{field: value})

    assert list(errors) == [field]
    assert expected in errors[field].en
    assert errors[field].vi and errors[field].vi != errors[field].en


def test_a_latitude_alone_names_the_missing_longitude_and_swapped_coordinates_are_refused():
    assert list(errors_of(longitude="")) == ["longitude"]
    assert list(errors_of(latitude="")) == ["latitude"]
    assert "outside Vietnam" in errors_of(latitude="105.84", longitude="20.95")["latitude"].en


def test_the_island_wards_are_inside_vietnam_and_coordinates_are_optional():
    truong_sa = places.parse_place({**GOOD, "province_code": "56", "latitude": "8.6449", "longitude": "111.9203"})
    hoang_sa = places.parse_place({**GOOD, "province_code": "48", "latitude": "16.5", "longitude": "112.0"})
    none = places.parse_place({**GOOD, "latitude": "", "longitude": ""})

    assert truong_sa["longitude"] == 111.9203 and hoang_sa["latitude"] == 16.5
    assert none["latitude"] is None and none["longitude"] is None


def test_every_problem_is_reported_at_once():
    with pytest.raises(InvalidInput) as raised:
        places.parse_place({"code": "?", "kind": "x", "name": "", "province_code": "0", "latitude": "9"})
    assert set(raised.value.errors) == {"code", "kind", "name", "province_code", "longitude"}


def test_add_place_stores_it_and_refuses_a_taken_code(app):
    with app.app_context():
        added = places.add_place(**GOOD)
        with pytest.raises(InvalidInput) as raised:
            places.add_place(**{**GOOD, "name": "Another"})
        places.add_place(**{**GOOD, "code": "A-1", "kind": "venue", "name": "Chợ Đồng Xuân"})

        assert raised.value.errors["code"].en == "a place with this code already exists"
        assert places.get_place("CP-HN-01").name == "Chốt Pháp Vân" and added.active
        assert places.get_place("nope") is None
        assert [p.code for p in places.list_places()] == ["A-1", "CP-HN-01"]
        assert places.location(places.get_place("CP-HN-01")) == (None, "Thành phố Hà Nội")


# --- CSV import -------------------------------------------------------------------------------

MIXED = (HEADER
         + "CP-HN-01,checkpoint,Chốt Pháp Vân,1,,20.95,105.84\n"             # line 2
         + 'CHO-BT,venue,"Chợ Bến Thành,\ncổng chính",79,26743,,\n'          # lines 3-4: a quoted newline
         + "bad code,checkpoint,X,1,,,\n"                                     # line 5
         + "\n"                                                               # line 6: blank, skipped
         + "BV-1,hospital,Bệnh viện,99,,,\n"                                  # line 7
         + "BV-2,venue,Bệnh viện Bạch Mai,1\n"                                # line 8: too few cells
         + "CP-HN-01,checkpoint,Chốt khác,1,,,\n")                            # line 9: repeats line 2


def test_an_import_keeps_good_rows_and_reports_bad_ones_by_line(app):
    with app.app_context():
        report = places.import_places(MIXED)
        stored = {p.code: p for p in places.list_places()}

    assert report.added == ["CP-HN-01", "CHO-BT"]
    assert [(error.line, sorted(error.errors)) for error in report.errors] == [
        (5, ["code"]), (7, ["kind", "province_code"]), (8, ["row"]), (9, ["code"])]
    assert "repeats line 2" in report.errors[3].errors["code"].en
    assert set(stored) == {"CP-HN-01", "CHO-BT"}
    assert stored["CHO-BT"].name == "Chợ Bến Thành, cổng chính" and stored["CHO-BT"].ward_code == 26743
    assert not report.ok


def test_a_byte_order_mark_is_fine_and_importing_again_adds_and_changes_nothing(app):
    data = ("\ufeff" + HEADER + "CP-HN-01,checkpoint,Chốt Pháp Vân,1,,20.95,105.84\n"
            + "CHO-1,venue,Chợ Đồng Xuân,1,70,,\n").encode("utf-8")
    with app.app_context():
        first = places.import_places(data)
        before = {p.code: (p.name, p.created_at) for p in places.list_places()}
        again = places.import_places(data)
        after = {p.code: (p.name, p.created_at) for p in places.list_places()}

    assert first.added == ["CP-HN-01", "CHO-1"] and first.ok
    assert again.added == [] and again.updated == [] and again.unchanged == ["CP-HN-01", "CHO-1"] and again.ok
    assert before == after


def test_a_row_that_differs_from_the_stored_place_is_reported_unless_updating_is_asked_for(app):
    changed = HEADER + "CP-HN-01,checkpoint,Chốt Pháp Vân mới,1,,20.95,105.84\n"
    with app.app_context():
        places.add_place(**GOOD)
        refused = places.import_places(changed)
        kept = places.get_place("CP-HN-01").name
        updated = places.import_places(changed, update=True)

        assert refused.errors[0].line == 2 and list(refused.errors[0].errors) == ["name"]
        assert kept == "Chốt Pháp Vân"
        assert updated.updated == ["CP-HN-01"] and updated.ok
        assert places.get_place("CP-HN-01").name == "Chốt Pháp Vân mới"


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out(app):
    with app.app_context():
        report = places.import_places("name,province_code,code,kind\r\nChợ Hôm,1,CHO-HOM,venue\r\n")
        assert report.added == ["CHO-HOM"] and places.get_place("CHO-HOM").ward_code is None


@pytest.mark.parametrize("data, expected", [
    (b"", "is empty: the first line must name the columns"),
    (b"code,kind,name\nA,venue,X\n", "missing province_code"),
    (b"code,kind,name,province,province_code\n", "unknown province"),
    (b"code,kind,name,province_code,code\n", "repeated code"),
    (HEADER.encode() + "A,venue,Ch\u01a1\u0323 Hàng Da,1,,,\n".encode("cp1258"), "not UTF-8"),
])
def test_a_file_that_cannot_be_read_imports_nothing_and_says_why(app, data, expected):
    with app.app_context():
        with pytest.raises(InvalidInput) as raised:
            places.import_places(data)
        assert places.list_places() == []
    assert expected in raised.value.errors["file"].en


def test_a_listing_in_csv_imports_back_unchanged(app):
    with app.app_context():
        places.import_places(MIXED)
        listing = places.places_csv(places.list_places())
        again = places.import_places(listing)
    assert listing.startswith(HEADER)
    assert again.ok and again.added == [] and sorted(again.unchanged) == ["CHO-BT", "CP-HN-01"]


# --- the `truyvet place` commands -------------------------------------------------------------

@pytest.fixture
def cli(tmp_path):
    """Run `truyvet place ...` with settings from an environment of its own, never the process's."""
    runner = CliRunner()
    env = {name: None for name in os.environ if name.startswith("TRUYVET_")}
    env.update(TRUYVET_DATA_DIR=str(tmp_path / "data"), TRUYVET_KAFKA_BOOTSTRAP="127.0.0.1:1",
               TRUYVET_SECRET_KEY="test")

    def invoke(*args: str):
        return runner.invoke(place_command, list(args), env=env, catch_exceptions=False)

    return invoke


def test_place_add_then_list(cli):
    added = cli("add", "CP-HN-01", "--kind", "checkpoint", "--name", "Chốt Pháp Vân", "--province", "1",
                "--lat", "20.95", "--lon", "105.84")
    taken = cli("add", "CP-HN-01", "--kind", "venue", "--name", "X", "--province", "1")
    wrong = cli("add", "CHO 1", "--kind", "shop", "--name", "Chợ", "--province", "2", "--lat", "21")
    listing = cli("list")

    assert added.exit_code == 0 and "added checkpoint CP-HN-01" in added.stdout
    assert taken.exit_code == 1 and "CODE: a place with this code already exists" in taken.stderr
    assert wrong.exit_code == 1
    for option in ("CODE:", "--kind:", "--province:", "--lon:"):
        assert option in wrong.stderr
    assert "không phải một trong 34 tỉnh" in wrong.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["CODE", "KIND", "PROVINCE", "/", "WARD", "NAME"]
    assert lines[1].startswith("CP-HN-01") and "Thành phố Hà Nội" in lines[1] and lines[1].endswith("Chốt Pháp Vân")
    assert len(lines) == 2


def test_place_import_reports_rows_by_line_exits_1_and_a_second_run_changes_nothing(cli, tmp_path):
    path = tmp_path / "places.csv"
    path.write_bytes(b"\xef\xbb\xbf" + MIXED.encode())
    clean = tmp_path / "clean.csv"
    clean.write_text(HEADER + "CP-HN-01,checkpoint,Chốt Pháp Vân,1,,20.95,105.84\n", encoding="utf-8")

    first = cli("import", str(path))
    second = cli("import", str(clean))
    listing = cli("list", "--csv")

    assert first.exit_code == 1
    assert f"{path}:5: code: must be 1-64 letters" in first.stderr
    assert f"{path}:7: kind:" in first.stderr and f"{path}:7: province_code:" in first.stderr
    assert "2 added, 0 updated, 0 unchanged, 4 row(s) with errors" in first.stdout
    assert second.exit_code == 0 and "0 added, 0 updated, 1 unchanged, 0 row(s) with errors" in second.stdout
    assert listing.stdout.startswith(HEADER) and listing.stdout.count("\n") == 3


def test_place_import_of_an_unreadable_file_says_why(cli, tmp_path):
    path = tmp_path / "places.csv"
    path.write_text("ma,loai,ten\n", encoding="utf-8")
    result = cli("import", str(path))
    assert result.exit_code == 1 and "the first line must name the columns" in result.stderr


# --- the poster -------------------------------------------------------------------------------

@pytest.fixture
def poster_app(make_app):
    # Several sign-ins per test: the login rate limit is not what these tests are about.
    return make_app(rate_limits=False)


def sign_in_through(client, staff, path: str):
    """Open ``path`` like a browser: sent to sign in, then back to ``path``; return its answer."""
    to_login = client.get(path)
    assert to_login.status_code == 302 and to_login.location.startswith("/dang-nhap")
    signed = client.post(to_login.location, data={"username": staff.username, "password": PASSWORD,
                                                   "csrf_token": csrf_token(client, to_login.location)})
    if staff.totp_secret:
        import pyotp

        signed = client.post("/dang-nhap/ma-xac-thuc", data={
            "code": pyotp.TOTP(staff.totp_secret).now(), "csrf_token": csrf_token(client, "/dang-nhap/ma-xac-thuc")})
    assert signed.status_code == 302 and signed.location == path, signed.get_data(as_text=True)
    return client.get(path)


def qr_figure(page: str) -> tuple[str, str]:
    """The text the poster says its QR code holds, and the code's SVG."""
    figure = re.search(r'<figure class="poster-qr" data-qr-text="([^"]+)"[^>]*>\s*(<svg.*?</svg>)', page, re.S)
    assert figure, page
    return unescape(figure.group(1)), figure.group(2)


def decode_svg(svg: str) -> str:
    """Draw segno's SVG path (rows of ``h`` strokes, one module high) and read it back with zxing-cpp."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, args in re.findall(r"([Mmh])([^Mmh]*)", path):
        numbers = [float(n) for n in args.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            draw.rectangle((x, int(y), x + numbers[0] - 1, int(y)), fill=0)
            x += numbers[0]
    found = zxingcpp.read_barcodes(image.resize((size * 8, size * 8), Image.NEAREST))
    assert len(found) == 1
    return found[0].text


def test_a_poster_needs_a_sign_in(poster_app):
    add_place(poster_app, "CP-HN-01")
    response = poster_app.test_client().get("/dia-diem/CP-HN-01/poster")
    assert response.status_code == 302
    assert response.location == "/dang-nhap?next=/dia-diem/CP-HN-01/poster"


def test_an_officer_prints_the_poster_of_their_place_with_a_15_cm_qr_code_to_self_check_in(poster_app):
    with poster_app.app_context():
        places.add_place(code="CHO-BT", kind="venue", name="Chợ Bến Thành", province_code=79, ward_code=26743)
    officer = add_staff(poster_app, Role.VENUE_MANAGER, places=("CHO-BT",))
    client = poster_app.test_client()

    response = sign_in_through(client, officer, "/dia-diem/CHO-BT/poster")
    page = response.get_data(as_text=True)
    text, svg = qr_figure(page)

    assert response.status_code == 200
    assert '<h1 class="poster-name">Chợ Bến Thành</h1>' in page
    assert "Địa điểm" in page and "Thành phố Hồ Chí Minh" in page
    assert "Quét mã để khai báo vào/ra địa điểm" in page and "Scan the code" not in page
    assert text == "http://localhost/check-in/CHO-BT"
    assert decode_svg(svg) == text
    assert re.match(r'<svg width="150mm" height="150mm" ', svg)
    assert 'href="/static/poster.css' in page


def test_the_english_poster_keeps_the_vietnamese_and_adds_english_below(poster_app):
    add_place(poster_app, "CP-HN-01")
    officer = add_staff(poster_app, Role.OFFICER, places=("CP-HN-01",))
    page = sign_in_through(poster_app.test_client(), officer, "/dia-diem/CP-HN-01/poster?lang=en").get_data(as_text=True)
    vietnamese = page.index("Quét mã để khai báo vào/ra địa điểm")
    assert vietnamese < page.index("Scan the code to check in or out of this place")
    assert "Chốt kiểm soát" in page and "Checkpoint" in page and "Print poster" in page


def test_an_officer_may_not_print_another_place_nor_learn_whether_a_code_exists(poster_app):
    add_place(poster_app, "CP-HN-01")
    add_place(poster_app, "CP-HN-02", name="Chốt Cầu Thanh Trì")
    officer = add_staff(poster_app, Role.OFFICER, places=("CP-HN-01",))
    client = poster_app.test_client()
    sign_in_through(client, officer, "/dia-diem/CP-HN-01/poster")

    other = client.get("/dia-diem/CP-HN-02/poster")
    unknown = client.get("/dia-diem/NOPE/poster")

    assert other.status_code == 403 and "Chốt Cầu Thanh Trì" not in other.get_data(as_text=True)
    assert "địa điểm mình phụ trách" in other.get_data(as_text=True)
    assert unknown.status_code == 403


def test_an_admin_prints_any_place_and_gets_404_for_an_unknown_code_and_officials_none(poster_app):
    add_place(poster_app, "CP-HN-02", name="Chốt Cầu Thanh Trì")
    admin = add_staff(poster_app, Role.ADMIN)
    client = poster_app.test_client()

    assert "Chốt Cầu Thanh Trì" in sign_in_through(client, admin, "/dia-diem/CP-HN-02/poster").get_data(as_text=True)
    assert client.get("/dia-diem/NOPE/poster").status_code == 404
    official = add_staff(poster_app, Role.OFFICIAL)
    assert sign_in_through(poster_app.test_client(), official, "/dia-diem/CP-HN-02/poster").status_code == 403


def test_the_check_in_address_keeps_the_host_and_mount_prefix(poster_app):
    with poster_app.test_request_context("/", base_url="https://truyvet.example/app/"):
        assert check_in_url("CP:1") == "https://truyvet.example/app/check-in/CP%3A1"


# --- the poster printed by a real browser -----------------------------------------------------

@pytest.mark.browser
def test_chromium_prints_the_poster_on_one_a4_page_with_a_readable_15_cm_code(poster_app):
    from playwright.sync_api import sync_playwright

    from tests.test_webapp.test_browser import launch

    long_name = "Trung tâm thương mại " + "Đồng Xuân " * 10
    with poster_app.app_context():
        places.add_place(code="TTTM-1", kind="venue", name=long_name[:120], province_code=1, ward_code=70)
    admin = add_staff(poster_app, Role.ADMIN)
    client = poster_app.test_client()
    sign_in_through(client, admin, "/dia-diem/TTTM-1/poster")

    def from_flask(route):
        url = urlsplit(route.request.url)
        answer = client.get(url.path, query_string=url.query)
        route.fulfill(status=answer.status_code, body=answer.get_data(),
                      headers={"Content-Type": answer.content_type})

    with sync_playwright() as driver:
        browser = launch(driver)
        try:
            page = browser.new_page()
            page.route("http://localhost/**", from_flask)
            page.goto("http://localhost/dia-diem/TTTM-1/poster")
            page.emulate_media(media="print")
            box = page.locator(".poster-qr svg").bounding_box()
            shot = page.locator(".poster-qr svg").screenshot()
            pdf = page.pdf(prefer_css_page_size=True)
        finally:
            browser.close()

    assert box["width"] == pytest.approx(150 * MM_AT_96_DPI, abs=0.5)
    assert box["height"] == pytest.approx(150 * MM_AT_96_DPI, abs=0.5)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert [code.text for code in found] == ["http://localhost/check-in/TTTM-1"]
