"""Resources the app holds, each with a lazy accessor in the shape of flaskr's ``get_db()``."""
from __future__ import annotations

from clickhouse_connect.driver.client import Client
from flask import Flask, current_app
from flask_sqlalchemy import SQLAlchemy
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from ingest.producer import EventPublisher
from warehouse.client import get_client


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
limiter = Limiter(get_remote_address)


def init_app(app: Flask) -> None:
    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    app.extensions["truyvet.publisher"] = EventPublisher(
        [server.strip() for server in app.config["KAFKA_BOOTSTRAP"].split(",") if server.strip()]
    )


def get_publisher() -> EventPublisher:
    return current_app.extensions["truyvet.publisher"]


def get_warehouse() -> Client:
    """The process's warehouse client (shared with a worker in the same process)."""
    return get_client(current_app.config["CLICKHOUSE_URL"])
