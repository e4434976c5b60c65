"""Health officials: movement and trace queries."""
from __future__ import annotations

from flask import Blueprint

from webapp import scans

bp = Blueprint("official", __name__)


@bp.get("/api/v1/citizens/<citizen_id>/scans")
def citizen_scans(citizen_id: str):
    rows = scans.scans_of_citizen(citizen_id)
    return {
        "citizen_id": citizen_id,
        "scans": [
            {
                "event_id": scan["event_id"],
                "place_id": scan["place_id"],
                "ts": scan["ts"].isoformat() + "Z",
                "direction": scan["direction"],
            }
            for scan in rows
        ],
    }
