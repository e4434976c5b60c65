"""The CRUD database's migrations (webapp/migrations/) on SQLite and PostgreSQL: an empty database
and one of the previous release, its rows kept, end with the models' schema and the read
audit's triggers, as create_all would make them."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import TRUYVET, settings_for_tests
from webapp import create_app
from webapp.audit import GENESIS_HASH, entry_hash, verify_chain
from webapp.extensions import db
from webapp.followup import FollowUp
from webapp.models import Declaration, OutboxEvent
from webapp.schema import PREVIOUS_RELEASE, create_or_upgrade, current_revision, head_revision, migrate

T0 = datetime(2026, 11, 1, 1, 0, tzinfo=timezone.utc)
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def databases(request, tmp_path):
    """``databases(kind)``: the URL of a new empty database, ``sqlite`` (a file) or ``postgres`` (a
    database of its own in the session's cluster, dropped afterwards)."""
    made: list[str] = []

    def new(kind: str) -> str:
        name = f"truyvet_{uuid.uuid4().hex[:12]}"
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        server = request.getfixturevalue("postgres_url")
        with create_engine(server, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{server.rsplit('/', 1)[0]}/{name}"

    yield new
    if made:
        admin = create_engine(request.getfixturevalue("postgres_url"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in made:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=DATABASES)
def database_url(request, databases) -> str:
    """An empty database on SQLite, then on PostgreSQL."""
    return databases(request.param)


def kind_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


@pytest.fixture
def bare_app(warehouse, warehouse_url, tmp_path):
    """Build apps on a database left as it is: no create_all, the migrations make the schema."""
    apps = []

    def build(database_url: str):
        app = create_app(settings_for_tests(tmp_path, warehouse_url, database_url=database_url), warehouse=warehouse)
        app.testing = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def schema_differences(app) -> list[Any]:
    """What alembic's autogenerate would change to make the database the models' (empty: the same)."""
    with app.app_context(), db.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), db.metadata)


def triggers(app) -> dict[str, str]:
    """The database's own triggers and trigger functions, by name, as the database stores them."""
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            return dict(connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all())
        found = dict(connection.execute(text(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal")).all())
        found |= dict(connection.execute(text(
            "SELECT proname || '()', prosrc FROM pg_proc WHERE proname LIKE 'read_audit%'")).all())
        return found


def previous_release() -> MetaData:
    """The previous release's tables, as revision 0001 declares them."""
    return ScriptDirectory(migrate.directory).get_revision(PREVIOUS_RELEASE).module.PREVIOUS_RELEASE


def chain(times: list[datetime]) -> list[dict[str, Any]]:
    """Read-audit entries at ``times``, numbered from 1 and hashed into a chain from the genesis."""
    rows, previous = [], GENESIS_HASH
    for number, at in enumerate(times, start=1):
        fields = {"id": number, "at": at, "user_id": 1, "username": "bs-lan", "role": "official",
                  "what": "movements", "subject": "001090000001", "detail": {"outcome": "shown"},
                  "reason": "case_investigation", "previous_hash": previous}
        previous = entry_hash(fields)
        rows.append(fields | {"entry_hash": previous})
    return rows


def fill_previous_release(app) -> dict[str, int]:
    """Rows in every table of the previous release, written as that release's SQL would; the counts."""
    tables = previous_release().tables
    declarer, dependant = "d" * 32, "e" * 32
    declaration = dict(relation=None, position=0, id_number="001090000001", citizen_id="001090000001",
                       full_name="Nguyễn Văn An", date_of_birth=date(1990, 5, 1), sex="Nam", phone="0912345678",
                       details={"symptoms": []}, verification="verified", mismatched_fields=[],
                       qr_token="token", qr_expires_at=T0 + timedelta(hours=72), idempotency_key=None,
                       request_hash=None, created_at=T0, revoked_at=None)
    rows = {
        "citizens": [dict(citizen_id="001090000001", cmnd=None, full_name="Nguyễn Văn An",
                          date_of_birth=date(1990, 5, 1), sex="Nam", province_code=1, ward_code=101,
                          phone="0912345678", updated_at=T0)],
        "places": [dict(code="CP-HN-01", kind="checkpoint", name="Chốt Pháp Vân", province_code=1, ward_code=None,
                        latitude=None, longitude=None, active=True, created_at=T0)],
        "users": [dict(id=1, username="bs-lan", full_name="Bác sĩ Lan", role="official", password_hash="x",
                       totp_secret=None, active=True, areas=["1"], created_at=T0)],
        "user_places": [dict(user_id=1, place_code="CP-HN-01")],
        "station_tokens": [dict(id=1, place_code="CP-HN-01", label="cổng", token_hash="f" * 64, created_by=1,
                                created_at=T0, revoked_at=None)],
        "declarations": [declaration | dict(id=declarer, declared_by_id=None, qr_ref="q" * 32),
                         declaration | dict(id=dependant, declared_by_id=declarer, relation="child", position=1,
                                            qr_ref="r" * 32, full_name="Nguyễn Văn Bé")],
        "outbox": [dict(id=1, event_id="ev-1", topic="truyvet.declarations.v1", key="001090000001", payload=b"{}",
                        created_at=T0, claimed_until=None, claim=None, published_at=T0, attempts=1),
                   dict(id=2, event_id="ev-2", topic="truyvet.declarations.v1", key="001090000001", payload=b"{}",
                        created_at=T0, claimed_until=None, claim=None, published_at=None, attempts=0)],
        "checkpoint_decisions": [dict(event_id="s" * 32, place_code="CP-HN-01", citizen_id="001090000001",
                                      declaration_id=declarer, action="pass", reason=None, decided_at=T0,
                                      user_id=None, station_id=1, created_at=T0)],
        "cases": [dict(case_id="c" * 32, citizen_id="001090000001", date_kind="onset", case_date=date(2026, 10, 30),
                       isolated_at=None, reported_by=1, reported_at=T0)],
        "read_audit": chain([T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2)]),
    }
    with app.app_context(), db.engine.begin() as connection:
        for table in previous_release().sorted_tables:
            connection.execute(insert(tables[table.name]), rows[table.name])
    return {name: len(values) for name, values in rows.items()}


def counts(app, names) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as connection:
        return {name: connection.scalar(text(f'SELECT count(*) FROM "{name}"')) for name in names}


def forget_migrations(app) -> None:
    """Make the database what the previous release's create_all left: the same tables, no version table."""
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")


def test_an_empty_database_is_migrated_to_the_models_schema(bare_app, database_url):
    app = bare_app(database_url)
    with app.app_context():
        assert current_revision() is None
        assert create_or_upgrade() == ["0001", "0002"]
        assert create_or_upgrade() == []
        assert current_revision() == head_revision() == "0002"
    assert schema_differences(app) == []


def test_the_migrations_make_the_triggers_create_all_makes(bare_app, database_url, databases):
    migrated, created = bare_app(database_url), bare_app(databases(kind_of(database_url)))
    with migrated.app_context():
        create_or_upgrade()
    with created.app_context():
        db.create_all()

    found = triggers(migrated)
    assert found == triggers(created)
    if kind_of(database_url) == "sqlite":
        assert set(found) == {"read_audit_no_update", "read_audit_no_delete", "read_audit_anchors_no_update",
                              "read_audit_anchors_no_delete", "read_audit_anchors_check"}
    else:
        assert set(found) == {"read_audit_no_change", "read_audit_no_truncate", "read_audit_anchors_no_change",
                              "read_audit_anchors_no_truncate", "read_audit_anchors_check",
                              "read_audit_refuse()", "read_audit_anchor_check()"}


@pytest.mark.parametrize("made_by", ["migrations", "create_all"])
def test_a_previous_release_database_is_upgraded_keeping_its_rows(bare_app, database_url, made_by):
    app = bare_app(database_url)
    with app.app_context():
        assert create_or_upgrade("0001") == ["0001"]
    written = fill_previous_release(app)
    if made_by == "create_all":  # a data directory of the previous release: no alembic_version
        forget_migrations(app)

    with app.app_context():
        assert create_or_upgrade() == ["0002"]
        assert current_revision() == "0002"
    assert schema_differences(app) == []
    assert counts(app, written) == written
    with app.app_context():
        dependant = db.session.get(Declaration, "e" * 32)
        assert (dependant.declared_by_id, dependant.full_name) == ("d" * 32, "Nguyễn Văn Bé")
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)
                                 .where(OutboxEvent.published_at.is_(None))) == 1
        assert verify_chain() == []
        db.session.add(FollowUp(citizen_id="001090000001", status="notified", changed_by=1, changed_at=T0))
        db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"), app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM read_audit WHERE id = 1"))
    assert counts(app, ["read_audit"]) == {"read_audit": 3}


