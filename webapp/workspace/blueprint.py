"""The officials' workspace's one blueprint, apart from the package so its modules import it
without importing each other."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("workspace", __name__, template_folder="templates")
