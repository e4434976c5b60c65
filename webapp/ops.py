"""Ops: health of the parts the app depends on."""
from __future__ import annotations

from flask import Blueprint

from webapp.health import OK
from webapp.metrics import exposition
from webapp.resources import get_resources
from webapp.roles import ANYONE, Role, allow, current_principal

bp = Blueprint("ops", __name__)

# Who may read which part is down and how many events wait: the rest learn ok or degraded.
HEALTH_DETAIL_ROLES = (Role.OPS, Role.ADMIN)


@bp.get("/healthz")
@allow(ANYONE)
def healthz():
    """Who: anyone (load balancers, probes) gets the status and its code (200 or 503); signed-in
    ops and admins also get each part's state and the outbox backlog. Answered from memory;
    states only, never error text."""
    health = get_resources().health
    states = health.states()
    healthy = all(state == OK for state in states.values())
    body: dict[str, object] = {"status": "ok" if healthy else "degraded"}
    principal = current_principal()
    if principal is not None and principal.role in HEALTH_DETAIL_ROLES:
        body.update(states)
        # Events accepted but not yet in Kafka: growing while Kafka is down, drained after.
        pending = health.value("database")
        if pending is not None:
            body["outbox_pending"] = pending
    # A signed-in answer must not be kept by a cache and shown to the next caller.
    return body, 200 if healthy else 503, {"Cache-Control": "no-store"}


@bp.get("/metrics")
@allow(Role.OPS, Role.ADMIN)
def metrics():
    """Who: ops and admins; the Prometheus scraper with its bearer token (webapp.metrics admits it).
    The counters in Prometheus's text format: this process's, or all gunicorn workers'."""
    return exposition()
