"""Citizens: health declarations (form and API), their personal QR codes, and the keys that verify them."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from werkzeug.exceptions import NotFound, RequestEntityTooLarge, TooManyRequests

from ingest.cardqr import parse_card_qr
from ingest.errors import InvalidCardQr, InvalidInput, Message
from streams.records import VIETNAM_TIME
from ingest.qrtoken import KEY_DOCUMENT_PATH, public_key_document
from ingest.units import province_name, wards
from webapp import declarations, qr
from webapp.cardscan import (NO_PHOTO, PHOTO_TOO_LARGE, TOO_MANY_PHOTOS, UnreadablePhoto, card_json,
                             card_problem, read_card_photo)
from webapp.errors import error_response, http_error
from webapp.extensions import client_address, csrf, limiter
from webapp.forms import (LABELS, MAX_DEPENDANTS, RELATION_LABELS, CardPhotoForm, DeclarationForm,
                          LookupForm, NotAccepted)
from webapp.i18n import t
from webapp.models import Declaration, as_utc
from webapp.resources import get_settings
from webapp.roles import ANYONE, PLACE_ROLES, Role, allow, current_principal

bp = Blueprint("citizen", __name__, template_folder="templates")

MAX_PHOTO_BYTES = 12 * 1024 * 1024  # a full-resolution phone photo; every other body stays small
MAX_CARD_QR_CHARS = 1000
CARD_PHOTO_RATE = "20/minute"  # per address: a person retrying a blurred photo, not a decoding farm
# Who is told which fields differ from the registry: the officers who type paper forms and
# officials. Everyone else hears only whether the declaration was verified.
REGISTRY_DETAIL_ROLES = frozenset({*PLACE_ROLES, Role.OFFICIAL})
ALREADY_SENT = Message(
    "This form was already sent with different answers. Your changes are kept below: "
    "send again to make a new declaration.",
    "Tờ khai này đã được gửi trước đó với nội dung khác. Thông tin bạn vừa sửa vẫn được giữ "
    "bên dưới: bấm Gửi tờ khai để gửi thành tờ khai mới.",
)
DECLARATION_NOT_FOUND = Message(
    "Declaration not found. Check the address, or look your declarations up by ID number and phone.",
    "Không tìm thấy tờ khai. Vui lòng kiểm tra lại đường dẫn, hoặc tra cứu tờ khai bằng số giấy tờ và "
    "số điện thoại.",
)
SESSION_EXPIRED = Message(
    "The page had expired, so nothing was sent. Your answers are kept: please send again.",
    "Trang đã hết hạn nên chưa có gì được gửi. Thông tin bạn nhập vẫn được giữ: vui lòng gửi lại.",
)


def declaration_rate_per_ip() -> str:
    return get_settings().declaration_rate_per_ip


@bp.post("/api/v1/declarations")
@allow(ANYONE)
@csrf.exempt  # no cookies are involved: a JSON client cannot be tricked by another site's form
def api_declare():
    payload = request.get_json(silent=True)
    try:
        declarations.admit(payload, client_address())
    except declarations.OverLimit as refused:
        return error_response(429, refused.message, headers=refused.headers)
    issued, replayed = declarations.submit(payload, request.headers.get("Idempotency-Key"))
    declarations.count_unverified(issued)
    body = issued[0].as_json()
    body["dependants"] = [person.as_json() for person in issued[1:]]
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return body, 201, headers


@bp.get("/khai-bao")
@allow(ANYONE)
def declare_form():
    return _declaration_page(DeclarationForm())


@bp.post("/khai-bao")
@allow(ANYONE)
def declare():
    """Turn the form into the API payload and submit it; on errors, show them all at once."""
    form = DeclarationForm()
    if "reload_wards" in request.form:  # without JavaScript: the province was chosen, list its wards
        return _declaration_page(form)
    try:
        declarations.admit(form.to_payload()[0], client_address())
        issued, _ = form.submit(ALREADY_SENT)
    except declarations.OverLimit as refused:  # what was typed stays on screen, to send again later
        return _declaration_page(form, notice=t(refused.message)), 429, refused.headers
    except NotAccepted as refused:
        return _declaration_page(form, notice=t(refused.notice) if refused.notice else None), refused.status
    declarations.count_unverified(issued)
    return redirect(url_for(".declaration", declaration_id=issued[0].declaration.id), 303)


@bp.post("/khai-bao/quet-the")
@allow(ANYONE)
@csrf.exempt  # checked below, once the body limit is raised for a photo
@limiter.limit(CARD_PHOTO_RATE)  # each photo is decoded on the server: a cost per request
def scan_card_photo():
    """Read the QR code in a photo of the CCCD card, then show the form filled in from it."""
    request.max_content_length = MAX_PHOTO_BYTES
    try:
        csrf.protect()
        photo = request.files.get("photo")
    except RequestEntityTooLarge:
        return _declaration_page(DeclarationForm(formdata=None), card_error=t(PHOTO_TOO_LARGE)), 413
    form = DeclarationForm(formdata=None)
    if photo is None or not photo.filename:
        return _declaration_page(form, card_error=t(NO_PHOTO)), 400
    try:
        form.prefill(read_card_photo(photo.stream))
    except UnreadablePhoto as problem:
        return _declaration_page(form, card_error=t(problem.message)), problem.status
    except InvalidCardQr as problem:
        return _declaration_page(form, card_error=card_problem(problem)), 422
    return _declaration_page(form, notice=t(
        "Filled in from your card. Please check, then complete the rest of the form.",
        "Đã điền thông tin từ thẻ CCCD. Vui lòng kiểm tra lại và khai tiếp các mục còn lại."))


@bp.post("/api/v1/card-qr")
@allow(ANYONE)
@csrf.exempt  # JSON only, and it changes nothing: it reads the text a camera scan gave
def api_card_qr():
    """Read the text of a CCCD card QR (decoded by the browser's camera) into form fields."""
    body = request.get_json(silent=True)
    text = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CARD_QR_CHARS:
        raise InvalidInput({"payload": Message(
            f"must be the text of a card QR code (at most {MAX_CARD_QR_CHARS} characters)",
            f"phải là nội dung mã QR trên thẻ (tối đa {MAX_CARD_QR_CHARS} ký tự)")})
    try:
        return card_json(parse_card_qr(text))
    except InvalidCardQr as problem:
        return {"error": card_problem(problem), "reason": problem.reason}, 422


@bp.get("/khai-bao/<declaration_id>")
@allow(ANYONE)
def declaration(declaration_id: str):
    """What a citizen gets: the verification outcome and a QR code for each person declared."""
    try:
        main = declarations.get(declaration_id)
    except NotFound:
        return error_response(404, DECLARATION_NOT_FOUND)
    people = [main, *declarations.dependants_of(main)]
    return render_template("citizen/result.html", people=[qr_card(person) for person in people])


@bp.route("/tra-cuu", methods=["GET", "POST"])
@allow(ANYONE)
@limiter.limit(declaration_rate_per_ip, methods=["POST"])  # slows guessing phone numbers for an ID
def lookup():
    """"My declarations": the latest QR code and the history, for an ID number and phone."""
    form = LookupForm()
    found: list[Declaration] | None = None
    if request.method == "POST" and form.require_both():
        found = declarations.lookup(*form.criteria())
    # The same answer whether or not the ID number exists: it says nothing about anyone.
    return render_template("citizen/lookup.html", form=form, found=found,
                           latest=qr_card(found[0]) if found else None,
                           history=[_history_row(d) for d in found or []])


@bp.get("/api/v1/units/provinces/<int:province_code>/wards")
@allow(ANYONE)
def api_wards(province_code: int):
    """The wards and communes of one of the 34 provinces, for the residence dropdown."""
    name = province_name(province_code)
    if name is None:
        raise NotFound(f"no province {province_code} among the 34 current provinces")
    body = {"province": {"code": province_code, "name": name},
            "wards": [{"code": code, "name": ward} for code, ward in wards(province_code)]}
    return body, 200, {"Cache-Control": "public, max-age=86400"}


@bp.get("/khai-bao/<declaration_id>/qr.svg")
@allow(ANYONE)
def qr_svg(declaration_id: str):
    declaration = declarations.get(declaration_id)
    return Response(qr.svg(declaration.qr_token), mimetype="image/svg+xml",
                    headers={"Cache-Control": "private, no-store"})


@bp.get("/khai-bao/<declaration_id>/qr.png")
@allow(ANYONE)
def qr_png(declaration_id: str):
    declaration = declarations.get(declaration_id)
    return Response(qr.png(declaration.qr_token), mimetype="image/png", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="truyvet-qr-{declaration_id[:8]}.png"',
    })


