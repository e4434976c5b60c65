"""Settings shared by every process, read from ``TRUYVET_*`` environment variables.

This module imports nothing else of the project, so every layer may use it and the CLI alone
sits on top. Nothing reads the environment at import time: callers ask for
``Settings.from_env()`` once, at the edge (the CLI, gunicorn's ``webapp:create_app()``), and
pass the object down.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

PREFIX = "TRUYVET_"
DEFAULT_DATA_DIR = "var"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
# Movement data and personal records: long enough to trace two generations back from a case
# confirmed late (14 days of incubation, days to a test result, F1 exposure before that);
# Singapore's SafeEntry kept 25 days. 0 keeps everything (drills, replays of historical data).
DEFAULT_RETENTION_DAYS = 30
WAREHOUSE_SCHEMES = ("chdb", "http", "https")
_TRUE = ("1", "true", "yes", "on")
# Production refuses a secret key shorter than this, or one anybody could read in the repository.
MIN_SECRET_KEY_LENGTH = 32
MAKE_SECRET_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
# Values from tests, benchmarks and examples (tests/, bench/, README): never a real deployment's.
KNOWN_SECRET_KEYS = frozenset({
    "test", "test-secret", "s3cret", "secret", "bench-secret-key", "dev", "development",
    "changeme", "change-me", "default", "password",
})
# What a placeholder in an example file says instead of a random value.
PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "example", "placeholder", "replace-me",
                     "your-secret", "secret-key", "insecure", "not-secret")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    clickhouse_url: str = ""  # empty: chdb://<data dir>/warehouse
    database_url: str = ""  # empty: sqlite:///<data dir>/truyvet.db
    secret_key: str = ""  # empty: random per process
    # "kid:seed[,kid:seed...]", oldest first; unset: a development key kept in the data dir.
    qr_signing_keys: str | None = None
    qr_token_ttl_hours: int = 72
    retention_days: int = DEFAULT_RETENTION_DAYS
    # A household declaring for several people, a shared office connection: generous per
    # address, strict per ID number.
    declaration_rate_per_ip: str = "60/minute"
    declaration_rate_per_id: str = "10/hour"
    rate_limits: bool = True
    # Per process by default; a shared store (redis://...) when several processes serve.
    ratelimit_storage_uri: str = "memory://"
    # Off only to measure the web stack without Kafka (bench/) and in tests that relay by hand.
    outbox_relay: bool = True
    # Session cookies only over HTTPS (browsers treat http://127.0.0.1 and localhost as secure);
    # off only for plain-HTTP clients on a developer's machine.
    secure_cookies: bool = True
    # A JSON file of contact-rule versions (docs/contact-rules.md); empty: the shipped defaults.
    contact_rules: str = ""
    # How much older than the newest scan at a place a scan may arrive and still be paired by
    # the stream: a day, so paper logs typed in the next morning still count.
    colocation_lateness_hours: int = 24
    # A JSON file of trace rule sets (docs/trace-rules.md); empty: the shipped default set.
    trace_rules: str = ""
    # The most tiers a trace may ask for: F3 by default, as the trace budgets go.
    trace_max_depth: int = 3
    # How often a worker traces its open cases again, alerting contacts that came to light since:
    # a minute, well inside the hour a new F1 should be found in.
    alert_retrace_seconds: int = 60
    # Production mode: every process refuses to start with a missing, example or short secret
    # key, or with secure cookies off (a message says how to make a key).
    production: bool = False
    # How many reverse proxies in front of the web app append to X-Forwarded-For (and set
    # X-Forwarded-Proto): 0 trusts none; the client's address is the one the last of them saw.
    trusted_proxies: int = 0
    # CRUD retention (`truyvet purge`): published outbox rows, and read-audit entries, which
    # must outlive the data they record reads of.
    outbox_retention_days: int = 7
    audit_retention_days: int = 730
    # The bearer token Prometheus scrapes /metrics with; empty: only ops and admins signed in.
    metrics_token: str = ""
    # The port `truyvet worker` serves its Prometheus metrics on (0: none; `truyvet run` serves
    # them with the web app's /metrics).
    metrics_port: int = 0

    def __post_init__(self) -> None:
        data_dir = Path(self.data_dir).resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.clickhouse_url:
            object.__setattr__(self, "clickhouse_url", f"chdb://{data_dir / 'warehouse'}")
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'truyvet.db'}")
        if self.production:
            # Checked as given: below, a missing key is filled with a random one.
            self._check_production()
        if not self.secret_key:
            # A random key keeps a developer's machine safe; production sets it (compose does).
            object.__setattr__(self, "secret_key", secrets.token_urlsafe(32))
        self.validate()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ

        def text(name: str, default: str = "") -> str:
            return env.get(f"{PREFIX}{name}") or default

        return cls(
            data_dir=Path(text("DATA_DIR", DEFAULT_DATA_DIR)),
            kafka_bootstrap=text("KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP),
            clickhouse_url=text("CLICKHOUSE_URL"),
            database_url=text("DATABASE_URL"),
            secret_key=text("SECRET_KEY"),
            qr_signing_keys=text("QR_SIGNING_KEYS") or None,
            qr_token_ttl_hours=_whole_number(env, "QR_TOKEN_TTL_HOURS", 72, minimum=1),
            retention_days=_whole_number(env, "RETENTION_DAYS", DEFAULT_RETENTION_DAYS, minimum=0),
            declaration_rate_per_ip=text("DECLARATION_RATE_PER_IP", "60/minute"),
            declaration_rate_per_id=text("DECLARATION_RATE_PER_ID", "10/hour"),
            rate_limits=_flag(env, "RATE_LIMITS", True),
            ratelimit_storage_uri=text("RATELIMIT_STORAGE_URI", "memory://"),
            outbox_relay=_flag(env, "OUTBOX_RELAY", True),
            secure_cookies=_flag(env, "SECURE_COOKIES", True),
            contact_rules=text("CONTACT_RULES"),
            colocation_lateness_hours=_whole_number(env, "COLOCATION_LATENESS_HOURS", 24, minimum=1),
            trace_rules=text("TRACE_RULES"),
            trace_max_depth=_whole_number(env, "TRACE_MAX_DEPTH", 3, minimum=1),
            alert_retrace_seconds=_whole_number(env, "ALERT_RETRACE_SECONDS", 60, minimum=1),
            production=_flag(env, "PRODUCTION", False),
            trusted_proxies=_whole_number(env, "TRUSTED_PROXIES", 0, minimum=0),
            outbox_retention_days=_whole_number(env, "OUTBOX_RETENTION_DAYS", 7, minimum=1),
            audit_retention_days=_whole_number(env, "AUDIT_RETENTION_DAYS", 730, minimum=1),
            metrics_token=text("METRICS_TOKEN"),
            metrics_port=_whole_number(env, "METRICS_PORT", 0, minimum=0),
        )

    def validate(self) -> None:
        scheme = urlparse(self.clickhouse_url).scheme
        if scheme not in WAREHOUSE_SCHEMES:
            raise SettingsError(
                f"{PREFIX}CLICKHOUSE_URL must start with chdb://, http:// or https://, "
                f"got {self.clickhouse_url!r}"
            )
        if not split_servers(self.kafka_bootstrap):
            raise SettingsError(f"{PREFIX}KAFKA_BOOTSTRAP is empty")
        if self.qr_token_ttl_hours < 1:
            raise SettingsError(f"{PREFIX}QR_TOKEN_TTL_HOURS must be at least 1")
        if self.retention_days < 0:
            raise SettingsError(f"{PREFIX}RETENTION_DAYS must be 0 (keep everything) or more")
        if self.colocation_lateness_hours < 1:
            raise SettingsError(f"{PREFIX}COLOCATION_LATENESS_HOURS must be at least 1")
        if self.trace_max_depth < 1:
            raise SettingsError(f"{PREFIX}TRACE_MAX_DEPTH must be at least 1")
        if self.alert_retrace_seconds < 1:
            raise SettingsError(f"{PREFIX}ALERT_RETRACE_SECONDS must be at least 1")

    def _check_production(self) -> None:
        """Refuse what is fine on a developer's machine but not in front of the public."""
        problem = secret_key_problem(self.secret_key)
        if problem:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY {problem}; production ({PREFIX}PRODUCTION=on) needs a random key "
                f"of at least {MIN_SECRET_KEY_LENGTH} characters, the same in every process. "
                f"Make one with: {MAKE_SECRET_KEY}"
            )
        if not self.secure_cookies:
            raise SettingsError(
                f"{PREFIX}SECURE_COOKIES must be on in production ({PREFIX}PRODUCTION=on): "
                "session cookies go over HTTPS only"
            )

    @property
    def kafka_servers(self) -> list[str]:
        return split_servers(self.kafka_bootstrap)

    @property
    def colocation_lateness(self) -> timedelta:
        return timedelta(hours=self.colocation_lateness_hours)

    @property
    def alert_retrace(self) -> timedelta:
        return timedelta(seconds=self.alert_retrace_seconds)

    @property
    def retention(self) -> timedelta | None:
        """How long movement data and personal records are kept; None keeps them forever."""
        return timedelta(days=self.retention_days) if self.retention_days else None


