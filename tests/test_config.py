"""Settings come from TRUYVET_* variables and fail fast with the variable's name."""
from __future__ import annotations


import pytest

from config import Settings, SettingsError


def test_defaults_put_everything_under_the_data_dir(tmp_path):
    settings = Settings.from_env({"TRUYVET_DATA_DIR": str(tmp_path)})
    assert settings.clickhouse_url == f"chdb://{tmp_path}/warehouse"
    assert settings.database_url == f"sqlite:///{tmp_path}/truyvet.db"
    assert settings.kafka_servers == ["127.0.0.1:9092"]


def test_server_urls_are_taken_as_given():
    settings = Settings.from_env({
        "TRUYVET_CLICKHOUSE_URL": "http://clickhouse:8123/truyvet",
        "TRUYVET_DATABASE_URL": "postgresql+psycopg://truyvet@postgres/truyvet",
        "TRUYVET_KAFKA_BOOTSTRAP": "kafka-1:9092, kafka-2:9092",
    })
    assert settings.clickhouse_url == "http://clickhouse:8123/truyvet"
    assert settings.kafka_servers == ["kafka-1:9092", "kafka-2:9092"]


def test_unknown_warehouse_scheme_names_the_variable():
    with pytest.raises(SettingsError, match="TRUYVET_CLICKHOUSE_URL"):
        Settings.from_env({"TRUYVET_CLICKHOUSE_URL": "clickhouse://db:9000"})


def test_without_a_secret_each_process_gets_a_random_one():
    assert Settings.from_env({}).secret_key != Settings.from_env({}).secret_key


def test_qr_key_command_prints_a_usable_signing_key():
    import subprocess

    from ingest.qrtoken import Signer, new_subject_ref, verify
    from tests.conftest import TRUYVET

    printed = subprocess.run([TRUYVET, "qr-key"], capture_output=True, text=True, check=True).stdout.strip()
    signer = Signer.from_setting(printed)
    assert verify(signer.issue(new_subject_ref()), signer.public_keys()).kid == printed.split(":")[0]


def test_token_lifetime_must_be_a_positive_number():
    with pytest.raises(SettingsError, match="TRUYVET_QR_TOKEN_TTL_HOURS"):
        Settings.from_env({"TRUYVET_QR_TOKEN_TTL_HOURS": "0"})
    assert Settings.from_env({"TRUYVET_QR_TOKEN_TTL_HOURS": "24"}).qr_token_ttl_hours == 24



def test_co_location_lateness_is_whole_hours_of_at_least_one():
    with pytest.raises(SettingsError, match="TRUYVET_COLOCATION_LATENESS_HOURS"):
        Settings.from_env({"TRUYVET_COLOCATION_LATENESS_HOURS": "0"})
    settings = Settings.from_env({"TRUYVET_COLOCATION_LATENESS_HOURS": "6", "TRUYVET_CONTACT_RULES": "/etc/rules.json"})
    assert (settings.colocation_lateness.total_seconds(), settings.contact_rules) == (6 * 3600, "/etc/rules.json")


def test_open_cases_are_traced_again_every_minute_unless_told_otherwise():
    assert Settings.from_env({}).alert_retrace.total_seconds() == 60
    assert Settings.from_env({"TRUYVET_ALERT_RETRACE_SECONDS": "5"}).alert_retrace_seconds == 5
    for wrong in ("0", "-1", "1.5", "soon"):
        with pytest.raises(SettingsError, match="TRUYVET_ALERT_RETRACE_SECONDS"):
            Settings.from_env({"TRUYVET_ALERT_RETRACE_SECONDS": wrong})


GOOD_KEY = "Yq3vU5d0l2K8pXoR7sTz1wBnE4cH6gJaMfLiNkVu9eQy"


def test_production_refuses_a_missing_short_or_example_secret_key_and_says_how_to_make_one():
    for weak in ("", "hunter2", "test-secret", "bench-secret-key", "x" * 48,
                 "change-me-to-a-long-random-string-of-characters"):
        with pytest.raises(SettingsError, match="TRUYVET_SECRET_KEY") as refused:
            Settings.from_env({"TRUYVET_PRODUCTION": "on", "TRUYVET_SECRET_KEY": weak})
        assert "python -c 'import secrets; print(secrets.token_urlsafe(48))'" in str(refused.value)


def test_production_refuses_cookies_over_plain_http():
    with pytest.raises(SettingsError, match="TRUYVET_SECURE_COOKIES"):
        Settings.from_env({"TRUYVET_PRODUCTION": "on", "TRUYVET_SECRET_KEY": GOOD_KEY,
                           "TRUYVET_SECURE_COOKIES": "off"})


def test_production_takes_a_long_random_key_and_development_takes_anything():
    production = Settings.from_env({"TRUYVET_PRODUCTION": "on", "TRUYVET_SECRET_KEY": GOOD_KEY})
    assert (production.production, production.secret_key) == (True, GOOD_KEY)
    assert Settings.from_env({"TRUYVET_SECRET_KEY": "test"}).secret_key == "test"


def test_trusted_proxies_is_a_count_of_hops():
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"TRUYVET_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    with pytest.raises(SettingsError, match="TRUYVET_TRUSTED_PROXIES"):
        Settings.from_env({"TRUYVET_TRUSTED_PROXIES": "yes"})
