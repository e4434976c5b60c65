"""Reading the QR code printed on the chip-based CCCD card.

The payload is UTF-8 text, fields separated by ``|``::

    CCCD | old CMND (may be empty) | full name | DOB DDMMYYYY | Nam/Nữ | permanent address | issued DDMMYYYY

Older cards omit the issue date, and some readers append fields of their own, so six or more
fields are accepted; empty fields are kept as empty strings.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from ingest.errors import InvalidCardQr
from ingest.identity import Sex, validate_cccd, vietnam_today

SEPARATOR = "|"
MIN_FIELDS = 6
_DATE = re.compile(r"[0-9]{8}")
_CMND = re.compile(r"[0-9]{9}|[0-9]{12}")  # cards list 12-digit CMNDs (issued 2012-2016) too
_SEX = {"nam": "male", "nữ": "female"}


@dataclass(frozen=True)
class CardQr:
    """The fields of a CCCD card QR; ``extra`` keeps any fields after the issue date."""

    cccd: str
    cmnd: str | None
    full_name: str
    date_of_birth: date
    sex: Sex
    address: str
    issued_on: date | None
    extra: tuple[str, ...] = ()


def parse_card_qr(payload: str | bytes, *, today: date | None = None) -> CardQr:
    """Parse a scanned CCCD card QR, or raise :class:`InvalidCardQr` with the reason.

    >>> card = parse_card_qr("001090012345||Nguyễn Văn An|17051990|Nam|Số 1 Tràng Tiền, Hà Nội|01022021")
    >>> card.cmnd is None, card.date_of_birth, card.sex, card.issued_on
    (True, datetime.date(1990, 5, 17), 'male', datetime.date(2021, 2, 1))
    """
    today = today or vietnam_today()
    # NFC so that names and addresses compare equal whichever way the reader composed them.
    text = unicodedata.normalize("NFC", _decode(payload))
    fields = [field.strip() for field in text.split(SEPARATOR)]
    if len(fields) < MIN_FIELDS:
        raise InvalidCardQr(
            InvalidCardQr.FIELD_COUNT,
            f"a CCCD card QR has at least {MIN_FIELDS} '|'-separated fields, this one has {len(fields)}",
            f"Mã QR trên thẻ CCCD phải có ít nhất {MIN_FIELDS} trường ngăn cách bởi dấu '|', "
            f"mã này có {len(fields)}.",
        )
    cccd, cmnd, full_name, raw_dob, raw_sex, address = fields[:MIN_FIELDS]
    raw_issued = fields[MIN_FIELDS] if len(fields) > MIN_FIELDS else ""

    if cmnd and not _CMND.fullmatch(cmnd):
        raise InvalidCardQr(
            InvalidCardQr.CMND,
            f"the old CMND number {cmnd!r} is not 9 or 12 digits",
            f"Số CMND cũ '{cmnd}' phải gồm 9 hoặc 12 chữ số.",
        )
    date_of_birth = _parse_date(raw_dob)
    if date_of_birth is None:
        raise InvalidCardQr(
            InvalidCardQr.DATE_OF_BIRTH,
            f"date of birth {raw_dob!r} is not a real date written DDMMYYYY",
            f"Ngày sinh '{raw_dob}' không phải ngày hợp lệ dạng NgàyThángNăm (ví dụ 17051990).",
        )
    if date_of_birth > today:
        raise InvalidCardQr(
            InvalidCardQr.FUTURE_BIRTH,
            f"date of birth {date_of_birth.isoformat()} is in the future",
            f"Ngày sinh {date_of_birth:%d/%m/%Y} nằm trong tương lai.",
        )
    sex = _SEX.get(raw_sex.casefold())
    if sex is None:
        raise InvalidCardQr(
            InvalidCardQr.SEX,
            f"sex {raw_sex!r} is neither 'Nam' nor 'Nữ'",
            f"Giới tính '{raw_sex}' phải là 'Nam' hoặc 'Nữ'.",
        )
    problems = validate_cccd(cccd, date_of_birth, sex, today=today)
    if problems:
        raise InvalidCardQr(
            InvalidCardQr.CCCD,
            f"CCCD number {cccd!r}: " + "; ".join(problem.message for problem in problems),
            f"Số CCCD '{cccd}' không hợp lệ: " + " ".join(problem.message_vi for problem in problems),
            problems,
        )
    issued_on = _parse_issue_date(raw_issued, date_of_birth, today)
    return CardQr(
        cccd=cccd,
        cmnd=cmnd or None,
        full_name=full_name,
        date_of_birth=date_of_birth,
        sex=sex,
        address=address,
        issued_on=issued_on,
        extra=tuple(fields[MIN_FIELDS + 1:]),
    )


def _decode(payload: str | bytes) -> str:
    if isinstance(payload, str):
        return payload.removeprefix("\ufeff")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidCardQr(
            InvalidCardQr.ENCODING,
            "the QR payload is not valid UTF-8 text",
            "Mã QR không phải văn bản UTF-8 hợp lệ.",
        ) from None


def _parse_date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None


def _parse_issue_date(text: str, date_of_birth: date, today: date) -> date | None:
    if not text:
        return None
    issued_on = _parse_date(text)
    if issued_on is None:
        problem = (f"issue date {text!r} is not a real date written DDMMYYYY",
                   f"Ngày cấp '{text}' không phải ngày hợp lệ dạng NgàyThángNăm.")
    elif issued_on > today:
        problem = (f"issue date {issued_on.isoformat()} is in the future",
                   f"Ngày cấp {issued_on:%d/%m/%Y} nằm trong tương lai.")
    elif issued_on < date_of_birth:
        problem = (f"issue date {issued_on.isoformat()} is before the date of birth",
                   f"Ngày cấp {issued_on:%d/%m/%Y} trước ngày sinh.")
    else:
        return issued_on
    raise InvalidCardQr(InvalidCardQr.ISSUE_DATE, *problem)
