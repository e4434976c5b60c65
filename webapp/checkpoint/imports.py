"""Scan logs uploaded by officers: a CSV file of scans at their own places, published to Kafka.

The rules are :mod:`webapp.scanlog_import`'s, shared with ``truyvet import scans``; this page
only limits the file's size, keeps the rows to the officer's places, and says plainly how many
scans Kafka accepted, so that nothing is lost without the officer knowing.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from ingest.errors import Message
from ingest.scanlog import UnreadableScanLog
from webapp import metrics
from webapp.checkpoint.blueprint import bp
from webapp.citizen import SESSION_EXPIRED
from webapp.extensions import csrf, db
from webapp.i18n import t
from webapp.models import Place
from webapp.resources import get_publisher, get_settings
from webapp.roles import PLACE_ROLES, allow, current_principal
from webapp.scanlog_import import import_scan_log, registered_places

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # ~80,000 rows: a long paper book or a device's export
MAX_SHOWN_ERRORS = 500  # a file with every row wrong is fixed from the first few
FILE_FIELD = "scan_log"
NO_FILE = Message("Choose a CSV file first.", "Hãy chọn tệp CSV trước.")
FILE_TOO_LARGE = Message(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: split it into smaller files.",
                         f"Tệp lớn hơn {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: hãy chia thành các tệp nhỏ hơn.")


@bp.get("/chot/nhap-csv")
@allow(*PLACE_ROLES)
def scan_log_form():
    """The upload form, with the file format and the officer's places."""
    return _page()


@bp.post("/chot/nhap-csv")
@allow(*PLACE_ROLES)
@csrf.exempt  # checked below, once the body limit is raised for the file
def upload_scan_log():
    """Check the file, publish its good rows at the officer's places, report row errors and Kafka's answer."""
    request.max_content_length = MAX_UPLOAD_BYTES
    try:
        csrf.protect()
        upload = request.files.get(FILE_FIELD)
    except RequestEntityTooLarge:
        return _page(problem=t(FILE_TOO_LARGE)), 413
    except CSRFError:
        return _page(problem=t(SESSION_EXPIRED)), 400
    if upload is None or not upload.filename:
        return _page(problem=t(NO_FILE)), 400
    check_only = "check_only" in request.form
    settings = get_settings()
    try:
        result = import_scan_log(
            upload.read(), places=registered_places(), allowed_places=current_principal().places,
            publisher=None if check_only else get_publisher(), now=datetime.now(timezone.utc),
            retention=settings.retention)
    except UnreadableScanLog as unreadable:
        return _page(filename=upload.filename, problem=t(unreadable.message)), 422
    metrics.scans_accepted.labels(metrics.IMPORT).inc(result.accepted)
    errors = result.report.errors
    return _page(filename=upload.filename, result=result, check_only=check_only,
                 errors=[(error.line, error.field, t(error.message)) for error in errors[:MAX_SHOWN_ERRORS]],
                 more_errors=max(0, len(errors) - MAX_SHOWN_ERRORS)), 503 if result.not_accepted else 200


def _page(**context: Any) -> str:
    codes = sorted(current_principal().places)
    places = db.session.scalars(select(Place).where(Place.code.in_(codes)).order_by(Place.name)).all()
    return render_template("checkpoint/import.html", places=places, field=FILE_FIELD,
                           max_mb=MAX_UPLOAD_BYTES // (1024 * 1024), **context)
