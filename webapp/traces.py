"""Health officials: a case's trace, F1 to Fn, as JSON or as an export other tools read.

``GET /api/v1/traces/<citizen_id>?depth=&since=&until=&rules=&format=``:
- ``since``: when the case became infectious (default: 14 days before ``until``); ``until``:
  the end of the trace, such as the case's isolation (default: now); at most MAX_TRACE_WINDOW;
- ``depth``: tiers, 1 to ``TRUYVET_TRACE_MAX_DEPTH`` (default 2, or the maximum if lower);
- ``rules``: a trace rule set by name (``TRUYVET_TRACE_RULES``; default: the file's default);
- ``format``: ``json`` (default), ``graphml``, ``csv``, or ``godata`` (a zip of the CSV files
  WHO's Go.Data imports).
People are described by their registry ward and province only (where alerts go); the Go.Data
export adds what its import needs to create a contact (name, sex, age in years, phone). The case
must live in the official's scope (404 otherwise); people living outside it appear under a
pseudonym with what their alert needs only (webapp/scope.py), in every format.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, request

from ingest.errors import InvalidInput, Message
from tracing import export, godata
from tracing.errors import UnknownRuleSet
from tracing.rules import TraceRules
from warehouse.errors import TooMuchToRead
from warehouse.traces import trace_case
from webapp.audit import audited, trace_or_export
from webapp.extensions import db
from webapp.models import Citizen
from webapp.official import window_arg
from webapp.resources import get_resources, get_warehouse
from webapp.roles import Role, allow
from webapp.scope import person_in_scope, redact_trace

bp = Blueprint("traces", __name__)

DEFAULT_PERIOD = timedelta(days=14)
MAX_TRACE_WINDOW = timedelta(days=31)
DEFAULT_DEPTH = 2
FORMATS = ("json", "graphml", "csv", "godata")
# Who met whom is kept by no cache between the official and the app.
NOT_KEPT = "private, no-store"

UNKNOWN_CASE = "no one with this citizen id is in the registry"
WINDOW_TOO_LONG = Message(f"a trace may span at most {MAX_TRACE_WINDOW.days} days",
                          f"khoảng truy vết tối đa {MAX_TRACE_WINDOW.days} ngày")
TOO_MUCH = Message("the trace reads more records than one answer may carry: trace a shorter period or fewer tiers",
                   "truy vết này đọc quá nhiều bản ghi cho một lần trả lời: hãy chọn khoảng ngắn hơn hoặc ít tầng hơn")
FORMAT_UNKNOWN = Message(f"must be one of {', '.join(FORMATS)}", f"phải là một trong {', '.join(FORMATS)}")


@bp.get("/api/v1/traces/<citizen_id>")
@allow(Role.OFFICIAL)
@audited(trace_or_export, "citizen_id", ("depth", "since", "until", "rules", "format"))  # reason first
def case_trace(citizen_id: str):
    """The trace of ``citizen_id`` (see the module docstring for the parameters)."""
    case = person_in_scope(citizen_id, UNKNOWN_CASE)
    depth, since, until, rules, kind = trace_arguments(request.args)
    try:
        graph = trace_case(get_warehouse(), case.citizen_id, since, until, depth, rules)
    except TooMuchToRead:
        raise InvalidInput({"since": TOO_MUCH}) from None
    graph, people = redact_trace(graph, people_of(graph.nodes, with_identity=kind == "godata"))
    if kind == "graphml":
        return _download(export.graph_graphml(graph, people), "application/graphml+xml", case, "graphml")
    if kind == "csv":
        return _download(export.graph_csv(graph, people), "text/csv; charset=utf-8", case, "csv")
    if kind == "godata":
        return _download(godata.godata_zip(graph, people), "application/zip", case, "godata.zip")
    return export.graph_json(graph, people), {"Cache-Control": NOT_KEPT}


def trace_arguments(args: Mapping[str, str]) -> tuple[int, datetime, datetime, TraceRules, str]:
    """Depth, window, rule set and format asked for, or InvalidInput naming each bad field."""
    errors: dict[str, Message] = {}
    max_depth = get_resources().settings.trace_max_depth
    depth = _depth(args.get("depth"), max_depth, errors)
    try:
        rules = get_resources().trace_rules.choose(args.get("rules") or None)
    except UnknownRuleSet as exc:
        errors["rules"] = Message(str(exc), f"không có bộ quy tắc này: {exc}")
    kind = args.get("format", "json")
    if kind not in FORMATS:
        errors["format"] = FORMAT_UNKNOWN
    since, until = window_arg(args, DEFAULT_PERIOD, MAX_TRACE_WINDOW, WINDOW_TOO_LONG, errors)
    return depth, since, until, rules, kind


def _depth(value: str | None, most: int, errors: dict[str, Message]) -> int:
    if value is None:
        return min(DEFAULT_DEPTH, most)
    if value.isascii() and value.isdigit() and 1 <= int(value) <= most:
        return int(value)
    errors["depth"] = Message(f"must be a whole number from 1 to {most}", f"phải là số nguyên từ 1 đến {most}")
    return 0


def people_of(citizens: Iterable[str], with_identity: bool) -> dict[str, dict[str, Any]]:
    """What the registry says of the traced people: where they live, and for Go.Data who they are."""
    ids = list(citizens)
    found = db.session.scalars(db.select(Citizen).where(Citizen.citizen_id.in_(ids))).all() if ids else []
    people = {}
    for person in found:
        described: dict[str, Any] = {"province_code": person.province_code, "ward_code": person.ward_code}
        if with_identity:
            described |= {"full_name": person.full_name, "sex": person.sex,
                          "date_of_birth": person.date_of_birth.isoformat(), "phone": person.phone}
        people[person.citizen_id] = described
    return people


def _download(body: str | bytes, mimetype: str, case: Citizen, suffix: str) -> Response:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%MZ")
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="trace-{case.citizen_id}-{stamp}.{suffix}"',
        "Cache-Control": NOT_KEPT,
    })

