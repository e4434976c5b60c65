"""Reading the CCCD card a citizen shows to the form: a photo of its QR code, or the camera's text."""
from __future__ import annotations

from typing import IO, Any

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

from ingest.cardqr import CardQr, parse_card_qr
from ingest.errors import InvalidCardQr, Message
from webapp.i18n import current_language

# What a phone camera writes (iPhones convert HEIC on upload). Every other format Pillow knows
# stays unopened: each is a decoder more that a crafted file could reach.
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PHOTO_PIXELS = 40_000_000  # a 40-megapixel photo; bigger is not a phone picture of a card
# zxing finds a card's QR code in a photo this size as well as in the full one, and much faster.
MAX_DECODED_SIDE = 2000


class UnreadablePhoto(Exception):
    """An uploaded card photo gave no QR code to read; ``message`` says why, in both languages."""

    def __init__(self, message: Message, status: int) -> None:
        super().__init__(message.en)
        self.message = message
        self.status = status


NOT_AN_IMAGE = Message("The file is not a JPEG, PNG or WebP photo. Choose a photo of your card.",
                       "Tệp đã chọn không phải là ảnh JPEG, PNG hoặc WebP. Hãy chọn ảnh chụp thẻ CCCD.")
PHOTO_TOO_LARGE = Message("The photo is too large. Take a photo of the card alone and try again.",
                          "Ảnh quá lớn. Hãy chụp riêng thẻ CCCD rồi thử lại.")
TOO_MANY_PIXELS = Message(
    f"The photo has too many pixels (at most {MAX_PHOTO_PIXELS // 1_000_000} megapixels). "
    "Take a photo of the card alone with the camera's usual setting.",
    f"Ảnh có quá nhiều điểm ảnh (tối đa {MAX_PHOTO_PIXELS // 1_000_000} megapixel). "
    "Hãy chụp riêng thẻ CCCD ở chế độ chụp thông thường.",
)
NO_QR_CODE = Message(
    "No QR code was found in the photo. Photograph the QR code on your card up close, "
    "in good light and in focus.",
    "Không tìm thấy mã QR trong ảnh. Hãy chụp gần mã QR trên thẻ CCCD, đủ sáng và rõ nét.",
)
NO_PHOTO = Message("Choose a photo of your card first.", "Hãy chọn ảnh chụp thẻ CCCD trước.")
TOO_MANY_PHOTOS = Message(
    "Too many photos were sent from this connection. Please wait a minute, then try again.",
    "Quá nhiều ảnh được gửi từ kết nối này. Vui lòng chờ một phút rồi thử lại.",
)


def photo_format(head: bytes) -> str | None:
    """The accepted format the file's first bytes announce, whatever its name or declared type.

    >>> photo_format(b"\\xff\\xd8\\xff\\xe0\\x00\\x10JFIF"), photo_format(b"RIFF\\x10\\x00\\x00\\x00WEBPVP8 ")
    ('JPEG', 'WEBP')
    >>> photo_format(b"GIF89a"), photo_format(b"%PDF-1.7")
    (None, None)
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def read_card_photo(stream: IO[bytes]) -> CardQr:
    """Find the CCCD QR code in an uploaded photo and read it.

    Only JPEG, PNG and WebP are opened, told by their first bytes. The size in the header is
    checked before any pixel is decoded (a small file can unpack to gigabytes), and the photo
    is decoded at most :data:`MAX_DECODED_SIDE` pixels a side.

    Raises :class:`UnreadablePhoto` when there is no such image or no QR code in it, and
    :class:`InvalidCardQr` when the QR code found is not a CCCD card's.
    """
    kind = photo_format(stream.read(12))
    stream.seek(0)
    if kind is None:
        raise UnreadablePhoto(NOT_AN_IMAGE, 400)
    try:
        image = Image.open(stream, formats=[kind])  # reads the header only
        if image.width * image.height > MAX_PHOTO_PIXELS:
            raise UnreadablePhoto(TOO_MANY_PIXELS, 413)
        image.draft("L", (MAX_DECODED_SIDE, MAX_DECODED_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        image = image.convert("L")
        image.thumbnail((MAX_DECODED_SIDE, MAX_DECODED_SIDE))
        # Phones store portrait photos sideways with an EXIF note; the decoder wants pixels.
        image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:  # Pillow's own limit, past ours: a header claiming billions
        raise UnreadablePhoto(TOO_MANY_PIXELS, 413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise UnreadablePhoto(NOT_AN_IMAGE, 400) from None  # truncated or corrupt: any of these
    codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    if not codes:
        raise UnreadablePhoto(NO_QR_CODE, 422)
    first_problem: InvalidCardQr | None = None
    for code in codes:  # the new cards print a second QR code; use the one that is a CCCD's
        try:
            return parse_card_qr(code.bytes)
        except InvalidCardQr as problem:
            first_problem = first_problem or problem
    raise first_problem


def card_json(card: CardQr) -> dict[str, Any]:
    """What the browser fills in after a camera scan."""
    return {
        "citizen_id": card.cccd,
        "cmnd": card.cmnd,
        "full_name": card.full_name,
        "date_of_birth": card.date_of_birth.isoformat(),
        "sex": card.sex,
        "address": card.address,
        "issued_on": card.issued_on.isoformat() if card.issued_on else None,
    }


def card_problem(problem: InvalidCardQr) -> str:
    """The card QR problem in the reader's language."""
    return problem.message if current_language() == "en" else problem.message_vi
