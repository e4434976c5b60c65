"""The front door: where a citizen (and, once accounts exist, staff) starts."""
from __future__ import annotations

from flask import Blueprint, render_template
from webapp.roles import ANYONE, allow

bp = Blueprint("home", __name__, template_folder="templates")


@bp.get("/")
@allow(ANYONE)
def index():
    """Who: anyone. Vietnamese first; ?lang=en for English."""
    return render_template("home/index.html")
