"""The read audit: who looked at whose data, when, what and why; append-only and hash-chained.

Every read of personal data by an official (a person's movements, a trace, an export, a place's
presences...) leaves one :class:`AuditEntry`. The reason is required and comes first
(:func:`reason_from`): without one the request is a 400 and nothing is read.

Each entry stores ``previous_hash`` (the ``entry_hash`` of the entry before it; 64 zeros for
the first) and ``entry_hash``, the SHA-256 of the canonical JSON of its fields and that previous
hash (:func:`entry_hash`). Entries are numbered 1, 2, 3... with no gaps. :func:`verify_chain`
finds an entry changed after it was written, removed, inserted or moved. A chain cannot show
that its newest entries were cut off, nor a rewrite of everything from some entry on: keep the
head hash the admin page shows somewhere else now and then.

Append-only: this module has no update path and one delete path; the ORM refuses to flush a
change or a deletion, or to run an UPDATE / DELETE statement on the table; and the database
refuses them too, with triggers created with the table (SQLite ``RAISE(ABORT)``, PostgreSQL a
trigger function, also for TRUNCATE). The one way out is retention (:func:`purge_entries`): the
oldest entries, all past retention, go together, after their cut was recorded as a
:class:`ChainAnchor` (append-only too), and the triggers let a DELETE through only for entries
an anchor covers. :func:`verify_chain` then verifies from the newest anchor.
"""
from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from flask import Request, request
from sqlalchemy import DDL, JSON, DateTime, Integer, String, delete, event, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.exceptions import NotFound

from ingest.errors import InvalidInput, Message
from webapp.extensions import db
from webapp.models import User, as_utc
from webapp.roles import Principal, current_principal

GENESIS_HASH = "0" * 64
REASON_HEADER = "X-Truyvet-Reason"
OTHER = "other:"
OTHER_LENGTH = (5, 200)
REASONS: dict[str, Message] = {
    "case_investigation": Message("Case investigation", "Điều tra ca bệnh"),
    "contact_follow_up": Message("Contact follow-up", "Theo dõi người tiếp xúc"),
    "outbreak_response": Message("Outbreak response", "Xử lý ổ dịch"),
    "data_correction": Message("Data correction", "Chỉnh sửa dữ liệu"),
}
WHATS: dict[str, Message] = {
    "person_lookup": Message("Person lookup", "Tra cứu người"),
    "movements": Message("Movements", "Lịch sử di chuyển"),
    "trace": Message("Trace", "Truy vết"),
    "export": Message("Export", "Xuất dữ liệu"),
    "place_view": Message("Place view", "Xem địa điểm"),
    "alerts": Message("Ward alerts", "Cảnh báo phường, xã"),
}
_CODES = ", ".join(REASONS)
REASON_MISSING = Message(
    f"a reason is required before anything is shown: one of {_CODES}, or other:<5-200 characters>",
    f"cần nêu lý do trước khi xem dữ liệu: một trong {_CODES}, hoặc other:<5-200 ký tự>")
REASON_INVALID = Message(f"the reason must be one of {_CODES}, or other: followed by 5 to 200 characters",
                         f"lý do phải là một trong {_CODES}, hoặc other: kèm 5 đến 200 ký tự")
MAX_TEXT = 64  # subject and detail values: ids, codes and query parameters, never free text
CSV_COLUMNS = ("id", "at", "user_id", "username", "role", "what", "subject", "detail", "reason",
               "previous_hash", "entry_hash")


class AppendOnly(RuntimeError):
    """Something tried to change or remove a read-audit entry."""


class AuditEntry(db.Model):
    """One read of personal data: who, when, what, about whom or where, with which parameters and why."""

    __tablename__ = "read_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1, 2, 3... chain order
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # UTC
    user_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the audit outlives accounts
    username: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    what: Mapped[str] = mapped_column(String(16))  # one of WHATS
    subject: Mapped[str] = mapped_column(String(MAX_TEXT), index=True)  # citizen id, place or ward code
    detail: Mapped[dict[str, str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(len(OTHER) + OTHER_LENGTH[1]))
    # Unique: two entries after the same one would be a fork, whatever the locking did.
    previous_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))


