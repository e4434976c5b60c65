"""The read audit's admin page: ``/admin/nhat-ky`` lists, filters, verifies and exports the log.

The log itself, its hash chain and the one purge path are :mod:`webapp.audit`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context
from sqlalchemy import func, select

from ingest.errors import Message
from streams.records import VIETNAM_TIME
from webapp.audit import CSV_COLUMNS, MAX_TEXT, REASONS, WHATS, AuditEntry, ChainProblem, verify_chain
from webapp.extensions import db
from webapp.models import as_utc
from webapp.roles import Role, allow

bp = Blueprint("audit", __name__)

PAGE_SIZE = 50
FILTERS = ("user", "what", "subject", "from", "to")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BAD_DATE = Message("must be a date as YYYY-MM-DD", "phải là ngày dạng YYYY-MM-DD")
BAD_CHOICE = Message("is not one of the choices", "không nằm trong các lựa chọn")
TOO_LONG = Message(f"may be at most {MAX_TEXT} characters", f"tối đa {MAX_TEXT} ký tự")
BAD_PAGE = Message("must be a page number", "phải là số trang")
DATES_OUT_OF_ORDER = Message("must not be before the start date", "không được trước ngày bắt đầu")


@bp.get("/admin/nhat-ky")
@allow(Role.ADMIN)
def log_page():
    """Who: admins. The read audit, newest first, filtered (``user``, ``what``, ``subject``, ``from``,
    ``to`` as Vietnam dates), paged, with the chain's state; ``?format=csv`` exports the filtered entries."""
    conditions, errors = _filters(request.args)
    if request.args.get("format") == "csv" and not errors:
        return _csv_download(conditions)
    problems = verify_chain()
    query = {name: request.args[name] for name in FILTERS if request.args.get(name)}
    head = db.session.execute(select(AuditEntry.id, AuditEntry.entry_hash)
                              .order_by(AuditEntry.id.desc()).limit(1)).first()
    context: dict[str, Any] = dict(filters=request.args, query=query, errors=errors, whats=WHATS, reasons=REASONS,
                                   problems=problems, head=head, when=_local_time, entries=[], total=0, pages=1,
                                   page=1, failing={})
    if not errors:
        total = db.session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(int(request.args.get("page") or 1), pages)
        entries = db.session.scalars(select(AuditEntry).where(*conditions).order_by(AuditEntry.id.desc())
                                     .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        failing: dict[int, list[ChainProblem]] = {}
        for problem in problems:
            failing.setdefault(problem.entry_id, []).append(problem)
        context |= dict(entries=entries, total=total, pages=pages, page=page, failing=failing)
    return render_template("admin/nhat_ky.html", **context), 400 if errors else 200


def _filters(args: Mapping[str, str]) -> tuple[list[Any], dict[str, Message]]:
    """SQL conditions for the filters given, or a message per bad field."""
    conditions: list[Any] = []
    errors: dict[str, Message] = {}
    for name, column in (("user", AuditEntry.username), ("subject", AuditEntry.subject)):
        if args.get(name):
            if len(args[name]) > MAX_TEXT:
                errors[name] = TOO_LONG
            conditions.append(column == args[name].strip())
    if args.get("what"):
        if args["what"] not in WHATS:
            errors["what"] = BAD_CHOICE
        conditions.append(AuditEntry.what == args["what"])
    first, last = _day(args, "from", errors), _day(args, "to", errors)
    if first:
        conditions.append(AuditEntry.at >= _utc_midnight(first))
    if last:
        conditions.append(AuditEntry.at < _utc_midnight(last + timedelta(days=1)))
    if first and last and last < first:
        errors["to"] = DATES_OUT_OF_ORDER
    page = args.get("page")
    if page and not (page.isascii() and page.isdigit() and 1 <= int(page) <= 10**6):
        errors["page"] = BAD_PAGE
    if args.get("format") not in (None, "", "html", "csv"):
        errors["format"] = BAD_CHOICE
    return conditions, errors


def _day(args: Mapping[str, str], name: str, errors: dict[str, Message]) -> date | None:
    if not args.get(name):
        return None
    try:
        if ISO_DATE.fullmatch(args[name]):
            return date.fromisoformat(args[name])
    except ValueError:
        pass
    errors[name] = BAD_DATE
    return None


def _local_time(moment: datetime) -> str:
    return as_utc(moment).astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M:%S")


def _utc_midnight(day: date) -> datetime:
    """The start of a Vietnam day, in UTC (how times are stored, naive on SQLite)."""
    return datetime.combine(day, time(0), VIETNAM_TIME).astimezone(timezone.utc)


def _csv_download(conditions: list[Any]) -> Response:
    """The filtered entries, oldest first, columns CSV_COLUMNS; streamed, so the log may be long."""
    query = select(AuditEntry.__table__).where(*conditions).order_by(AuditEntry.id)

    def lines() -> Iterator[str]:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for row in db.session.execute(query.execution_options(yield_per=1000)).mappings():
            writer.writerow([_cell(row, name) for name in CSV_COLUMNS])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%MZ")
    return Response(stream_with_context(lines()), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="nhat-ky-doc-{stamp}.csv"', "Cache-Control": "private, no-store"})


def _cell(row: Mapping[str, Any], name: str) -> str:
    """A CSV cell: times in UTC as hashed, detail as canonical JSON; a would-be formula gets a ``'``."""
    value = row[name]
    if name == "at":
        return as_utc(value).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if name == "detail":
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text_value = "" if value is None else str(value)
    return "'" + text_value if text_value.startswith(("=", "+", "-", "@", "\t", "\r")) else text_value
