"""webapp/schema.py: what it adopts, what it refuses by name, and two processes starting at once."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import QR_TEST_KEYS
from tests.test_webapp.test_migrations import (bare_app, database_url, databases, fill_previous_release,
                                               forget_migrations)
from webapp.extensions import db
from webapp.schema import SchemaError, create_or_upgrade, current_revision

# The migrations' fixtures: pytest finds them here once imported.
__all__ = ["bare_app", "database_url", "databases"]


def sqlite_file(tmp_path, *statements: str) -> None:
    connection = sqlite3.connect(tmp_path / "old.db")
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()


@pytest.fixture
def previous_release(bare_app, tmp_path):
    """An app on a SQLite database as the previous release left it: its tables and rows, no version."""
    app = bare_app(f"sqlite:///{tmp_path / 'old.db'}")
    with app.app_context():
        create_or_upgrade("0001")
    fill_previous_release(app)
    forget_migrations(app)
    return app


def test_a_column_that_cannot_be_added_in_place_is_named(previous_release, tmp_path):
    sqlite_file(tmp_path, "ALTER TABLE users DROP COLUMN role")
    with previous_release.app_context():
        with pytest.raises(SchemaError, match="users.role"):
            create_or_upgrade()
        assert current_revision() is None  # nothing stamped, nothing half-done


def test_a_database_missing_a_table_of_the_previous_release_is_refused_by_name(previous_release, tmp_path):
    sqlite_file(tmp_path, "DROP TABLE cases")
    with previous_release.app_context(), pytest.raises(SchemaError, match="cases"):
        create_or_upgrade()


def test_a_database_of_a_later_release_is_refused_not_changed(bare_app, tmp_path):
    app = bare_app(f"sqlite:///{tmp_path / 'new.db'}")
    with app.app_context():
        create_or_upgrade()
        db.session.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        db.session.commit()
        with pytest.raises(SchemaError, match="0099"):
            create_or_upgrade()


def test_a_failing_revision_leaves_the_database_as_it_was(previous_release, tmp_path):
    # A view named as 0002's index makes 0002 fail after it made its tables.
    sqlite_file(tmp_path, "CREATE VIEW ix_citizens_phone AS SELECT 1")
    with previous_release.app_context():
        with pytest.raises(DBAPIError, match="ix_citizens_phone"):
            create_or_upgrade()
        assert current_revision() is None
        tables = {row[0] for row in db.session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    assert "follow_ups" not in tables and "alembic_version" not in tables


def test_two_processes_starting_at_once_migrate_once(database_url, tmp_path):
    script = PROCESS.format(data_dir=str(tmp_path), url=database_url, keys=QR_TEST_KEYS)
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=120) for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert sorted(json.loads(out) for out, _ in outputs) == [[], [], ["0001", "0002"]]


# One process starting: builds its app and brings the database up to date, printing what it applied.
PROCESS = """
import json
from pathlib import Path
from config import Settings
from webapp import create_app
from webapp.schema import create_or_upgrade
app = create_app(Settings(data_dir=Path({data_dir!r}), database_url={url!r}, kafka_bootstrap="127.0.0.1:1",
                          outbox_relay=False, qr_signing_keys={keys!r}))
with app.app_context():
    print(json.dumps(create_or_upgrade()))
app.close()
"""
