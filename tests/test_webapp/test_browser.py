"""The citizen's pages in a real headless Chromium, against the whole running system.

Chromium is Debian's (``make test`` installs it); Playwright only drives it, so no browser is
downloaded. The page is opened at a phone's width, in a browser that prefers Vietnamese.
"""
from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
import segno
import zxingcpp
from PIL import Image
from playwright.sync_api import sync_playwright

from ingest.qrtoken import KEY_DOCUMENT_PATH, load_public_keys, verify

pytestmark = [pytest.mark.browser, pytest.mark.broker]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
TOKEN_TTL = timedelta(hours=72)
CARD_QR = "001090012345||Nguyễn Văn An|17051990|Nam|Số 1 Tràng Tiền, Hà Nội|01022021"


def chromium_executable(path: str = CHROMIUM) -> str:
    """Debian's Chromium, or a failure saying how to install it: a missing browser is never a skip."""
    if not os.access(path, os.X_OK):
        pytest.fail(f"Debian's chromium is not installed (no {path}): run `apt-get install chromium` "
                    "(make test does this)", pytrace=False)
    return path


def launch(driver, *extra_args: str):
    return driver.chromium.launch(executable_path=chromium_executable(), args=[*CHROMIUM_ARGS, *extra_args],
                                  headless=True)


def test_a_missing_chromium_fails_saying_what_to_install(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"run `apt-get install chromium` \(make test does this\)"):
        chromium_executable(str(tmp_path / "chromium"))


@pytest.fixture(scope="module")
def driver():
    """Playwright, once: its sync API runs one event loop per thread."""
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(driver):
    chromium = launch(driver)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def camera_browser(driver, tmp_path_factory):
    """A Chromium whose camera films a CCCD card QR (a Y4M video file), permission given."""
    video = tmp_path_factory.mktemp("camera") / "card.y4m"
    write_y4m(card_in_view(), video)
    chromium = launch(driver, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                      f"--use-file-for-fake-video-capture={video}")
    yield chromium
    chromium.close()


def card_in_view() -> Image.Image:
    """What the phone camera sees: the card's QR code in the middle of a 640 x 480 frame."""
    photo = io.BytesIO()
    segno.make(CARD_QR, micro=False).save(photo, kind="png", scale=6, border=6)
    code = Image.open(photo).convert("RGB")
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    return frame


def write_y4m(image: Image.Image, path, frames: int = 10) -> None:
    """A still video in the YUV4MPEG2 format Chromium's fake camera plays (4:2:0, looped)."""
    y, cb, cr = image.convert("YCbCr").split()
    half = (image.width // 2, image.height // 2)
    frame = b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{image.width} H{image.height} F10:1 Ip A1:1 C420jpeg\n".encode())
        video.write(frame * frames)


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="vi-VN", device_scale_factor=2)
    yield context
    context.close()


def decode_qr(png: bytes) -> str:
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(codes) == 1, "exactly one QR code in the image"
    return codes[0].text


def test_a_citizen_declares_and_gets_a_verifiable_qr_code(system, phone):
    page = phone.new_page()
    page.goto(f"{system['url']}/khai-bao")
    assert page.locator("h1").inner_text() == "Khai báo y tế"

    page.get_by_label("Số CCCD (hoặc số CMND 9 số)").fill("001090012345")
    page.get_by_label("Họ và tên").first.fill("Nguyễn Văn An")
    page.get_by_label("Ngày sinh").first.fill("1990-05-17")
    page.get_by_label("Nam", exact=True).check()
    page.get_by_label("Số điện thoại").fill("0912345678")
    page.select_option("#residence-province_code", label="Thành phố Hà Nội")
    # The ward list is fetched for the chosen province by the page's script.
    page.locator("#residence-ward_code option[value='70']").wait_for(state="attached")
    page.select_option("#residence-ward_code", label="Phường Hoàn Kiếm")
    page.get_by_label("Ho", exact=True).check()
    page.get_by_label("Số mũi vắc xin COVID-19 đã tiêm").select_option("2")
    first_child = page.locator("[data-dependant]").nth(0)
    first_child.get_by_label("Số CCCD/CMND").fill("001315000123")
    first_child.get_by_label("Họ và tên").fill("Nguyễn Thị Bống")
    first_child.get_by_label("Ngày sinh").fill("2015-03-02")
    first_child.get_by_label("Giới tính").select_option("female")
    assert not page.locator("[data-dependant]").nth(3).is_visible()
    page.get_by_role("button", name="Thêm người").click()
    assert page.locator("[data-dependant]").nth(3).is_visible()

    page.get_by_role("button", name="Gửi tờ khai").click()
    page.wait_for_url(f"{system['url']}/khai-bao/*")

    assert page.locator("h1").inner_text() == "Đã gửi tờ khai"
    cards = page.locator("article.qr-card")
    assert cards.count() == 2
    text = cards.nth(0).inner_text()
    assert "Nguyễn Văn An" in text and "Chưa xác thực" in text and "Có hiệu lực đến" in text
    assert "Nguyễn Thị Bống" in cards.nth(1).inner_text()

    keys = load_public_keys(phone.request.get(system["url"] + KEY_DOCUMENT_PATH).json())
    on_screen = decode_qr(cards.nth(0).locator("svg.personal-qr").screenshot())
    png_link = cards.nth(0).get_by_role("link", name="Tải ảnh mã QR (PNG)").get_attribute("href")
    download = phone.request.get(system["url"] + png_link, fail_on_status_code=True)
    assert decode_qr(download.body()) == on_screen
    claims = verify(on_screen, keys)
    assert abs(claims.expires_at - datetime.now(timezone.utc) - TOKEN_TTL) < timedelta(minutes=5)
    child = decode_qr(cards.nth(1).locator("svg.personal-qr").screenshot())
    assert child != on_screen and verify(child, keys).subject_ref != claims.subject_ref
    # The phone keeps both codes for self check-in at venues.
    kept = json.loads(page.evaluate("window.localStorage.getItem('truyvet.people')"))
    assert {(person["name"], person["token"]) for person in kept} == {
        ("Nguyễn Văn An", on_screen), ("Nguyễn Thị Bống", child)}


