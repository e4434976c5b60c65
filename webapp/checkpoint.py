"""Checkpoint and venue officers: scans submitted by their stations."""
from __future__ import annotations

from flask import Blueprint, request

from webapp import scans
from webapp.extensions import csrf

bp = Blueprint("checkpoint", __name__)


@bp.post("/api/v1/scans")
@csrf.exempt  # a device API without cookies; authenticated by station tokens once accounts exist
def post_scan():
    """Who: station devices (anyone until station tokens exist, issue 7)."""
    scan = scans.submit_scan(request.get_json(silent=True))
    return {"event_id": scan.event_id, "status": "accepted"}, 202
