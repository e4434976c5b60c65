"""Paper health declarations (tờ khai giấy) typed in by an officer at their place.

The same form and the same validation as the citizen's form, plus the officer's action for the
person at this place. The declaration is stored as a citizen's would be; then the action is
recorded like a station scan (``webapp.stations.record``: the decision and its scan event in one
commit). Both carry the form's idempotency key, so a double submit is one declaration and one
scan. The result page shows the person's QR code for the officer to print and hand over.
"""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import NotFound
from wtforms import RadioField, StringField

from ingest.errors import InvalidInput, Message
from webapp import declarations, metrics, stations
from webapp.checkpoint.blueprint import bp
from webapp.checkpoint.station import ACTION_LABELS, TURN_BACK_REASONS
from webapp.citizen import SESSION_EXPIRED, local_time, qr_card
from webapp.errors import error_response
from webapp.extensions import csrf, db
from webapp.forms import LABELS, DeclarationForm, NotAccepted
from webapp.i18n import t
from webapp.models import CheckpointDecision, Declaration, Place, as_utc
from webapp.places import KIND_NAMES
from webapp.roles import PLACE_ROLES, allow, current_principal

# The station page's buttons for each kind of place; the first is the form's default.
PAPER_ACTIONS = {"checkpoint": ("pass", "turn_back"), "venue": ("in", "out")}
PAPER_LABELS = {"action": Message("Action at this place", "Xử lý tại địa điểm"),
                "reason": Message("Reason for turning back", "Lý do không cho qua")}
ALREADY_SENT = Message(
    "This paper form was already sent with different answers, and that declaration is kept. "
    "The changes are kept below: send again to store them as a new declaration.",
    "Tờ khai giấy này đã được gửi trước đó với nội dung khác, và tờ khai đó vẫn được lưu. "
    "Nội dung vừa sửa được giữ bên dưới: bấm Lưu tờ khai và ghi nhận để lưu thành tờ khai mới.")
DECLARED_NOT_RECORDED = Message(
    "The declaration was stored, but the action at this place was not recorded: correct the marked "
    "answers and send again.",
    "Tờ khai đã được lưu, nhưng chưa ghi nhận được xử lý tại địa điểm: hãy sửa các mục được đánh dấu "
    "rồi gửi lại.")
NO_SUCH_RESULT = Message("There is no paper declaration of yours with this address at this place.",
                         "Không có tờ khai giấy nào do bạn nhập tại địa điểm này với đường dẫn này.")


class PaperForm(DeclarationForm):
    """The citizen's declaration form, and what the officer did with the person."""

    action = RadioField(validate_choice=False)
    reason = StringField()

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        actions = PAPER_ACTIONS.get(kind, stations.ACTIONS)
        self.action.choices = [(code, t(ACTION_LABELS[code])) for code in actions]
        if not self.action.data:
            self.action.data = actions[0]

    def record_body(self) -> dict[str, Any]:
        """The officer's action as ``stations.record`` takes it; the form's key makes it one scan."""
        reason = (self.reason.data or "").strip()
        return {"action": self.action.data, "reason": reason or None,
                "retry_key": self.idempotency_key.data or None}

    def _field_for(self, key: str, rows: list[int]) -> tuple[Any, str]:
        if key in PAPER_LABELS:
            return self[key], t(PAPER_LABELS[key])
        return super()._field_for(key, rows)


@bp.get("/chot/<place_code>/nhap-giay")
@allow(*PLACE_ROLES)
def paper_form(place_code: str):
    """An empty paper declaration for this place, its action preset for the kind of place."""
    place = _own_place(place_code)
    return _page(place, PaperForm(formdata=None, kind=place.kind))


@bp.post("/chot/<place_code>/nhap-giay")
@allow(*PLACE_ROLES)
@csrf.exempt  # checked below, so that an expired page keeps what the officer typed
def paper_declare(place_code: str):
    """Store the declaration, then record the action; on errors, show them all beside their fields."""
    place = _own_place(place_code)
    form = PaperForm(kind=place.kind)
    try:
        csrf.protect()
    except CSRFError:  # nothing was stored: the same key still makes a resend one declaration
        return _page(place, form, notice=t(SESSION_EXPIRED)), 400
    if "reload_wards" in request.form:  # without JavaScript: the province was chosen, list its wards
        return _page(place, form)
    try:
        issued, rows = form.submit(ALREADY_SENT)
    except NotAccepted as refused:
        return _page(place, form, notice=t(refused.notice) if refused.notice else None), refused.status
    main = issued[0].declaration
    try:
        # A CMND-only form has no CCCD unless the registry knows it: record refuses that here.
        scan = stations.record(current_principal(), place, stations.Person(main.citizen_id, main),
                               form.record_body())
    except InvalidInput as error:
        form.show_errors(error, rows)
        return _page(place, form, notice=t(DECLARED_NOT_RECORDED)), 422
    metrics.scans_accepted.labels(metrics.PAPER).inc()
    return redirect(url_for(".paper_result", place_code=place.code, event_id=scan.event_id), 303)


@bp.get("/chot/<place_code>/nhap-giay/<event_id>")
@allow(*PLACE_ROLES)
def paper_result(place_code: str, event_id: str):
    """What was recorded, and the QR code of each person declared, to print for the traveller."""
    place = _own_place(place_code)
    decision = db.session.get(CheckpointDecision, event_id)
    # Only the officer who typed it: the page shows personal QR codes.
    if (decision is None or decision.place_code != place.code or decision.declaration_id is None
            or decision.user_id != current_principal().user_id):
        return error_response(404, NO_SUCH_RESULT)
    main = db.session.get(Declaration, decision.declaration_id)
    if main is None:
        return error_response(404, NO_SUCH_RESULT)
    people = [main, *declarations.dependants_of(main)]
    return render_template(
        "checkpoint/paper_result.html", place=place, decision=decision, people=[qr_card(p, keep_on_device=False) for p in people],
        action=t(ACTION_LABELS[decision.action]) if decision.action in ACTION_LABELS else decision.action,
        decided_at=local_time(as_utc(decision.decided_at)))


def _own_place(place_code: str) -> Place:
    """The place, if it exists (404) and the officer is bound to it (403, as the station page)."""
    place = db.session.get(Place, place_code)
    if place is None or not place.active:
        raise NotFound()
    if place.code not in current_principal().places:
        raise stations.NotYourPlace(place.code)  # the blueprint's handler answers 403
    return place


def _page(place: Place, form: PaperForm, **context: Any) -> str:
    return render_template(
        "checkpoint/paper.html", place=place, form=form, labels=LABELS, paper_labels=PAPER_LABELS,
        kind_label=t(KIND_NAMES[place.kind]) if place.kind in KIND_NAMES else place.kind,
        reasons=[t(reason) for reason in TURN_BACK_REASONS], **context)


