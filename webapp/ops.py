"""Ops: health of the parts the app depends on."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app
from sqlalchemy import text

from ingest.producer import check_broker
from warehouse.client import ping
from webapp import outbox
from webapp.extensions import db, get_publisher, get_warehouse

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    checks = {
        "kafka": _state(lambda: check_broker(get_publisher().bootstrap)),
        "warehouse": _state(lambda: ping(get_warehouse())),
        "database": _state(lambda: db.session.execute(text("SELECT 1"))),
    }
    healthy = all(state == "ok" for state in checks.values())
    body = {"status": "ok" if healthy else "degraded", **checks}
    if checks["database"] == "ok":
        # Events accepted but not yet in Kafka: growing while Kafka is down, drained after.
        body["outbox_pending"] = outbox.pending_count()
    return body, 200 if healthy else 503


def _state(check: Callable[[], object]) -> str:
    try:
        check()
        return "ok"
    except Exception as exc:  # a health probe reports every failure instead of raising it
        current_app.logger.warning("health check failed: %s", exc)
        return str(exc) or type(exc).__name__
