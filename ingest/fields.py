"""Reading submitted values one field at a time, every problem kept under its field's name.

Each parser takes the raw value, the field name used in error reports (``trip.date``,
``dependants.0.full_name``) and a :class:`FieldErrors`; it records a bilingual message when the
value is wrong and returns the clean value (or a neutral one) so parsing can go on and report
every problem at once.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from ingest.errors import Message
from ingest.units import province_name

REQUIRED = Message("is required", "không được để trống")
NOT_AN_OBJECT = Message("expected a JSON object", "cần một đối tượng JSON")

# ASCII classes and fullmatch throughout: \d also takes Arabic-Indic, full-width... digits and
# ``$`` matches before a trailing newline, so either would let a value in that nothing
# downstream expects.
_PHONE = re.compile(r"0(?:[35789][0-9]{8}|2[0-9]{9})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Nine digits: past any code or count asked for, and far below int()'s 4300-digit limit.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
# Controls and lone surrogates: not text anyone typed, and PostgreSQL refuses NUL and
# UTF-8 refuses surrogates when the row is written.
_NOT_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class FieldErrors(dict):
    """Field errors collected while parsing; the first message for a field wins."""

    def add(self, field: str, message: Message) -> None:
        self.setdefault(field, message)


def parse_date(value: Any, field: str, errors: FieldErrors) -> date | None:
    """A real calendar date written YYYY-MM-DD."""
    if value in (None, ""):
        errors.add(field, REQUIRED)
        return None
    try:
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors.add(field, Message("must be a real date, YYYY-MM-DD", "phải là ngày có thật, dạng YYYY-MM-DD"))
        return None


def normalize_name(value: str) -> str:
    """Composed Unicode, single spaces: how names and addresses are stored and compared."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def is_plain_text(value: str) -> bool:
    """Whether ``value`` holds no control characters or lone surrogates (after :func:`normalize_name`).

    >>> is_plain_text("Số 1 Tràng Tiền"), is_plain_text("a\\x00b"), is_plain_text("\\ud800")
    (True, False, False)
    """
    return _NOT_TEXT.search(value) is None


def whole_number(value: Any) -> int | None:
    """A JSON integer (not a boolean) or a string of ASCII digits, as forms send numbers; else None.

    Floats, signs, spaces and other scripts' digits are refused rather than rounded or guessed:
    ``int()`` would take ``"٧٩"`` and ``79.9`` and fail on ``"²"`` or infinity.

    >>> whole_number(79), whole_number("079"), whole_number("²"), whole_number(7.9), whole_number(True)
    (79, 79, None, None, None)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
        return int(value)
    return None


def normalize_phone(value: str) -> str:
    """A phone number as declarations store it: digits only, +84 written as a leading 0.

    >>> normalize_phone("+84 912.345.678"), normalize_phone("(024) 3825-1234")
    ('0912345678', '02438251234')
    """
    digits = re.sub(r"[\s.\-()]", "", value)
    if digits.startswith("+84"):
        return "0" + digits[3:]
    if digits.startswith("84") and len(digits) == 11:
        return "0" + digits[2:]
    return digits


def parse_phone(value: Any, field: str, errors: FieldErrors) -> str:
    """A Vietnamese mobile or landline number, normalized."""
    if not value:
        errors.add(field, REQUIRED)
        return ""
    digits = normalize_phone(str(value))
    if not _PHONE.fullmatch(digits):
        errors.add(field, Message(
            "must be a Vietnamese phone number, e.g. 0912345678",
            "phải là số điện thoại Việt Nam, ví dụ 0912345678",
        ))
    return digits


def parse_province(value: Any, field: str, errors: FieldErrors) -> int | None:
    """The code of one of the 34 current provinces."""
    code = whole_number(value)
    if code is None or province_name(code) is None:
        errors.add(field, Message("is not one of the 34 provinces", "không phải một trong 34 tỉnh, thành phố"))
        return None
    return code


def parse_choices(value: Any, allowed: tuple[str, ...], field: str, errors: FieldErrors) -> tuple[str, ...]:
    """A list of codes from ``allowed``, duplicates dropped; absent means none."""
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or any(item not in allowed for item in value):
        errors.add(field, Message(
            f"must be a list of: {', '.join(allowed)}", f"phải là danh sách trong: {', '.join(allowed)}"
        ))
        return ()
    return tuple(dict.fromkeys(value))


def parse_flag(value: Any, field: str, errors: FieldErrors) -> bool:
    """A true/false answer; absent means no."""
    if value in (None, ""):
        return False
    if not isinstance(value, bool):
        errors.add(field, Message("must be true or false", "phải là có hoặc không"))
        return False
    return value


def parse_count(value: Any, field: str, maximum: int, errors: FieldErrors) -> int:
    """A whole number from 0 to ``maximum``; absent means 0."""
    if value in (None, ""):
        return 0
    count = whole_number(value)
    if count is None or count > maximum:
        errors.add(field, Message(f"must be a number from 0 to {maximum}", f"phải là số từ 0 đến {maximum}"))
        return 0
    return count