def split_servers(bootstrap: str) -> list[str]:
    """``"a:9092, b:9092"`` -> ``["a:9092", "b:9092"]``.

    >>> split_servers(" kafka-1:9092,, kafka-2:9092 ")
    ['kafka-1:9092', 'kafka-2:9092']
    """
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def secret_key_problem(key: str) -> str | None:
    """What is wrong with ``key`` as a production secret, or None.

    >>> secret_key_problem("hunter2")
    'is too short (7 characters)'
    >>> secret_key_problem("x" * 40)
    'repeats too few characters to be random'
    >>> secret_key_problem("change-me-to-a-long-random-string-please")
    'is an example value'
    >>> secret_key_problem("Yq3vU5d0l2K8pXoR7sTz1wBnE4cH6gJaMfLiNkVu9eQy") is None
    True
    """
    if not key:
        return "is not set"
    if key.strip().lower() in KNOWN_SECRET_KEYS or any(
            word in key.lower() for word in PLACEHOLDER_WORDS):
        return "is an example value"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"is too short ({len(key)} characters)"
    if len(set(key)) < 8:
        return "repeats too few characters to be random"
    return None


def _whole_number(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(f"{PREFIX}{name}")
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise SettingsError(f"{PREFIX}{name} must be a whole number of at least {minimum}, got {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(f"{PREFIX}{name}")
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingsError(f"{PREFIX}{name} must be on or off, got {raw!r}")
