"""The CRUD layer on PostgreSQL, the database docker-compose runs: the same flows as on SQLite."""
from __future__ import annotations

import pytest

from tests.factories import child, declaration
from webapp.extensions import db
from webapp.models import Citizen
from webapp.outbox import pending_count
from webapp.registry import seed_population

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(make_app, postgres_url):
    # CSRF is tested on SQLite (test_citizen_pages); here the pages only read and write the rows.
    app = make_app(SQLALCHEMY_DATABASE_URI=postgres_url, OUTBOX_RELAY=False, WTF_CSRF_ENABLED=False)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_declarations_are_stored_replayed_and_staged_on_postgres(app, client):
    payload = declaration(dependants=[child()])
    first = client.post("/api/v1/declarations", json=payload, headers={"Idempotency-Key": "pg-key-0001"})
    again = client.post("/api/v1/declarations", json=payload, headers={"Idempotency-Key": "pg-key-0001"})
    other = client.post("/api/v1/declarations", json=declaration(), headers={"Idempotency-Key": "pg-key-0001"})

    assert first.status_code == 201
    assert (again.status_code, again.json) == (201, first.json)
    assert other.status_code == 409
    with app.app_context():
        assert pending_count() == 2
    page = client.post("/tra-cuu", data={"id_number": payload["citizen_id"], "phone": payload["phone"]})
    assert first.json["declaration_id"] in page.get_data(as_text=True)


def test_seeded_registry_verifies_declarations_on_postgres(app, client):
    with app.app_context():
        seed_population(50, seed=9)
        person = db.session.scalars(db.select(Citizen).order_by(Citizen.citizen_id)).first()
        found = dict(citizen_id=person.citizen_id, full_name=person.full_name,
                     date_of_birth=person.date_of_birth.isoformat(), sex=person.sex)
        assert pending_count() == 50

    response = client.post("/api/v1/declarations", json=declaration(**found))

    assert response.json["verification"] == "verified"
