"""The population registry: a synthetic population for development, and its change events."""
from __future__ import annotations

import random
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select

from ingest.identity import make_cccd
from ingest.regions import LEGACY_PROVINCES
from ingest.units import provinces, wards
from streams import topics
from streams.records import CitizenRecord, new_event_id
from webapp import outbox
from webapp.extensions import db
from webapp.models import Citizen

OLDEST_BIRTH = date(1930, 1, 1)
YOUNGEST_BIRTH = date(2024, 12, 31)
CMND_BEFORE = date(2008, 1, 1)  # people old enough to have held the 9-digit CMND
BATCH = 2000


def seed_population(count: int, seed: int | None = None) -> int:
    """Add ``count`` synthetic citizens, each with a registry event staged in the outbox."""
    fake = Faker("vi_VN")
    rng = random.Random(seed)
    fake.seed_instance(seed)
    taken = set(db.session.scalars(select(Citizen.citizen_id)))
    province_codes = [code for code, _ in provinces()]
    birth_places = list(LEGACY_PROVINCES)
    added = 0
    while added < count:
        for _ in range(min(BATCH, count - added)):
            citizen = _synthetic_citizen(fake, rng, taken, province_codes, birth_places)
            db.session.add(citizen)
            outbox.add(topics.CITIZENS, citizen.citizen_id, registry_event(citizen))
            added += 1
        db.session.commit()
    return added


def registry_event(citizen: Citizen) -> CitizenRecord:
    return CitizenRecord(
        event_id=new_event_id(),
        citizen_id=citizen.citizen_id,
        cmnd=citizen.cmnd,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth.isoformat(),
        sex=citizen.sex,
        province_code=citizen.province_code,
        ward_code=citizen.ward_code,
    )


def _synthetic_citizen(fake: Faker, rng: random.Random, taken: set[str],
                       province_codes: list[int], birth_places: list[str]) -> Citizen:
    sex = rng.choice(("male", "female"))
    given = fake.first_name_male() if sex == "male" else fake.first_name_female()
    full_name = f"{fake.last_name()} {fake.middle_name()} {given}"
    born = OLDEST_BIRTH + timedelta(days=rng.randrange((YOUNGEST_BIRTH - OLDEST_BIRTH).days))
    while True:
        citizen_id = make_cccd(rng.choice(birth_places), born, sex, rng.randrange(1_000_000))
        if citizen_id not in taken:
            taken.add(citizen_id)
            break
    province = rng.choice(province_codes)
    ward = rng.choice(wards(province))[0]
    return Citizen(
        citizen_id=citizen_id,
        cmnd=f"{rng.randrange(10**9):09d}" if born < CMND_BEFORE and rng.random() < 0.5 else None,
        full_name=full_name,
        date_of_birth=born,
        sex=sex,
        province_code=province,
        ward_code=ward,
        phone=f"0{rng.choice('35789')}{rng.randrange(10**8):08d}",
    )
