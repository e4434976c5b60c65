"""Declaration validation: every field checked, every problem reported at once."""
from __future__ import annotations

from datetime import date

import pytest

from ingest.declarations import parse_declaration
from ingest.errors import InvalidInput
from tests.factories import child, declaration

TODAY = date(2026, 11, 28)


def errors_for(payload) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_declaration(payload, today=TODAY)
    return caught.value.messages("en")


def test_a_full_declaration_is_read_into_typed_fields():
    payload = declaration(
        phone="+84 912.345.678",
        trip={"from_province": 79, "to_province": 1, "means": "plane", "vehicle_number": "vn 213",
              "date": "2026-11-20"},
        contact_with_case=True,
        dependants=[child()],
    )
    declared = parse_declaration(payload, today=TODAY)
    assert declared.person.full_name == "Nguyễn Văn An"
    assert declared.person.id_kind == "cccd"
    assert declared.phone == "0912345678"
    assert declared.trip.vehicle_number == "VN 213"
    assert declared.trip.travel_date == date(2026, 11, 20)
    assert declared.contact_with_case is True
    assert [d.relation for d in declared.dependants] == ["child"]
    assert declared.health_details()["residence"]["ward_code"] == 70


def test_a_cmnd_is_accepted_as_an_alias():
    assert parse_declaration(declaration(citizen_id="012345678"), today=TODAY).person.id_kind == "cmnd"


def test_cccd_must_agree_with_birth_year_and_sex():
    errors = errors_for(declaration(citizen_id="001190012345"))  # female digit for a male
    assert errors["citizen_id"] == "Digit 4 (1) means female, but the holder is male."


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"full_name": ""}, "full_name"),
        ({"full_name": "R2-D2"}, "full_name"),
        ({"date_of_birth": "1990-02-30"}, "date_of_birth"),
        ({"date_of_birth": "17/05/1990"}, "date_of_birth"),
        ({"date_of_birth": "2027-01-01"}, "date_of_birth"),
        ({"date_of_birth": "1890-01-01"}, "date_of_birth"),
        ({"sex": "M"}, "sex"),
        ({"phone": "12345"}, "phone"),
        ({"residence": {"province_code": 2}}, "residence.province_code"),
        ({"residence": {"province_code": 79, "ward_code": 70}}, "residence.ward_code"),
        ({"symptoms": ["fever", "hiccups"]}, "symptoms"),
        ({"vaccination_doses": "many"}, "vaccination_doses"),
        ({"contact_with_case": "yes"}, "contact_with_case"),
        ({"trip": {"from_province": 1, "to_province": 79, "means": "rocket", "date": "2026-11-20"}}, "trip.means"),
        ({"trip": {"from_province": 1, "to_province": 79, "means": "car", "date": "2026-01-01"}}, "trip.date"),
        ({"dependants": [child(full_name="")]}, "dependants.0.full_name"),
        ({"dependants": [child(relation="pet")]}, "dependants.0.relation"),
    ],
)
def test_each_bad_field_is_named(changes, field):
    assert field in errors_for(declaration(**changes))


def test_every_problem_is_reported_at_once_in_both_languages():
    payload = {"citizen_id": "12", "full_name": "", "date_of_birth": "2026-13-01", "sex": "x", "phone": ""}
    with pytest.raises(InvalidInput) as caught:
        parse_declaration(payload, today=TODAY)
    assert set(caught.value.errors) == {"citizen_id", "full_name", "date_of_birth", "sex", "phone"}
    assert caught.value.messages("vi")["full_name"] == "không được để trống"
    assert caught.value.messages("en")["full_name"] == "is required"


def test_a_dependant_cannot_repeat_the_declarer():
    payload = declaration()
    dependant = child()
    errors = errors_for({**payload, "dependants": [dependant, dict(dependant)]})
    assert errors == {"dependants.1.citizen_id": "appears twice in this declaration"}


@pytest.mark.parametrize("payload", [None, [], "text"])
def test_non_object_body(payload):
    assert errors_for(payload) == {"body": "expected a JSON object"}


@pytest.mark.parametrize("doses", ["²", "٣", "３", "3.0", " 3", 3.5, float("inf"), float("nan"), -1, True, 10**30, "9" * 5000])
def test_vaccination_doses_other_than_a_plain_whole_number_are_a_field_error(doses):
    # "²".isdigit() is true and int("²") fails: that was a 500.
    assert errors_for(declaration(vaccination_doses=doses)) == {
        "vaccination_doses": "must be a number from 0 to 10"
    }


@pytest.mark.parametrize("doses", [0, 3, "3", "10"])
def test_vaccination_doses_as_number_or_digits(doses):
    assert parse_declaration(declaration(vaccination_doses=doses), today=TODAY).vaccination_doses == int(doses)


@pytest.mark.parametrize("code", [float("inf"), float("nan"), 79.9, "٧٩", "79\n", True, 10**400, [79]])
def test_a_province_code_must_be_a_plain_whole_number(code):
    errors = errors_for(declaration(residence={"province_code": code}))
    assert errors == {"residence.province_code": "is not one of the 34 provinces"}


@pytest.mark.parametrize("ward", [float("inf"), "٧٠", 70.5, "70 ", {"code": 70}])
def test_a_ward_code_must_be_a_plain_whole_number(ward):
    errors = errors_for(declaration(residence={"province_code": 1, "ward_code": ward}))
    assert errors == {"residence.ward_code": "is not a ward of the chosen province"}


def test_codes_may_come_as_digits_the_way_the_form_sends_them():
    declared = parse_declaration(declaration(residence={"province_code": "01", "ward_code": "70"}), today=TODAY)
    assert (declared.residence.province_code, declared.residence.ward_code) == (1, 70)


@pytest.mark.parametrize("address", ["Số 1\x00 Tràng Tiền", "\ud800", "\x1b[31m", ["Số 1"], "x" * 201])
def test_an_address_must_be_plain_text_that_can_be_stored(address):
    errors = errors_for(declaration(residence={"province_code": 1, "address": address}))
    assert list(errors) == ["residence.address"]


@pytest.mark.parametrize("changes, field", [
    ({"phone": "09١٢٣٤٥٦٧٨"}, "phone"),
    ({"phone": "０９１２３４５６７８"}, "phone"),
    ({"date_of_birth": "1990-05-17\n"}, "date_of_birth"),
    ({"date_of_birth": "１９９０-05-17"}, "date_of_birth"),
    ({"citizen_id": "００１０９００１２３４５"}, "citizen_id"),
    ({"full_name": "Nguyễn Văn ٣"}, "full_name"),
    ({"trip": {"from_province": 1, "to_province": 79, "means": "car", "date": "2026-11-20",
               "vehicle_number": "29A-123\x00"}}, "trip.vehicle_number"),
])
def test_other_scripts_digits_and_stray_characters_are_refused(changes, field):
    assert list(errors_for(declaration(**changes))) == [field]


def test_spacing_around_an_id_number_is_dropped_not_stored():
    number = declaration()["citizen_id"]
    declared = parse_declaration(declaration(citizen_id=f" {number}\n"), today=TODAY)
    assert declared.person.id_number == number
