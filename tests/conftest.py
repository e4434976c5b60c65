"""Shared fixtures: one real Kafka broker and one `truyvet run` system per test session.

Tests use their own ports and a temporary data directory, so they never touch a developer's
running system on 9092/5000.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from config import Settings
from truyvet.broker import LocalBroker

# Below Linux's ephemeral range (32768-60999), so no client connection holds them. Two test
# runs on one machine (two checkouts, a developer and CI) set different offsets.
PORT_OFFSET = int(os.environ.get("TRUYVET_TEST_PORT_OFFSET", "0"))
SYSTEM_KAFKA_PORT = 29092 + PORT_OFFSET
SYSTEM_WEB_PORT = 25000 + PORT_OFFSET
SPARE_KAFKA_PORT = 29192 + PORT_OFFSET
OUTAGE_KAFKA_PORT = 29392 + PORT_OFFSET
LIFECYCLE_KAFKA_PORT = 29292 + PORT_OFFSET
LIFECYCLE_WEB_PORT = 25100 + PORT_OFFSET
STARTUP_KAFKA_PORT = 29492 + PORT_OFFSET
STARTUP_WEB_PORT = 25200 + PORT_OFFSET
POSTGRES_PORT = 25432 + PORT_OFFSET
STARTUP_TIMEOUT = 120
# Two keys, oldest first, as after a rotation; tokens are signed with the second.
QR_TEST_KEYS = "old:" + "A" * 43 + ",new:" + "B" * 43
TRUYVET = str(Path(sys.executable).with_name("truyvet"))


def random_cccd() -> str:
    """A possible CCCD number (born in Hồ Chí Minh City, 1900s) that no other test uses.

    Tests share the warehouse; the stream's verify step rejects numbers that encode a birth
    year in the future, so the century digit is 0 or 1.
    """
    return "079" + random.choice("01") + "".join(random.choices("0123456789", k=8))


def system_env(data_dir: Path, kafka_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUYVET_")}
    env.update(
        TRUYVET_DATA_DIR=str(data_dir),
        TRUYVET_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
        TRUYVET_SECRET_KEY="test-secret",
        # The tests' HTTP client (requests) keeps Secure cookies off plain http://127.0.0.1;
        # browsers treat that address as secure, and test_auth checks the flag in-process.
        TRUYVET_SECURE_COOKIES="off",
    )
    return env


def start_system(data_dir: Path, kafka_port: int, web_port: int) -> subprocess.Popen:
    """Launch `truyvet run` and wait until /healthz reports everything up."""
    log = open(data_dir.parent / f"truyvet-run-{web_port}.log", "wb")
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [TRUYVET, "run", "--port", str(web_port)],
        env=system_env(data_dir, kafka_port),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"truyvet run exited with {process.returncode}; see {log.name}")
        try:
            health = requests.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5)
            if health.status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    stop_system(process)
    raise RuntimeError(f"truyvet run did not become healthy in {STARTUP_TIMEOUT}s; see {log.name}")


def stop_system(process: subprocess.Popen, timeout: float = 60) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("truyvet")


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL cluster for the session: the database production runs on."""
    from truyvet.localpg import LocalPostgres

    cluster = LocalPostgres(POSTGRES_PORT)
    url = cluster.start()
    yield url
    cluster.stop()


@pytest.fixture(scope="session")
def warehouse_url(session_dir) -> str:
    """The test process's embedded warehouse: chDB allows one directory per process."""
    return f"chdb://{session_dir / 'warehouse'}"