class ChainAnchor(db.Model):
    """Where the chain starts after a purge: the newest entry removed and its hash, when, by whom.

    The next entry's ``previous_hash`` is this ``entry_hash``, so the chain still verifies from
    here; the anchors themselves are append-only, and each one covers more than the one before.
    """

    __tablename__ = "read_audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    last_id: Mapped[int] = mapped_column(Integer, unique=True)  # the newest entry removed: 1..last_id are gone
    entry_hash: Mapped[str] = mapped_column(String(64))  # that entry's hash
    removed: Mapped[int] = mapped_column(Integer)  # how many entries this purge removed
    before: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # every entry removed was older (UTC)
    purged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    purged_by: Mapped[str] = mapped_column(String(64))  # who ran the purge: the account and machine


# Created with the tables (after_create), so db.create_all() makes them as the migrations do
# (webapp/migrations/versions/0002_*, which keeps its own copy: a migration is never edited).
# A DELETE goes through only for entries an anchor covers, and an anchor must name an existing
# entry by its hash and cover more than the one before. DDL text goes through %-formatting:
# "%%" reaches PostgreSQL as RAISE's "%".
_REFUSED = "read_audit is append-only"
_COVERED = "(SELECT coalesce(max(last_id), 0) FROM read_audit_anchors)"
_BAD_ANCHOR = "a chain anchor names an existing entry by its hash, past the newest anchor"
_SQLITE_DDL = {
    "read_audit": (
        f"CREATE TRIGGER read_audit_no_update BEFORE UPDATE ON read_audit BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END",
        f"CREATE TRIGGER read_audit_no_delete BEFORE DELETE ON read_audit WHEN OLD.id > {_COVERED} "
        f"BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END",
    ),
    "read_audit_anchors": (
        "CREATE TRIGGER read_audit_anchors_no_update BEFORE UPDATE ON read_audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'read_audit_anchors is append-only'); END",
        "CREATE TRIGGER read_audit_anchors_no_delete BEFORE DELETE ON read_audit_anchors "
        "BEGIN SELECT RAISE(ABORT, 'read_audit_anchors is append-only'); END",
        "CREATE TRIGGER read_audit_anchors_check BEFORE INSERT ON read_audit_anchors WHEN NOT EXISTS "
        "(SELECT 1 FROM read_audit WHERE id = NEW.last_id AND entry_hash = NEW.entry_hash) "
        f"OR NEW.last_id <= {_COVERED} BEGIN SELECT RAISE(ABORT, '{_BAD_ANCHOR}'); END",
    ),
}
_POSTGRES_FUNCTIONS = (
    # One refusal for both tables; only a DELETE of covered entries passes.
    "CREATE OR REPLACE FUNCTION read_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_TABLE_NAME = 'read_audit' AND TG_OP = 'DELETE' THEN "
    f"IF OLD.id <= {_COVERED} THEN RETURN OLD; END IF; END IF; "
    "RAISE EXCEPTION '%% is append-only: %% refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation'; "
    "END $$",
    "CREATE OR REPLACE FUNCTION read_audit_anchor_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NOT EXISTS (SELECT 1 FROM read_audit WHERE id = NEW.last_id AND entry_hash = NEW.entry_hash) "
    f"OR NEW.last_id <= {_COVERED} THEN "
    f"RAISE EXCEPTION '{_BAD_ANCHOR}' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$",
)
_POSTGRES_DDL = {
    "read_audit": (
        *_POSTGRES_FUNCTIONS,
        "CREATE TRIGGER read_audit_no_change BEFORE UPDATE OR DELETE ON read_audit FOR EACH ROW "
        "EXECUTE FUNCTION read_audit_refuse()",
        "CREATE TRIGGER read_audit_no_truncate BEFORE TRUNCATE ON read_audit FOR EACH STATEMENT "
        "EXECUTE FUNCTION read_audit_refuse()",
    ),
    "read_audit_anchors": (
        *_POSTGRES_FUNCTIONS,
        "CREATE TRIGGER read_audit_anchors_no_change BEFORE UPDATE OR DELETE ON read_audit_anchors "
        "FOR EACH ROW EXECUTE FUNCTION read_audit_refuse()",
        "CREATE TRIGGER read_audit_anchors_no_truncate BEFORE TRUNCATE ON read_audit_anchors "
        "FOR EACH STATEMENT EXECUTE FUNCTION read_audit_refuse()",
        "CREATE TRIGGER read_audit_anchors_check BEFORE INSERT ON read_audit_anchors FOR EACH ROW "
        "EXECUTE FUNCTION read_audit_anchor_check()",
    ),
}
for _model in (AuditEntry, ChainAnchor):
    for _dialect, _statements in (("sqlite", _SQLITE_DDL), ("postgresql", _POSTGRES_DDL)):
        for _ddl in _statements[_model.__tablename__]:
            event.listen(_model.__table__, "after_create", DDL(_ddl).execute_if(dialect=_dialect))


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
@event.listens_for(ChainAnchor, "before_update")
@event.listens_for(ChainAnchor, "before_delete")
def _refuse_change(_mapper, _connection, row: AuditEntry | ChainAnchor) -> None:
    raise AppendOnly(f"{row.__tablename__} is append-only: row {row.id} cannot be changed or deleted")


