"""CCCD / CMND structural rules, birth-registration codes and name comparison."""
from __future__ import annotations

from datetime import date

import pytest
from vietnam_provinces import Province, ProvinceCode

from ingest.errors import InvalidIdentity
from ingest.identity import (
    REASONS,
    century_sex_digit,
    classify_id,
    is_cmnd,
    make_cccd,
    normalize_id,
    parse_cccd,
    validate_cccd,
)
from ingest.names import name_key, same_name
from ingest.regions import LEGACY_PROVINCES, LEGACY_TO_CURRENT, birth_place, current_province

TODAY = date(2026, 11, 28)

# Circular 07/2016/TT-BCA, Appendix I, typed out again here so the table in code is checked
# against an independent copy rather than against itself.
CIRCULAR_CODES = """
001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034
035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068
070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096
""".split()

# Neither a province code nor an ISO 3166-1 numeric country code; 704 is Viet Nam itself.
NOT_CODES = """
000 003 005 007 009 013 018 021 023 029 039 041 043 047 053 055 057 059 061 063 065 069
071 073 078 081 085 088 097 098 099 704 999
""".split()


def reasons(problems) -> list[str]:
    return [problem.reason for problem in problems]


def test_the_legacy_table_is_the_circulars_63_codes():
    assert len(CIRCULAR_CODES) == 63
    assert sorted(LEGACY_PROVINCES) == CIRCULAR_CODES


@pytest.mark.parametrize("code", CIRCULAR_CODES)
def test_every_legacy_province_code_is_accepted(code):
    number = code + "090012345"
    assert validate_cccd(number, today=TODAY) == []
    assert parse_cccd(number, today=TODAY).place.kind == "province"


@pytest.mark.parametrize(
    ("code", "name"),
    [("001", "Hà Nội"), ("031", "Hải Phòng"), ("046", "Thừa Thiên Huế"), ("048", "Đà Nẵng"),
     ("079", "Hồ Chí Minh"), ("092", "Cần Thơ"), ("096", "Cà Mau")],
)
def test_well_known_province_codes(code, name):
    assert birth_place(code).name == name


@pytest.mark.parametrize("code", NOT_CODES)
def test_unassigned_codes_are_rejected(code):
    assert reasons(validate_cccd(code + "090012345", today=TODAY)) == ["province_code"]


@pytest.mark.parametrize(
    ("code", "country"),
    [("250", "France"), ("276", "Germany"), ("392", "Japan"), ("643", "Russian Federation"),
     ("840", "United States"), ("076", "Brazil"), ("016", "American Samoa"), ("158", "Taiwan")],
)
def test_births_abroad_carry_a_country_code(code, country):
    place = parse_cccd(code + "195000001", today=TODAY).place
    assert (place.kind, place.name) == ("country", country)


def test_a_code_that_is_both_province_and_country_reads_as_the_province():
    # 004 is Cao Bằng in the circular and Afghanistan in ISO 3166-1.
    assert birth_place("004").name == "Cao Bằng"


def test_every_current_province_kept_a_legacy_code():
    current = {int(code) for code in ProvinceCode}
    assert len(current) == 34
    assert current <= {int(code) for code in CIRCULAR_CODES}
    assert set(LEGACY_TO_CURRENT.values()) == current
    for code in current:
        assert LEGACY_TO_CURRENT[f"{code:03d}"] == code


@pytest.mark.parametrize(
    ("legacy", "current"),
    [("001", "Thành phố Hà Nội"), ("002", "Tuyên Quang"), ("010", "Lào Cai"), ("015", "Lào Cai"),
     ("024", "Bắc Ninh"), ("027", "Bắc Ninh"), ("046", "Thành phố Huế"), ("074", "Thành phố Hồ Chí Minh"),
     ("077", "Thành phố Hồ Chí Minh"), ("093", "Thành phố Cần Thơ"), ("095", "Cà Mau")],
)
def test_legacy_provinces_map_to_their_2025_province(legacy, current):
    assert current_province(legacy) == Province.from_code(LEGACY_TO_CURRENT[legacy])
    assert current_province(legacy).name == current


def test_current_province_of_a_non_code_fails():
    with pytest.raises(ValueError, match="003"):
        current_province("003")


