"""The reason form every workspace page asks before it reads (webapp/audit.py keeps the entry).

A page that reads personal data is decorated ``@audited(..., ask=...)``: without a valid reason
it answers 400 with its own form and the message, and nothing is read. The reason travels on
in the links of the page (``reason_query``), so an official states it once per task.
"""
from __future__ import annotations

from typing import Any

from flask import request

from webapp.audit import OTHER, REASONS, given_reason


def reason_choices() -> dict[str, Any]:
    """What ``workspace/_reason.html`` needs: the documented reasons and the one given, split."""
    given = given_reason(request)
    other = given.removeprefix(OTHER) if given.startswith(OTHER) else ""
    return {"reasons": REASONS, "reason_given": OTHER if given.startswith(OTHER) else given, "reason_other": other}


def reason_query() -> dict[str, str]:
    """The reason of this request, for the links the page shows (empty when there is none)."""
    given = given_reason(request)
    return {"reason": given} if given else {}