@bp.get(KEY_DOCUMENT_PATH)
@allow(ANYONE)
def qr_keys():
    """The public keys that verify personal QR tokens offline (JWK Set, with key ids)."""
    document = public_key_document(qr.get_signer().public_keys())
    return document, 200, {"Cache-Control": "public, max-age=300"}


@bp.errorhandler(TooManyRequests)
def _too_many(error: TooManyRequests):
    """A photo past its rate limit: keep the form on screen and say so beside the photo field."""
    if request.endpoint == "citizen.scan_card_photo":
        return _declaration_page(DeclarationForm(formdata=None), card_error=t(TOO_MANY_PHOTOS)), 429
    return http_error(error)


@bp.errorhandler(CSRFError)
def _csrf_failed(error: CSRFError):
    """An expired or missing token: keep what was typed, ask to send again, record nothing."""
    if request.is_json:  # not a browser's form: there is nothing typed to keep
        return http_error(error)
    if request.endpoint == "citizen.declare":
        # Nothing was stored, so the same idempotency key still guards against a double tap.
        return _declaration_page(DeclarationForm(), notice=t(SESSION_EXPIRED)), 400
    if request.endpoint == "citizen.lookup":
        return render_template("citizen/lookup.html", form=LookupForm(), found=None, latest=None,
                               history=[], notice=t(SESSION_EXPIRED)), 400
    if request.endpoint == "citizen.scan_card_photo":
        return _declaration_page(DeclarationForm(formdata=None), card_error=t(SESSION_EXPIRED)), 400
    return http_error(error)


