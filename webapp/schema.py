"""The CRUD database's schema, brought to this version by Alembic migrations (webapp/migrations/).

``create_or_upgrade()`` is what starts use (``truyvet migrate``, ``truyvet run``, every command
that opens the registry): it applies the revisions the database lacks, in one transaction
holding a lock, so two processes starting at once migrate once. ``db.create_all()`` is for
tests only; tests/test_webapp/test_migrations.py keeps the two schemas equal.

A database made by an earlier release (``create_all`` and the nullable columns it added in
place, no ``alembic_version`` table) is adopted: it must hold the tables of the first revision,
the previous release's schema; nullable columns still missing from before that release are
added as that release did; then it is stamped at that revision and upgraded like any other.

New revisions: ``flask --app webapp db revision --rev-id 0003 -m "what changes"`` (or
``db migrate`` to autogenerate a draft), written by hand where the draft falls short, and never
edited once released.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import Connection, MetaData, inspect

from webapp.extensions import db

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
PREVIOUS_RELEASE = "0001"  # the schema of the release before migrations: what adoption checks
# Flask-Migrate's defaults (compare types, batch mode for SQLite's ALTER) for `flask db migrate`.
migrate = Migrate(db=db, directory=str(MIGRATIONS))
# Alembic's `context` is one per process: two threads must not run it at once. Processes take
# the database's own lock (env.py).
_in_process = threading.Lock()


class SchemaError(RuntimeError):
    """The database cannot be brought to this version's schema by itself; the message says why."""


def init_app(app: Flask) -> None:
    """Register Flask-Migrate, for the ``flask db`` commands; upgrades do not need it."""
    migrate.init_app(app, db)


def create_or_upgrade(revision: str = "head") -> list[str]:
    """Bring the database of the current app to ``revision`` (all by default); return the revisions applied."""
    config = migrate.get_config()
    applied: list[str] = []
    config.attributes["applied"] = applied
    try:
        with _in_process:
            command.upgrade(config, revision)
    except CommandError as exc:  # e.g. a database of a later release, at a revision we do not know
        raise SchemaError(f"the database cannot be migrated: {exc} (is it from a later release of truyvet?)") from exc
    for name in applied:
        log.info("database: applied migration %s", name)
    return applied


def current_revision() -> str | None:
    """The revision the database is at (None: no migration has run on it)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this version ships."""
    return ScriptDirectory.from_config(migrate.get_config()).get_current_head()


def adopt_unversioned(connection: Connection, context: MigrationContext, script: ScriptDirectory) -> bool:
    """Stamp a database an earlier release made with ``create_all`` at :data:`PREVIOUS_RELEASE`.

    Called by env.py inside the migration's transaction and lock. True when it stamped; False
    for a database already under migrations, or an empty one. SchemaError when the tables are
    not the previous release's (a table or a column that cannot be added in place is missing).
    """
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    if context.version_table in present or not present:
        return False
    expected: MetaData = script.get_revision(PREVIOUS_RELEASE).module.PREVIOUS_RELEASE
    missing_tables = sorted(set(expected.tables) - present)
    if missing_tables:
        if not present & set(expected.tables):
            return False  # not ours (someone else's tables in the same database): migrate beside them
        raise SchemaError(f"the database lacks the tables {', '.join(missing_tables)} of the previous release: "
                          "start it once with the release that made it, or start from an empty database")
    for table in expected.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in columns:
                continue
            if not column.nullable or column.primary_key or column.server_default is not None:
                raise SchemaError(
                    f"the database lacks {table.name}.{column.name}, which cannot be added in place: "
                    "migrate it by hand, or start from an empty database")
            # Names and types come from the revision, never from input.
            column_type = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {column_type}')
            log.info("database: added column %s.%s", table.name, column.name)
    context.stamp(script, PREVIOUS_RELEASE)
    log.info("database: made by an earlier release; adopted at revision %s", PREVIOUS_RELEASE)
    return True
