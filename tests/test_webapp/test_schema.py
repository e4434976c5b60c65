"""A database from an earlier version is brought up to date in place, or refused by name."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from webapp.extensions import db
from webapp.schema import SchemaError, create_or_upgrade


def test_a_new_nullable_column_is_added_to_an_existing_table_keeping_its_rows(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path / 'old.db'}")
    with app.app_context():
        db.session.execute(text("ALTER TABLE declarations DROP COLUMN revoked_at"))  # as before issue 7
        db.session.commit()

        assert create_or_upgrade() == ["declarations.revoked_at"]
        assert create_or_upgrade() == []
        columns = [row[1] for row in db.session.execute(text("PRAGMA table_info(declarations)"))]
    assert "revoked_at" in columns


def test_a_column_that_cannot_be_added_in_place_is_named(make_app, tmp_path):
    app = make_app(database_url=f"sqlite:///{tmp_path / 'old.db'}")
    with app.app_context():
        db.session.execute(text("ALTER TABLE users DROP COLUMN role"))
        db.session.commit()
        with pytest.raises(SchemaError, match="users.role"):
            create_or_upgrade()
