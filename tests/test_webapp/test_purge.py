"""Retention of the CRUD database (webapp/retention.py, `truyvet purge`) on SQLite and PostgreSQL:
exactly what is past retention goes, an unpublished event never does, and the read audit loses
only a prefix of its chain, through its one path, still verifying and still showing tampering."""
from __future__ import annotations

import os
import subprocess
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from config import Settings
from tests.conftest import TRUYVET
from tests.staff import add_place, add_staff
from tests.test_webapp.test_audit import append, official_principal, tamper
from tests.test_webapp.test_migrations import bare_app, chain, database_url, databases
from webapp.audit import AppendOnly, AuditEntry, ChainAnchor, newest_anchor, purge_entries, verify_chain
from webapp.extensions import db
from webapp.followup import FollowUp
from webapp.models import Case, CheckpointDecision, Declaration, OutboxEvent, User
from webapp.retention import purge
from webapp.schema import create_or_upgrade
from webapp.workspace.ward_alerts import AlertAction

# The migrations' fixtures: pytest finds them here once imported.
__all__ = ["bare_app", "database_url", "databases"]

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
SETTINGS = Settings(data_dir=".", retention_days=30, outbox_retention_days=7, audit_retention_days=730)
MOVEMENT_CUT = NOW - 30 * DAY


@pytest.fixture
def app(bare_app, database_url):
    """An app on a migrated database (the production path: the triggers come from the revisions)."""
    app = bare_app(database_url)
    with app.app_context():
        create_or_upgrade()
    return app


def a_declaration(declaration_id: str, created_at: datetime, declared_by: str | None = None) -> Declaration:
    return Declaration(id=declaration_id, declared_by_id=declared_by, relation="child" if declared_by else None,
                       position=1 if declared_by else 0, id_number="001090000001", citizen_id="001090000001",
                       full_name="Nguyễn Văn An", date_of_birth=date(1990, 5, 1), sex="Nam", phone="0912345678",
                       details={}, verification="verified", mismatched_fields=[], qr_ref=f"qr-{declaration_id}",
                       qr_token="token", qr_expires_at=created_at + 3 * DAY, created_at=created_at)


def an_event(event_id: str, created_at: datetime, published_at: datetime | None) -> OutboxEvent:
    return OutboxEvent(event_id=event_id, topic="truyvet.declarations.v1", key="001090000001", payload=b"{}",
                       created_at=created_at, published_at=published_at, attempts=1 if published_at else 0)


def fill(app, now: datetime = NOW) -> None:
    """Rows on both sides of every retention line (``now`` and the default settings)."""
    place = add_place(app)
    add_staff(app, "official")
    cut = now - 30 * DAY
    with app.app_context():
        user = db.session.scalar(select(User.id))
        db.session.add_all([
            a_declaration("old", now - 31 * DAY), a_declaration("old-child", now - 31 * DAY, "old"),
            # Made a moment apart across the line: the dependant goes with its declaration.
            a_declaration("edge", cut - timedelta(seconds=1)), a_declaration("edge-child", cut + timedelta(seconds=1), "edge"),
            a_declaration("recent", now - 29 * DAY), a_declaration("recent-child", now - 29 * DAY, "recent"),
        ])
        db.session.flush()
        for event_id, at in (("scan-old", now - 31 * DAY), ("scan-recent", now - DAY)):
            db.session.add(CheckpointDecision(event_id=event_id, place_code=place, citizen_id="001090000001",
                                              action="pass", decided_at=at, created_at=at))
        for citizen, days in (("001090000001", (40, 35)), ("001090000002", (40, 2))):
            db.session.add_all(FollowUp(citizen_id=citizen, status="notified", changed_by=user,
                                        changed_at=now - n * DAY) for n in days)
        for alert, days in (("alert-stale", (40,)), ("alert-open", (40, 1))):
            db.session.add_all(AlertAction(alert_id=alert, ward_code=70, status="acknowledged", user_id=user,
                                           at=now - n * DAY) for n in days)
        db.session.add_all([
            an_event("published-old", now - 9 * DAY, now - 8 * DAY),
            an_event("published-recent", now - 6 * DAY, now - 6 * DAY),
            an_event("never-published", now - 400 * DAY, None),  # Kafka never took it: it waits
        ])
        for case_id, days in (("case-old", 731), ("case-recent", 729)):
            db.session.add(Case(case_id=case_id, citizen_id="001090000001", date_kind="onset",
                                case_date=(now - days * DAY).date(), reported_by=user, reported_at=now - days * DAY))
        db.session.commit()
        times = [now - 740 * DAY, now - 739 * DAY, now - 731 * DAY, now - 700 * DAY, now - DAY]
        db.session.execute(insert(AuditEntry.__table__), chain(times))
        db.session.commit()


