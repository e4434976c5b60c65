"""Structural rules for Vietnamese citizen ID numbers: the 12-digit CCCD and the old 9-digit CMND.

A CCCD (personal identification number, Circular 07/2016/TT-BCA, Article 7) reads
``PPP C YY RRRRRR``: the code of the place that registered the birth (see :mod:`ingest.regions`),
a digit for century and sex, the last two digits of the birth year, and six random digits.
There is no check digit, so a typo that keeps the structure cannot be caught here; only a
registry look-up can. The CMND is accepted as an alias and never used as a key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from ingest.errors import IdentityProblem, InvalidIdentity
from ingest.regions import BirthPlace, birth_place
from streams.records import CITIZEN_ID, VIETNAM_TIME, is_citizen_id

Sex = Literal["male", "female"]
IdKind = Literal["cccd", "cmnd", "invalid"]

# Reason codes, stable for rejection counts and dashboards.
FORMAT = "format"
PROVINCE_CODE = "province_code"
CENTURY_SEX = "century_sex"
BIRTH_YEAR = "birth_year"
REASONS = frozenset({FORMAT, PROVINCE_CODE, CENTURY_SEX, BIRTH_YEAR})

# The one CCCD shape every layer checks (twelve ASCII digits), for callers that need the
# pattern; checks go through is_citizen_id, which matches it whole.
CCCD_PATTERN = CITIZEN_ID
CMND_PATTERN = re.compile(r"[0-9]{9}")  # not \d: that also matches Thai, Arabic-Indic... digits
# Officers and citizens type numbers in groups ("001 090 012345"); spacing carries no meaning.
_SPACING = re.compile(r"[\s.\-]+")

# The circular numbers centuries from the 1900s: 0/1, 2/3, 4/5, 6/7, then wraps to 8/9 for the 1800s.
FIRST_CENTURY = 1800
LAST_CENTURY = 2200
_CENTURY_BY_PAIR = (1900, 2000, 2100, 2200, 1800)
_SEX_VI = {"male": "Nam", "female": "Nữ"}


@dataclass(frozen=True)
class CccdParts:
    """What a structurally valid CCCD number says about its holder."""

    number: str
    place: BirthPlace
    birth_year: int
    sex: Sex
    serial: str


@dataclass(frozen=True)
class EnteredId:
    """An ID number as typed, classified; ``number`` is the entry without spacing."""

    kind: IdKind
    number: str
    problems: tuple[IdentityProblem, ...] = ()


def vietnam_today() -> date:
    """Today's date in Viet Nam, whatever the machine's time zone."""
    return datetime.now(VIETNAM_TIME).date()


def normalize_id(text: str) -> str:
    """Drop the spaces, dots and hyphens people put between digit groups.

    >>> normalize_id(" 001 090-012.345 ")
    '001090012345'
    """
    return _SPACING.sub("", text)


def century_sex_digit(year: int, sex: Sex) -> int:
    """The fourth CCCD digit for someone born in ``year`` with ``sex``.

    >>> century_sex_digit(1999, "male"), century_sex_digit(2000, "female"), century_sex_digit(1899, "female")
    (0, 3, 9)
    """
    if not FIRST_CENTURY <= year < LAST_CENTURY + 100:
        raise ValueError(f"CCCD numbers encode birth years {FIRST_CENTURY}-{LAST_CENTURY + 99}, not {year}")
    if sex not in _SEX_VI:
        raise ValueError(f"sex must be 'male' or 'female', not {sex!r}")
    return 2 * _CENTURY_BY_PAIR.index(year // 100 * 100) + (sex == "female")


def _century_and_sex(digit: int) -> tuple[int, Sex]:
    return _CENTURY_BY_PAIR[digit // 2], "female" if digit % 2 else "male"


def validate_cccd(
    number: str,
    date_of_birth: date | None = None,
    sex: Sex | None = None,
    *,
    today: date | None = None,
) -> list[IdentityProblem]:
    """Every structural rule ``number`` breaks, checked against the holder's details when given.

    Without ``date_of_birth`` the only year check is that the encoded birth year is not in the
    future. Nothing here proves the number was issued: there is no check digit.

    >>> validate_cccd("079090012345")
    []
    >>> [p.reason for p in validate_cccd("003090012345", date(1991, 1, 1), "female")]
    ['province_code', 'century_sex', 'birth_year']
    """
    if not is_citizen_id(number):
        return [IdentityProblem(
            FORMAT, "a CCCD number is exactly 12 digits", "Số CCCD phải gồm đúng 12 chữ số.",
        )]
    problems = []
    code, digit, year_digits = number[:3], int(number[3]), number[4:6]
    if birth_place(code) is None:
        problems.append(IdentityProblem(
            PROVINCE_CODE,
            f"{code} is neither a province code nor a country code of birth registration",
            f"Ba số đầu ({code}) không phải mã tỉnh hay mã quốc gia nơi đăng ký khai sinh.",
        ))
    century, encoded_sex = _century_and_sex(digit)
    encoded_year = century + int(year_digits)
    if date_of_birth is not None and date_of_birth.year // 100 * 100 != century:
        problems.append(IdentityProblem(
            CENTURY_SEX,
            f"digit 4 ({digit}) means born in the {century}s, but the birth year is {date_of_birth.year}",
            f"Chữ số thứ tư ({digit}) ứng với năm sinh từ {century} đến {century + 99}, "
            f"nhưng năm sinh là {date_of_birth.year}.",
        ))
    if sex is not None and sex != encoded_sex:
        problems.append(IdentityProblem(
            CENTURY_SEX,
            f"digit 4 ({digit}) means {encoded_sex}, but the holder is {sex}",
            f"Chữ số thứ tư ({digit}) ứng với giới tính {_SEX_VI[encoded_sex]}, "
            f"nhưng giới tính là {_SEX_VI.get(sex, sex)}.",
        ))
    if date_of_birth is not None and date_of_birth.year % 100 != int(year_digits):
        problems.append(IdentityProblem(
            BIRTH_YEAR,
            f"digits 5-6 ({year_digits}) do not match the birth year {date_of_birth.year}",
            f"Chữ số thứ năm và sáu ({year_digits}) không khớp với năm sinh {date_of_birth.year}.",
        ))
    if date_of_birth is None and encoded_year > (today or vietnam_today()).year:
        problems.append(IdentityProblem(
            BIRTH_YEAR,
            f"the number encodes a birth year in the future ({encoded_year})",
            f"Năm sinh theo số CCCD ({encoded_year}) nằm trong tương lai.",
        ))
    return problems


def parse_cccd(
    number: str,
    date_of_birth: date | None = None,
    sex: Sex | None = None,
    *,
    today: date | None = None,
) -> CccdParts:
    """Split a valid CCCD number into its parts, or raise :class:`InvalidIdentity`.

    >>> parts = parse_cccd("031195000123")
    >>> parts.place.name, parts.birth_year, parts.sex, parts.serial
    ('Hải Phòng', 1995, 'female', '000123')
    """
    problems = validate_cccd(number, date_of_birth, sex, today=today)
    if problems:
        raise InvalidIdentity(problems)
    century, encoded_sex = _century_and_sex(int(number[3]))
    place = birth_place(number[:3])
    assert place is not None  # validate_cccd checked it
    return CccdParts(number, place, century + int(number[4:6]), encoded_sex, number[6:])


def make_cccd(place_code: str | int, date_of_birth: date | int, sex: Sex, serial: int) -> str:
    """Build the CCCD number for a birth registered at ``place_code`` (province or country).

    ``date_of_birth`` may be a date or just the year; ``serial`` is the six random digits.

    >>> make_cccd(1, date(1990, 5, 17), "male", 12345)
    '001090012345'
    >>> make_cccd("704", 1990, "male", 1)
    Traceback (most recent call last):
    ...
    ValueError: 704 is not a province or country code of birth registration
    """
    code = f"{int(place_code):03d}"
    if len(code) != 3 or birth_place(code) is None:
        raise ValueError(f"{place_code} is not a province or country code of birth registration")
    year = date_of_birth if isinstance(date_of_birth, int) else date_of_birth.year
    if not 0 <= serial <= 999_999:
        raise ValueError(f"serial must be 0-999999, not {serial}")
    return f"{code}{century_sex_digit(year, sex)}{year % 100:02d}{serial:06d}"


def is_cmnd(number: str) -> bool:
    """Whether ``number`` has the shape of an old 9-digit CMND (it has no other structure to check).

    >>> is_cmnd("012345678"), is_cmnd("01234567")
    (True, False)
    """
    return isinstance(number, str) and CMND_PATTERN.fullmatch(number) is not None


def classify_id(text: str, *, today: date | None = None) -> EnteredId:
    """Tell whether an entered ID is a valid CCCD, a CMND alias, or invalid (and why).

    >>> classify_id("079 090 012345").kind, classify_id("123456789").kind
    ('cccd', 'cmnd')
    >>> classify_id("12345").problems[0].reason
    'format'
    """
    number = normalize_id(text) if isinstance(text, str) else ""
    if is_cmnd(number):
        return EnteredId("cmnd", number)
    if is_citizen_id(number):
        problems = validate_cccd(number, today=today)
        return EnteredId("invalid" if problems else "cccd", number, tuple(problems))
    return EnteredId("invalid", number, (IdentityProblem(
        FORMAT,
        "an ID number is a 12-digit CCCD or a 9-digit CMND",
        "Số giấy tờ phải là số CCCD 12 chữ số hoặc số CMND 9 chữ số.",
    ),))
