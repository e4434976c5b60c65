"""`truyvet import contacts`: a contact log into the warehouse, bad rows by line, once however often."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from tests.conftest import random_cccd
from tests.test_ingest.test_scanlog import register_places
from truyvet.import_cli import import_
from warehouse.imported import imported_contacts_of

VIETNAM = timezone(timedelta(hours=7))
HEADER = "citizen_a,citizen_b,start,end,duration_minutes,setting,source,place_code,note\n"


@pytest.fixture
def cli_env(tmp_path, warehouse, warehouse_url):
    """A `truyvet` run with its own data directory, the session's (migrated) warehouse, no Kafka."""
    env = {name: None for name in os.environ if name.startswith("TRUYVET_")}
    env.update(TRUYVET_DATA_DIR=str(tmp_path / "data"), TRUYVET_KAFKA_BOOTSTRAP="127.0.0.1:1",
               TRUYVET_SECRET_KEY="test", TRUYVET_CLICKHOUSE_URL=warehouse_url)
    register_places(env)  # CHO-BT and NHA-THO
    return env


@pytest.fixture
def people() -> list[str]:
    found: set[str] = set()
    while len(found) < 3:
        found.add(random_cccd())
    return sorted(found)


def hours_ago(hours: float) -> datetime:
    """A log's time in Vietnam, seconds dropped."""
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).astimezone(VIETNAM).replace(second=0, microsecond=0)


def contact_log(tmp_path, *rows: str) -> str:
    path = tmp_path / "tiep-xuc.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8-sig")
    return str(path)


def invoke(env, *args: str):
    return CliRunner().invoke(import_, ["contacts", *args], env=env)


def stored(warehouse, people: list[str]) -> list[tuple]:
    window = (datetime.now(timezone.utc) - timedelta(days=2), datetime.now(timezone.utc))
    return [(row.citizen_id, row.other_id, row.minutes, row.setting, row.source, row.place_id)
            for row in imported_contacts_of(warehouse, people, *window)]


def raw_rows(warehouse, people: list[str]) -> int:
    return warehouse.query("SELECT count() FROM imported_contacts WHERE citizen_a IN {p:Array(String)}",
                           parameters={"p": people}).result_rows[0][0]


def test_a_good_file_is_stored_and_counted_and_a_second_import_adds_nothing(tmp_path, cli_env, warehouse, people):
    a, b, c = people
    start = hours_ago(5)
    log = contact_log(tmp_path,
                      f"{b},{a},{start:%d/%m/%Y %H:%M},,45,gia đình,phỏng vấn,,ngủ cùng phòng",
                      f"{a},{c},{start.isoformat()},{(start + timedelta(minutes=30)).isoformat()},,workplace,device,CHO-BT,",
                      f"{a},{c},{start.isoformat()},{(start + timedelta(minutes=30)).isoformat()},,workplace,device,CHO-BT,")

    first = invoke(cli_env, log)
    again = invoke(cli_env, log)

    assert first.exit_code == 0, first.output
    assert "2 contact(s) read, 0 row(s) with errors, 1 repeated row(s) counted once" in first.stdout
    assert "warehouse: 2 added, 0 updated (another place), 0 already stored" in first.stdout
    assert stored(warehouse, [a]) == [(a, b, 45.0, "household", "interview", ""),
                                      (a, c, 30.0, "workplace", "device", "CHO-BT")]
    assert stored(warehouse, [c]) == [(c, a, 30.0, "workplace", "device", "CHO-BT")]
    assert again.exit_code == 0, again.output
    assert "warehouse: 0 added, 0 updated (another place), 2 already stored" in again.stdout
    assert raw_rows(warehouse, people) == 2


def test_bad_rows_are_reported_by_line_the_good_ones_stored_and_the_exit_code_is_1(tmp_path, cli_env, warehouse, people):
    a, b, c = people
    start = hours_ago(3)
    log = contact_log(tmp_path,
                      f"{a},{b},{start:%Y-%m-%d %H:%M},,20,school,interview,,",
                      f"{a},{a},{start:%Y-%m-%d %H:%M},,20,school,interview,,",                 # line 3
                      f"{a},{c},{start:%Y-%m-%d %H:%M},{start - timedelta(hours=1):%Y-%m-%d %H:%M},,school,device,,",
                      f"{b},{c},{start:%Y-%m-%d %H:%M},,20,church,device,NOWHERE,",             # line 5
                      f"{b},1090000001,{start:%Y-%m-%d %H:%M},,20,other,other,,")               # line 6

    result = invoke(cli_env, log)

    assert result.exit_code == 1, result.output
    for line in ("line 3: citizen_b: is the same person as citizen_a / trùng với người ở cột citizen_a",
                 "line 4: end: must be after start", "line 5: setting: must be one of household",
                 "line 5: place_code: is not a registered place", "line 6: citizen_b: has 10 digits, not 12"):
        assert line in result.stderr
    assert "1 contact(s) read, 4 row(s) with errors" in result.stdout
    assert "warehouse: 1 added" in result.stdout
    assert stored(warehouse, people) == [(a, b, 20.0, "school", "interview", ""), (b, a, 20.0, "school", "interview", "")]


def test_a_dry_run_checks_the_file_and_stores_nothing(tmp_path, cli_env, warehouse, people):
    a, b, _ = people
    start = hours_ago(2)
    good = invoke(cli_env, contact_log(tmp_path, f"{a},{b},{start.isoformat()},,15,social,device,NHA-THO,"), "--dry-run")
    bad = invoke(cli_env, contact_log(tmp_path, f"{a},{b},{start.isoformat()},,1500,social,device,,"), "--dry-run")

    assert (good.exit_code, bad.exit_code) == (0, 1), good.output + bad.output
    assert "1 contact(s) read, 0 row(s) with errors" in good.stdout
    assert "nothing stored (dry run)" in good.stdout and "warehouse:" not in good.stdout
    assert "line 2: duration_minutes: must be a number of minutes above 0 and at most 1440" in bad.stderr
    assert stored(warehouse, people) == [] and raw_rows(warehouse, people) == 0


def test_an_unreadable_file_is_refused_before_anything_is_stored(tmp_path, cli_env):
    path = tmp_path / "sociopatterns.csv"
    path.write_text("t,i,j\n1385982020,1157,1232\n")

    result = invoke(cli_env, str(path))

    assert result.exit_code == 1
    assert "the first line must name the columns" in result.stderr
    assert "missing citizen_a, citizen_b, start" in result.stderr
    assert "warehouse" not in result.output