def kept(app) -> dict[str, list]:
    with app.app_context():
        return {
            "declarations": sorted(db.session.scalars(select(Declaration.id))),
            "checkpoint_decisions": sorted(db.session.scalars(select(CheckpointDecision.event_id))),
            "follow_ups": sorted(db.session.scalars(select(FollowUp.citizen_id))),
            "alert_actions": sorted(db.session.scalars(select(AlertAction.alert_id))),
            "outbox": sorted(db.session.scalars(select(OutboxEvent.event_id))),
            "cases": sorted(db.session.scalars(select(Case.case_id))),
            "read_audit": sorted(db.session.scalars(select(AuditEntry.id))),
        }


def deleted(results) -> dict[str, int]:
    return {result.table: result.deleted for result in results}


EXPECTED = {"declarations": 4, "checkpoint_decisions": 1, "follow_ups": 2, "alert_actions": 1, "outbox": 1,
            "cases": 1, "read_audit": 3}


def test_exactly_what_is_past_retention_is_deleted(app):
    fill(app)
    before = kept(app)
    with app.app_context():
        assert deleted(purge(SETTINGS, NOW, purged_by="test", dry_run=True)) == EXPECTED
    assert kept(app) == before  # a dry run deletes nothing

    with app.app_context():
        assert deleted(purge(SETTINGS, NOW, purged_by="test")) == EXPECTED
    assert kept(app) == {
        "declarations": ["recent", "recent-child"],
        "checkpoint_decisions": ["scan-recent"],
        "follow_ups": ["001090000002", "001090000002"],  # a history goes whole, or stays whole
        "alert_actions": ["alert-open", "alert-open"],
        "outbox": ["never-published", "published-recent"],
        "cases": ["case-recent"],
        "read_audit": [4, 5],
    }
    with app.app_context():
        assert deleted(purge(SETTINGS, NOW, purged_by="test")) == dict.fromkeys(EXPECTED, 0)


def test_retention_zero_keeps_personal_records_but_not_published_events(app):
    fill(app)
    with app.app_context():
        results = purge(Settings(data_dir=".", retention_days=0), NOW, purged_by="test")
    assert deleted(results) == EXPECTED | {"declarations": 0, "checkpoint_decisions": 0, "follow_ups": 0,
                                           "alert_actions": 0}
    assert [result.cutoff for result in results[:4]] == [None] * 4


def test_an_unpublished_event_is_never_deleted_however_old(app):
    with app.app_context():
        db.session.add_all([an_event("stuck", NOW - 3000 * DAY, None), an_event("claimed", NOW - 3000 * DAY, None)])
        db.session.execute(update(OutboxEvent).where(OutboxEvent.event_id == "claimed")
                           .values(claim="someone", claimed_until=NOW - 2999 * DAY))
        db.session.commit()
        results = purge(Settings(data_dir=".", outbox_retention_days=1), NOW, purged_by="test")
        outbox = next(result for result in results if result.table == "outbox")
    assert (outbox.deleted, outbox.note) == (0, "published rows only; 2 unpublished kept")
    assert kept(app)["outbox"] == ["claimed", "stuck"]


