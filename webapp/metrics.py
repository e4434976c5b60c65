"""The web app's Prometheus metrics, the hooks that time every request, and ``/metrics``'s body.

Every metric a web process moves is defined here (the worker's are in :mod:`streams.metrics`;
``truyvet run`` hosts both, and its ``/metrics`` shows both). Labels hold no personal data:
a request is labelled by its URL rule (``/api/v1/traces/<citizen_id>``), never its path.

Under gunicorn, each worker process counts on its own: with ``PROMETHEUS_MULTIPROC_DIR`` set
(prometheus_client's own variable, read when it is imported), every process writes its values
into that directory and ``/metrics`` adds them up (``MultiProcessCollector``); gunicorn's
``child_exit`` hook (:mod:`webapp.gunicorn_conf`) retires a dead process's gauges.

The Prometheus scraper signs in with ``Authorization: Bearer <TRUYVET_METRICS_TOKEN>``,
checked by :func:`init_app`'s hook ahead of the sign-in rules (which know staff and stations,
not scrapers); without it ``/metrics`` is for ops and admins, as :mod:`webapp.ops` says.
"""
from __future__ import annotations

import logging
import os
import time

from flask import Flask, Response, g, request, request_finished, request_started
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

from streams.metrics import same_token
from webapp.outbox import pending_count
from webapp.resources import get_settings

log = logging.getLogger(__name__)

METRICS_ENDPOINT = "ops.metrics"
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "unmatched"  # a 404 or 405 before routing: its path may hold anything
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Where a scan was accepted (scans_accepted's "source").
STATION, OFFICER, SELF_CHECK_IN, PAPER, IMPORT = "station", "officer", "self_check_in", "paper", "import"

http_requests = Counter("truyvet_http_requests", "HTTP requests answered, by URL rule, method and status",
                        ["route", "method", "status"])
http_request_seconds = Histogram("truyvet_http_request_seconds", "Time to answer an HTTP request, by URL rule",
                                 ["route", "method"])
declarations_accepted = Counter("truyvet_declarations_accepted",
                                "Health declarations stored with their event (dependants count one each)")
scans_accepted = Counter("truyvet_scans_accepted", "Scans accepted by the web app, by where they came from",
                         ["source"])
outbox_pending = Gauge("truyvet_outbox_pending", "Events committed with their change, not yet acknowledged by Kafka",
                       multiprocess_mode="livemostrecent")


def init_app(app: Flask) -> None:
    """Time and count every request, and admit the scraper's token to ``/metrics``.

    Call it before :func:`webapp.roles.init_app`: a scraper's request is answered here, before
    the sign-in rules would turn its token away.
    """
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
    app.before_request(_admit_scraper)


def exposition() -> Response:
    """The metrics in Prometheus's text format: this process's, or every process's in multiprocess mode."""
    try:
        outbox_pending.set(pending_count())  # read now: the scraper sees the backlog as it is
    except Exception as exc:  # the database may be down: the other metrics are still worth reading
        log.warning("outbox backlog not read for /metrics: %r", exc)
    directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    registry = REGISTRY
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})


def _admit_scraper() -> Response | None:
    """Answer ``/metrics`` for a bearer of the metrics token.

    Any other bearer goes on to the sign-in rules, which answer a station 403 and an unknown
    token 401.
    """
    if request.endpoint != METRICS_ENDPOINT:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and same_token(token.strip(), get_settings().metrics_token):
        return exposition()
    return None


def _started(sender: Flask, **extra) -> None:
    g.request_started_at = time.perf_counter()


def _finished(sender: Flask, response: Response, **extra) -> None:
    started = g.pop("request_started_at", None)
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE
    method = request.method if request.method in METHODS else "other"
    http_requests.labels(route, method, str(response.status_code)).inc()
    if started is not None:
        http_request_seconds.labels(route, method).observe(time.perf_counter() - started)