def test_every_mistake_is_shown_at_once_and_nothing_typed_is_lost(system, phone):
    page = phone.new_page()
    page.goto(f"{system['url']}/khai-bao")
    page.get_by_label("Số CCCD (hoặc số CMND 9 số)").fill("0790901")
    page.get_by_label("Họ và tên").first.fill("Nguyễn Văn 4n")
    page.get_by_label("Số điện thoại").fill("12345")
    page.get_by_label("Ngày đi").fill("2020-01-01")

    page.get_by_role("button", name="Gửi tờ khai").click()
    page.locator("#error-summary").wait_for()

    expected = {
        "citizen_id": "Số giấy tờ phải là số CCCD 12 chữ số hoặc số CMND 9 chữ số.",
        "full_name": "chỉ gồm chữ cái và khoảng trắng, tối đa 80 ký tự",
        "date_of_birth": "không được để trống",
        "sex": "hãy chọn một mục",
        "phone": "phải là số điện thoại Việt Nam, ví dụ 0912345678",
        "trip-from_province": "hãy chọn một mục",
        "trip-to_province": "hãy chọn một mục",
        "trip-means": "hãy chọn một mục",
        "trip-date": "phải trong 14 ngày qua hoặc 7 ngày tới",
    }
    for field, message in expected.items():
        error = page.locator(f"#{field}-error")
        assert error.is_visible(), field
        assert message in error.inner_text()
    assert page.locator(".error-message:visible").count() == len(expected)
    assert "Vui lòng sửa 9 mục sau" in page.locator("#error-summary").inner_text()
    assert page.get_by_label("Họ và tên").first.input_value() == "Nguyễn Văn 4n"
    assert page.get_by_label("Số điện thoại").input_value() == "12345"
    assert page.get_by_label("Ngày đi").input_value() == "2020-01-01"

    page.locator("#error-summary a", has_text="Số điện thoại").click()
    assert page.evaluate("document.activeElement.id") == "phone"


def test_english_is_one_tap_away_and_remembered(system, phone):
    page = phone.new_page()
    page.goto(f"{system['url']}/khai-bao")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Health declaration"
    page.get_by_role("link", name="My declarations").click()
    assert page.locator("h1").inner_text() == "My declarations"


def test_the_camera_reads_the_id_card_and_fills_in_the_form(system, camera_browser):
    context = camera_browser.new_context(viewport=PHONE, locale="vi-VN")
    context.grant_permissions(["camera"], origin=system["url"])
    page = context.new_page()
    page.goto(f"{system['url']}/khai-bao")

    page.get_by_role("button", name="Quét bằng camera").click()
    page.get_by_text("Đã điền thông tin từ thẻ CCCD. Vui lòng kiểm tra lại.").wait_for()

    assert page.get_by_label("Số CCCD (hoặc số CMND 9 số)").input_value() == "001090012345"
    assert page.get_by_label("Họ và tên").first.input_value() == "Nguyễn Văn An"
    assert page.get_by_label("Ngày sinh").first.input_value() == "1990-05-17"
    assert page.get_by_label("Nam", exact=True).is_checked()
    assert page.get_by_label("Số nhà, đường, thôn/xóm").input_value() == "Số 1 Tràng Tiền, Hà Nội"
    assert not page.locator("video").is_visible()  # the camera is off again
    context.close()
