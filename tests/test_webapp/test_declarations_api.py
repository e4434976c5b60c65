"""POST /api/v1/declarations: registry check, idempotency, the personal QR, the outbox."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pytest
import zxingcpp
from PIL import Image

from ingest.qrtoken import load_public_keys, verify
from streams.records import DeclarationEvent
from tests.factories import child, declaration
from webapp.extensions import db
from webapp.models import Citizen, Declaration, OutboxEvent


@pytest.fixture
def app(make_app):
    return make_app()


def register(app, payload: dict, **changes) -> Citizen:
    """Put the person of ``payload`` into the population registry."""
    fields = dict(
        citizen_id=payload["citizen_id"], cmnd=None, full_name=payload["full_name"],
        date_of_birth=date.fromisoformat(payload["date_of_birth"]), sex=payload["sex"],
        province_code=1, ward_code=70, phone=payload["phone"],
    )
    fields.update(changes)
    with app.app_context():
        db.session.add(Citizen(**fields))
        db.session.commit()


def post(client, payload, **headers):
    return client.post("/api/v1/declarations", json=payload, headers=headers)


def stored(app, declaration_id: str) -> Declaration:
    """The declaration as officials read it."""
    with app.app_context():
        return db.session.get(Declaration, declaration_id)


def test_unknown_person_still_gets_a_qr_that_verifies_offline(app, client):
    payload = declaration()
    response = post(client, payload)

    assert response.status_code == 201
    body = response.json
    # Not in the registry: told apart from a mismatch only in what officials read.
    assert body["verification"] == "mismatch"
    assert body["citizen_id"] == payload["citizen_id"]
    assert stored(app, body["declaration_id"]).verification == "unknown"
    keys = load_public_keys(client.get("/.well-known/truyvet-qr-keys.json").get_data())
    claims = verify(body["qr_token"], keys)
    assert claims.kid == "new"
    assert claims.expires_at - claims.issued_at == timedelta(hours=72)
    assert payload["citizen_id"] not in body["qr_token"]


def test_registered_person_is_verified_even_without_diacritics(app, client):
    payload = declaration()
    register(app, payload)
    response = post(client, {**payload, "full_name": "NGUYEN VAN AN"})
    assert response.json["verification"] == "verified"
    assert "mismatched_fields" not in response.json


def test_a_mismatch_is_stored_with_its_fields_and_answered_without_them(app, client):
    payload = declaration()
    register(app, payload, full_name="Nguyễn Văn Bình", date_of_birth=date(1990, 5, 18))
    response = post(client, payload)
    assert response.json["verification"] == "mismatch"
    assert "mismatched_fields" not in response.json  # the sender learns no registry field
    assert stored(app, response.json["declaration_id"]).mismatched_fields == ["full_name", "date_of_birth"]


def test_cmnd_alias_resolves_to_the_registered_cccd_without_telling_the_sender(app, client):
    payload = declaration()
    register(app, payload, cmnd="012345678")
    response = post(client, {**payload, "citizen_id": "012 345 678"})
    assert response.json["verification"] == "verified"
    assert response.json["citizen_id"] == "012345678"  # what was sent, never the CCCD behind it
    assert payload["citizen_id"] not in response.get_data(as_text=True)
    assert stored(app, response.json["declaration_id"]).citizen_id == payload["citizen_id"]


def test_each_dependant_gets_their_own_declaration_and_qr(client):
    kids = [child(), child(full_name="Nguyễn Văn Tí", sex="male", citizen_id=None)]
    kids[1]["citizen_id"] = "001221000042"
    response = post(client, declaration(dependants=kids))
    assert response.status_code == 201, response.json
    dependants = response.json["dependants"]
    assert [d["citizen_id"] for d in dependants] == [k["citizen_id"] for k in kids]
    tokens = {response.json["qr_token"], *(d["qr_token"] for d in dependants)}
    assert len(tokens) == 3


def test_every_person_is_staged_for_kafka_in_the_same_transaction(app, client):
    response = post(client, declaration(dependants=[child()]))
    ids = {response.json["declaration_id"], response.json["dependants"][0]["declaration_id"]}
    with app.app_context():
        staged = db.session.scalars(db.select(OutboxEvent).where(OutboxEvent.published_at.is_(None))).all()
    events = [DeclarationEvent.loads(row.payload) for row in staged]
    assert {e.declaration_id for e in events} == ids
    assert {row.key for row in staged} == {e.citizen_id for e in events}
    assert all(e.symptoms == ["cough"] and e.verification == "unknown" for e in events)


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(app, client):
    payload = declaration(dependants=[child()])
    first = post(client, payload, **{"Idempotency-Key": "tap-1234567"})
    again = post(client, payload, **{"Idempotency-Key": "tap-1234567"})

    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Declaration)) == 2
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxEvent)) == 2


def test_reusing_a_key_for_another_declaration_is_a_conflict(client):
    post(client, declaration(), **{"Idempotency-Key": "tap-7654321"})
    response = post(client, declaration(), **{"Idempotency-Key": "tap-7654321"})
    assert response.status_code == 409


def test_invalid_declaration_lists_every_field_in_vietnamese(client):
    response = post(client, {"citizen_id": "123", "sex": "?"})
    assert response.status_code == 400
    assert response.json["errors"] == {
        "citizen_id": "Số giấy tờ phải là số CCCD 12 chữ số hoặc số CMND 9 chữ số.",
        "full_name": "không được để trống",
        "date_of_birth": "không được để trống",
        "sex": "phải là nam hoặc nữ",
        "phone": "không được để trống",
    }


@pytest.mark.parametrize("body", [b"\xff\xfe{", b"{\"citizen_id\": ", b"[]"])
def test_garbled_payloads_are_rejected(client, body):
    response = client.post("/api/v1/declarations?lang=en", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["errors"] == {"body": "expected a JSON object"}


def test_oversized_payload_is_rejected(client):
    response = client.post("/api/v1/declarations", data=b"{" + b" " * 70_000 + b"}",
                           content_type="application/json")
    assert response.status_code == 413


def test_qr_images_carry_the_token(client):
    body = post(client, declaration()).json
    svg = client.get(f"/khai-bao/{body['declaration_id']}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b'width="50.0mm"' in svg.data
    png = client.get(f"/khai-bao/{body['declaration_id']}/qr.png")
    assert png.headers["Content-Disposition"].startswith("attachment")
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert decoded.text == body["qr_token"]
    assert client.get("/khai-bao/0123456789abcdef/qr.png").status_code == 404


def test_token_lifetime_is_configurable(make_app):
    client = make_app(qr_token_ttl_hours=24).test_client()
    body = post(client, declaration()).json
    expires = datetime.fromisoformat(body["qr_expires_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(timezone.utc) <= timedelta(hours=24)


def test_rate_limit_per_id_number(make_app):
    client = make_app(declaration_rate_per_id="2/hour").test_client()
    payload = declaration()
    assert [post(client, payload).status_code for _ in range(3)] == [201, 201, 429]
    assert post(client, declaration()).status_code == 201  # another person is not held back


def test_rate_limit_per_address(make_app):
    client = make_app(declaration_rate_per_ip="2/minute").test_client()
    assert [post(client, declaration()).status_code for _ in range(3)] == [201, 201, 429]
