"""Place posters: the sheet put up at a checkpoint or venue, whose QR code opens self check-in."""
from __future__ import annotations

from urllib.parse import quote

import segno
from flask import render_template, request
from markupsafe import Markup

from ingest.errors import Message
from webapp import places
from webapp.checkpoint.blueprint import bp
from webapp.errors import error_response
from webapp.roles import PLACE_ROLES, Role, allow, current_principal

POSTER_QR_MM = 150  # the symbol, quiet zone included, prints at exactly 15 x 15 cm
# A poster hangs for weeks, outdoors, and is scanned from a step away: high error correction
# still leaves modules of 3-4 mm at this size.
POSTER_QR_ERROR = "h"
NOT_YOUR_PLACE = Message("You may print posters only for your own places.",
                         "Bạn chỉ được in áp phích cho địa điểm mình phụ trách.")
NO_SUCH_PLACE = Message("There is no place with this code.", "Không có địa điểm với mã này.")


@bp.get("/dia-diem/<place_code>/poster")
@allow(Role.OFFICER, Role.VENUE_MANAGER, Role.ADMIN)
def poster(place_code: str):
    """Who: officers and venue managers for their own places, admins for any. An A4 sheet to print."""
    principal = current_principal()
    # Checked before existence: officers learn nothing about other places, not even that they exist.
    if principal is None or (principal.role in PLACE_ROLES and place_code not in principal.places):
        return error_response(403, NOT_YOUR_PLACE)
    place = places.get_place(place_code)
    if place is None:
        return error_response(404, NO_SUCH_PLACE)
    ward, province = places.location(place)
    url = check_in_url(place.code)
    return render_template("checkpoint/poster.html", place=place, ward=ward, province=province,
                           kind=places.KIND_NAMES.get(place.kind), check_in_url=url,
                           qr_svg=Markup(poster_qr_svg(url)), qr_mm=POSTER_QR_MM)


def check_in_url(place_code: str) -> str:
    """The absolute address of the place's self check-in page, as this request reached the app.

    Built by hand rather than with ``url_for("checkpoint.check_in", _external=True)``: the
    check-in page is another module's, and the poster must not break while it is missing or
    renamed; the path is the contract. ``url_root`` keeps a mount prefix (SCRIPT_NAME).
    """
    return request.url_root.rstrip("/") + "/check-in/" + quote(place_code, safe="")


def poster_qr_svg(text: str) -> str:
    """An inline SVG whose QR symbol, quiet zone included, is exactly ``POSTER_QR_MM`` wide and high.

    The drawing is in module units (``viewBox``) and the size is set once in millimetres, so the
    printed size is exact rather than the sum of a rounded scale.
    """
    code = segno.make(text, error=POSTER_QR_ERROR, micro=False)
    # A white quiet zone, whatever the paper or screen behind it.
    drawing = code.svg_inline(scale=1, omitsize=True, light="#fff", svgclass="poster-qr-code")
    size = f'width="{POSTER_QR_MM}mm" height="{POSTER_QR_MM}mm" aria-hidden="true" '
    return drawing.replace("<svg ", f"<svg {size}", 1)
