"""The Flask web app: citizens' forms, officers' stations, officials' pages, ops endpoints."""
from __future__ import annotations

import atexit

from clickhouse_connect.driver.client import Client
from flask import Flask
from sqlalchemy import event

from config import Settings
from webapp import (auth, cases, checkpoint, citizen, errors, extensions, home, i18n, jsonbody, official,
                    openapi, ops, qr, roles, schema, traces, workspace)
from webapp import audit_page, metrics, ops_dashboard, security
from webapp.resources import Resources

MAX_REQUEST_BYTES = 64 * 1024


class TruyvetApp(Flask):
    """A Flask app that owns its resources (publisher, relay, warehouse client) and closes them."""

    def close(self) -> None:
        self.extensions["truyvet"].close()


def create_app(settings: Settings | None = None, *, warehouse: Client | None = None) -> TruyvetApp:
    """Build the app from ``settings``; without them, from the ``TRUYVET_*`` environment.

    gunicorn calls ``webapp:create_app()``; everything else passes its settings. ``warehouse`` is
    a client the caller owns and shares (``truyvet run``, tests); without it the app opens its
    own on first use and closes it with the app.
    """
    settings = settings or Settings.from_env()
    app = TruyvetApp(__name__)
    # The libraries' own keys, all derived from the one settings object.
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        RATELIMIT_ENABLED=settings.rate_limits,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
    )
    # A database error's log line shows the statement, never the values bound to it (ID
    # numbers, names, phone numbers).
    engine_options: dict[str, object] = {"hide_parameters": True}
    if settings.database_url.startswith("sqlite"):
        # `truyvet run`, `truyvet seed` and gunicorn workers may write at once: wait for the
        # lock instead of failing, and let readers go on while one writes.
        engine_options["connect_args"] = {"timeout": 30}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options
    app.json = jsonbody.StrictJSONProvider(app)
    security.init_app(app, settings)  # headers on every answer, errors too; proxies; masked logs

    extensions.db.init_app(app)
    schema.init_app(app)  # `flask --app webapp db revision …` writes new migrations
    if settings.database_url.startswith("sqlite"):
        with app.app_context():
            event.listen(extensions.db.engine, "connect", _sqlite_pragmas)
    extensions.limiter.init_app(app)
    # Requests timed from the start; the scraper's token is admitted before the sign-in rules.
    metrics.init_app(app)
    # Who may, before whether the form is genuine: a stranger hears 401, not a CSRF error.
    roles.init_app(app)
    extensions.csrf.init_app(app)
    resources = app.extensions["truyvet"] = Resources(app, settings, warehouse)
    i18n.init_app(app)
    qr.init_app(app, settings)
    errors.init_app(app)
    for blueprint in (home.bp, ops.bp, auth.bp, citizen.bp, checkpoint.bp, official.bp, traces.bp, cases.bp,
                      openapi.bp, workspace.bp, ops_dashboard.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(audit_page.bp)  # the read audit's admin page (and its table, in the metadata)
    roles.check_declared(app)
    resources.start()
    atexit.register(app.close)  # gunicorn workers exit through atexit: flush the producer
    return app


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # synchronous stays FULL: an acknowledged declaration must survive a power cut too.
    cursor.close()
