"""/healthz answers from memory, fast, and tells a stranger states, never error text."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from webapp.resources import get_resources
from webapp.health import PROBE_INTERVAL_SECONDS


def test_health_reports_states_only_and_no_exception_text(client):
    response = client.get("/healthz")

    assert response.status_code == 503  # the test app's Kafka address is unreachable
    assert response.json["kafka"] == "unavailable"
    assert (response.json["warehouse"], response.json["database"]) == ("ok", "ok")
    assert response.json["outbox_pending"] == 0
    assert set(response.json) == {"status", "kafka", "warehouse", "database", "outbox_pending"}


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


def test_a_failed_publish_marks_kafka_down_at_once(app, client, station_client):
    client.get("/healthz")
    with app.app_context():
        monitor = get_resources().health
    monitor.stop()  # only what the publisher reports changes the state from here on
    monitor.report("kafka", True)
    assert client.get("/healthz").json["kafka"] == "ok"

    response = station_client.post("/api/v1/scans", json={
        "citizen_id": "001090000001", "place_id": "CP-HN-01",
        "ts": datetime.now(timezone.utc).isoformat(), "direction": "in"})

    assert response.status_code == 503
    assert client.get("/healthz").json["kafka"] == "unavailable"
