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
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        JSON_SORT_KEYS=False,
    )
    if config:
        app.config.from_mapping(config)

    from webapp import checkpoint, errors, extensions, official, ops

    extensions.init_app(app)
    errors.init_app(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(checkpoint.bp)
    app.register_blueprint(official.bp)
    return app
