"""The CRUD layer on PostgreSQL, the database docker-compose runs: the same flows as on SQLite."""
from __future__ import annotations

import pytest

from tests.factories import child, declaration
from tests.test_webapp.test_citizen_pages import open_form
from webapp.extensions import db
from webapp.models import Citizen
from webapp.outbox import pending_count
from webapp.registry import seed_population

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(make_app, postgres_url):
    app = make_app(database_url=postgres_url)
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
    token = open_form(client, "/tra-cuu").values["csrf_token"]
    page = client.post("/tra-cuu", data={"id_number": payload["citizen_id"], "phone": payload["phone"],
                                         "csrf_token": token})
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
