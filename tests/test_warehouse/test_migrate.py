"""Numbered migrations with checksums, on the real embedded ClickHouse."""
from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.errors import MigrationError
from warehouse.migrate import Migration, apply_migrations, load_migrations


def tables(client) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows
    return {name for (name,) in rows}


def test_project_migrations_create_the_scan_tables_once(scratch):
    applied = apply_migrations(scratch)
    assert [m.name for m in applied] == [m.name for m in load_migrations()]
    assert {"scans", "scans_by_citizen", "scans_by_citizen_mv", "schema_versions"} <= tables(scratch)
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


# The scan tables' layout (0002, with 0003's precision) ---------------------------------------

def layout(client, table: str) -> tuple[str, str, str, str]:
    return client.query(
        "SELECT engine, partition_key, sorting_key, engine_full FROM system.tables"
        " WHERE database = currentDatabase() AND name = {table:String}", parameters={"table": table},
    ).result_rows[0]


def test_scans_are_keyed_by_all_their_content_without_a_ttl(scratch):
    apply_migrations(scratch)

    engine, partition, key, full = layout(scratch, "scans")
    assert (engine, partition, key) == (
        "ReplacingMergeTree", "toYYYYMM(ts)", "place_id, ts, event_id, citizen_id, direction, precision")
    assert " TTL " not in full
    engine, partition, key, full = layout(scratch, "scans_by_citizen")
    assert (engine, partition, key) == (
        "ReplacingMergeTree", "toYYYYMM(ts)", "citizen_id, ts, event_id, place_id, direction, precision")
    assert " TTL " not in full
    assert "PROJECTION" not in scratch.command("SHOW CREATE TABLE scans")


def fill_old_layout(client, months: int) -> None:
    """0001's table with ten scans a month, two invalid ones and a redelivered copy."""
    for first_month in range(0, months, 50):  # 0001's table takes at most 100 months per insert
        client.command(f"""
            INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)
            SELECT toString(number), leftPad(toString(number % 7), 12, '0'), 'P' || toString(number % 3),
                   toDateTime64('2030-01-01 00:00:00', 3, 'UTC') + toIntervalMonth(intDiv(number, 10)), 'in'
            FROM numbers({first_month * 10}, {min(50, months - first_month) * 10})""")
    client.command("""
        INSERT INTO scans (event_id, citizen_id, place_id, ts, direction) VALUES
            ('bad-id', 'not-a-cccd', 'P0', '2030-01-01 00:00:00', 'in'),
            ('bad-place', '000000000001', '', '2030-01-01 00:00:00', 'in'),
            ('0', '000000000000', 'P0', '2030-01-01 00:00:00', 'in')""")


def counts(client) -> tuple[int, int, int]:
    return client.query(
        "SELECT (SELECT count() FROM scans FINAL), (SELECT count() FROM scans_by_citizen FINAL),"
        " (SELECT count() FROM scans_invalid_0002)"
    ).result_rows[0]


def test_0002_moves_old_rows_and_sets_invalid_ones_aside(scratch):
    first, second = load_migrations()[:2]
    apply_migrations(scratch, [first])
    fill_old_layout(scratch, months=150)  # more than one insert may touch

    apply_migrations(scratch, [first, second])

    assert counts(scratch) == (1500, 1500, 2)
    assert sorted(r[0] for r in scratch.query("SELECT event_id FROM scans_invalid_0002").result_rows) == [
        "bad-id", "bad-place"]
    assert "scans_0001" not in tables(scratch)
    # The view feeds the citizen table from now on.
    scratch.command("INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)"
                    " VALUES ('new', '000000000009', 'P1', '2031-01-01 00:00:00', 'in')")
    assert scratch.command("SELECT count() FROM scans_by_citizen FINAL WHERE event_id = 'new'") == 1


