"""Declaration rate limits: per ID however it is typed, per person declared, shared by every process.

The in-process tests use the default memory store. The last ones start a throwaway Redis and two
gunicorn processes on it, as production runs (``TRUYVET_RATELIMIT_STORAGE_URI=redis://…``): a
budget spent through one process is spent for the other. (Two apps built in one process would
prove nothing: Flask-Limiter's extension object, and so its store, is shared in a process.)
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import redis
import requests

from tests.conftest import PORT_OFFSET, QR_TEST_KEYS, system_env
from tests.factories import child, declaration
from webapp.extensions import db
from webapp.models import Citizen

REDIS_PORT = 26379 + PORT_OFFSET
WEB_PORTS = (25300 + PORT_OFFSET, 25301 + PORT_OFFSET)
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
STARTUP_TIMEOUT = 60
CCCD, CMND = "001090000001", "012345678"
REGISTERED = dict(full_name="Nguyễn Văn An", date_of_birth="1990-05-17", sex="male")


def register(app) -> None:
    with app.app_context():
        db.session.add(Citizen(citizen_id=CCCD, cmnd=CMND, full_name=REGISTERED["full_name"],
                               date_of_birth=date(1990, 5, 17), sex="male", province_code=1, ward_code=70,
                               phone="0912345678"))
        db.session.commit()


def declare(client, citizen_id: str = CCCD, **changes):
    return client.post("/api/v1/declarations", json=declaration(citizen_id=citizen_id, **{**REGISTERED, **changes}))


# --- one process ------------------------------------------------------------------------------------

def test_an_id_number_has_one_budget_however_it_is_typed(make_app):
    client = make_app(declaration_rate_per_id="2/hour").test_client()

    statuses = [declare(client, typed).status_code for typed in ("001090000001", "001 090000001", "001-090.000 001")]

    assert statuses == [201, 201, 429]
    refused = declare(client, " 001 090 000 001 ")
    assert refused.status_code == 429
    assert refused.json["error"].startswith("Quá nhiều lượt gửi tờ khai cho số giấy tờ này")
    assert int(refused.headers["Retry-After"]) > 0
    assert declare(client, "001090000002").status_code == 201  # another person is not held back


def test_a_cmnd_spends_the_budget_of_the_cccd_it_stands_for(make_app):
    app = make_app(declaration_rate_per_id="2/hour")
    register(app)
    client = app.test_client()

    assert [declare(client, typed).status_code for typed in ("012 345 678", CCCD, CMND)] == [201, 201, 429]


def test_each_person_declared_for_spends_from_their_own_budget(make_app):
    client = make_app(declaration_rate_per_id="2/hour").test_client()
    kid = child()
    family = declaration(dependants=[kid])

    assert [client.post("/api/v1/declarations", json=family).status_code for _ in range(2)] == [201, 201]

    # The child's checks are spent, whoever declared for them.
    alone = {key: kid[key] for key in ("citizen_id", "full_name", "date_of_birth", "sex")}
    assert client.post("/api/v1/declarations", json=declaration(**alone)).status_code == 429
    assert client.post("/api/v1/declarations", json=declaration(dependants=[child(), kid])).status_code == 429
    assert client.post("/api/v1/declarations", json=declaration(citizen_id=family["citizen_id"])).status_code == 429


def test_a_family_spends_one_from_the_address_budget_per_person(make_app):
    client = make_app(declaration_rate_per_ip="5/minute").test_client()
    family = declaration(dependants=[child() for _ in range(4)])

    assert client.post("/api/v1/declarations", json=family).status_code == 201  # five people
    refused = client.post("/api/v1/declarations", json=declaration())
    assert refused.status_code == 429
    assert refused.json["error"].startswith("Quá nhiều lượt gửi tờ khai từ kết nối này")


def test_a_family_larger_than_the_address_budget_is_refused(make_app):
    client = make_app(declaration_rate_per_ip="5/minute").test_client()
    assert client.post("/api/v1/declarations", json=declaration(dependants=[child() for _ in range(5)])
                       ).status_code == 429


def test_rate_limits_can_be_turned_off(make_app):
    client = make_app(rate_limits=False, declaration_rate_per_id="1/hour").test_client()
    assert [declare(client, "001090000003").status_code for _ in range(7)] == [201] * 7


# --- two processes on one Redis -----------------------------------------------------------------------

@pytest.fixture
def redis_url(tmp_path):
    """A throwaway redis-server (Debian's, installed by `make test`), nothing written to disk."""
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: `make debian-packages` installs it"
    process = subprocess.Popen(
        [server, "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None, f"redis-server exited with {process.returncode}"
                assert time.monotonic() < deadline, "redis-server did not answer in 10 s"
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def two_processes(make_app, redis_url, tmp_path):
    """Two gunicorn processes of the web app on one SQLite file and one Redis; their base URLs."""
    app = make_app()  # creates the database the two processes share, with the registry entry
    register(app)
    processes, urls = [], []
    for index, port in enumerate(WEB_PORTS):
        env = system_env(tmp_path / f"web-{index}", kafka_port=1)  # Kafka unreachable: the outbox waits
        env.update(TRUYVET_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                   TRUYVET_RATELIMIT_STORAGE_URI=redis_url, TRUYVET_OUTBOX_RELAY="off",
                   TRUYVET_CLICKHOUSE_URL="http://127.0.0.1:1", TRUYVET_QR_SIGNING_KEYS=QR_TEST_KEYS,
                   TRUYVET_DECLARATION_RATE_PER_ID="6/hour")
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")
        processes.append(subprocess.Popen(
            # No control socket: its default path in $HOME is one for every gunicorn on the machine.
            [GUNICORN, "--workers", "1", "--bind", f"127.0.0.1:{port}", "--no-control-socket",
             "webapp:create_app()"],
            env=env, stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for process, url in zip(processes, urls):
            _wait_until_serving(process, url)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _wait_until_serving(process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"gunicorn at {url} exited with {process.returncode}"
        try:  # the worker boots after the socket is bound: the first answer may take a while
            if requests.get(f"{url}/api/v1/units/provinces/1/wards", timeout=STARTUP_TIMEOUT).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn at {url} did not serve in {STARTUP_TIMEOUT} s")


def post(url: str, citizen_id: str, **changes) -> requests.Response:
    return requests.post(f"{url}/api/v1/declarations", timeout=30,
                         json=declaration(citizen_id=citizen_id, **{**REGISTERED, **changes}))


def test_a_budget_spent_through_one_process_is_spent_for_the_other(two_processes, redis_url):
    first, second = two_processes

    statuses = [post(url, typed).status_code
                for url, typed in zip([first, second] * 3, [CCCD, "001 090 000001", CMND] * 2)]

    assert statuses == [201] * 6  # three through each: six of the hour's six, all verified
    refused = post(first, CCCD)
    assert refused.status_code == 429
    assert refused.json()["error"].startswith("Quá nhiều lượt gửi tờ khai cho số giấy tờ này")
    assert post(second, "001-090-000-001").status_code == 429
    assert redis.Redis.from_url(redis_url).keys("*declare-per-id*")  # the counters live in Redis


def test_unverified_declarations_through_both_processes_add_up(two_processes):
    first, second = two_processes

    statuses = [post(url, CCCD, date_of_birth=f"1990-05-{day:02}").status_code
                for url, day in zip([first, second] * 3, range(1, 7))]

    assert statuses == [201] * 5 + [429]
    refused = post(first, CMND)
    assert refused.status_code == 429
    assert "chưa khớp" in refused.json()["error"]
