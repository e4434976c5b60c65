"""/metrics: who may read it, what the web app counts, and gunicorn's worker processes added up.

In-process apps for the rules; the whole running system (``system``) for counters that move
under load, web and stream together; a real gunicorn with two workers for multiprocess mode.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from kafka import KafkaProducer

from streams import topics
from tests.conftest import (PORT_OFFSET, QR_TEST_KEYS, SYSTEM_KAFKA_PORT, random_cccd, run_cli, settings_for_tests)
from tests.factories import child, declaration
from tests.scrape import OPS_PASSWORD, poll, series, signed_in_ops, total, value
from tests.staff import add_staff, sign_in, station_headers

TOKEN = "scrape-" + "k" * 40
GUNICORN_PORT = 25300 + PORT_OFFSET
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
KEYS_ROUTE = "/.well-known/truyvet-qr-keys.json"


def client_as(app, role: str | None):
    client = app.test_client()
    if role == "station":
        client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    elif role is not None:
        sign_in(client, add_staff(app, role))
    return client


@pytest.mark.parametrize("role, status", [("ops", 200), ("admin", 200), ("official", 403), ("officer", 403),
                                          ("ward_staff", 403), ("station", 403), (None, 401)])
def test_metrics_are_for_ops_and_admins(app, role, status):
    response = client_as(app, role).get("/metrics")

    assert response.status_code == status
    if status == 200:
        assert response.mimetype == "text/plain" and "truyvet_http_requests_total" in response.get_data(as_text=True)


def test_the_scraper_reads_metrics_with_its_token_and_nothing_else(make_app):
    app = make_app(metrics_token=TOKEN)
    client = app.test_client()

    scraped = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200 and "truyvet_http_requests_total" in scraped.get_data(as_text=True)
    assert scraped.headers["Cache-Control"] == "no-store"
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    # The token opens /metrics only.
    assert client.get("/ops/data", headers={"Authorization": f"Bearer {TOKEN}"}).status_code in (302, 401)
    assert client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).json == {"status": "degraded"}


def test_without_a_token_configured_no_bearer_reads_metrics(app):
    response = app.test_client().get("/metrics", headers={"Authorization": "Bearer "})
    assert response.status_code == 401


def test_requests_are_counted_by_url_rule_never_by_path(app):
    ops = client_as(app, "ops")
    citizen = random_cccd()
    before = ops.get("/metrics").get_data(as_text=True)

    for _ in range(3):
        app.test_client().get(f"/api/v1/citizens/{citizen}/scans?reason=case_investigation")
    app.test_client().get(f"/no-such-page/{citizen}")
    after = ops.get("/metrics").get_data(as_text=True)

    rule = "/api/v1/citizens/<citizen_id>/scans"
    counted = {"route": rule, "method": "GET", "status": "401"}
    assert value(after, "truyvet_http_requests_total", **counted) == value(before, "truyvet_http_requests_total",
                                                                           **counted) + 3
    assert value(after, "truyvet_http_request_seconds_count", route=rule, method="GET") >= 3
    assert value(after, "truyvet_http_requests_total", route="unmatched", method="GET", status="404") >= 1
    assert citizen not in after


def test_scans_accepted_count_where_they_came_from_and_the_outbox_backlog_is_read_when_scraped(app):
    station = client_as(app, "station")
    ops = client_as(app, "ops")
    before = ops.get("/metrics").get_data(as_text=True)

    for _ in range(2):
        response = station.post("/api/v1/checkpoint-scans", json={
            "place_code": "CP-HN-01", "citizen_id": random_cccd(), "action": "pass"})
        assert response.status_code == 202, response.json
    after = ops.get("/metrics").get_data(as_text=True)

    assert value(after, "truyvet_scans_accepted_total", source="station") == value(
        before, "truyvet_scans_accepted_total", source="station") + 2
    assert value(after, "truyvet_outbox_pending") >= 2  # the relay is off in tests: both wait


def test_declarations_accepted_count_each_person_declared(app, client):
    ops = client_as(app, "ops")
    before = value(ops.get("/metrics").get_data(as_text=True), "truyvet_declarations_accepted_total")

    assert client.post("/api/v1/declarations", json=declaration(dependants=[child()])).status_code == 201

    after = value(ops.get("/metrics").get_data(as_text=True), "truyvet_declarations_accepted_total")
    assert after == before + 2


WRITER = """
import sys
from webapp import metrics  # PROMETHEUS_MULTIPROC_DIR is set: values go to the directory
metrics.scans_accepted.labels("station").inc(int(sys.argv[1]))
metrics.http_requests.labels("/x", "GET", "200").inc(int(sys.argv[1]))
"""


def test_in_multiprocess_mode_metrics_add_up_every_process(make_app, tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for count in ("3", "4"):
        subprocess.run([sys.executable, "-c", WRITER, count], env=env, check=True, timeout=120)
    app = make_app(metrics_token=TOKEN)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))

    text = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)

    assert value(text, "truyvet_scans_accepted_total", source="station") == 7
    assert value(text, "truyvet_http_requests_total", route="/x", method="GET", status="200") == 7
    assert len(list(directory.glob("counter_*.db"))) == 2


@pytest.fixture
def gunicorn(tmp_path, warehouse):
    """gunicorn as docker-compose runs it (two workers, webapp.gunicorn_conf), metrics shared."""
    from config import Settings
    from webapp import create_app
    from webapp.extensions import db

    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left over from an earlier run")
    database = f"sqlite:///{tmp_path / 'web.db'}"
    schema_app = create_app(settings_for_tests(tmp_path, "http://127.0.0.1:1", database_url=database),
                            warehouse=warehouse)
    with schema_app.app_context():
        db.create_all()
    schema_app.close()
    env = {name: text for name, text in os.environ.items() if not name.startswith("TRUYVET_")}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(directory), TRUYVET_DATA_DIR=str(tmp_path),
               TRUYVET_KAFKA_BOOTSTRAP="127.0.0.1:1", TRUYVET_CLICKHOUSE_URL="http://127.0.0.1:1",
               TRUYVET_DATABASE_URL=database, TRUYVET_SECRET_KEY="test-secret", TRUYVET_QR_SIGNING_KEYS=QR_TEST_KEYS,
               TRUYVET_OUTBOX_RELAY="off", TRUYVET_METRICS_TOKEN=TOKEN)
    Settings.from_env(env)  # the same settings gunicorn's workers will read
    log = open(tmp_path / "gunicorn.log", "wb")
    process = subprocess.Popen([GUNICORN, "-c", "python:webapp.gunicorn_conf", "--workers", "2",
                                "--bind", f"127.0.0.1:{GUNICORN_PORT}", "webapp:create_app()"],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{GUNICORN_PORT}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        try:
            if requests.get(url + KEYS_ROUTE, timeout=5).ok:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "gunicorn did not answer in 60 s"
        time.sleep(0.2)
    yield url, directory
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def test_gunicorn_workers_add_up_and_a_dead_worker_s_gauges_are_retired(gunicorn):
    url, directory = gunicorn
    assert not (directory / "counter_999999.db").exists()  # emptied as gunicorn started

    def scrape() -> str:
        response = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert response.status_code == 200
        return response.text

    def fetch(_) -> int:
        return requests.get(url + KEYS_ROUTE, headers={"Connection": "close"}, timeout=10).status_code

    before = value(scrape(), "truyvet_http_requests_total", route=KEYS_ROUTE, method="GET", status="200")
    sent = 0
    # Sync workers take one request each at a time: requests at once reach both.
    for _ in range(10):
        with ThreadPoolExecutor(8) as pool:
            sent += list(pool.map(fetch, range(40))).count(200)
        if len(list(directory.glob("counter_*.db"))) >= 2:
            break
    assert len(list(directory.glob("counter_*.db"))) >= 2
    text = scrape()
    assert value(text, "truyvet_http_requests_total", route=KEYS_ROUTE, method="GET", status="200") == before + sent

    # The outbox backlog is a live gauge, one file per worker: a dead worker's goes with it.
    gone, kept = sorted(directory.glob("gauge_livemostrecent_*.db"))
    os.kill(int(gone.stem.rsplit("_", 1)[1]), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while gone.exists():
        assert time.monotonic() < deadline, "child_exit did not retire the dead worker's gauges"
        time.sleep(0.1)
    assert kept.exists()
    assert value(scrape(), "truyvet_http_requests_total", route=KEYS_ROUTE, method="GET", status="200") == before + sent


# --- the whole system under load: web and stream counters in `truyvet run`'s one process -----

@pytest.fixture(scope="module")
def ops_session(system):
    run_cli(system["data_dir"], SYSTEM_KAFKA_PORT, "user", "add", "van-hanh-metrics", "--role", "ops",
            "--full-name", "Vận hành Thử", "--password", OPS_PASSWORD)
    return signed_in_ops(system["url"], "van-hanh-metrics")


@pytest.mark.broker
def test_counters_move_under_load_through_the_web_and_the_stream(system, ops_session):
    url, place = system["url"], "CP-METRICS-01"
    headers = system["station_headers"](place)

    def scrape() -> str:
        response = ops_session.get(url + "/metrics", timeout=10)
        assert response.status_code == 200
        return response.text

    before = scrape()
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    good = [random_cccd() for _ in range(5)]
    impossible = "079299" + random_cccd()[-6:]  # born in 2099: the stream rejects it (birth_year)
    for citizen in [*good, impossible]:
        response = requests.post(url + "/api/v1/scans", headers=headers, timeout=10, json={
            "citizen_id": citizen, "place_id": place, "ts": now, "direction": "in"})
        assert response.status_code == 202, response.text
    assert requests.post(url + "/api/v1/declarations", json=declaration(), timeout=10).status_code == 201
    producer = KafkaProducer(bootstrap_servers=[f"127.0.0.1:{SYSTEM_KAFKA_PORT}"])
    producer.send(topics.SCANS, key=b"garbage", value=b"\x00 not an event").get(timeout=30)
    producer.close()

    def moved(text: str, name: str, by: float, **labels: str) -> bool:
        return total(text, name, **labels) >= total(before, name, **labels) + by

    expected = [
        ("truyvet_scans_accepted_total", 6, {"source": "station"}),
        ("truyvet_declarations_accepted_total", 1, {}),
        ("truyvet_http_requests_total", 6, {"route": "/api/v1/scans", "method": "POST", "status": "202"}),
        ("truyvet_stream_events_total", 7, {"agent": "verify_scans", "direction": "in"}),
        ("truyvet_stream_events_total", 5, {"agent": "verify_scans", "direction": "out"}),
        ("truyvet_stream_events_total", 1, {"agent": "verify_declarations", "direction": "in"}),
        ("truyvet_place_scans_total", 5, {"place": place}),
        ("truyvet_stream_rejections_total", 1, {"agent": "verify_scans", "reason": "birth_year"}),
        ("truyvet_dead_letters_total", 1, {"reason": "undecodable"}),
        ("truyvet_stream_events_total", 5, {"agent": "sink_scans", "direction": "out"}),
        ("truyvet_sink_batch_rows_count", 1, {"table": "scans"}),
        ("truyvet_sink_batch_seconds_count", 1, {"table": "rejections"}),
    ]
    after = poll(scrape, lambda text: all(moved(text, name, by, **labels) for name, by, labels in expected))

    assert [(name, labels) for name, by, labels in expected if not moved(after, name, by, **labels)] == []
    lagging = {(labels["topic"], labels["partition"]) for labels in series(after, "truyvet_consumer_lag")}
    assert {(topics.SCANS, str(partition)) for partition in range(topics.PARTITIONS)} <= lagging
    assert not any(citizen in after for citizen in [*good, impossible])
