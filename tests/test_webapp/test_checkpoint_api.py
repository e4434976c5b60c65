"""The officer's checkpoint: who the QR code is, and the decision recorded as one scan event."""
from __future__ import annotations

import json

import pytest

from sqlalchemy import select

from streams import topics
from tests.conftest import random_cccd
from tests.factories import declaration
from tests.staff import add_place, add_staff, csrf_token, sign_in, station_headers
from webapp.extensions import db
from webapp.models import CheckpointDecision, Declaration, OutboxEvent, utcnow

LOOKUP, SCAN = "/api/v1/checkpoint-lookups", "/api/v1/checkpoint-scans"


def staged_scans(app) -> list[dict]:
    """The scan events committed with their decisions, waiting for the relay (off in tests)."""
    with app.app_context():
        rows = db.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topics.SCANS)
                                  .order_by(OutboxEvent.id)).all()
        return [json.loads(row.payload) for row in rows]


def declare(client, **changes) -> dict:
    response = client.post("/api/v1/declarations", json=declaration(**changes))
    assert response.status_code == 201, response.json
    return response.json


def test_a_scanned_qr_shows_the_officer_who_it_is(app, client, station_client):
    declared = declare(client, full_name="Trần Thị Mai", symptoms=["fever"])

    response = station_client.post(LOOKUP, json={"place_code": "CP-HN-01", "qr_token": declared["qr_token"]})

    assert response.status_code == 200
    person = response.json["person"]["declaration"]
    assert (person["full_name"], person["birth_year"], person["symptoms"]) == ("Trần Thị Mai", 1990, ["fever"])
    assert person["verification"] == "unknown"


@pytest.mark.parametrize("damage, reason", [
    (lambda token: token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"), "bad_signature"),
    (lambda token: "not a token", "malformed"),
])
def test_a_forged_or_altered_qr_is_refused_with_its_reason(client, station_client, damage, reason):
    token = declare(client)["qr_token"]
    response = station_client.post(f"{LOOKUP}?lang=en", json={"place_code": "CP-HN-01", "qr_token": damage(token)})
    assert response.status_code == 422
    assert response.json["reason"] == reason and response.json["error"]


def test_a_superseded_or_revoked_declarations_qr_is_refused(app, client, station_client):
    first = declare(client, citizen_id="001090012345")
    second = declare(client, citizen_id="001090012345")

    old = station_client.post(LOOKUP, json={"place_code": "CP-HN-01", "qr_token": first["qr_token"]})
    assert (old.status_code, old.json["reason"]) == (422, "superseded")
    with app.app_context():
        db.session.get(Declaration, second["declaration_id"]).revoked_at = utcnow()
        db.session.commit()
    revoked = station_client.post(LOOKUP, json={"place_code": "CP-HN-01", "qr_token": second["qr_token"]})
    assert (revoked.status_code, revoked.json["reason"]) == (422, "revoked")


def test_pass_and_turn_back_are_each_one_scan_event_with_the_reason_kept(app, client, station_client):
    token = declare(client)["qr_token"]

    passed = station_client.post(SCAN, json={"place_code": "CP-HN-01", "qr_token": token, "action": "pass"})
    no_reason = station_client.post(SCAN, json={"place_code": "CP-HN-01", "qr_token": token, "action": "turn_back"})
    turned = station_client.post(SCAN, json={"place_code": "CP-HN-01", "qr_token": token, "action": "turn_back",
                                             "reason": "Sốt 38,5°C"})

    # Accepted while Kafka is unreachable: decision and event are stored, the relay sends it later.
    assert passed.status_code == 202 and turned.status_code == 202
    assert no_reason.status_code == 400 and set(no_reason.json["errors"]) == {"reason"}
    staged = staged_scans(app)
    assert [(event["direction"], event["place_id"]) for event in staged] == [
        ("pass", "CP-HN-01"), ("turn_back", "CP-HN-01")]
    assert passed.json["event_id"] == staged[0]["event_id"]
    with app.app_context():
        decision = db.session.get(CheckpointDecision, turned.json["event_id"])
        assert (decision.action, decision.reason, decision.station_id is not None) == ("turn_back", "Sốt 38,5°C", True)


def test_a_retried_action_keeps_its_event_id_and_two_stations_never_collide(app, client, station_client):
    token = declare(client)["qr_token"]
    body = {"place_code": "CP-HN-01", "qr_token": token, "action": "in", "retry_key": "queue-0001"}
    other_station = app.test_client()
    other_station.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]

    first = station_client.post(SCAN, json=body).json["event_id"]
    again = station_client.post(SCAN, json=body).json["event_id"]
    elsewhere = other_station.post(SCAN, json=body).json["event_id"]

    assert first == again != elsewhere
    assert [event["event_id"] for event in staged_scans(app)] == [first, elsewhere]


