"""The OpenAPI 3.1 description of the JSON API, served as written in ``webapp/openapi.json``.

The document is a file, not generated from the views: it says what clients may rely on, and
``tests/test_webapp/test_openapi.py`` holds it to the app's URL map, roles and answers.
"""
from __future__ import annotations

from functools import cache
from importlib.resources import files

from flask import Blueprint, Response

from webapp.roles import ANYONE, allow

bp = Blueprint("openapi", __name__)

DOCUMENT = "openapi.json"


@cache
def document_bytes() -> bytes:
    """The document as shipped in the package, read once per process."""
    return files("webapp").joinpath(DOCUMENT).read_bytes()


@bp.get("/api/v1/openapi.json")
@allow(ANYONE)  # it describes the API, it holds no data
def openapi():
    return Response(document_bytes(), mimetype="application/json",
                    headers={"Cache-Control": "public, max-age=300"})
