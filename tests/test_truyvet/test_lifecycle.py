"""Starting and stopping the real parts: `truyvet kafka ...`, `truyvet run`, broker outages."""
from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import (
    LIFECYCLE_KAFKA_PORT,
    LIFECYCLE_WEB_PORT,
    SPARE_KAFKA_PORT,
    STARTUP_KAFKA_PORT,
    STARTUP_WEB_PORT,
    TRUYVET,
    random_cccd,
    start_system,
    stop_system,
    system_env,
)
from tests.staff import add_staff, sign_in, station_headers
from truyvet.broker import LocalBroker

pytestmark = pytest.mark.broker


def truyvet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TRUYVET, *args], env=env, capture_output=True, text=True, timeout=180)


def a_scan() -> dict:
    return {
        "citizen_id": random_cccd(),
        "place_id": "CP-DN-07",
        "ts": datetime.now(timezone.utc).isoformat(),
        "direction": "pass",
    }


def test_scan_api_answers_503_while_the_broker_is_down(make_app, tmp_path):
    env = system_env(tmp_path / "data", SPARE_KAFKA_PORT)
    started = truyvet(env, "kafka", "start")
    assert started.returncode == 0, started.stderr
    assert "Kafka is running" in started.stdout
    try:
        app = make_app(kafka_bootstrap=f"127.0.0.1:{SPARE_KAFKA_PORT}")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app, "CP-DN-07")["Authorization"]
        ops = app.test_client()  # the health detail is for ops
        sign_in(ops, add_staff(app, "ops"))
        assert client.post("/api/v1/scans", json=a_scan()).status_code == 202
        assert ops.get("/healthz").json["kafka"] == "ok"
    finally:
        stopped = truyvet(env, "kafka", "stop")
    assert stopped.stdout.strip() == "Kafka stopped"
    assert truyvet(env, "kafka", "status").returncode == 1

    response = client.post("/api/v1/scans?lang=en", json=a_scan())

    assert response.status_code == 503
    assert "unavailable" in response.json["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    health = ops.get("/healthz")
    assert health.status_code == 503
    assert health.json["kafka"] != "ok"
    assert (health.json["warehouse"], health.json["database"]) == ("ok", "ok")
    assert health.json["outbox_pending"] == 0  # scans are not buffered: the API said 503


def test_run_stops_broker_and_worker_on_sigterm(tmp_path):
    kafka_port, web_port = LIFECYCLE_KAFKA_PORT, LIFECYCLE_WEB_PORT
    process = start_system(tmp_path / "data", kafka_port, web_port)
    broker = LocalBroker.for_bootstrap(tmp_path / "data" / "kafka", f"127.0.0.1:{kafka_port}")
    broker_pid = broker.status().pid
    assert broker_pid is not None

    assert stop_system(process) == 0

    assert not Path(f"/proc/{broker_pid}").exists()
    assert not broker.status().running


def test_sigterm_during_start_up_still_stops_everything(tmp_path):
    data_dir = tmp_path / "data"
    broker = LocalBroker.for_bootstrap(data_dir / "kafka", f"127.0.0.1:{STARTUP_KAFKA_PORT}")
    process = subprocess.Popen(
        [TRUYVET, "run", "--port", str(STARTUP_WEB_PORT)], env=system_env(data_dir, STARTUP_KAFKA_PORT),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 60
    while broker.status().pid is None and time.monotonic() < deadline:  # the JVM is starting
        time.sleep(0.05)
    broker_pid = broker.status().pid
    assert broker_pid is not None

    process.send_signal(signal.SIGTERM)

    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Stopped." in output
    assert not Path(f"/proc/{broker_pid}").exists()