def test_a_typed_cccd_without_a_declaration_can_still_be_turned_back(app, station_client):
    citizen = random_cccd()
    looked_up = station_client.post(LOOKUP, json={"place_code": "CP-HN-01", "citizen_id": citizen})
    assert looked_up.json["person"] == {"citizen_id": citizen, "declaration": None}

    response = station_client.post(SCAN, json={"place_code": "CP-HN-01", "citizen_id": citizen,
                                               "action": "turn_back", "reason": "Chưa khai báo y tế"})

    assert response.status_code == 202
    assert staged_scans(app)[-1]["citizen_id"] == citizen


def test_an_officer_records_only_at_their_own_places_and_with_the_csrf_header(app, client):
    add_place(app, "CP-HP-03", name="Chốt cầu Kiền")
    officer = app.test_client()
    sign_in(officer, add_staff(app, "officer", places=("CP-HN-01",)))
    body = {"place_code": "CP-HP-03", "citizen_id": random_cccd(), "action": "pass"}
    token = csrf_token(officer, "/dang-nhap")

    elsewhere = officer.post(SCAN, json=body, headers={"X-CSRFToken": token})
    without_csrf = officer.post(SCAN, json={**body, "place_code": "CP-HN-01"})
    at_home = officer.post(SCAN, json={**body, "place_code": "CP-HN-01"}, headers={"X-CSRFToken": token})

    assert elsewhere.status_code == 403
    assert without_csrf.status_code == 400
    assert at_home.status_code == 202
    assert len(staged_scans(app)) == 1


def test_refused_qr_codes_are_counted_by_reason_for_ops(app, client, station_client):
    from tests.staff import add_staff, sign_in

    ops = app.test_client()
    sign_in(ops, add_staff(app, "ops"))

    def counted(reason: str) -> float:
        text = ops.get("/metrics").get_data(as_text=True)
        for line in text.splitlines():
            if line.startswith(f'truyvet_qr_refusals_total{{reason="{reason}"}}'):
                return float(line.split()[-1])
        return 0.0

    before = counted("malformed")
    station_client.post(LOOKUP, json={"place_code": "CP-HN-01", "qr_token": "garbage"})
    assert counted("malformed") == before + 1
    assert client.get("/metrics").status_code == 401


def test_a_declaration_revoked_with_the_command_is_refused_at_the_next_scan(app, client, station_client, tmp_path):
    from click.testing import CliRunner

    from truyvet.cli import main

    declared = declare(client)
    env = {"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "TRUYVET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}

    revoked = CliRunner().invoke(main, ["declaration", "revoke", declared["declaration_id"]], env=env)
    unknown = CliRunner().invoke(main, ["declaration", "revoke", "f" * 32], env=env)

    assert revoked.exit_code == 0, revoked.output
    assert unknown.exit_code == 1 and "no declaration" in unknown.output
    response = station_client.post(LOOKUP, json={"place_code": "CP-HN-01", "qr_token": declared["qr_token"]})
    assert (response.status_code, response.json["reason"]) == (422, "revoked")


def test_an_expired_qr_is_refused_and_the_person_asked_to_declare_again(app, client, station_client):
    from datetime import timedelta

    from webapp.qr import get_signer

    declared = declare(client)
    with app.app_context():
        reference = db.session.get(Declaration, declared["declaration_id"]).qr_ref
        expired = get_signer().issue(reference, now=utcnow() - timedelta(hours=80), ttl=timedelta(hours=72))

    response = station_client.post(f"{LOOKUP}?lang=en", json={"place_code": "CP-HN-01", "qr_token": expired})

    assert (response.status_code, response.json["reason"]) == (422, "expired")
    assert "declare again" in response.json["error"]