@pytest.mark.parametrize("done", range(len(load_migrations()[1].statements()) + 1))
def test_0002_can_run_again_after_failing_half_way(scratch, done):
    first, second = load_migrations()[:2]
    apply_migrations(scratch, [first])
    fill_old_layout(scratch, months=3)
    for statement in second.statements()[:done]:  # as if the next statement had failed
        scratch.command(statement)

    apply_migrations(scratch, [first, second])

    assert counts(scratch) == (30, 30, 2)
    assert layout(scratch, "scans")[2] == "place_id, ts, event_id, citizen_id, direction"
    scratch.command("INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)"
                    " VALUES ('new', '000000000009', 'P1', '2031-01-01 00:00:00', 'in')")
    assert scratch.command("SELECT count() FROM scans_by_citizen WHERE event_id = 'new'") == 1


# 0003: scans get a precision ----------------------------------------------------------------

def precisions(client) -> tuple[list, list]:
    """(precision, count) per table, read FINAL: both tables must say the same."""
    return tuple(client.query(
        f"SELECT precision, count() FROM {table} FINAL GROUP BY precision ORDER BY precision").result_rows
        for table in ("scans", "scans_by_citizen"))


def fill_0002_layout(client, months: int) -> None:
    """0002's table with ten valid scans a month and a redelivered copy."""
    for first_month in range(0, months, 50):  # one insert may touch at most 100 months
        client.command(f"""
            INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)
            SELECT toString(number), leftPad(toString(number % 7), 12, '0'), 'P' || toString(number % 3),
                   toDateTime64('2030-01-01 00:00:00', 3, 'UTC') + toIntervalMonth(intDiv(number, 10)), 'in'
            FROM numbers({first_month * 10}, {min(50, months - first_month) * 10})""")
    client.command("INSERT INTO scans (event_id, citizen_id, place_id, ts, direction)"
                   " VALUES ('0', '000000000000', 'P0', '2030-01-01 00:00:00', 'in')")


def test_0003_keeps_every_row_as_an_instant_and_keys_by_precision(scratch):
    first, second, third = load_migrations()[:3]
    apply_migrations(scratch, [first, second])
    fill_0002_layout(scratch, months=150)  # more than one insert may touch

    apply_migrations(scratch, [first, second, third])

    assert precisions(scratch) == ([("instant", 1500)], [("instant", 1500)])
    assert layout(scratch, "scans")[2] == "place_id, ts, event_id, citizen_id, direction, precision"
    # The view carries the precision; the same event with another precision is kept apart.
    scratch.command("INSERT INTO scans (event_id, citizen_id, place_id, ts, direction, precision)"
                    " VALUES ('0', '000000000000', 'P0', '2029-12-31 17:00:00', 'in', 'day'),"
                    "        ('0', '000000000000', 'P0', '2029-12-31 17:00:00', 'in', 'instant')")
    assert precisions(scratch) == ([("day", 1), ("instant", 1501)], [("day", 1), ("instant", 1501)])


@pytest.mark.parametrize("done", range(len(load_migrations()[2].statements()) + 1))
def test_0003_can_run_again_after_failing_half_way(scratch, done):
    first, second, third = load_migrations()[:3]
    apply_migrations(scratch, [first, second])
    fill_0002_layout(scratch, months=3)
    for statement in third.statements()[:done]:  # as if the next statement had failed
        scratch.command(statement)

    apply_migrations(scratch, [first, second, third])

    assert precisions(scratch) == ([("instant", 30)], [("instant", 30)])
    assert layout(scratch, "scans_by_citizen")[2] == "citizen_id, ts, event_id, place_id, direction, precision"
    scratch.command("INSERT INTO scans (event_id, citizen_id, place_id, ts, direction, precision)"
                    " VALUES ('new', '000000000009', 'P1', '2030-12-31 17:00:00', 'in', 'day')")
    assert scratch.command("SELECT precision FROM scans_by_citizen WHERE event_id = 'new'") == "day"