def run_cli(data_dir: Path, kafka_port: int, *args: str) -> str:
    """Run a `truyvet` command against a system's data directory; return what it printed."""
    result = subprocess.run([TRUYVET, *args], env=system_env(data_dir, kafka_port),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def system(session_dir):
    """The whole local system (`truyvet run`), owning its own broker, for the session.

    ``station_headers(place)`` gives a station device's Authorization header at a place it
    registers on first use; ``official`` is a requests session signed in as a health official.
    """
    data_dir = session_dir / "system"
    process = start_system(data_dir, SYSTEM_KAFKA_PORT, SYSTEM_WEB_PORT)
    url = f"http://127.0.0.1:{SYSTEM_WEB_PORT}"
    stations: dict[str, dict[str, str]] = {}

    def station_headers(place_code: str = "CP-HN-01") -> dict[str, str]:
        if place_code not in stations:
            run_cli(data_dir, SYSTEM_KAFKA_PORT, "place", "add", place_code, "--kind", "checkpoint",
                    "--name", f"Chốt {place_code}", "--province", "1")
            issued = run_cli(data_dir, SYSTEM_KAFKA_PORT, "station", "add", place_code, "--label", "test")
            stations[place_code] = {"Authorization": f"Bearer {issued.split(': ')[-1].strip()}"}
        return stations[place_code]

    run_cli(data_dir, SYSTEM_KAFKA_PORT, "user", "add", "bs-tra-cuu", "--role", "official",
            "--full-name", "Bác sĩ Tra Cứu", "--area", "1", "--password", "mat-khau-du-dai-2026")
    run_cli(data_dir, SYSTEM_KAFKA_PORT, "user", "add", "van-hanh", "--role", "ops",
            "--full-name", "Vận Hành", "--password", "mat-khau-du-dai-2026")
    yield {
        "url": url,
        "data_dir": data_dir,
        "broker": LocalBroker.for_bootstrap(data_dir / "kafka", f"127.0.0.1:{SYSTEM_KAFKA_PORT}"),
        "process": process,
        "station_headers": station_headers,
        "official": signed_in_official(url, "bs-tra-cuu", "mat-khau-du-dai-2026"),
        "ops": signed_in_ops(url, "van-hanh", "mat-khau-du-dai-2026"),
    }
    stop_system(process)


def signed_in_ops(url: str, username: str, password: str) -> requests.Session:
    """Sign in through the pages as ops (a password, no second factor)."""
    import re

    session = requests.Session()
    page = session.get(f"{url}/dang-nhap", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(f"{url}/dang-nhap", data={"username": username, "password": password, "csrf_token": token},
                          timeout=10)
    assert answer.ok, answer.text
    return session


def signed_in_official(url: str, username: str, password: str) -> requests.Session:
    """Sign in through the pages like a browser, enrolling the second factor on the way."""
    import re

    import pyotp

    session = requests.Session()

    def token(path: str) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(url + path, timeout=10).text).group(1)

    session.post(f"{url}/dang-nhap", data={"username": username, "password": password,
                                           "csrf_token": token("/dang-nhap")}, timeout=10)
    page = session.get(f"{url}/dang-nhap/ma-xac-thuc", timeout=10).text
    secret = re.search(r"<code data-secret>([A-Z2-7]+)</code>", page).group(1)
    answer = session.post(f"{url}/dang-nhap/ma-xac-thuc", data={
        "code": pyotp.TOTP(secret).now(), "csrf_token": token("/dang-nhap/ma-xac-thuc")}, timeout=10)
    assert answer.ok, answer.text
    return session


@pytest.fixture(scope="session")
def warehouse(warehouse_url):
    """The session warehouse client, migrated; apps and agents under test share it."""
    from warehouse.client import connect
    from warehouse.migrate import apply_migrations

    client = connect(warehouse_url)
    apply_migrations(client)
    yield client
    client.close()


def settings_for_tests(data_dir: Path, warehouse_url: str, **changes) -> Settings:
    """Settings for an in-process app or stream app: never read from the environment."""
    defaults = dict(
        data_dir=data_dir,
        kafka_bootstrap="127.0.0.1:1",  # unreachable unless a test says otherwise
        clickhouse_url=warehouse_url,
        database_url=f"sqlite:///{data_dir / 'test.db'}",
        secret_key="test",
        qr_signing_keys=QR_TEST_KEYS,
        outbox_relay=False,  # tests relay by hand, or turn it on
    )
    return Settings(**{**defaults, **changes})


@pytest.fixture
def make_app(warehouse, warehouse_url, tmp_path):
    """Build in-process apps on the session warehouse; ``changes`` are :class:`Settings` fields."""
    from webapp import create_app
    from webapp.extensions import db

    apps = []

    def build(**changes):
        app = create_app(settings_for_tests(tmp_path, warehouse_url, **changes), warehouse=warehouse)
        app.testing = True
        with app.app_context():
            db.create_all()
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def station_client(app):
    """A test client that is a station device at CP-HN-01 (bearer token on every request)."""
    from tests.staff import station_headers

    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    return client


@pytest.fixture
def official_client(app):
    """A test client signed in as a health official (password and second factor)."""
    from tests.staff import add_staff, sign_in

    client = app.test_client()
    sign_in(client, add_staff(app, "official"))
    return client


# Brokers of the stream-worker tests (tests/test_streams/test_workers.py): each test starts its
# own, so workers of one test never see another's events or consumer group.
ONE_WORKER_KAFKA_PORT = 29592 + PORT_OFFSET
TWO_WORKERS_KAFKA_PORT = 29692 + PORT_OFFSET
KILLED_WORKER_KAFKA_PORT = 29792 + PORT_OFFSET
# The broker of the exposure-alerts system test (tests/test_truyvet/test_alerts_pipeline.py).
CASES_KAFKA_PORT = 29892 + PORT_OFFSET
