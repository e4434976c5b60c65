"""/healthz answers from memory, fast: a stranger hears ok or degraded, ops the parts' states,
and nobody error text."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from tests.staff import add_staff, sign_in
from webapp.health import PROBE_INTERVAL_SECONDS
from webapp.resources import get_resources


def signed_in(app, role: str):
    client = app.test_client()
    sign_in(client, add_staff(app, role))
    return client


@pytest.fixture
def ops_client(app):
    return signed_in(app, "ops")


def test_a_stranger_hears_the_status_and_its_code_only(client):
    response = client.get("/healthz")

    assert response.status_code == 503  # the test app's Kafka address is unreachable
    assert response.json == {"status": "degraded"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("role", ["ops", "admin"])
def test_ops_and_admins_get_each_part_and_no_exception_text(app, role):
    response = signed_in(app, role).get("/healthz")

    assert response.status_code == 503
    assert response.json["status"] == "degraded"
    assert response.json["kafka"] == "unavailable"
    assert (response.json["warehouse"], response.json["database"]) == ("ok", "ok")
    assert response.json["outbox_pending"] == 0
    assert set(response.json) == {"status", "kafka", "warehouse", "database", "outbox_pending"}


@pytest.mark.parametrize("role", ["official", "officer"])
def test_other_staff_hear_what_a_stranger_hears(app, role):
    assert signed_in(app, role).get("/healthz").json == {"status": "degraded"}


def test_a_station_device_hears_what_a_stranger_hears(station_client):
    assert station_client.get("/healthz").json == {"status": "degraded"}


def test_health_answers_from_memory_without_probing_per_request(app, client):
    client.get("/healthz")  # the first answer probes once; the monitor thread goes on
    probes = []
    with app.app_context():
        monitor = get_resources().health
    original = monitor.probe_now
    monitor.probe_now = lambda: (probes.append(1), original())[1]
    try:
        started = time.perf_counter()
        for _ in range(200):
            client.get("/healthz")
        elapsed = time.perf_counter() - started
    finally:
        monitor.probe_now = original
    # Only the monitor's own rounds probed (one per interval), not the 200 requests.
    assert len(probes) <= 1 + elapsed / PROBE_INTERVAL_SECONDS


def test_a_failed_publish_marks_kafka_down_at_once(app, ops_client, station_client):
    ops_client.get("/healthz")
    with app.app_context():
        monitor = get_resources().health
    monitor.stop()  # only what the publisher reports changes the state from here on
    monitor.report("kafka", True)
    assert ops_client.get("/healthz").json["kafka"] == "ok"

    response = station_client.post("/api/v1/scans", json={
        "citizen_id": "001090000001", "place_id": "CP-HN-01",
        "ts": datetime.now(timezone.utc).isoformat(), "direction": "in"})

    assert response.status_code == 503
    assert ops_client.get("/healthz").json["kafka"] == "unavailable"