def test_the_chain_verifies_from_its_anchor_and_tampering_after_a_purge_is_found(app):
    fill(app)
    with app.app_context():
        purge(SETTINGS, NOW, purged_by="ops@may-chu-1")
        anchor = newest_anchor()
        third = chain([NOW - 740 * DAY, NOW - 739 * DAY, NOW - 731 * DAY])[-1]
        assert (anchor.last_id, anchor.entry_hash, anchor.removed, anchor.purged_by) == (
            3, third["entry_hash"], 3, "ops@may-chu-1")
        assert verify_chain() == []
    append(app, official_principal(app), 1)  # the chain goes on after the cut
    with app.app_context():
        assert verify_chain() == []

    tamper(app, "DELETE FROM read_audit WHERE id = 4", "UPDATE read_audit SET subject = '001090099999' WHERE id = 5")
    with app.app_context():
        assert [(problem.entry_id, problem.kind) for problem in verify_chain()] == [(5, "broken_link"),
                                                                                     (5, "altered")]


def test_an_anchor_that_is_changed_or_removed_breaks_the_chain(app):
    fill(app)
    with app.app_context():
        purge(SETTINGS, NOW, purged_by="test")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        statements = ["DROP TRIGGER read_audit_anchors_no_update", "UPDATE read_audit_anchors SET last_id = 2"]
    else:
        statements = ["ALTER TABLE read_audit_anchors DISABLE TRIGGER read_audit_anchors_no_change",
                      "UPDATE read_audit_anchors SET last_id = 2"]
    with app.app_context(), db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    with app.app_context():
        assert [(problem.entry_id, problem.kind) for problem in verify_chain()] == [(4, "broken_link")]


def test_the_purge_is_the_only_way_entries_leave(app):
    fill(app)
    with app.app_context():
        for statement in (delete(AuditEntry), delete(AuditEntry.__table__), delete(ChainAnchor),
                          update(ChainAnchor).values(last_id=5)):
            with pytest.raises(AppendOnly):
                db.session.execute(statement)
            db.session.rollback()
        purge_entries(NOW - 730 * DAY, "test")
    refused = ["DELETE FROM read_audit WHERE id = 4", "DELETE FROM read_audit",
               "UPDATE read_audit SET reason = 'data_correction' WHERE id = 5",
               "DELETE FROM read_audit_anchors", "UPDATE read_audit_anchors SET removed = 0"]
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        refused += ["TRUNCATE read_audit", "TRUNCATE read_audit_anchors"]
    for statement in refused:
        with pytest.raises(DBAPIError, match="append-only"), app.app_context(), db.engine.begin() as connection:
            connection.execute(text(statement))
    # An anchor must name an entry by its true hash, past the newest anchor.
    for last_id, entry_hash in ((5, "0" * 64), (2, "0" * 64), (99, "0" * 64)):
        with pytest.raises(DBAPIError, match="chain anchor"), app.app_context(), db.engine.begin() as connection:
            connection.execute(insert(ChainAnchor.__table__).values(
                last_id=last_id, entry_hash=entry_hash, removed=1, before=NOW, purged_at=NOW, purged_by="x"))
    assert kept(app)["read_audit"] == [4, 5]
    with app.app_context():
        assert verify_chain() == []


def test_a_chain_purged_to_its_end_goes_on_from_the_anchor(app):
    fill(app)
    with app.app_context():
        assert purge_entries(NOW + DAY, "test").removed == 5
        assert verify_chain() == []
    append(app, official_principal(app), 2)
    assert kept(app)["read_audit"] == [6, 7]
    with app.app_context():
        assert db.session.get(AuditEntry, 6).previous_hash == newest_anchor().entry_hash
        assert verify_chain() == []


def test_truyvet_purge_prints_what_it_deleted_per_table(bare_app, tmp_path):
    app = bare_app(f"sqlite:///{tmp_path / 'truyvet.db'}")  # the data directory's own database
    with app.app_context():
        create_or_upgrade()
    now = datetime.now(timezone.utc)
    fill(app, now)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUYVET_")}
    env |= {"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}

    def run(*args: str) -> list[str]:
        done = subprocess.run([TRUYVET, "purge", *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [line.split(" (")[0] for line in done.stdout.splitlines()]

    assert run("--dry-run") == [f"{table}: {count} to delete" for table, count in EXPECTED.items()]
    assert run() == [f"{table}: {count} deleted" for table, count in EXPECTED.items()]
    assert run() == [f"{table}: 0 deleted" for table in EXPECTED]
