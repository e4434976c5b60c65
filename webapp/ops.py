"""Ops: health of the parts the app depends on."""
from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from webapp.resources import get_resources
from webapp.health import OK
from webapp.roles import ANYONE, Role, allow

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@allow(ANYONE)
def healthz():
    """Who: anyone (load balancers, probes). Answers from memory: states only, never error text."""
    health = get_resources().health
    states = health.states()
    healthy = all(state == OK for state in states.values())
    body: dict[str, object] = {"status": "ok" if healthy else "degraded", **states}
    # Events accepted but not yet in Kafka: growing while Kafka is down, drained after.
    pending = health.value("database")
    if pending is not None:
        body["outbox_pending"] = pending
    return body, 200 if healthy else 503


@bp.get("/metrics")
@allow(Role.OPS, Role.ADMIN)
def metrics():
    """This process's counters in Prometheus's text format (refused QR codes by reason, …)."""
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
