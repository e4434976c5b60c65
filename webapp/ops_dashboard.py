"""The ops dashboard: throughput, consumer lag, rejections, dead letters, silent places, alerts.

``/ops`` is a page without data; ``static/ops.js`` polls ``/ops/data`` (JSON) and draws the
charts with the vendored uPlot, so the page runs no inline script. Ops only, as DESIGN's
"Who may do what" says, and nothing personal: counts, reason codes, place codes and names.
Where each number comes from, and the alerts' thresholds, are in :mod:`webapp.opsdata`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, render_template

from webapp import opsdata
from webapp.i18n import current_language, t
from webapp.opsdata import KafkaActivity, OpsData, Snapshot
from webapp.resources import get_settings, get_warehouse
from webapp.roles import Role, allow

bp = Blueprint("ops_dashboard", __name__)

POLL_SECONDS = 10  # as often as a snapshot is renewed (opsdata.REFRESH_SECONDS)
_EXTENSION = "truyvet_ops_data"


@bp.get("/ops")
@allow(Role.OPS)
def dashboard():
    """Who: ops. The page; its data comes from /ops/data."""
    return render_template("ops/dashboard.html", poll_seconds=POLL_SECONDS, thresholds=_thresholds(), number=_number)


@bp.get("/ops/data")
@allow(Role.OPS)
def data():
    """Who: ops. The latest snapshot as JSON, alert texts in the reader's language."""
    return as_json(_ops_data().snapshot()), 200, {"Cache-Control": "no-store"}


def as_json(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as the page reads it: times in seconds since the epoch (uPlot's x axis)."""
    return {
        "taken_at": _seconds(snapshot.taken_at),
        "minutes": [_seconds(minute) for minute in snapshot.minutes],
        "per_minute": snapshot.per_minute,
        "lag": None if snapshot.lag is None else {"total": snapshot.lag_total, "by_topic": snapshot.lag},
        "rejections_by_reason": snapshot.rejections_by_reason,
        "outbox_pending": snapshot.outbox_pending,
        "silent_places": None if snapshot.silent is None else [{
            "place_code": place.place_id,
            "name": snapshot.place_names[place.place_id].name if place.place_id in snapshot.place_names else None,
            "last_scan": _seconds(place.last_scan),
            "silent_minutes": round(place.silent_for.total_seconds() / 60),
            "usual_gap_minutes": round(place.usual_gap.total_seconds() / 60, 1),
            "scans": place.scans,
        } for place in snapshot.silent],
        "alerts": [{"level": alert.level, "code": alert.code, "text": t(alert.message)}
                   for alert in snapshot.alerts()],
        "thresholds": _thresholds(),
    }


def _ops_data() -> OpsData:
    """The app's one OpsData, made on first use (its readings are shared by every request)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if _EXTENSION not in app.extensions:
        app.extensions.setdefault(_EXTENSION, OpsData(KafkaActivity(get_settings().kafka_servers), get_warehouse))
    return app.extensions[_EXTENSION]


def _thresholds() -> dict[str, float]:
    return {"lag_warning": opsdata.LAG_WARNING, "lag_critical": opsdata.LAG_CRITICAL,
            "rejection_window_minutes": opsdata.REJECTION_WINDOW_MINUTES,
            "rejection_share_warning": opsdata.REJECTION_SHARE_WARNING,
            "rejection_min_count": opsdata.REJECTION_MIN_COUNT,
            "dead_letter_window_minutes": opsdata.DEAD_LETTER_WINDOW_MINUTES,
            "dead_letters_critical": opsdata.DEAD_LETTERS_CRITICAL, "outbox_warning": opsdata.OUTBOX_WARNING}


def _number(count: float) -> str:
    """A count in the reader's language: 10.000 in Vietnamese, 10,000 in English."""
    written = f"{count:,.0f}"
    return written if current_language() == "en" else written.replace(",", ".")


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
