"""The Flask web app: citizens' forms, officers' stations, officials' pages, ops endpoints."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from truyvet.settings import Settings

MAX_REQUEST_BYTES = 64 * 1024


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``TRUYVET_*`` environment, then ``config`` (tests)."""
    app = Flask(__name__)
    settings = Settings.from_env()
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        CLICKHOUSE_URL=settings.clickhouse_url,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        DATA_DIR=str(settings.data_dir),
        QR_SIGNING_KEYS=settings.qr_signing_keys,
        QR_TOKEN_TTL_HOURS=settings.qr_token_ttl_hours,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        # A household declaring for several people, a shared office connection: generous per
        # address, strict per ID number. Memory storage is per process; set a shared store
        # (e.g. redis://) with RATELIMIT_STORAGE_URI when several processes serve.
        DECLARATION_RATE_PER_IP="60/minute",
        DECLARATION_RATE_PER_ID="10/hour",
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        # Off only to measure the web stack without Kafka (bench/) and in tests that relay by hand.
        OUTBOX_RELAY=True,
    )
    if config:
        app.config.from_mapping(config)

    from webapp import checkpoint, citizen, errors, extensions, i18n, official, ops, outbox, qr

    extensions.init_app(app)
    i18n.init_app(app)
    outbox.init_app(app)
    qr.init_app(app)
    errors.init_app(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(citizen.bp)
    app.register_blueprint(checkpoint.bp)
    app.register_blueprint(official.bp)
    return app