_GUARDED = frozenset({"read_audit", "read_audit_anchors"})


@event.listens_for(Session, "do_orm_execute")  # every session: the app's, and any other
def _refuse_bulk_change(state) -> None:
    """``session.execute(update(AuditEntry))`` never reaches before_update: refuse it here, and a
    statement on the bare table too. The purge runs on the connection, past the session."""
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    table = getattr(state.statement, "table", None)
    if (mapper is not None and mapper.local_table.name in _GUARDED) or getattr(table, "name", None) in _GUARDED:
        raise AppendOnly(f"{_REFUSED}: no UPDATE or DELETE statement on it or its anchors")


@dataclass(frozen=True)
class ChainProblem:
    """An entry the chain does not vouch for: ``altered`` (its fields do not give its hash) or
    ``broken_link`` (it does not follow the entry before it: one was removed, inserted or moved)."""

    entry_id: int
    kind: str

    @property
    def message(self) -> Message:
        if self.kind == "altered":
            return Message("changed after it was written: its content does not give its hash",
                           "đã bị sửa sau khi ghi: nội dung không khớp mã băm")
        return Message("does not follow the entry before it: an entry was removed, inserted or moved",
                       "không nối tiếp bản ghi liền trước: có bản ghi bị xoá, chèn thêm hoặc đổi chỗ")


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers: its fields and ``previous_hash`` as sorted, compact JSON.

    >>> canonical({"id": 1, "at": datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc), "user_id": 7,
    ...            "username": "bs-lan", "role": "official", "what": "trace", "subject": "001090000001",
    ...            "detail": {"depth": "2"}, "reason": "case_investigation", "previous_hash": "0" * 4})
    b'{"at":"2026-11-28T01:00:00.000000Z","detail":{"depth":"2"},"id":1,"previous_hash":"0000","reason":"case_investigation","role":"official","subject":"001090000001","user_id":7,"username":"bs-lan","what":"trace"}'
    """
    values = {name: fields[name] for name in CSV_COLUMNS if name != "entry_hash"}
    values["at"] = as_utc(values["at"]).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of :func:`canonical`."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def check_reason(value: str | None) -> str:
    """The reason as stored, or InvalidInput naming ``reason``.

    >>> check_reason(" contact_follow_up "), check_reason("other:  hỏi của  Sở Y tế ")
    ('contact_follow_up', 'other:hỏi của  Sở Y tế')
    >>> check_reason("other: hi")
    Traceback (most recent call last):
    ingest.errors.InvalidInput: reason: the reason must be one of case_investigation, contact_follow_up, outbreak_response, data_correction, or other: followed by 5 to 200 characters
    """
    value = unicodedata.normalize("NFC", value or "").strip()
    if not value:
        raise InvalidInput({"reason": REASON_MISSING})
    if value in REASONS:
        return value
    said = value.removeprefix(OTHER).strip()
    if (value.startswith(OTHER) and OTHER_LENGTH[0] <= len(said) <= OTHER_LENGTH[1]
            and all(character.isprintable() for character in said)):
        return OTHER + said
    raise InvalidInput({"reason": REASON_INVALID})


def reason_from(req: Request) -> str:
    """The reason of ``req``: ``?reason=``, a form field ``reason``, or the ``X-Truyvet-Reason`` header
    (percent-encode non-ASCII text there); InvalidInput when missing or not a documented reason.
    A page's form sends ``reason=other:`` with the text in ``reason_other``.

    Call it before reading anything: a request without a reason must show nothing.
    """
    return check_reason(given_reason(req))


def given_reason(req: Request) -> str:
    """The reason ``req`` carries, as typed (unchecked; empty when none)."""
    given = req.args.get("reason") or req.form.get("reason")
    if not given and req.headers.get(REASON_HEADER):
        given = unquote(req.headers[REASON_HEADER])
    if (given or "").strip() == OTHER:
        given = OTHER + (req.args.get("reason_other") or req.form.get("reason_other") or "")
    return given or ""


def record_read(what: str, subject: str, detail: Mapping[str, Any], reason: str, *,
                principal: Principal | None = None) -> AuditEntry:
    """Append one entry for a read by the current principal (or ``principal``) and commit it.

    Written in its own transaction, so it stays whatever the caller's session does next, holding
    the chain's head while it appends: SQLite's write lock (BEGIN IMMEDIATE), PostgreSQL's table
    lock (readers go on). On SQLite, call it while your own session holds no uncommitted write.
    """
    if what not in WHATS:
        raise ValueError(f"unknown read kind {what!r}: add it to WHATS")
    principal = principal or current_principal()
    if principal is None:
        raise RuntimeError("a read is audited for someone: no principal in this request")
    user = db.session.get(User, principal.user_id) if principal.user_id is not None else None
    fields: dict[str, Any] = {
        "user_id": principal.user_id, "role": str(principal.role), "what": what, "subject": _bounded(subject),
        "username": _bounded(user.username if user else principal.name),
        "detail": {str(key): _bounded(str(value)) for key, value in detail.items()},
        "reason": check_reason(reason),
    }
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        _hold_the_head(session)
        last = session.execute(select(AuditEntry.id, AuditEntry.entry_hash)
                               .order_by(AuditEntry.id.desc()).limit(1)).first()
        if last is None:  # empty, or purged to the end: go on from the cut
            last = session.execute(select(ChainAnchor.last_id.label("id"), ChainAnchor.entry_hash)
                                   .order_by(ChainAnchor.last_id.desc()).limit(1)).first()
        fields |= {"id": last.id + 1 if last else 1, "previous_hash": last.entry_hash if last else GENESIS_HASH,
                   "at": datetime.now(timezone.utc)}  # taken under the lock: time order is chain order
        entry = AuditEntry(**fields, entry_hash=entry_hash(fields))
        session.add(entry)
    return entry


def _hold_the_head(session: Session) -> None:
    dialect = session.bind.dialect.name
    if dialect == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        session.execute(text("LOCK TABLE read_audit IN SHARE ROW EXCLUSIVE MODE"))
    else:
        raise RuntimeError(f"the read audit cannot lock its chain on {dialect}")


def _bounded(value: str) -> str:
    """Printable and at most MAX_TEXT characters: path arguments are whatever a caller typed."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)
    return shown[:MAX_TEXT]


