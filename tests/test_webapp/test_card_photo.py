"""The card photo upload (POST /khai-bao/quet-the): which files are opened, how big, how often.

Only JPEG, PNG and WebP, told by their first bytes; the pixel count read from the header before
anything is decoded; at most 2000 pixels a side handed to zxing; 20 photos a minute per address.
"""
from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
import segno
import zxingcpp
from PIL import Image

from tests.test_webapp.test_citizen_pages import CARD_QR, Page, open_form
from webapp import cardscan


@pytest.fixture
def token(client) -> str:
    return open_form(client).values["csrf_token"]


def upload(client, token: str, photo: io.BytesIO, filename: str = "card.jpg", content_type: str | None = None):
    return client.post("/khai-bao/quet-the", content_type="multipart/form-data", data={
        "csrf_token": token, "photo": (photo, filename, content_type) if content_type else (photo, filename)})


def card_error(response) -> str:
    return Page(response.get_data(as_text=True)).said("card-error")


def saved(image: Image.Image, kind: str, **options) -> io.BytesIO:
    body = io.BytesIO()
    image.save(body, kind, **options)
    body.seek(0)
    return body


def card(size: tuple[int, int] = (1600, 1200), scale: int = 8) -> Image.Image:
    """A photo with the card's QR code in it."""
    code = io.BytesIO()
    segno.make(CARD_QR, micro=False).save(code, kind="png", scale=scale)
    photo = Image.new("RGB", size, "white")
    photo.paste(Image.open(code).convert("RGB"), (size[0] // 4, size[1] // 4))
    return photo


def png_header(width: int, height: int) -> io.BytesIO:
    """A PNG that only claims its size: a valid header, then a few bytes of pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return io.BytesIO(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                      + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "WEBP"])
def test_jpeg_png_and_webp_photos_are_read_whatever_they_are_called(client, token, kind):
    response = upload(client, token, saved(card(), kind), filename="the-card.gif", content_type="image/gif")
    assert response.status_code == 200, card_error(response)
    assert Page(response.get_data(as_text=True)).values["citizen_id"] == "001090012345"


@pytest.mark.parametrize("kind", ["GIF", "BMP", "TIFF", "PPM", "ICO", "PCX"])
def test_other_image_formats_are_refused_unopened_even_named_jpeg(client, token, kind, monkeypatch):
    photo = saved(card((256, 256), scale=4).convert("L" if kind in ("PCX", "PPM") else "RGB"), kind)
    monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("a refused format was opened"))

    response = upload(client, token, photo, filename="card.jpg", content_type="image/jpeg")

    assert response.status_code == 400
    assert card_error(response) == "Tệp đã chọn không phải là ảnh JPEG, PNG hoặc WebP. Hãy chọn ảnh chụp thẻ CCCD."


def test_the_refusal_is_in_english_when_english_was_chosen(client, token):
    response = client.post("/khai-bao/quet-the?lang=en", data={
        "csrf_token": token, "photo": (saved(card((64, 64), 1), "GIF"), "card.png")})
    assert card_error(response) == "The file is not a JPEG, PNG or WebP photo. Choose a photo of your card."


def test_a_decompression_bomb_is_refused_from_its_header(client, token):
    """A 50-megapixel claim in a 100-byte file: refused before a single pixel is decoded."""
    photo = png_header(10_000, 5_000)
    assert len(photo.getvalue()) < 200

    started = time.monotonic()
    response = upload(client, token, photo, filename="card.png")

    assert response.status_code == 413
    assert card_error(response).startswith("Ảnh có quá nhiều điểm ảnh (tối đa 40 megapixel)")
    assert time.monotonic() - started < 2
    # Past Pillow's own limit (a header claiming billions of pixels), the same answer.
    response = upload(client, token, png_header(60_000, 60_000), filename="card.png")
    assert response.status_code == 413
    assert "quá nhiều điểm ảnh" in card_error(response)


def test_a_header_within_the_limit_over_broken_pixels_is_not_an_image(client, token):
    response = upload(client, token, png_header(2_000, 1_000), filename="card.png")
    assert response.status_code == 400
    assert "không phải là ảnh JPEG, PNG hoặc WebP" in card_error(response)


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_a_large_photo_is_read_at_most_2000_pixels_a_side(client, token, kind, monkeypatch):
    seen: list[tuple[int, int]] = []
    read = zxingcpp.read_barcodes

    def spy(image, **options):
        seen.append(image.size)
        return read(image, **options)

    monkeypatch.setattr(cardscan.zxingcpp, "read_barcodes", spy)
    photo = card((6000, 4000), scale=24)  # 24 megapixels, under the limit

    response = upload(client, token, saved(photo, kind), filename=f"IMG_0001.{kind.lower()}")

    assert response.status_code == 200, card_error(response)
    assert Page(response.get_data(as_text=True)).values["citizen_id"] == "001090012345"
    assert seen and max(seen[0]) <= cardscan.MAX_DECODED_SIDE


def test_a_portrait_photo_is_turned_upright_before_reading(client, token, monkeypatch):
    seen: list[tuple[int, int]] = []
    read = zxingcpp.read_barcodes
    monkeypatch.setattr(cardscan.zxingcpp, "read_barcodes",
                        lambda image, **options: seen.append(image.size) or read(image, **options))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° to show

    response = upload(client, token, saved(card((4000, 3000), scale=16), "JPEG", exif=exif))

    assert response.status_code == 200, card_error(response)
    assert seen == [(1500, 2000)]


def test_photos_are_limited_to_20_a_minute_per_address(client, token):
    statuses = [upload(client, token, saved(Image.new("L", (32, 32), 255), "PNG"), "card.png").status_code
                for _ in range(21)]

    assert statuses == [422] * 20 + [429]
    response = upload(client, token, saved(card(), "PNG"), "card.png")
    assert response.status_code == 429
    assert card_error(response) == "Quá nhiều ảnh được gửi từ kết nối này. Vui lòng chờ một phút rồi thử lại."
    assert int(response.headers["Retry-After"]) > 0
    assert "Khai báo y tế" in Page(response.get_data(as_text=True)).text  # the form is still there
    # Declaring is not held back by reading photos.
    assert client.get("/khai-bao").status_code == 200


def test_the_photo_field_asks_the_phone_for_the_formats_read(client):
    assert 'accept="image/jpeg,image/png,image/webp"' in client.get("/khai-bao").get_data(as_text=True)
