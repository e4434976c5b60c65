"""Retention for the CRUD database: what ``truyvet purge`` deletes, and after how long.

| table | kept | from | setting |
|---|---|---|---|
| declarations (with their dependants) | retention | created_at | ``retention_days`` (30; 0 keeps) |
| checkpoint_decisions | retention | decided_at (the scan) | ``retention_days`` |
| follow_ups | retention after a person's last change | changed_at | ``retention_days`` |
| alert_actions | retention after an alert's last action | at | ``retention_days`` |
| outbox, published rows only | outbox retention | published_at | ``outbox_retention_days`` (7) |
| read_audit (a prefix of the chain) | audit retention | at | ``audit_retention_days`` (730) |
| cases | audit retention | reported_at | ``audit_retention_days`` |

A follow-up history or an alert's actions go whole, once the newest row is past retention, so a
status is never left without the changes before it. An unpublished outbox row is never
deleted: it is an accepted event Kafka has not taken yet. Each table is purged in its own
transaction; the read audit through its one delete path (:func:`webapp.audit.purge_entries`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Delete, Select, delete, func, select
from sqlalchemy.orm import InstrumentedAttribute

from config import Settings
from webapp.audit import purge_entries
from webapp.extensions import db
from webapp.followup import FollowUp
from webapp.models import Case, CheckpointDecision, Declaration, OutboxEvent
from webapp.workspace.ward_alerts import AlertAction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purge:
    """What was deleted (or, on a dry run, would be) from one table, and what was kept by rule."""

    table: str
    cutoff: datetime | None  # rows from before it go; None: the table is kept whole (retention 0)
    deleted: int
    note: str = ""


def purge(settings: Settings, now: datetime, *, purged_by: str, dry_run: bool = False) -> list[Purge]:
    """Delete every row past its retention (the table in the module docstring), table by table.

    ``now`` is an aware datetime; ``purged_by`` names who runs it, kept with the read audit's cut.
    A dry run counts what would go and deletes nothing.
    """
    movement = now - settings.retention if settings.retention else None
    audit = now - timedelta(days=settings.audit_retention_days)
    outbox = now - timedelta(days=settings.outbox_retention_days)
    done = [
        _declarations(movement, dry_run),
        _older("checkpoint_decisions", CheckpointDecision.decided_at, movement, dry_run),
        _whole_groups("follow_ups", FollowUp.citizen_id, FollowUp.changed_at, movement, dry_run),
        _whole_groups("alert_actions", AlertAction.alert_id, AlertAction.at, movement, dry_run),
        _outbox(outbox, dry_run),
        _older("cases", Case.reported_at, audit, dry_run),
        _read_audit(audit, purged_by, dry_run),
    ]
    if not dry_run:
        for result in done:
            if result.deleted:
                log.info("purge: %d row(s) deleted from %s", result.deleted, result.table)
    return done


def _run(table: str, cutoff: datetime, dry_run: bool, going: Select, deletes: list[Delete], note: str = "") -> Purge:
    """Count what goes (a dry run), or delete it (``deletes`` in order) in one transaction."""
    if dry_run:
        count = db.session.scalar(select(func.count()).select_from(going.subquery()))
        db.session.rollback()  # end the read transaction
    else:
        count = sum(db.session.execute(statement).rowcount for statement in deletes)
        db.session.commit()
    return Purge(table, cutoff, count, note)


def _older(table: str, moment: InstrumentedAttribute, cutoff: datetime | None, dry_run: bool) -> Purge:
    """Rows whose ``moment`` is before ``cutoff``."""
    if cutoff is None:
        return Purge(table, None, 0)
    model = moment.class_
    return _run(table, cutoff, dry_run, select(model).where(moment < cutoff),
                [delete(model).where(moment < cutoff)])


def _declarations(cutoff: datetime | None, dry_run: bool) -> Purge:
    """Declarations past retention, with their dependants: made in the same moment, but a dependant
    must never outlive the declaration it points to, so they go first."""
    if cutoff is None:
        return Purge("declarations", None, 0)
    old = select(Declaration.id).where(Declaration.created_at < cutoff)
    going = (Declaration.created_at < cutoff) | Declaration.declared_by_id.in_(old)
    return _run("declarations", cutoff, dry_run, select(Declaration.id).where(going), [
        delete(Declaration).where(Declaration.declared_by_id.in_(old)),
        delete(Declaration).where(Declaration.created_at < cutoff),
    ], note="with their dependants")


def _whole_groups(table: str, key: InstrumentedAttribute, moment: InstrumentedAttribute, cutoff: datetime | None,
                  dry_run: bool) -> Purge:
    """Every row of each group (a person's follow-up, an alert's actions) whose newest row is past ``cutoff``."""
    if cutoff is None:
        return Purge(table, None, 0)
    model = key.class_
    stale = select(key).group_by(key).having(func.max(moment) < cutoff)
    return _run(table, cutoff, dry_run, select(model).where(key.in_(stale)), [delete(model).where(key.in_(stale))],
                note="once the last change is past retention")


def _outbox(cutoff: datetime, dry_run: bool) -> Purge:
    """Published rows only; the unpublished ones are counted in the note, never deleted."""
    waiting = db.session.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None)))
    past = OutboxEvent.published_at.is_not(None) & (OutboxEvent.published_at < cutoff)
    return _run("outbox", cutoff, dry_run, select(OutboxEvent.id).where(past), [delete(OutboxEvent).where(past)],
                note=f"published rows only; {waiting} unpublished kept")


def _read_audit(cutoff: datetime, purged_by: str, dry_run: bool) -> Purge:
    db.session.rollback()  # the audit's purge holds the chain's head in its own transaction
    result = purge_entries(cutoff, purged_by, dry_run=dry_run)
    note = f"a prefix of the chain, up to entry {result.last_id}" if result.removed else ""
    return Purge("read_audit", cutoff, result.removed, note)
