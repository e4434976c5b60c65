"""The synthetic population registry behind `truyvet seed`."""
from __future__ import annotations

import re

from ingest.identity import validate_cccd
from ingest.units import province_name, ward_in_province
from streams.records import CitizenRecord
from webapp.extensions import db
from webapp.models import Citizen, OutboxEvent
from webapp.registry import seed_population


def test_seeded_citizens_have_consistent_ids_and_vietnamese_details(app):
    with app.app_context():
        assert seed_population(300, seed=11) == 300
        citizens = db.session.scalars(db.select(Citizen)).all()

    assert len({c.citizen_id for c in citizens}) == 300
    for citizen in citizens:
        assert validate_cccd(citizen.citizen_id, citizen.date_of_birth, citizen.sex) == []
        assert province_name(citizen.province_code) is not None
        assert ward_in_province(citizen.ward_code, citizen.province_code)
        assert re.fullmatch(r"0[35789]\d{8}", citizen.phone)
        assert citizen.cmnd is None or re.fullmatch(r"\d{9}", citizen.cmnd)
        assert len(citizen.full_name.split()) >= 3
    assert any(c.cmnd for c in citizens)
    assert any(re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", c.full_name.lower())
               for c in citizens)


def test_every_seeded_citizen_is_staged_for_the_citizens_topic(app):
    with app.app_context():
        seed_population(20, seed=3)
        staged = db.session.scalars(db.select(OutboxEvent)).all()
        citizens = {c.citizen_id: c for c in db.session.scalars(db.select(Citizen))}

    assert {row.topic for row in staged} == {"truyvet.citizens.v1"}
    for row in staged:
        record = CitizenRecord.loads(row.payload)
        assert row.key == record.citizen_id
        assert record.full_name == citizens[record.citizen_id].full_name
        assert record.date_of_birth == citizens[record.citizen_id].date_of_birth.isoformat()


def test_the_same_seed_gives_the_same_people(make_app):
    def people(seed):
        app = make_app(database_url="sqlite://")
        with app.app_context():
            seed_population(10, seed=seed)
            return sorted((c.citizen_id, c.full_name) for c in db.session.scalars(db.select(Citizen)))

    assert people(5) == people(5)
    assert people(5) != people(6)
