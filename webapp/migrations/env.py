"""Alembic's environment for the CRUD database, run by webapp.schema and by ``flask db``.

Adapted from Flask-Migrate's template: the engine and metadata are the app's (an app context is
current), logging is left to the process, and every revision of one upgrade runs in a single
transaction holding a lock, so two processes starting at once migrate once and a failed
revision leaves nothing half-done (SQLite and PostgreSQL both roll DDL back).
"""
from __future__ import annotations

import logging

from alembic import context
from sqlalchemy import Connection

from webapp.extensions import db
from webapp.schema import adopt_unversioned, migrate

log = logging.getLogger("alembic.env")
config = context.config
# db.metadata holds every table: create_app, whose app context is current, imported their modules.
# pg_advisory_xact_lock key: any constant the application uses for nothing else ("tv" "sc").
POSTGRES_LOCK = 0x7476_7363


def lock(connection: Connection) -> None:
    """Begin the transaction holding the database's migration lock."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, before reading the version
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_LOCK})")


def skip_empty_autogenerate(_context, _revision, directives) -> None:
    """``flask db migrate`` with nothing to change writes no revision (Flask-Migrate's behaviour)."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def on_version_apply(*, step, **_kw) -> None:
    """Tell the caller (webapp.schema.create_or_upgrade) which revisions ran."""
    config.attributes.setdefault("applied", []).append(step.up_revision_id)


def run_migrations_online() -> None:
    """One transaction, under the lock: adopt a database an earlier release made, then upgrade."""
    options = {"process_revision_directives": skip_empty_autogenerate, **migrate.alembic_ctx_kwargs}
    with db.engine.connect() as connection:
        lock(connection)  # the transaction is ours: Alembic sees it and opens none of its own
        context.configure(connection=connection, target_metadata=db.metadata, transactional_ddl=True,
                          on_version_apply=on_version_apply, **options)
        adopt_unversioned(connection, context.get_context(), context.script)
        context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    # The revisions look at the database (adoption, what an older create_all already made).
    raise SystemExit("the CRUD migrations run against the database only: no --sql")
run_migrations_online()