@pytest.mark.parametrize(
    ("year", "sex", "digit"),
    [(1800, "male", 8), (1899, "male", 8), (1899, "female", 9),
     (1900, "male", 0), (1900, "female", 1), (1999, "male", 0), (1999, "female", 1),
     (2000, "male", 2), (2000, "female", 3), (2099, "male", 2), (2099, "female", 3),
     (2100, "male", 4), (2100, "female", 5), (2199, "female", 5),
     (2200, "male", 6), (2299, "female", 7)],
)
def test_century_sex_digit(year, sex, digit):
    assert century_sex_digit(year, sex) == digit


@pytest.mark.parametrize(("year", "sex"), [(1799, "male"), (2300, "female"), (1990, "Nam"), (1990, "")])
def test_century_sex_digit_outside_the_scheme(year, sex):
    with pytest.raises(ValueError):
        century_sex_digit(year, sex)


@pytest.mark.parametrize(
    ("born", "sex", "number"),
    [(date(1899, 12, 31), "male", "001899000042"), (date(1899, 12, 31), "female", "001999000042"),
     (date(1900, 1, 1), "male", "001000000042"), (date(1900, 1, 1), "female", "001100000042"),
     (date(1999, 12, 31), "male", "001099000042"), (date(1999, 12, 31), "female", "001199000042"),
     (date(2000, 1, 1), "male", "001200000042"), (date(2000, 1, 1), "female", "001300000042"),
     (date(2099, 12, 31), "male", "001299000042"), (date(2099, 12, 31), "female", "001399000042"),
     (date(2100, 1, 1), "male", "001400000042"), (date(2100, 1, 1), "female", "001500000042")],
)
def test_century_boundaries_round_trip(born, sex, number):
    assert make_cccd("001", born, sex, 42) == number
    after_birth = date(born.year + 1, 6, 1)
    parts = parse_cccd(number, born, sex, today=after_birth)
    assert (parts.birth_year, parts.sex, parts.serial) == (born.year, sex, "000042")


@pytest.mark.parametrize(
    ("number", "born", "sex", "expected"),
    [("001090012345", date(1990, 5, 17), "male", []),
     ("001090012345", date(1990, 5, 17), None, []),
     ("001090012345", None, "male", []),
     ("001290012345", date(1990, 5, 17), "male", ["century_sex"]),
     ("001090012345", date(2090, 5, 17), "male", ["century_sex"]),
     ("001190012345", date(1990, 5, 17), "male", ["century_sex"]),
     ("001090012345", None, "female", ["century_sex"]),
     ("001091012345", date(1990, 5, 17), "male", ["birth_year"]),
     ("001391012345", date(1990, 5, 17), "male", ["century_sex", "century_sex", "birth_year"]),
     ("003090012345", date(1991, 1, 1), "female", ["province_code", "century_sex", "birth_year"])],
)
def test_number_checked_against_the_holders_details(number, born, sex, expected):
    assert reasons(validate_cccd(number, born, sex, today=TODAY)) == expected


@pytest.mark.parametrize(
    ("number", "today", "expected"),
    [("001226000001", TODAY, []),                        # born this year
     ("001227000001", TODAY, ["birth_year"]),            # next year
     ("001405000001", TODAY, ["birth_year"]),            # 2105
     ("001405000001", date(2105, 1, 1), []),
     ("001899000001", TODAY, [])],                       # 1899: old, but structurally fine
)
def test_an_encoded_birth_year_in_the_future_is_rejected(number, today, expected):
    assert reasons(validate_cccd(number, today=today)) == expected


@pytest.mark.parametrize(
    "number",
    ["", "00109001234", "0010900123456", "00109001234a", " 001090012345", "001 090 012345",
     "００１０９００１２３４５", "٠٠١٠٩٠٠١٢٣٤٥", "001090012345\n", None, 1090012345],
)
def test_anything_but_twelve_ascii_digits_is_a_format_problem(number):
    problems = validate_cccd(number, today=TODAY)
    assert reasons(problems) == ["format"]