def _declaration_page(form: DeclarationForm, **context: Any) -> str:
    return render_template(
        "citizen/declare.html", form=form, labels=LABELS, card_form=CardPhotoForm(formdata=None),
        max_dependants=MAX_DEPENDANTS, **context)


def qr_card(person: Declaration, *, keep_on_device: bool = True) -> dict[str, Any]:
    """One person's result: who, how the registry check went, their QR code and its expiry.

    ``keep_on_device`` lets the page store the code on the phone for self check-in: a citizen's
    own pages do; an officer's page showing a traveller's code must not. Which fields differ from
    the registry is shown to staff only (:func:`sees_registry_detail`).
    """
    expires = as_utc(person.qr_expires_at)
    detail = sees_registry_detail()
    return {
        "declaration_id": person.id,
        "full_name": person.full_name,
        "id_hint": "•" * (len(person.id_number) - 4) + person.id_number[-4:],
        "relation": t(RELATION_LABELS[person.relation]) if person.relation in RELATION_LABELS else None,
        "verification": person.verification if detail else declarations.public_verification(person),
        "mismatched": [t(LABELS.get(field, Message(field, field))) for field in person.mismatched_fields]
        if detail else [],
        "qr_svg": Markup(qr.svg(person.qr_token)),  # made here from our own token: safe to inline
        "keep": {"token": person.qr_token, "expires": expires.isoformat(timespec="seconds")}
        if keep_on_device else None,
        "png_url": url_for("citizen.qr_png", declaration_id=person.id),
        "expires_at": local_time(expires),
        "expired": expires <= datetime.now(timezone.utc),
    }


def sees_registry_detail() -> bool:
    """Whether whoever is asking may hear how a declaration differs from the registry."""
    principal = current_principal()
    return principal is not None and principal.role in REGISTRY_DETAIL_ROLES


def _history_row(person: Declaration) -> dict[str, Any]:
    return {"declaration_id": person.id, "declared_at": local_time(as_utc(person.created_at)),
            "full_name": person.full_name, "verification": declarations.public_verification(person)}


def local_time(moment: datetime) -> str:
    local = moment.astimezone(VIETNAM_TIME)
    return f"{local:%H:%M} " + t(f"on {local:%d/%m/%Y}", f"ngày {local:%d/%m/%Y}")
