"""Citizens: health declarations, their personal QR codes, and the public keys that verify them."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from ingest.qrtoken import KEY_DOCUMENT_PATH, public_key_document
from webapp import declarations, qr
from webapp.extensions import csrf, limiter

bp = Blueprint("citizen", __name__, template_folder="templates")


def declaration_rate_per_ip() -> str:
    return current_app.config["DECLARATION_RATE_PER_IP"]


def declaration_rate_per_id() -> str:
    return current_app.config["DECLARATION_RATE_PER_ID"]


def declared_id_number() -> str:
    """Rate-limit key: the ID number being declared for (form or JSON), else the address."""
    body = request.get_json(silent=True) if request.is_json else request.form
    number = (body or {}).get("citizen_id") if hasattr(body, "get") else None
    return f"id:{str(number).strip()[:20]}" if number else f"ip:{request.remote_addr}"


@bp.post("/api/v1/declarations")
@csrf.exempt  # no cookies are involved: a JSON client cannot be tricked by another site's form
@limiter.limit(declaration_rate_per_ip)
@limiter.limit(declaration_rate_per_id, key_func=declared_id_number)
def api_declare():
    issued, replayed = declarations.submit(
        request.get_json(silent=True), request.headers.get("Idempotency-Key")
    )
    body = issued[0].as_json()
    body["dependants"] = [person.as_json() for person in issued[1:]]
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return body, 201, headers


@bp.get("/khai-bao/<declaration_id>/qr.svg")
def qr_svg(declaration_id: str):
    declaration = declarations.get(declaration_id)
    return Response(qr.svg(declaration.qr_token), mimetype="image/svg+xml",
                    headers={"Cache-Control": "private, no-store"})


@bp.get("/khai-bao/<declaration_id>/qr.png")
def qr_png(declaration_id: str):
    declaration = declarations.get(declaration_id)
    return Response(qr.png(declaration.qr_token), mimetype="image/png", headers={
        "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="truyvet-qr-{declaration_id[:8]}.png"',
    })


@bp.get(KEY_DOCUMENT_PATH)
def qr_keys():
    """The public keys that verify personal QR tokens offline (JWK Set, with key ids)."""
    document = public_key_document(qr.get_signer().public_keys())
    return document, 200, {"Cache-Control": "public, max-age=300"}
