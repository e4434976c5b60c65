"""Health officials: movement and trace queries."""
from __future__ import annotations

from flask import Blueprint, request

from webapp import scans
from webapp.roles import Role, allow

bp = Blueprint("official", __name__)


@bp.get("/api/v1/citizens/<citizen_id>/scans")
@allow(Role.OFFICIAL)
def citizen_scans(citizen_id: str):
    """One person's scans, newest first; ``?limit=`` (1-1000) and ``?before=<next cursor>`` page on.

    Who: anyone today; health officials only once accounts exist (issue 7).
    """
    return scans.scans_of_citizen(citizen_id, request.args.get("limit"), request.args.get("before"))
