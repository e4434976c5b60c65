"""Contact follow-up: changing a person's status from a page's form or through the API.

Both check the scope first (404 outside it, as for no one) and store a new status row with who
changed it (webapp/followup.py). ``positive`` also reports the person as a case, whose stream
trace alerts the wards where its contacts live.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import flash, redirect, request, url_for

from ingest.errors import InvalidInput, Message
from ingest.fields import is_plain_text
from webapp.cases import case_json
from webapp.followup import POSITIVE, STATUSES, StatusChanged, change_status, parse_change, parse_change_json
from webapp.i18n import t
from webapp.models import as_utc
from webapp.official import utc_text
from webapp.roles import Role, allow, current_principal
from webapp.scope import person_in_scope
from webapp.workspace.blueprint import bp

FIELD_NAMES = {"status": Message("Status", "Trạng thái"), "case_id": Message("Case id", "Mã ca bệnh"),
               "note": Message("Note", "Ghi chú")}


@bp.post("/truy-vet/nguoi/<citizen_id>/trang-thai")
@allow(Role.OFFICIAL)
def set_status(citizen_id: str):
    """Who: officials. A form's status change (``status``, ``case_id``, ``note``, CSRF token) for a person
    in scope; back to ``next`` (a path of this site, else the person's page) with what happened, 303."""
    person_in_scope(citizen_id)
    back = local_path(request.form.get("next")) or url_for("workspace.person", citizen_id=citizen_id)
    try:
        change = parse_change(request.form)
    except InvalidInput as invalid:
        for field, message in invalid.errors.items():
            flash(f"{t(FIELD_NAMES[field])}: {t(message)}", "error")
        return redirect(back, 303)
    flash(t(what_happened(change_status(citizen_id, change, current_principal().user_id))), "success")
    return redirect(back, 303)


@bp.post("/api/v1/contacts/<citizen_id>/status")
@allow(Role.OFFICIAL)
def contact_status(citizen_id: str):
    """Who: officials. Change the follow-up status of a person in scope: 201 with the new status row."""
    person_in_scope(citizen_id)
    change = parse_change_json(request.get_json(silent=True))
    return status_json(change_status(citizen_id, change, current_principal().user_id)), 201


def status_json(changed: StatusChanged) -> dict[str, Any]:
    """The stored row, who made it, and for ``positive`` the person's case (``new_case``: reported now)."""
    row = changed.follow_up
    return {"id": row.id, "citizen_id": row.citizen_id, "status": row.status, "case_id": row.case_id,
            "note": row.note, "changed_by": row.changer.username, "changed_at": utc_text(as_utc(row.changed_at)),
            "case": case_json(changed.case) if changed.case else None, "new_case": changed.new_case}


def what_happened(changed: StatusChanged) -> Message:
    """What the official reads after a change: the status, and for ``positive`` the case and its alerts."""
    status = STATUSES[changed.follow_up.status]
    done = Message(f"Status set to {status.en}.", f"Đã chuyển trạng thái sang {status.vi}.")
    if changed.follow_up.status != POSITIVE:
        return done
    day = f"{changed.case.case_date:%d/%m/%Y}"
    if changed.new_case:
        return Message(f"{done.en} A case was reported (positive sample of {day}): the wards where its contacts "
                       "live will be alerted.",
                       f"{done.vi} Đã báo cáo ca bệnh (mẫu dương tính ngày {day}): phường, xã nơi những người "
                       "tiếp xúc cư trú sẽ nhận cảnh báo.")
    return Message(f"{done.en} This person's case of {day} was already reported: the wards where its contacts "
                   "live are alerted.",
                   f"{done.vi} Ca bệnh ngày {day} của người này đã được báo cáo trước đó: phường, xã nơi những "
                   "người tiếp xúc cư trú được cảnh báo.")


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None: a form must not send anyone elsewhere.

    >>> local_path("/truy-vet/nguoi/001090000001?reason=case_investigation")
    '/truy-vet/nguoi/001090000001?reason=case_investigation'
    >>> local_path("//evil.example/x"), local_path("https://evil.example/"), local_path("/\\\\evil.example")
    (None, None, None)
    >>> local_path("/\\t/evil.example"), local_path("truy-vet")
    (None, None)
    """
    # Browsers read "/\\host" and "/<tab>/host" as "//host", another site.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if not is_plain_text(target):
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None
