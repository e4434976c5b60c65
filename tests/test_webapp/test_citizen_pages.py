"""The citizen's pages in-process: the declaration form, card scan, result page, lookup, wards."""
from __future__ import annotations

import io
import random
from datetime import date
from html.parser import HTMLParser

import pytest
import segno
import zxingcpp
from PIL import Image

from ingest.identity import make_cccd
from ingest.qrtoken import KEY_DOCUMENT_PATH, load_public_keys, verify
from webapp import declarations
from webapp.extensions import db
from webapp.models import Citizen

CARD_QR = "001090012345||Nguyễn Văn An|17051990|Nam|Số 1 Tràng Tiền, Hà Nội|01022021"
VOID = {"input", "br", "meta", "link", "img", "hr", "source", "path"}


class Page(HTMLParser):
    """What a person sees and what the browser would send back, from an HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.checked: set[tuple[str, str]] = set()
        self.options: dict[str, list[str]] = {}
        self.ids: dict[str, str] = {}
        self.hidden_ids: set[str] = set()
        self._select: str | None = None
        self._open: list[tuple[str, str | None]] = []
        self._words: list[str] = []
        self.feed(html)
        self.text = " ".join(" ".join(self._words).split())

    def handle_starttag(self, tag, attrs):
        a = {k: v if v is not None else "" for k, v in attrs}
        if tag == "input" and a.get("type") in ("checkbox", "radio"):
            if "checked" in a:
                self.checked.add((a["name"], a["value"]))
        elif tag == "input" and "name" in a and a.get("type") != "file":
            self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
            self.options[a["name"]] = []
            self.values.setdefault(a["name"], "")
        elif tag == "option" and self._select:
            self.options[self._select].append(a["value"])
            if "selected" in a:
                self.values[self._select] = a["value"]
        if "id" in a and "hidden" in a:
            self.hidden_ids.add(a["id"])
        if tag not in VOID:
            self._open.append((tag, a.get("id")))
            if a.get("id"):
                self.ids[a["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        self._words.append(data)
        for _, element_id in self._open:
            if element_id:
                self.ids[element_id] += data

    def said(self, element_id: str) -> str:
        return " ".join(self.ids.get(element_id, "").split())


def open_form(client, path: str = "/khai-bao") -> Page:
    response = client.get(path)
    assert response.status_code == 200
    return Page(response.get_data(as_text=True))


def declaration(page: Page, **answers: str | list[str]) -> dict:
    """The form as the browser would send it: hidden fields and empty rows included."""
    data: dict = {name: value for name, value in page.values.items()}
    data.update(citizen_id="001090012345", full_name="Nguyễn Văn An", date_of_birth="1990-05-17",
                sex="male", phone="0912345678", **{"residence-province_code": "1"})
    data.update(answers)
    return data


def register(app, citizen_id: str, full_name: str, date_of_birth: date, sex: str) -> None:
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name=full_name, date_of_birth=date_of_birth,
                               sex=sex, province_code=1, ward_code=70, phone="0912345678"))
        db.session.commit()


def stored(app, id_number: str, phone: str = "0912345678") -> list:
    with app.app_context():
        return declarations.lookup(id_number, phone)


def qr_photo(text: str, **kwargs) -> io.BytesIO:
    photo = io.BytesIO()
    segno.make(text, micro=False).save(photo, kind="png", scale=8, **kwargs)
    photo.seek(0)
    return photo


@pytest.fixture
def app(make_app):
    return make_app()


def test_form_is_in_vietnamese_by_default_and_in_english_on_request(client):
    page = open_form(client)
    for words in ("Khai báo y tế", "Họ và tên", "Ngày sinh", "Giới tính", "Số điện thoại", "Nơi ở hiện tại",
                  "Tỉnh/Thành phố", "Phường/Xã", "Triệu chứng trong 14 ngày qua", "Sốt", "Khó thở",
                  "Mất vị giác hoặc khứu giác", "Khai báo hộ người thân", "Quét thẻ CCCD", "Gửi tờ khai"):
        assert words in page.text
    assert len(page.options["residence-province_code"]) == 1 + 34
    assert page.values["csrf_token"] and page.values["idempotency_key"]

    english = open_form(client, "/khai-bao?lang=en")
    for words in ("Health declaration", "Full name", "Date of birth", "Symptoms in the last 14 days",
                  "Send declaration", "Tiếng Việt"):
        assert words in english.text
    assert "Họ và tên" not in english.text
    assert "Full name" in open_form(client).text  # the choice is remembered in the lang cookie


def test_posting_without_the_csrf_token_is_refused_and_keeps_the_answers(make_app):
    app = make_app()
    client = app.test_client()
    data = declaration(open_form(client))
    del data["csrf_token"]

    response = client.post("/khai-bao", data=data)

    assert response.status_code == 400
    page = Page(response.get_data(as_text=True))
    assert "Trang đã hết hạn" in page.text
    assert page.values["full_name"] == "Nguyễn Văn An"
    assert stored(app, "001090012345") == []


def test_every_error_is_shown_at_once_next_to_its_field_with_the_answers_kept(client):
    page = open_form(client)
    data = declaration(page, citizen_id="079090", full_name="", date_of_birth="2099-01-01",
                       phone="12345", **{"trip-date": "2020-01-01", "trip-vehicle_number": "29A-123.45",
                                         "dependants-1-full_name": "Nguyễn Bống", "symptoms": ["fever", "cough"]})
    del data["sex"]

    response = client.post("/khai-bao", data=data)

    assert response.status_code == 422
    shown = Page(response.get_data(as_text=True))
    assert shown.said("citizen_id-error") == "Lỗi: Số giấy tờ phải là số CCCD 12 chữ số hoặc số CMND 9 chữ số."
    assert shown.said("full_name-error") == "Lỗi: không được để trống"
    assert shown.said("date_of_birth-error") == "Lỗi: nằm trong tương lai"
    assert shown.said("sex-error") == "Lỗi: hãy chọn một mục"
    assert shown.said("phone-error") == "Lỗi: phải là số điện thoại Việt Nam, ví dụ 0912345678"
    assert shown.said("trip-from_province-error") == "Lỗi: hãy chọn một mục"
    assert shown.said("trip-date-error") == "Lỗi: phải trong 14 ngày qua hoặc 7 ngày tới"
    assert shown.said("dependants-1-citizen_id-error") == "Lỗi: không được để trống"
    assert shown.said("dependants-1-date_of_birth-error") == "Lỗi: không được để trống"
    assert "dependants-0-citizen_id-error" not in shown.ids  # the blank row is not an error
    assert "Vui lòng sửa 12 mục sau" in shown.text
    assert shown.values["citizen_id"] == "079090"
    assert shown.values["phone"] == "12345"
    assert shown.values["trip-vehicle_number"] == "29A-123.45"
    assert shown.values["dependants-1-full_name"] == "Nguyễn Bống"
    assert shown.values["residence-province_code"] == "1"
    assert {("symptoms", "fever"), ("symptoms", "cough")} <= shown.checked
    assert shown.values["idempotency_key"] == page.values["idempotency_key"]
    assert "dependants-1-citizen_id" not in shown.hidden_ids  # the filled row stays visible


def test_errors_come_in_english_when_english_was_chosen(client):
    data = declaration(open_form(client), phone="12345")
    response = client.post("/khai-bao?lang=en", data=data)
    assert response.status_code == 422
    assert Page(response.get_data(as_text=True)).said("phone-error") == \
        "Error: must be a Vietnamese phone number, e.g. 0912345678"


def test_a_declaration_leads_to_its_qr_code_and_registry_check(app, client):
    register(app, "001090012345", "Nguyễn Văn An", date(1990, 5, 17), "male")
    data = declaration(open_form(client), symptoms=["cough"], vaccination_doses="2",
                       **{"residence-ward_code": "70", "residence-address": "Số 1 Tràng Tiền"})

    response = client.post("/khai-bao", data=data)

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/khai-bao/")
    result = client.get(response.headers["Location"])
    page = Page(result.get_data(as_text=True))
    assert "Đã gửi tờ khai" in page.text
    assert "Đã xác thực" in page.text and "Thông tin khớp với Cơ sở dữ liệu quốc gia về dân cư" in page.text
    assert "Có hiệu lực đến" in page.text and "(giờ Việt Nam)" in page.text
    assert 'class="personal-qr"' in result.get_data(as_text=True)
    png_url = response.headers["Location"] + "/qr.png"
    assert f'href="{png_url}"' in result.get_data(as_text=True)

    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(client.get(png_url).data)))
    claims = verify(codes[0].text, load_public_keys(client.get(KEY_DOCUMENT_PATH).json))
    assert claims.subject_ref == stored(app, "001090012345")[0].qr_ref


def test_a_mismatch_is_shown_without_naming_the_fields_that_differ(app, client):
    register(app, "001090012345", "Nguyễn Văn Bình", date(1990, 5, 17), "male")
    response = client.post("/khai-bao", data=declaration(open_form(client)), follow_redirects=True)
    page = Page(response.get_data(as_text=True))
    assert "Thông tin chưa khớp với Cơ sở dữ liệu quốc gia về dân cư, vui lòng kiểm tra lại thẻ CCCD" in page.text
    assert "Họ và tên" not in page.text and "Các thông tin sau khác" not in page.text
    assert stored(app, "001090012345")[0].mismatched_fields == ["full_name"]  # kept for officials


def test_dependants_get_their_own_qr_codes(client):
    child = make_cccd(1, date(2015, 3, 2), "female", random.randrange(10**6))
    data = declaration(open_form(client), **{
        "dependants-1-citizen_id": child, "dependants-1-full_name": "Nguyễn Thị Bống",
        "dependants-1-date_of_birth": "2015-03-02", "dependants-1-sex": "female",
        "dependants-1-relation": "child"})

    response = client.post("/khai-bao", data=data, follow_redirects=True)

    html = response.get_data(as_text=True)
    page = Page(html)
    assert html.count('class="personal-qr"') == 2
    assert "Nguyễn Thị Bống" in page.text and "· Con" in page.text
    assert "Chưa xác thực" in page.text  # neither is in this registry


def test_a_double_tap_gives_one_declaration(app, client):
    data = declaration(open_form(client))
    first = client.post("/khai-bao", data=data)
    second = client.post("/khai-bao", data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(stored(app, "001090012345")) == 1


def test_resending_an_edited_form_with_a_used_key_asks_to_send_again(app, client):
    data = declaration(open_form(client))
    client.post("/khai-bao", data=data)

    response = client.post("/khai-bao", data={**data, "vaccination_doses": "3"})

    assert response.status_code == 409
    page = Page(response.get_data(as_text=True))
    assert "Tờ khai này đã được gửi trước đó" in page.text
    assert page.values["vaccination_doses"] == "3"
    assert page.values["idempotency_key"] != data["idempotency_key"]
    assert client.post("/khai-bao", data={**data, **page.values}).status_code == 303
    assert len(stored(app, "001090012345")) == 2


def test_a_photo_of_the_card_qr_fills_in_the_form(client):
    token = open_form(client).values["csrf_token"]
    response = client.post("/khai-bao/quet-the", data={"csrf_token": token, "photo": (qr_photo(CARD_QR), "the.png")})
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "Đã điền thông tin từ thẻ CCCD" in page.text
    assert page.values["citizen_id"] == "001090012345"
    assert page.values["full_name"] == "Nguyễn Văn An"
    assert page.values["date_of_birth"] == "1990-05-17"
    assert ("sex", "male") in page.checked
    assert page.values["residence-address"] == "Số 1 Tràng Tiền, Hà Nội"


def test_a_full_size_phone_photo_is_accepted(client):
    """Photos are far above the 64 KB every other request is held to."""
    token = open_form(client).values["csrf_token"]
    photo = Image.effect_noise((1600, 1200), 60).convert("RGB")
    photo.paste(Image.open(qr_photo(CARD_QR)).convert("RGB"), (500, 300))
    body = io.BytesIO()
    photo.save(body, "JPEG", quality=90)
    assert body.tell() > 500_000
    body.seek(0)
    response = client.post("/khai-bao/quet-the", data={"csrf_token": token, "photo": (body, "IMG_0001.jpg")})
    assert response.status_code == 200
    assert Page(response.get_data(as_text=True)).values["citizen_id"] == "001090012345"


@pytest.mark.parametrize(("photo", "status", "message"), [
    (lambda: qr_photo("001090012345||Nguyễn Văn An|17051990|Nam"), 422,
     "Mã QR trên thẻ CCCD phải có ít nhất 6 trường ngăn cách bởi dấu '|', mã này có 5."),
    (lambda: io.BytesIO(b"%PDF-1.7 this is not a picture"), 400, "Tệp đã chọn không phải là ảnh"),
    (lambda: qr_photo("x", dark="white"), 422, "Không tìm thấy mã QR trong ảnh"),
    (lambda: io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), 400, "Tệp đã chọn không phải là ảnh"),
])
def test_a_bad_card_photo_gets_a_clear_message(client, photo, status, message):
    token = open_form(client).values["csrf_token"]
    response = client.post("/khai-bao/quet-the", data={"csrf_token": token, "photo": (photo(), "card.png")})
    assert response.status_code == status
    page = Page(response.get_data(as_text=True))
    assert message in page.said("card-error")
    assert page.values["citizen_id"] == ""


def test_a_missing_or_huge_photo_gets_a_clear_message(client):
    token = open_form(client).values["csrf_token"]
    response = client.post("/khai-bao/quet-the", data={"csrf_token": token})
    assert response.status_code == 400
    assert "Hãy chọn ảnh chụp thẻ CCCD trước." in Page(response.get_data(as_text=True)).said("card-error")

    huge = io.BytesIO(b"\xff\xd8" + b"\0" * (13 * 1024 * 1024))
    response = client.post("/khai-bao/quet-the", data={"csrf_token": token, "photo": (huge, "big.jpg")})
    assert response.status_code == 413
    assert "Ảnh quá lớn" in Page(response.get_data(as_text=True)).said("card-error")


def test_a_camera_scan_is_read_by_the_card_api(client):
    response = client.post("/api/v1/card-qr", json={"payload": CARD_QR})
    assert response.status_code == 200
    assert response.json == {"citizen_id": "001090012345", "cmnd": None, "full_name": "Nguyễn Văn An",
                             "date_of_birth": "1990-05-17", "sex": "male",
                             "address": "Số 1 Tràng Tiền, Hà Nội", "issued_on": "2021-02-01"}

    response = client.post("/api/v1/card-qr?lang=en", json={"payload": "a|b"})
    assert response.status_code == 422
    assert response.json["reason"] == "field_count"
    assert response.json["error"].startswith("a CCCD card QR has at least 6")
    assert client.post("/api/v1/card-qr", json={}).status_code == 400


def test_my_declarations_are_found_by_id_and_phone_only(app, client):
    client.post("/khai-bao", data=declaration(open_form(client)))
    client.post("/khai-bao", data=declaration(open_form(client), vaccination_doses="3"))
    token = open_form(client, "/tra-cuu").values["csrf_token"]

    found = Page(client.post("/tra-cuu", data={"csrf_token": token, "id_number": "001 090 012345",
                                               "phone": "+84 912 345 678"}).get_data(as_text=True))
    assert "Mã QR mới nhất" in found.text and "Lịch sử khai báo" in found.text
    assert found.text.count("Nguyễn Văn An") == 3  # the latest card, and two history rows

    nothing = "Không tìm thấy tờ khai nào với số giấy tờ và số điện thoại này."
    for id_number, phone in (("001090012345", "0987654321"), ("079090000001", "0912345678")):
        response = client.post("/tra-cuu", data={"csrf_token": token, "id_number": id_number, "phone": phone})
        page = Page(response.get_data(as_text=True))
        assert response.status_code == 200
        assert nothing in page.text and "Nguyễn Văn An" not in page.text

    empty = Page(client.post("/tra-cuu", data={"csrf_token": token, "id_number": "", "phone": ""}).get_data(as_text=True))
    assert empty.said("id_number-error") == "Lỗi: không được để trống"
    assert nothing not in empty.text


def test_wards_of_a_province_for_the_dropdown(client):
    response = client.get("/api/v1/units/provinces/1/wards")
    assert response.status_code == 200
    assert response.json["province"] == {"code": 1, "name": "Thành phố Hà Nội"}
    assert {"code": 70, "name": "Phường Hoàn Kiếm"} in response.json["wards"]
    assert client.get("/api/v1/units/provinces/2/wards").status_code == 404


def test_without_javascript_the_wards_of_the_chosen_province_can_be_listed(app, client):
    data = declaration(open_form(client), reload_wards="1", **{"residence-province_code": "79"})
    response = client.post("/khai-bao", data=data)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert len(page.options["residence-ward_code"]) > 50
    assert page.values["full_name"] == "Nguyễn Văn An"
    assert stored(app, "001090012345") == []


def test_an_unknown_declaration_gets_a_page_not_a_stack_trace(client):
    response = client.get("/khai-bao/" + "0" * 32)
    assert response.status_code == 404
    assert "Không tìm thấy tờ khai" in Page(response.get_data(as_text=True)).text


def test_the_form_and_the_api_share_the_declaration_rate_limits(make_app):
    client = make_app(declaration_rate_per_id="3/hour").test_client()
    page = open_form(client)
    api = {"citizen_id": "001090012345", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-05-17",
           "sex": "male", "phone": "0912345678"}
    assert client.post("/api/v1/declarations", json=api).status_code == 201
    statuses = [client.post("/khai-bao", data=declaration(page, idempotency_key=f"tap-{n}-of-three")).status_code
                for n in range(3)]
    assert statuses == [303, 303, 429]
    response = client.post("/khai-bao", data=declaration(page))
    assert "Quá nhiều lượt gửi" in Page(response.get_data(as_text=True)).text
    assert client.post("/api/v1/declarations", json=api).status_code == 429
