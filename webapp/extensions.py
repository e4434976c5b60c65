"""Resources the app holds, each with a lazy accessor in the shape of flaskr's ``get_db()``."""
from __future__ import annotations

from clickhouse_connect.driver.client import Client
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase

from ingest.producer import EventPublisher
from truyvet.settings import split_servers
from warehouse.client import get_client


class Base(DeclarativeBase):
    pass


# Rows just committed are answered from memory: re-reading each one after the commit cost a
# SELECT per declaration (bench/declarations.py).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
limiter = Limiter(get_remote_address)


def init_app(app: Flask) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # `truyvet run`, `truyvet seed` and gunicorn workers may write at once: wait for the
        # lock instead of failing, and let readers go on while one writes.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {"timeout": 30})
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)
    csrf.init_app(app)
    limiter.init_app(app)
    app.extensions["truyvet.publisher"] = EventPublisher(split_servers(app.config["KAFKA_BOOTSTRAP"]))


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # synchronous stays FULL: an acknowledged declaration must survive a power cut too.
    cursor.close()


def get_publisher() -> EventPublisher:
    return current_app.extensions["truyvet.publisher"]


def get_warehouse() -> Client:
    """The process's warehouse client (shared with a worker in the same process)."""
    return get_client(current_app.config["CLICKHOUSE_URL"])