def test_a_previous_release_database_missing_a_nullable_column_gets_it_on_adoption(bare_app, tmp_path):
    app = bare_app(f"sqlite:///{tmp_path / 'old.db'}")
    with app.app_context():
        create_or_upgrade("0001")
    fill_previous_release(app)
    forget_migrations(app)
    raw = sqlite3.connect(tmp_path / "old.db")
    raw.execute("ALTER TABLE declarations DROP COLUMN revoked_at")  # as before issue 7
    raw.commit()
    raw.close()

    with app.app_context():
        assert create_or_upgrade() == ["0002"]
    assert schema_differences(app) == []
    assert counts(app, ["declarations"]) == {"declarations": 2}


def test_the_way_down_and_up_again_ends_where_it_started(bare_app, database_url):
    app = bare_app(database_url)
    with app.app_context():
        create_or_upgrade()
        command.downgrade(migrate.get_config(), "0001")
        assert current_revision() == "0001"
        command.downgrade(migrate.get_config(), "base")
        assert current_revision() is None
        assert create_or_upgrade() == ["0001", "0002"]
    assert schema_differences(app) == []


def test_truyvet_migrate_applies_the_database_migrations_once(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUYVET_")}
    env |= {"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    outputs = [subprocess.run([TRUYVET, "migrate", "--no-topics"], env=env, capture_output=True, text=True,
                              timeout=300) for _ in range(2)]

    assert [output.returncode for output in outputs] == [0, 0], outputs[-1].stderr
    assert all("database: schema at revision 0002" in output.stdout for output in outputs)
    assert "applied migration 0001" in outputs[0].stderr and "applied migration" not in outputs[1].stderr
    with sqlite3.connect(tmp_path / "truyvet.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]


def test_a_database_create_all_made_of_this_version_is_adopted_as_it_is(bare_app, database_url):
    app = bare_app(database_url)  # as tests and data directories of the unreleased issue-10 code have it
    with app.app_context():
        db.create_all()
        before = triggers(app)
        assert create_or_upgrade() == ["0002"]  # stamped at 0001; 0002 makes nothing that exists
        assert current_revision() == "0002"
    assert schema_differences(app) == []
    assert triggers(app) == before