def test_every_problem_has_a_known_reason_and_both_messages():
    problems = validate_cccd("003391012345", date(1990, 1, 1), "male", today=TODAY)
    assert {problem.reason for problem in problems} <= REASONS
    for problem in problems:
        assert problem.message and problem.message_vi


def test_parse_cccd_raises_with_every_problem():
    with pytest.raises(InvalidIdentity) as caught:
        parse_cccd("003290012345", date(1990, 1, 1), today=TODAY)
    assert reasons(caught.value.problems) == ["province_code", "century_sex"]


@pytest.mark.parametrize(
    ("place", "born", "sex", "serial", "number"),
    [(1, date(1990, 5, 17), "male", 12345, "001090012345"),
     ("079", 2003, "female", 999_999, "079303999999"),
     (96, 1985, "female", 0, "096185000000"),
     (392, date(1995, 1, 1), "female", 7, "392195000007")],
)
def test_make_cccd(place, born, sex, serial, number):
    assert make_cccd(place, born, sex, serial) == number
    assert validate_cccd(number, today=TODAY) == []


@pytest.mark.parametrize(
    ("place", "born", "sex", "serial"),
    [("003", 1990, "male", 1), (704, 1990, "male", 1), (1000, 1990, "male", 1), ("HN", 1990, "male", 1),
     (1, 1990, "male", -1), (1, 1990, "male", 1_000_000), (1, 1750, "male", 1), (1, 1990, "x", 1)],
)
def test_make_cccd_refuses_what_no_card_could_carry(place, born, sex, serial):
    with pytest.raises(ValueError):
        make_cccd(place, born, sex, serial)


@pytest.mark.parametrize(
    ("number", "expected"),
    [("012345678", True), ("123456789", True), ("01234567", False), ("0123456789", False),
     ("001090012345", False), ("01234567a", False), ("012 345 678", False), ("", False)],
)
def test_is_cmnd(number, expected):
    assert is_cmnd(number) is expected


@pytest.mark.parametrize(
    ("entered", "kind", "number", "problem_reasons"),
    [("001090012345", "cccd", "001090012345", []),
     (" 001 090 012345 ", "cccd", "001090012345", []),
     ("001-090-012.345", "cccd", "001090012345", []),
     ("012345678", "cmnd", "012345678", []),
     ("012 345 678", "cmnd", "012345678", []),
     ("003090012345", "invalid", "003090012345", ["province_code"]),
     ("001405000001", "invalid", "001405000001", ["birth_year"]),
     ("12345", "invalid", "12345", ["format"]),
     ("0123456789", "invalid", "0123456789", ["format"]),
     ("01234567a", "invalid", "01234567a", ["format"]),
     ("", "invalid", "", ["format"])],
)
def test_classify_id(entered, kind, number, problem_reasons):
    result = classify_id(entered, today=TODAY)
    assert (result.kind, result.number, reasons(result.problems)) == (kind, number, problem_reasons)


def test_normalize_id_keeps_everything_but_spacing():
    assert normalize_id("\t079 090\u00a0012-345.") == "079090012345"
    assert normalize_id("07909001234x") == "07909001234x"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("Nguyễn Văn An", "Nguyễn Văn An", True),
     ("Nguyễn Văn An", "NGUYỄN VĂN AN", True),
     ("Nguyễn Văn An", "nguyen van an", True),
     ("  Nguyễn   Văn\tAn ", "Nguyễn Văn An", True),
     ("Trần Văn Đức", "Tran Van Duc", True),
     ("Đặng Thị Đào", "dang thi dao", True),
     ("Ðặng Thị Ðào", "Đặng Thị Đào", True),                          # Icelandic eth typed for Đ
     ("Nguye\u0302\u0303n Văn An", "Nguyễn Văn An", True),             # decomposed input
     ("Lê Thị Hà", "Lê Thị Hạnh", False),
     ("Nguyễn Văn An", "Nguyễn An", False),
     ("Nguyễn Văn An", "Nguyễn VănAn", False)],
)
def test_same_name(a, b, same):
    assert same_name(a, b) is same
    assert same_name(b, a) is same


def test_name_key_is_plain_lowercase_letters():
    assert name_key("Phạm Thị Ánh Nguyệt") == "pham thi anh nguyet"
