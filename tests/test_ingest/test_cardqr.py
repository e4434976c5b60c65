"""Parsing the QR code on chip-based CCCD cards."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ingest.cardqr import CardQr, parse_card_qr
from ingest.errors import InvalidCardQr

TODAY = date(2026, 11, 28)
CCCD = "001090012345"
NAME = "Nguyễn Văn An"
ADDRESS = "Số 1 Tràng Tiền, Phường Hoàn Kiếm, Hà Nội"


def qr(*fields: str) -> str:
    return "|".join(fields)


FULL = qr(CCCD, "012345678", NAME, "17051990", "Nam", ADDRESS, "01022021")
EXPECTED = CardQr(
    cccd=CCCD,
    cmnd="012345678",
    full_name=NAME,
    date_of_birth=date(1990, 5, 17),
    sex="male",
    address=ADDRESS,
    issued_on=date(2021, 2, 1),
)


@pytest.mark.parametrize(
    ("payload", "changes"),
    [(FULL, {}),
     (FULL.encode("utf-8"), {}),
     (b"\xef\xbb\xbf" + FULL.encode("utf-8"), {}),                         # byte order mark
     (FULL + "\r\n", {}),                                                   # scanner's line end
     (qr(CCCD, "", NAME, "17051990", "Nam", ADDRESS, "01022021"), {"cmnd": None}),
     (qr(CCCD, "012345678901", NAME, "17051990", "Nam", ADDRESS, "01022021"), {"cmnd": "012345678901"}),
     (qr(CCCD, "012345678", NAME, "17051990", "Nam", ADDRESS), {"issued_on": None}),
     (qr(CCCD, "012345678", NAME, "17051990", "Nam", ADDRESS, ""), {"issued_on": None}),
     (qr(CCCD, "012345678", NAME, "17051990", "Nam", "", "01022021"), {"address": ""}),
     (FULL + "|x|", {"extra": ("x", "")}),
     (qr(CCCD, "012345678", NAME, "17051990", "NAM", ADDRESS, "01022021"), {}),
     (qr("001190012345", "012345678", "Trần Thị Bình", "01011990", "Nữ", ADDRESS, "01022021"),
      {"cccd": "001190012345", "full_name": "Trần Thị Bình", "date_of_birth": date(1990, 1, 1), "sex": "female"}),
     (qr("001300012345", "", "Lê Thị Hoa", "29022000", "nữ", ADDRESS, "29022024"),
      {"cccd": "001300012345", "cmnd": None, "full_name": "Lê Thị Hoa", "date_of_birth": date(2000, 2, 29),
       "sex": "female", "issued_on": date(2024, 2, 29)})],
)
def test_valid_card_qr(payload, changes):
    assert parse_card_qr(payload, today=TODAY) == replace(EXPECTED, **changes)


def test_decomposed_text_comes_out_composed():
    decomposed = qr(CCCD, "", "Nguye\u0302\u0303n Va\u0306n An", "17051990", "Nam", ADDRESS, "01022021")
    assert parse_card_qr(decomposed, today=TODAY).full_name == NAME
    female = qr("001190012345", "", "Lê Thị Hoa", "17051990", "Nu\u031b\u0303", ADDRESS, "01022021")
    assert parse_card_qr(female, today=TODAY).sex == "female"


def test_surrounding_spaces_in_fields_are_dropped():
    spaced = qr(f" {CCCD} ", " ", f" {NAME} ", "17051990 ", " Nam", f" {ADDRESS} ", " 01022021")
    assert parse_card_qr(spaced, today=TODAY) == replace(EXPECTED, cmnd=None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [("", "field_count"),
     (CCCD, "field_count"),
     (qr(CCCD, "", NAME, "17051990", "Nam"), "field_count"),
     (b"\xff\xfe" + FULL.encode("utf-16-le"), "encoding"),
     (FULL.encode("utf-8")[:30] + b"\xc3" + b"|Nam|x|01022021", "encoding"),
     (FULL.encode("utf-8").replace("ễ".encode("utf-8"), b"\xc0\xaf"), "encoding"),       # overlong
     (qr(CCCD, "", NAME, "31022000", "Nam", ADDRESS, "01022021"), "date_of_birth"),
     (qr(CCCD, "", NAME, "29021990", "Nam", ADDRESS, "01022021"), "date_of_birth"),
     (qr(CCCD, "", NAME, "00001990", "Nam", ADDRESS, "01022021"), "date_of_birth"),
     (qr(CCCD, "", NAME, "1990-05-17", "Nam", ADDRESS, "01022021"), "date_of_birth"),
     (qr(CCCD, "", NAME, "1751990", "Nam", ADDRESS, "01022021"), "date_of_birth"),
     (qr(CCCD, "", NAME, "", "Nam", ADDRESS, "01022021"), "date_of_birth"),
     (qr("001226012345", "", NAME, "29112026", "Nam", ADDRESS, ""), "future_birth"),
     (qr("001230012345", "", NAME, "01012030", "Nam", ADDRESS, ""), "future_birth"),
     (qr(CCCD, "", NAME, "17051990", "Male", ADDRESS, "01022021"), "sex"),
     (qr(CCCD, "", NAME, "17051990", "Nu", ADDRESS, "01022021"), "sex"),
     (qr(CCCD, "", NAME, "17051990", "M", ADDRESS, "01022021"), "sex"),
     (qr(CCCD, "", NAME, "17051990", "", ADDRESS, "01022021"), "sex"),
     (qr("00109001234", "", NAME, "17051990", "Nam", ADDRESS, "01022021"), "cccd"),
     (qr("", "012345678", NAME, "17051990", "Nam", ADDRESS, "01022021"), "cccd"),
     (qr("003090012345", "", NAME, "17051990", "Nam", ADDRESS, "01022021"), "cccd"),
     (qr(CCCD, "", NAME, "17051990", "Nữ", ADDRESS, "01022021"), "cccd"),
     (qr(CCCD, "", NAME, "17051991", "Nam", ADDRESS, "01022021"), "cccd"),
     (qr("001290012345", "", NAME, "17051990", "Nam", ADDRESS, "01022021"), "cccd"),
     (qr(CCCD, "12345", NAME, "17051990", "Nam", ADDRESS, "01022021"), "cmnd"),
     (qr(CCCD, "01234567X", NAME, "17051990", "Nam", ADDRESS, "01022021"), "cmnd"),
     (qr(CCCD, "", NAME, "17051990", "Nam", ADDRESS, "31132021"), "issue_date"),
     (qr(CCCD, "", NAME, "17051990", "Nam", ADDRESS, "2021"), "issue_date"),
     (qr(CCCD, "", NAME, "17051990", "Nam", ADDRESS, "16051990"), "issue_date"),
     (qr(CCCD, "", NAME, "17051990", "Nam", ADDRESS, "01012027"), "issue_date")],
)
def test_invalid_card_qr(payload, reason):
    with pytest.raises(InvalidCardQr) as caught:
        parse_card_qr(payload, today=TODAY)
    error = caught.value
    assert error.reason == reason
    assert error.message and error.message_vi
    assert (error.problems != ()) is (reason == "cccd")


def test_a_cccd_rejection_carries_each_broken_rule():
    payload = qr("003290012345", "", NAME, "17051991", "Nữ", ADDRESS, "01022021")
    with pytest.raises(InvalidCardQr) as caught:
        parse_card_qr(payload, today=TODAY)
    assert [problem.reason for problem in caught.value.problems] == [
        "province_code", "century_sex", "century_sex", "birth_year"]
    assert "003" in caught.value.message_vi


def test_born_today_is_not_in_the_future():
    payload = qr("001226012345", "", NAME, "28112026", "Nam", ADDRESS, "")
    assert parse_card_qr(payload, today=TODAY).date_of_birth == TODAY


def test_unknown_rejection_reasons_are_a_programming_error():
    with pytest.raises(ValueError):
        InvalidCardQr("bogus", "m", "m")
