"""The CRUD database's tables: created when missing, and new nullable columns added in place.

``db.create_all()`` creates missing tables but never changes an existing one, so a data
directory from an earlier version would fail on the first query that names a new column.
Additive changes (a new nullable column) are applied here; anything else stops with a message
naming the column, rather than half-working.
"""
from __future__ import annotations

import logging

from sqlalchemy import inspect, text

from webapp.extensions import db

log = logging.getLogger(__name__)


class SchemaError(RuntimeError):
    """The database has a table this version cannot bring up to date by itself."""


def create_or_upgrade() -> list[str]:
    """Create missing tables and add missing nullable columns; return the columns added."""
    db.create_all()
    inspector = inspect(db.engine)
    added = []
    with db.engine.begin() as connection:
        for table in db.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable or column.primary_key or column.server_default is not None:
                    raise SchemaError(
                        f"the database lacks {table.name}.{column.name}, which cannot be added in place: "
                        "migrate it by hand, or start from an empty database")
                # Names and types come from the models, never from input.
                column_type = column.type.compile(dialect=db.engine.dialect)
                connection.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {column_type}'))
                added.append(f"{table.name}.{column.name}")
    for name in added:
        log.info("database: added column %s", name)
    return added
