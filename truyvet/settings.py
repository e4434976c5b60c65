"""Settings shared by every process, read from ``TRUYVET_*`` environment variables.

Nothing reads the environment at import time: callers ask for ``Settings.from_env()``.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

PREFIX = "TRUYVET_"
DEFAULT_DATA_DIR = "var"
DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
WAREHOUSE_SCHEMES = ("chdb", "http", "https")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    kafka_bootstrap: str
    clickhouse_url: str
    database_url: str
    secret_key: str
    # "kid:seed[,kid:seed...]", oldest first; unset: a development key kept in the data dir.
    qr_signing_keys: str | None = None
    qr_token_ttl_hours: int = 72

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        data_dir = Path(env.get(f"{PREFIX}DATA_DIR", DEFAULT_DATA_DIR)).resolve()
        settings = cls(
            data_dir=data_dir,
            kafka_bootstrap=env.get(f"{PREFIX}KAFKA_BOOTSTRAP", DEFAULT_KAFKA_BOOTSTRAP),
            clickhouse_url=env.get(f"{PREFIX}CLICKHOUSE_URL", f"chdb://{data_dir / 'warehouse'}"),
            database_url=env.get(f"{PREFIX}DATABASE_URL", f"sqlite:///{data_dir / 'truyvet.db'}"),
            # A random key keeps a developer's machine safe; production sets it (compose does).
            secret_key=env.get(f"{PREFIX}SECRET_KEY") or secrets.token_urlsafe(32),
            qr_signing_keys=env.get(f"{PREFIX}QR_SIGNING_KEYS") or None,
            qr_token_ttl_hours=_positive_int(env, f"{PREFIX}QR_TOKEN_TTL_HOURS", 72),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        scheme = urlparse(self.clickhouse_url).scheme
        if scheme not in WAREHOUSE_SCHEMES:
            raise SettingsError(
                f"{PREFIX}CLICKHOUSE_URL must start with chdb://, http:// or https://, "
                f"got {self.clickhouse_url!r}"
            )
        if not self.kafka_bootstrap.strip():
            raise SettingsError(f"{PREFIX}KAFKA_BOOTSTRAP is empty")

    @property
    def kafka_servers(self) -> list[str]:
        return split_servers(self.kafka_bootstrap)


def split_servers(bootstrap: str) -> list[str]:
    """``"a:9092, b:9092"`` -> ``["a:9092", "b:9092"]``.

    >>> split_servers(" kafka-1:9092,, kafka-2:9092 ")
    ['kafka-1:9092', 'kafka-2:9092']
    """
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def _positive_int(env, name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise SettingsError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)
