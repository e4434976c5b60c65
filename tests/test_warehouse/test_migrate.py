"""Numbered migrations with checksums, on the real embedded ClickHouse."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from warehouse.client import connect
from warehouse.errors import MigrationError
from warehouse.migrate import Migration, apply_migrations, load_migrations


@pytest.fixture
def scratch(warehouse, warehouse_url):
    """A client on a fresh database of the session warehouse."""
    client = connect(warehouse_url)
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    client.command(f"CREATE DATABASE {name}")
    client.database = name
    yield client
    client.command(f"DROP DATABASE {name}")


def tables(client) -> set[str]:
    return {row[0] for row in client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows}


def test_project_migrations_create_the_scans_table_once(scratch):
    applied = apply_migrations(scratch)
    assert [m.name for m in applied] == [m.name for m in load_migrations()]
    assert {"scans", "schema_versions"} <= tables(scratch)
    assert apply_migrations(scratch) == []
    versions = scratch.query("SELECT version, checksum FROM schema_versions ORDER BY version").result_rows
    assert versions == [(m.version, m.checksum) for m in load_migrations()]


def test_migrations_apply_in_number_order_with_several_statements(scratch):
    migrations = [
        Migration(1, "0001_a.sql", "CREATE TABLE a (x UInt8) ENGINE = MergeTree ORDER BY x;\n"
                                   "-- a comment between statements\n"
                                   "INSERT INTO a VALUES (7);\n"),
        Migration(2, "0002_b.sql", "CREATE TABLE b ENGINE = MergeTree ORDER BY x AS SELECT x + 1 AS x FROM a"),
    ]
    apply_migrations(scratch, migrations)
    assert scratch.query("SELECT x FROM b").result_rows == [(8,)]


def test_an_edited_applied_migration_stops_the_start(scratch):
    apply_migrations(scratch, [Migration(1, "0001_a.sql", "CREATE TABLE a (x UInt8) ENGINE = Memory")])
    edited = Migration(1, "0001_a.sql", "CREATE TABLE a (x UInt16) ENGINE = Memory")
    with pytest.raises(MigrationError, match="0001_a.sql was edited after it was applied"):
        apply_migrations(scratch, [edited])


def test_a_failing_migration_is_not_recorded(scratch):
    with pytest.raises(MigrationError, match="0001_bad.sql"):
        apply_migrations(scratch, [Migration(1, "0001_bad.sql", "CREATE TABLE nope (x Nonsense) ENGINE = Memory")])
    assert scratch.query("SELECT count() FROM schema_versions").result_rows == [(0,)]


def test_badly_named_migration_files_are_refused(tmp_path: Path):
    (tmp_path / "1_first.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNNN_lowercase_name.sql"):
        load_migrations(tmp_path)
