"""Health declarations as citizens submit them: every field checked, every problem reported at once.

``parse_declaration`` takes the JSON shape of ``POST /api/v1/declarations`` (the web form is
turned into the same shape) and returns a :class:`DeclarationInput`, or raises
:class:`InvalidInput` mapping each field (``dependants.0.full_name`` for nested ones) to a
bilingual message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ingest.errors import InvalidInput, Message
from ingest.fields import (NOT_AN_OBJECT, REQUIRED, FieldErrors, is_plain_text, normalize_name, parse_choices,
                           parse_count, parse_date, parse_flag, parse_phone, parse_province, whole_number)
from ingest.identity import Sex, classify_id, validate_cccd, vietnam_today
from ingest.units import ward_in_province

SEXES = ("male", "female")
SYMPTOMS = (
    "fever", "cough", "shortness_of_breath", "sore_throat", "loss_of_taste_smell",
    "fatigue", "muscle_pain", "diarrhea", "headache",
)
TRAVEL_MEANS = ("car", "motorbike", "bus", "train", "plane", "ship", "other")
RELATIONS = ("child", "parent", "grandparent", "spouse", "sibling", "other")
MAX_DEPENDANTS = 10
MAX_VACCINATION_DOSES = 10
MAX_AGE_YEARS = 130
TRIP_WINDOW = (timedelta(days=14), timedelta(days=7))  # how far back / ahead a declared trip may be

MAX_ADDRESS_CHARS = 200

# Letters of any script (not \w: that takes digits of every script too), words joined by one
# space, apostrophe, hyphen or dot. Matched whole: ``$`` would let a trailing newline through.
_NAME = re.compile(r"[^\W\d_]+(?:[ '\-.][^\W\d_]+)*")
_VEHICLE = re.compile(r"[A-Z0-9][A-Z0-9 .\-]{0,19}")


@dataclass(frozen=True)
class PersonInput:
    """Who a declaration is for; ``id_kind`` is ``cccd`` or ``cmnd`` (an alias, resolved later)."""

    id_number: str
    id_kind: str
    full_name: str
    date_of_birth: date
    sex: Sex


@dataclass(frozen=True)
class Residence:
    province_code: int
    ward_code: int | None
    address: str


@dataclass(frozen=True)
class Trip:
    from_province: int
    to_province: int
    means: str
    vehicle_number: str
    travel_date: date


@dataclass(frozen=True)
class Dependant:
    person: PersonInput
    relation: str


@dataclass(frozen=True)
class DeclarationInput:
    person: PersonInput
    phone: str
    residence: Residence | None
    trip: Trip | None
    symptoms: tuple[str, ...]
    contact_with_case: bool
    visited_outbreak_area: bool
    vaccination_doses: int
    dependants: tuple[Dependant, ...]

    def health_details(self) -> dict[str, Any]:
        """What the citizen declared about their health and movements, as stored JSON."""
        return {
            "symptoms": list(self.symptoms),
            "contact_with_case": self.contact_with_case,
            "visited_outbreak_area": self.visited_outbreak_area,
            "vaccination_doses": self.vaccination_doses,
            "residence": None if self.residence is None else {
                "province_code": self.residence.province_code,
                "ward_code": self.residence.ward_code,
                "address": self.residence.address,
            },
            "trip": None if self.trip is None else {
                "from_province": self.trip.from_province,
                "to_province": self.trip.to_province,
                "means": self.trip.means,
                "vehicle_number": self.trip.vehicle_number,
                "date": self.trip.travel_date.isoformat(),
            },
        }


def parse_declaration(payload: Any, today: date | None = None) -> DeclarationInput:
    """Validate a submitted declaration, reporting every bad field at once."""
    if not isinstance(payload, dict):
        raise InvalidInput({"body": NOT_AN_OBJECT})
    today = today or vietnam_today()
    errors = FieldErrors()
    person = _person(payload, "", errors, today)
    phone = parse_phone(payload.get("phone"), "phone", errors)
    residence = _residence(payload, errors)
    trip = _trip(payload.get("trip"), errors, today)
    symptoms = parse_choices(payload.get("symptoms"), SYMPTOMS, "symptoms", errors)
    contact = parse_flag(payload.get("contact_with_case"), "contact_with_case", errors)
    visited = parse_flag(payload.get("visited_outbreak_area"), "visited_outbreak_area", errors)
    doses = parse_count(payload.get("vaccination_doses"), "vaccination_doses", MAX_VACCINATION_DOSES, errors)
    dependants = _dependants(payload.get("dependants"), errors, today, person)
    if errors:
        raise InvalidInput(dict(errors))
    return DeclarationInput(
        person=person, phone=phone, residence=residence, trip=trip, symptoms=symptoms,
        contact_with_case=contact, visited_outbreak_area=visited, vaccination_doses=doses,
        dependants=dependants,
    )


def _person(data: dict, prefix: str, errors: FieldErrors, today: date) -> PersonInput | None:
    def field(name: str) -> str:
        return f"{prefix}{name}"

    name = data.get("full_name")
    full_name = normalize_name(name) if isinstance(name, str) else ""
    if not full_name:
        errors.add(field("full_name"), REQUIRED)
    elif len(full_name) > 80 or not _NAME.fullmatch(full_name):
        errors.add(field("full_name"), Message(
            "must be letters and spaces, at most 80 characters",
            "chỉ gồm chữ cái và khoảng trắng, tối đa 80 ký tự",
        ))

    date_of_birth = parse_date(data.get("date_of_birth"), field("date_of_birth"), errors)
    if date_of_birth is not None and date_of_birth > today:
        errors.add(field("date_of_birth"), Message("is in the future", "nằm trong tương lai"))
        date_of_birth = None
    elif date_of_birth is not None and date_of_birth.year < today.year - MAX_AGE_YEARS:
        errors.add(field("date_of_birth"), Message(
            f"is more than {MAX_AGE_YEARS} years ago", f"cách đây hơn {MAX_AGE_YEARS} năm"
        ))
        date_of_birth = None

    sex = data.get("sex")
    if sex not in SEXES:
        errors.add(field("sex"), Message("must be male or female", "phải là nam hoặc nữ"))
        sex = None

    entered = classify_id(data.get("citizen_id") or "", today=today)
    if not data.get("citizen_id"):
        errors.add(field("citizen_id"), REQUIRED)
    elif entered.kind == "invalid":
        errors.add(field("citizen_id"), _identity_message(entered.problems))
    elif entered.kind == "cccd" and date_of_birth is not None and sex is not None:
        problems = validate_cccd(entered.number, date_of_birth, sex, today=today)
        if problems:
            errors.add(field("citizen_id"), _identity_message(problems))

    if errors.keys() & {field(n) for n in ("citizen_id", "full_name", "date_of_birth", "sex")}:
        return None
    return PersonInput(entered.number, entered.kind, full_name, date_of_birth, sex)


def _identity_message(problems) -> Message:
    return Message(
        " ".join(p.message[0].upper() + p.message[1:] + "." for p in problems),
        " ".join(p.message_vi for p in problems),
    )


def _residence(data: dict, errors: FieldErrors) -> Residence | None:
    residence = data.get("residence")
    if residence in (None, {}):
        return None
    if not isinstance(residence, dict):
        errors.add("residence", NOT_AN_OBJECT)
        return None
    province = parse_province(residence.get("province_code"), "residence.province_code", errors)
    ward = residence.get("ward_code")
    ward_code = None
    if ward not in (None, ""):
        ward_code = whole_number(ward)
        if province is not None and (ward_code is None or not ward_in_province(ward_code, province)):
            errors.add("residence.ward_code", Message(
                "is not a ward of the chosen province", "không thuộc tỉnh, thành phố đã chọn"
            ))
    raw_address = residence.get("address") or ""
    address = normalize_name(raw_address) if isinstance(raw_address, str) else ""
    if not isinstance(raw_address, str) or len(address) > MAX_ADDRESS_CHARS or not is_plain_text(address):
        errors.add("residence.address", Message(
            f"must be plain text (letters, digits, punctuation), at most {MAX_ADDRESS_CHARS} characters",
            f"chỉ gồm chữ, số và dấu câu thông thường, tối đa {MAX_ADDRESS_CHARS} ký tự",
        ))
    return Residence(province, ward_code, address) if province is not None else None


def _trip(trip: Any, errors: FieldErrors, today: date) -> Trip | None:
    if trip in (None, {}):
        return None
    if not isinstance(trip, dict):
        errors.add("trip", NOT_AN_OBJECT)
        return None
    start = parse_province(trip.get("from_province"), "trip.from_province", errors)
    end = parse_province(trip.get("to_province"), "trip.to_province", errors)
    means = trip.get("means")
    if means not in TRAVEL_MEANS:
        errors.add("trip.means", Message(
            f"must be one of {', '.join(TRAVEL_MEANS)}", f"phải là một trong {', '.join(TRAVEL_MEANS)}"
        ))
    vehicle = str(trip.get("vehicle_number") or "").strip().upper()
    if vehicle and not _VEHICLE.fullmatch(vehicle):
        errors.add("trip.vehicle_number", Message(
            "must be letters, digits, spaces, dots or dashes (at most 20)",
            "chỉ gồm chữ, số, khoảng trắng, dấu chấm hoặc gạch ngang (tối đa 20)",
        ))
    travel_date = parse_date(trip.get("date"), "trip.date", errors)
    if travel_date is not None and not today - TRIP_WINDOW[0] <= travel_date <= today + TRIP_WINDOW[1]:
        errors.add("trip.date", Message(
            "must be within the last 14 days or the next 7", "phải trong 14 ngày qua hoặc 7 ngày tới"
        ))
    if None in (start, end, travel_date) or means not in TRAVEL_MEANS:
        return None
    return Trip(start, end, means, vehicle, travel_date)


def _dependants(value: Any, errors: FieldErrors, today: date, declarer: PersonInput | None) -> tuple[Dependant, ...]:
    if value in (None, []):
        return ()
    if not isinstance(value, list) or len(value) > MAX_DEPENDANTS:
        errors.add("dependants", Message(
            f"must be a list of at most {MAX_DEPENDANTS} people", f"tối đa {MAX_DEPENDANTS} người"
        ))
        return ()
    dependants = []
    seen = {declarer.id_number} if declarer else set()
    for index, item in enumerate(value):
        prefix = f"dependants.{index}."
        if not isinstance(item, dict):
            errors.add(f"dependants.{index}", NOT_AN_OBJECT)
            continue
        person = _person(item, prefix, errors, today)
        relation = item.get("relation") or "other"
        if relation not in RELATIONS:
            errors.add(f"{prefix}relation", Message(
                f"must be one of {', '.join(RELATIONS)}", f"phải là một trong {', '.join(RELATIONS)}"
            ))
        if person is not None and person.id_number in seen:
            errors.add(f"{prefix}citizen_id", Message(
                "appears twice in this declaration", "bị trùng trong tờ khai này"
            ))
        elif person is not None and relation in RELATIONS:
            seen.add(person.id_number)
            dependants.append(Dependant(person, relation))
    return tuple(dependants)
