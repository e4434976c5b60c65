"""Reading the CCCD card a citizen shows to the form: a photo of its QR code, or the camera's text."""
from __future__ import annotations

from typing import IO, Any

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

from ingest.cardqr import CardQr, parse_card_qr
from ingest.errors import InvalidCardQr, Message
from webapp.i18n import current_language

MAX_PHOTO_PIXELS = 40_000_000  # a 40-megapixel photo; bigger is not a phone picture of a card


class UnreadablePhoto(Exception):
    """An uploaded card photo gave no QR code to read; ``message`` says why, in both languages."""

    def __init__(self, message: Message, status: int) -> None:
        super().__init__(message.en)
        self.message = message
        self.status = status


NOT_AN_IMAGE = Message("The file is not a photo (JPEG, PNG, WebP…). Choose a photo of your card.",
                       "Tệp đã chọn không phải là ảnh (JPEG, PNG, WebP…). Hãy chọn ảnh chụp thẻ CCCD.")
PHOTO_TOO_LARGE = Message("The photo is too large. Take a photo of the card alone and try again.",
                          "Ảnh quá lớn. Hãy chụp riêng thẻ CCCD rồi thử lại.")
NO_QR_CODE = Message(
    "No QR code was found in the photo. Photograph the QR code on your card up close, "
    "in good light and in focus.",
    "Không tìm thấy mã QR trong ảnh. Hãy chụp gần mã QR trên thẻ CCCD, đủ sáng và rõ nét.",
)
NO_PHOTO = Message("Choose a photo of your card first.", "Hãy chọn ảnh chụp thẻ CCCD trước.")


def read_card_photo(stream: IO[bytes]) -> CardQr:
    """Find the CCCD QR code in an uploaded photo and read it.

    Raises :class:`UnreadablePhoto` when there is no image or no QR code in it, and
    :class:`InvalidCardQr` when the QR code found is not a CCCD card's.
    """
    try:
        image = Image.open(stream)
        if image.width * image.height > MAX_PHOTO_PIXELS:
            raise UnreadablePhoto(PHOTO_TOO_LARGE, 413)
        image.load()
        # Phones store portrait photos sideways with an EXIF note; the decoder wants pixels.
        image = ImageOps.exif_transpose(image).convert("L")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError):  # truncated or corrupt files surface as any of these
        raise UnreadablePhoto(NOT_AN_IMAGE, 400) from None
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
