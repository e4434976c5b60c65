"""Where domain errors become HTTP answers: one place, JSON for the API."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ingest.errors import BrokerUnavailable, InvalidInput
from webapp.declarations import IdempotencyConflict
from webapp.i18n import current_language
from warehouse.errors import WarehouseError

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.register_error_handler(InvalidInput, _invalid_input)
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    app.register_error_handler(WarehouseError, _warehouse_unavailable)
    app.register_error_handler(IdempotencyConflict, _idempotency_conflict)
    app.register_error_handler(HTTPException, _http_error)


def _invalid_input(error: InvalidInput):
    return jsonify(error="invalid input", errors=error.messages(current_language())), 400


def _broker_unavailable(error: BrokerUnavailable):
    return (
        jsonify(error="The event stream is unavailable; nothing was recorded. Please retry shortly."),
        503,
        {"Retry-After": "5"},
    )


def _warehouse_unavailable(error: WarehouseError):
    log.error("warehouse error: %s", error)
    return jsonify(error="The movement warehouse is unavailable. Please retry shortly."), 503


def _idempotency_conflict(error: IdempotencyConflict):
    return jsonify(error=str(error)), 409


def _http_error(error: HTTPException):
    if not request.path.startswith(("/api/", "/healthz")):
        return error  # people get Flask's HTML page (localized pages come with the forms)
    return jsonify(error=error.description), error.code
