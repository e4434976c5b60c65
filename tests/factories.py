"""Test data: valid declarations and registry entries, varied per call."""
from __future__ import annotations

import random
from datetime import date

from ingest.identity import make_cccd


def cccd_for(born: date, sex: str, province: str = "001") -> str:
    return make_cccd(province, born, sex, random.randrange(1_000_000))


def declaration(**changes) -> dict:
    """A valid API payload for a fresh person (born 1990-05-17, male, Hà Nội)."""
    born = date(1990, 5, 17)
    payload = {
        "citizen_id": cccd_for(born, "male"),
        "full_name": "Nguyễn Văn An",
        "date_of_birth": born.isoformat(),
        "sex": "male",
        "phone": "0912345678",
        "residence": {"province_code": 1, "ward_code": 70, "address": "Số 1 Tràng Tiền"},
        "symptoms": ["cough"],
        "vaccination_doses": 3,
    }
    payload.update(changes)
    return payload


def child(**changes) -> dict:
    born = date(2021, 3, 9)
    person = {
        "citizen_id": cccd_for(born, "female"),
        "full_name": "Nguyễn Thị Bông",
        "date_of_birth": born.isoformat(),
        "sex": "female",
        "relation": "child",
    }
    person.update(changes)
    return person
