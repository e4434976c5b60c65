"""Scan logs from CSV files: good rows kept, bad rows reported by line and column, and the CLI."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from ingest.scanlog import UnreadableScanLog, parse_scan_log, place_finder
from tests.conftest import random_cccd

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)  # 19:00 in Viet Nam
PLACES = [("CHO-BT", 10.7725, 106.6980), ("NHA-THO", 10.7798, 106.6990)]


def parse(text: str | bytes, retention: timedelta | None = timedelta(days=30), **options):
    data = text.encode() if isinstance(text, str) else text
    options.setdefault("resolve_place", place_finder(PLACES))
    options.setdefault("known_places", {code for code, _, _ in PLACES})
    return parse_scan_log(data, now=NOW, retention=retention, **options)


def errors(report) -> list[tuple[int, str]]:
    return [(error.line, error.field) for error in report.errors]


def test_good_bad_and_date_only_rows():
    report = parse(
        "citizen_id,place_code,latitude,longitude,time,date,direction\n"
        "001090000001,CHO-BT,,,2026-11-28T08:30:00+07:00,,in\n"      # 2: good, with an offset
        "001090000002,,10.7726,106.6981,2026-11-28 09:15,,ra\n"      # 3: good, by position, Vietnam time
        "001090000003,NHA-THO,,,,2026-11-27,\n"                       # 4: good, a whole day
        "\n"                                                          # 5: blank, skipped
        "00109000000X,CHO-XX,,,2026-11-28 08:00,,up\n"                # 6: three bad columns
        "001090000004,,10.9,106.9,,27/11/2026,\n"                     # 7: no place near
        "001090000005,CHO-BT,,,,,\n"                                  # 8: no time nor date
        "001090000006,CHO-BT,,,2026-11-28,,in\n"                      # 9: a date in the time column
        "001090000007,CHO-BT,,,2026-11-28 08:00,,in,extra\n"          # 10: one value too many
        "001090000008,CHO-BT,,,2026-11-28 08:00,28/11/2026,quay đầu\n"  # 11: good, date agrees
    )

    assert [(s.citizen_id, s.place_id, s.ts, s.precision, s.direction) for s in report.scans] == [
        ("001090000001", "CHO-BT", datetime(2026, 11, 28, 1, 30, tzinfo=timezone.utc), "instant", "in"),
        ("001090000002", "CHO-BT", datetime(2026, 11, 28, 2, 15, tzinfo=timezone.utc), "instant", "out"),
        ("001090000003", "NHA-THO", datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc), "day", "in"),
        ("001090000008", "CHO-BT", datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc), "instant", "turn_back"),
    ]
    assert errors(report) == [(6, "citizen_id"), (6, "place_code"), (6, "direction"), (7, "latitude"),
                              (8, "time"), (9, "time"), (10, "row")]
    assert report.bad_rows == 5 and not report.ok
    assert report.errors[0].message_en == "must be a 12-digit CCCD number"
    assert report.errors[0].message_vi == "phải là số CCCD gồm 12 chữ số"


def test_a_byte_order_mark_semicolons_and_vietnamese_dates_are_read():
    text = "\ufeffcitizen_id;place_code;date\r\n001090000001;CHO-BT;05/11/2026\r\n001090000002;CHO-BT;5/11/2026\r\n"
    report = parse(text.encode())
    assert [(s.ts, s.precision) for s in report.scans] == [(datetime(2026, 11, 4, 17, 0, tzinfo=timezone.utc), "day")] * 2
    assert report.ok


def test_reading_the_file_again_gives_the_same_event_ids_and_equal_rows_count_once():
    text = ("citizen_id,place_code,time,date\n"
            "001090000001,CHO-BT,2026-11-28T08:30:00+07:00,\n"
            "001 090 000 001,CHO-BT,2026-11-28T01:30:00Z,\n"  # the same scan written another way
            "001090000001,CHO-BT,,2026-11-28\n")
    first, second = parse(text), parse(text)

    assert [s.event_id for s in first.scans] == [s.event_id for s in second.scans]
    assert len(first.scans) == 2 and first.duplicates == 1
    assert len({s.event_id for s in first.scans}) == 2
    assert all(len(s.event_id) == 32 for s in first.scans)


@pytest.mark.parametrize("cells, field, message", [
    ("001090000001,CHO-BT,1999-12-31T23:59:59Z,", "time", "is before 2000-01-01"),
    ("001090000001,CHO-BT,0001-01-01T00:00:00+07:00,", "time", "is before 2000-01-01"),
    ("001090000001,CHO-BT,,01/01/0001", "date", "is before 2000-01-01"),
    ("001090000001,CHO-BT,2026-11-28T12:06:00Z,", "time", "is in the future"),
    ("001090000001,CHO-BT,,2026-11-29", "date", "is in the future"),
    ("001090000001,CHO-BT,2026-10-01T08:00:00+07:00,", "time", "is older than the 30-day retention period"),
    ("001090000001,CHO-BT,,31/02/2026", "date", "must be a real date"),
    ("001090000001,CHO-BT,28/11/2026 25:00,", "time", "must be a time"),
    ("001090000001,CHO-BT,２０２６-11-28T08:00,", "time", "must be a time"),
    ("001090000001,CHO-BT,2026-11-28 08:00,27/11/2026", "date", "is not the date of the time given (28/11/2026)"),
    ("012345678,CHO-BT,2026-11-28 08:00,", "citizen_id", "is a 9-digit CMND number"),
    ("1090000001,CHO-BT,2026-11-28 08:00,", "citizen_id", "has 10 digits, not 12"),
    ("００１０９００００００１,CHO-BT,2026-11-28 08:00,", "citizen_id", "must be a 12-digit CCCD"),
    (",CHO-BT,2026-11-28 08:00,", "citizen_id", "is required"),
    ("001090000001,UNKNOWN,2026-11-28 08:00,", "place_code", "is not a registered place"),
    ("001090000001,CHO BT,2026-11-28 08:00,", "place_code", "must be 1-64 letters"),
])
def test_each_rule_names_its_column(cells, field, message):
    report = parse(f"citizen_id,place_code,time,date\n{cells}\n")
    assert errors(report) == [(2, field)]
    assert report.errors[0].message_en.startswith(message)
    assert report.scans == []


def test_the_edges_of_the_time_rules_are_accepted():
    report = parse("citizen_id,place_code,time,date\n"
                   "001090000001,CHO-BT,2026-11-28T12:05:00Z,\n"   # at the clock skew allowed
                   "001090000001,CHO-BT,,2026-11-28\n"              # today, in Viet Nam
                   "001090000001,CHO-BT,2021-07-09T08:30:00.123456+07:00,\n", retention=None)
    assert report.ok
    assert report.scans[2].ts == datetime(2021, 7, 9, 1, 30, 0, 123000, tzinfo=timezone.utc)  # the warehouse's ms


@pytest.mark.parametrize("cells, field", [
    ("10.7726,", "longitude"),
    (",106.6981", "latitude"),
    ("91,106.6981", "latitude"),
    ("10.7726,1e2", "longitude"),
    ("nan,106.6981", "latitude"),
])
def test_positions_are_plain_degrees_given_together(cells, field):
    report = parse(f"citizen_id,latitude,longitude,date\n001090000001,{cells},2026-11-28\n")
    assert errors(report) == [(2, field)]


def test_without_a_place_registry_a_position_is_a_row_error_and_any_code_is_taken():
    report = parse("citizen_id,place_code,latitude,longitude,date\n"
                   "001090000001,,10.7726,106.6981,2026-11-28\n"
                   "001090000001,ANY-PLACE,,,2026-11-28\n", resolve_place=None, known_places=None)
    assert errors(report) == [(2, "latitude")]
    assert [s.place_id for s in report.scans] == ["ANY-PLACE"]


def test_a_quoted_cell_over_two_lines_keeps_the_line_numbers_of_the_rows_after_it():
    report = parse('citizen_id,place_code,date\n"001090000001",CHO-BT,"28/11\n2026"\nbad,CHO-BT,2026-11-28\n')
    assert errors(report) == [(2, "date"), (4, "citizen_id")]


@pytest.mark.parametrize("data, problem", [
    (b"", "is empty"),
    (b"\xef\xbb\xbf\n\n", "is empty"),
    ("citizen_id,place_code,date\n001090000001,Thành,28/11/2026\n".encode("cp1258"), "is not UTF-8 text (line 2, byte 42)"),
    (b"citizen_id,date\n", "missing place_code or latitude and longitude"),
    (b"citizen_id,place_code,latitude\n", "missing time or date"),
    (b"place_code,time\n", "missing citizen_id"),
    (b"citizen_id,place_code,time,dirction\n", "unknown dirction"),
    (b"citizen_id,place_code,time,time\n", "repeated time"),
    (b"citizen_id,place_code,time,\n", "unknown (unnamed)"),
    (b"001090000001,CHO-BT,2026-11-28 08:00\n", "missing citizen_id"),
    (b'citizen_id,place_code,date\n"' + b"0" * 200_000 + b'",CHO-BT,2026-11-28\n', "cannot be read as CSV at line 2"),
])
def test_an_unreadable_file_gives_nothing_and_says_why(data, problem):
    with pytest.raises(UnreadableScanLog, match=re.escape(problem)) as caught:
        parse(data)
    assert caught.value.message.vi


def test_places_are_found_within_the_radius_only():
    find = place_finder([("A", 21.0285, 105.8542), ("B", 21.0285, 105.8552)], radius_m=50)
    assert find(21.0285, 105.8543) == "A"
    assert find(21.0285, 105.8548) == "B"  # ~62 m from A, ~42 m from B
    assert find(21.0285, 105.8547) is None  # ~52 m from each
    assert find(21.0290, 105.8542) is None  # ~56 m north of A
    assert place_finder([], 100)(21.0, 105.0) is None


# truyvet import scans ----------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path):
    """The environment of a `truyvet` run with its own data directory and no reachable Kafka."""
    env = {name: None for name in os.environ if name.startswith("TRUYVET_")}
    env.update(TRUYVET_DATA_DIR=str(tmp_path / "data"), TRUYVET_KAFKA_BOOTSTRAP="127.0.0.1:1",
               TRUYVET_SECRET_KEY="test")
    return env


def register_places(env: dict) -> None:
    from config import Settings
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Place

    settings = Settings.from_env({name: value for name, value in env.items() if value is not None})
    app = create_app(replace(settings, outbox_relay=False))
    try:
        with app.app_context():
            db.create_all()
            for code, latitude, longitude in PLACES:
                db.session.add(Place(code=code, kind="venue", name=code, province_code=79,
                                     latitude=latitude, longitude=longitude))
            db.session.commit()
    finally:
        app.close()


def scan_log(tmp_path, *rows: str) -> str:
    path = tmp_path / "log.csv"
    path.write_text("citizen_id,place_code,latitude,longitude,date\n" + "".join(f"{row}\n" for row in rows))
    return str(path)


def test_the_import_says_nothing_was_accepted_when_kafka_is_unreachable(tmp_path, cli_env):
    from truyvet.import_cli import import_

    register_places(cli_env)
    today = datetime.now(timezone(timedelta(hours=7))).date().isoformat()
    log = scan_log(tmp_path, f"{random_cccd()},CHO-BT,,,{today}", f"{random_cccd()},,10.7798,106.6990,{today}",
                   f"{random_cccd()},NOWHERE,,,{today}")

    result = CliRunner().invoke(import_, ["scans", log], env=cli_env)

    assert result.exit_code == 1, result.output
    assert "line 4: place_code: is not a registered place" in result.stderr
    assert "2 scan(s) read (2 for a whole day), 1 row(s) with errors" in result.stdout
    assert "kafka: 0 of 2 scan(s) accepted" in result.stdout
    assert "2 scan(s) NOT accepted" in result.stderr


def test_a_dry_run_checks_the_file_and_publishes_nothing(tmp_path, cli_env):
    from truyvet.import_cli import import_

    register_places(cli_env)
    today = datetime.now(timezone(timedelta(hours=7))).date().isoformat()
    good = CliRunner().invoke(import_, ["scans", scan_log(tmp_path, f"{random_cccd()},CHO-BT,,,{today}"), "--dry-run"],
                              env=cli_env)
    bad = CliRunner().invoke(import_, ["scans", scan_log(tmp_path, f"{random_cccd()},CHO-BT,,,tomorrow"), "--dry-run"],
                             env=cli_env)

    assert (good.exit_code, bad.exit_code) == (0, 1), good.output + bad.output
    assert "nothing published (dry run)" in good.stdout
    assert "line 2: date: must be a real date" in bad.stderr


def test_an_unreadable_file_is_refused_before_anything_is_published(tmp_path, cli_env):
    from truyvet.import_cli import import_

    path = tmp_path / "places.csv"
    path.write_text("code,kind,name\nCHO-BT,venue,Chợ Bến Thành\n")

    result = CliRunner().invoke(import_, ["scans", str(path)], env=cli_env)

    assert result.exit_code == 1
    assert "the first line must name the columns" in result.stderr
    assert "kafka" not in result.output