def trace_or_export(args: Mapping[str, str]) -> str:
    return "trace" if args.get("format", "json") == "json" else "export"


def audited(what: str | Callable[[Mapping[str, str]], str], subject: str, params: tuple[str, ...] = (),
            ask: Callable[..., Any] | None = None, **fixed: str) -> Callable:
    """Audit a view: its reason first (a 400 before any read), then one entry once it answered.

    ``subject`` names the view argument looked at; ``params`` the query parameters kept in the
    detail, with ``fixed`` values. A 404 is recorded too (``outcome: not_found``): whether someone
    is in the registry is itself something looked up. Other failures show nothing and are not.
    ``ask(errors, **kwargs)`` answers a page without a (valid) reason: its form, nothing read, 400.
    """
    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def audited_view(**kwargs: Any):
            try:
                reason = reason_from(request)
            except InvalidInput as missing:
                if ask is None:
                    raise
                return ask(missing.errors, **kwargs), 400
            kind = what(request.args) if callable(what) else what
            detail = {**fixed, **{name: request.args[name] for name in params if name in request.args}}
            try:
                answer = view(**kwargs)
            except NotFound:
                record_read(kind, str(kwargs[subject]), detail | {"outcome": "not_found"}, reason)
                raise
            record_read(kind, str(kwargs[subject]), detail | {"outcome": "shown"}, reason)
            return answer
        return audited_view
    return decorate


