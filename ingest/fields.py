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

_PHONE = re.compile(r"^0(?:[35789]\d{8}|2\d{9})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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
        if not isinstance(value, str) or not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        errors.add(field, Message("must be a real date, YYYY-MM-DD", "phải là ngày có thật, dạng YYYY-MM-DD"))
        return None


def normalize_name(value: str) -> str:
    """Composed Unicode, single spaces: how names and addresses are stored and compared."""
    return " ".join(unicodedata.normalize("NFC", value).split())


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
    if not _PHONE.match(digits):
        errors.add(field, Message(
            "must be a Vietnamese phone number, e.g. 0912345678",
            "phải là số điện thoại Việt Nam, ví dụ 0912345678",
        ))
    return digits


def parse_province(value: Any, field: str, errors: FieldErrors) -> int | None:
    """The code of one of the 34 current provinces."""
    try:
        code = int(value)
        if province_name(code) is None:
            raise ValueError(code)
        return code
    except (TypeError, ValueError):
        errors.add(field, Message("is not one of the 34 provinces", "không phải một trong 34 tỉnh, thành phố"))
        return None


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
    whole = isinstance(value, (int, str)) and not isinstance(value, bool) and str(value).isdigit()
    if not whole or int(value) > maximum:
        errors.add(field, Message(f"must be a number from 0 to {maximum}", f"phải là số từ 0 đến {maximum}"))
        return 0
    return int(value)
