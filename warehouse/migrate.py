"""Numbered SQL migrations, applied in order and recorded with an md5 checksum.

A migration file is never edited once applied: a changed checksum stops the start-up with a
message naming the file, instead of leaving two machines with different schemas.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

from warehouse.errors import MigrationError, driver_errors

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_STATEMENT_END = re.compile(r";\s*(?:\n|$)")

SCHEMA_VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_versions
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime DEFAULT now()
)
ENGINE = MergeTree
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.md5(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        return [part.strip() for part in _STATEMENT_END.split(self.sql) if _has_code(part)]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lowercase_name.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"two migration files share a number in {directory}")
    return migrations


def apply_migrations(client: Client, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply the migrations not yet recorded; return those applied now."""
    migrations = load_migrations() if migrations is None else migrations
    with driver_errors("creating schema_versions"):
        client.command(SCHEMA_VERSIONS_DDL)
        applied = {
            version: (name, checksum)
            for version, name, checksum in client.query(
                "SELECT version, name, checksum FROM schema_versions"
            ).result_rows
        }
    newly_applied = []
    for migration in migrations:
        if migration.version in applied:
            name, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"{migration.name} was edited after it was applied as {name}: "
                    "add a new migration instead of changing an applied one"
                )
            continue
        with driver_errors(f"applying {migration.name}", MigrationError):
            for statement in migration.statements():
                client.command(statement)
            client.insert(
                "schema_versions",
                [[migration.version, migration.name, migration.checksum]],
                column_names=["version", "name", "checksum"],
            )
        log.info("applied warehouse migration %s", migration.name)
        newly_applied.append(migration)
    return newly_applied


def _has_code(sql: str) -> bool:
    return any(line.strip() and not line.strip().startswith("--") for line in sql.splitlines())