def verify_chain() -> list[ChainProblem]:
    """Every entry the chain does not vouch for, oldest first; empty when the log is intact.

    After a purge the chain starts from the newest :class:`ChainAnchor`: the first entry kept
    must follow the last one removed.
    """
    problems: list[ChainProblem] = []
    anchor = newest_anchor()
    previous_id, previous_hash = (anchor.last_id, anchor.entry_hash) if anchor else (0, GENESIS_HASH)
    rows = db.session.execute(select(AuditEntry.__table__).where(AuditEntry.id > previous_id)
                              .order_by(AuditEntry.id).execution_options(yield_per=1000))
    for row in rows.mappings():
        if row["id"] != previous_id + 1 or row["previous_hash"] != previous_hash:
            problems.append(ChainProblem(row["id"], "broken_link"))
        if entry_hash(row) != row["entry_hash"]:
            problems.append(ChainProblem(row["id"], "altered"))
        previous_id, previous_hash = row["id"], row["entry_hash"]
    return problems


def newest_anchor() -> ChainAnchor | None:
    """The anchor the chain starts from (None: nothing was ever purged)."""
    return db.session.scalar(select(ChainAnchor).order_by(ChainAnchor.last_id.desc()).limit(1))


@dataclass(frozen=True)
class Purged:
    """What a purge of the read audit removed (or would remove): ``removed`` entries, ids up to
    ``last_id``; ``anchor`` is None when nothing was past retention or on a dry run."""

    removed: int
    last_id: int | None
    anchor: ChainAnchor | None


def purge_entries(before: datetime, purged_by: str, *, dry_run: bool = False) -> Purged:
    """Remove the oldest entries, those written before ``before``, recording the cut; the one delete path.

    Only a prefix of the chain goes: entries 1..N where N is the newest entry such that it and
    every entry before it are older than ``before`` (time order is chain order, but an entry
    out of order stops the cut rather than leaving a hole). In one transaction holding the
    chain's head, as appends do: a :class:`ChainAnchor` with entry N's id and hash, then the
    DELETE, which the database lets through only for entries an anchor covers.
    """
    with Session(db.engine, expire_on_commit=False) as session, session.begin():
        _hold_the_head(session)
        covered = session.scalar(select(func.coalesce(func.max(ChainAnchor.last_id), 0)))
        first_kept = session.scalar(select(func.min(AuditEntry.id)).where(AuditEntry.at >= before))
        cut = session.execute(
            select(AuditEntry.id, AuditEntry.entry_hash).where(
                AuditEntry.id > covered, *([AuditEntry.id < first_kept] if first_kept is not None else []))
            .order_by(AuditEntry.id.desc()).limit(1)).first()
        if cut is None:
            return Purged(0, None, None)
        table = AuditEntry.__table__
        removed = session.scalar(select(func.count()).select_from(table).where(table.c.id <= cut.id))
        if dry_run:
            return Purged(removed, cut.id, None)
        anchor = ChainAnchor(last_id=cut.id, entry_hash=cut.entry_hash, removed=removed, before=before,
                             purged_at=datetime.now(timezone.utc), purged_by=_bounded(purged_by))
        session.add(anchor)
        session.flush()  # the anchor first: the triggers let the DELETE through because of it
        # On the connection, past the session's guard (_refuse_bulk_change) and its identity map.
        deleted = session.connection().execute(delete(table).where(table.c.id <= cut.id)).rowcount
        if deleted != removed:
            raise RuntimeError(f"read audit purge: counted {removed} entries up to {cut.id}, deleted {deleted}")
    return Purged(removed, cut.id, anchor)
