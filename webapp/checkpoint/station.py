"""The officer's pages: the places they work at, and the station page of one place.

The station page reads a personal QR code (camera, USB scanner) or a typed ID number, shows the
officer whom the server resolved it to, and posts their decision. Everything it posts goes
through an outbox in the browser (IndexedDB) first, so a bad connection delays actions but never
loses them; ``static/station.js`` holds that logic, this module only renders and labels.
"""
from __future__ import annotations

from typing import Any

from flask import render_template
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from ingest.errors import Message
from ingest.units import provinces
from webapp.checkpoint.api import NOT_YOUR_PLACE
from webapp.checkpoint.blueprint import bp
from webapp.errors import error_response
from webapp.extensions import db
from webapp.forms import LABELS, MEANS_LABELS, SEX_LABELS, SYMPTOM_LABELS
from webapp.i18n import t
from webapp.models import Place
from webapp.places import KIND_NAMES
from webapp.roles import PLACE_ROLES, allow, current_principal

ACTION_LABELS = {
    "pass": Message("Let through", "Cho qua"),
    "turn_back": Message("Turn back", "Không cho qua"),
    "in": Message("In", "Vào"),
    "out": Message("Out", "Ra"),
}
# Offered as one-tap reasons; the officer may type any other.
TURN_BACK_REASONS = (
    Message("No health declaration", "Chưa khai báo y tế"),
    Message("Has symptoms", "Có triệu chứng"),
    Message("Comes from an outbreak area", "Đến từ vùng có dịch"),
    Message("Papers do not match", "Giấy tờ không khớp"),
    Message("No essential reason to travel", "Không có lý do thiết yếu"),
)
# What the page's script says; the labels of the person card are in the template itself.
STATUS_TEXTS = {
    "yes": Message("Yes", "Có"),
    "no": Message("No", "Không"),
    "none": Message("None", "Không có"),
    "verified": Message("Verified against the national population database",
                        "Đã xác thực với CSDL quốc gia về dân cư"),
    "mismatch": Message("Does not match the population database:", "Không khớp CSDL dân cư:"),
    "unknown": Message("Not verified: ask for the ID card", "Chưa xác thực: hãy kiểm tra thẻ CCCD"),
    "born": Message("Born {year}", "Sinh năm {year}"),
    "hours_ago": Message("{hours} h ago", "{hours} giờ trước"),
    "minutes_ago": Message("{minutes} min ago", "{minutes} phút trước"),
    "looking_up": Message("Looking up…", "Đang tra cứu…"),
    "scanned_qr": Message("Personal QR code (not looked up)", "Mã QR cá nhân (chưa tra cứu được)"),
    "typed_id": Message("ID number {id}", "Số giấy tờ {id}"),
    "no_cccd": Message("Only a 12-digit CCCD number can be recorded: ask for the CCCD card.",
                       "Chỉ ghi nhận được bằng số CCCD 12 chữ số: hãy yêu cầu xuất trình thẻ CCCD."),
    "sending": Message("Sending: {action} · {who}", "Đang gửi: {action} · {who}"),
    "recorded": Message("Recorded: {action} · {who}", "Đã ghi nhận: {action} · {who}"),
    "queued": Message("Lost connection: {action} · {who} will be sent when the network is back.",
                      "Mất kết nối: {action} · {who} sẽ được gửi khi có mạng."),
    "failed": Message("Not recorded: {action} · {who}: {error}", "Không ghi nhận được: {action} · {who}: {error}"),
    "event": Message("Event", "Mã sự kiện"),
    "forbidden": Message("You are not assigned to this place.", "Bạn không được phân công tại địa điểm này."),
    "reason_required": Message("Say why the person is turned back.", "Hãy ghi lý do không cho qua."),
    "camera_looking": Message("Point the camera at the QR code.", "Hướng camera vào mã QR."),
    "camera_paused": Message("Code read. Finish with this person to scan the next one.",
                             "Đã đọc mã. Hoàn tất với người này để quét người tiếp theo."),
    "camera_denied": Message("The camera could not be opened: allow camera access, or use the scanner.",
                             "Không mở được camera: hãy cho phép dùng camera, hoặc dùng máy quét."),
}


@bp.get("/chot")
@allow(*PLACE_ROLES)
def stations():
    """The places this officer or venue manager is bound to, each a link to its station page."""
    codes = sorted(current_principal().places)
    places = db.session.scalars(select(Place).where(Place.code.in_(codes)).order_by(Place.name)).all()
    return render_template("checkpoint/stations.html", places=places, kind_labels=KIND_NAMES)


@bp.get("/chot/<place_code>")
@allow(*PLACE_ROLES)
def station(place_code: str):
    """The station page of one place: read a QR code or ID number, see who it is, record the decision."""
    place = db.session.get(Place, place_code)
    if place is None or not place.active:
        return error_response(404)
    principal = current_principal()
    if place.code not in principal.places:
        return error_response(403, NOT_YOUR_PLACE)
    return render_template(
        "checkpoint/station.html", place=place, officer=principal.user_id,
        kind_label=t(KIND_NAMES[place.kind]) if place.kind in KIND_NAMES else place.kind,
        actions={code: t(label) for code, label in ACTION_LABELS.items()},
        reasons=[t(reason) for reason in TURN_BACK_REASONS],
        texts=station_texts(),
    )


@bp.get("/api/v1/checkpoint-csrf-token")
@allow(*PLACE_ROLES)
def station_csrf_token():
    """A fresh CSRF token: a station page stays open all day, longer than a token lives (1 h)."""
    return {"csrf_token": generate_csrf()}, 200, {"Cache-Control": "no-store"}


def station_texts() -> dict[str, Any]:
    """The words the station script puts on screen, in the reader's language."""
    return {
        "actions": {code: t(label) for code, label in ACTION_LABELS.items()},
        "symptoms": {code: t(label) for code, label in SYMPTOM_LABELS.items()},
        "means": {code: t(label) for code, label in MEANS_LABELS.items()},
        "sexes": {code: t(label) for code, label in SEX_LABELS.items()},
        "fields": {name: t(LABELS[name]) for name in ("citizen_id", "full_name", "date_of_birth", "sex")},
        "provinces": {str(code): name for code, name in provinces()},
        **{key: t(message) for key, message in STATUS_TEXTS.items()},
    }
