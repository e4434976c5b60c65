"""One person's scans: keyset paging with an opaque cursor, and the layout that makes it cheap."""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone

import pytest

from streams.records import SCAN_DIRECTIONS
from tests.conftest import random_cccd
from tests.test_warehouse.conftest import BIG_CITIZENS, BIG_ROWS, big_citizen, scan
from warehouse.errors import InvalidCursor, WarehouseError
from warehouse.queries import FIRST_PAGE, MAX_CURSOR_LENGTH, NEXT_PAGE, ScanCursor, scans_of_citizen
from warehouse.writer import write_scans

CURSOR = ScanCursor(datetime(2026, 11, 28, 8, 0, 1, 234000, tzinfo=timezone.utc), "e-1", "chợ Bến Thành", "in")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# The cursor ------------------------------------------------------------------------------

def test_a_cursor_is_an_opaque_url_safe_string_that_reads_back():
    text = CURSOR.encode()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", text)
    assert ScanCursor.decode(text) == CURSOR
    assert ScanCursor.decode(text).ts.tzinfo == timezone.utc


def test_a_cursor_keeps_milliseconds_and_drops_what_the_warehouse_cannot_hold():
    cursor = ScanCursor(datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=timezone.utc), "e", "P", "in")
    assert ScanCursor.decode(cursor.encode()).ts == datetime(2026, 1, 1, 0, 0, 0, 999000, tzinfo=timezone.utc)


def test_a_cursor_keeps_the_precision_and_reads_those_given_out_before_it_existed():
    day = ScanCursor(datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc), "e-1", "P", "in", "day")
    assert ScanCursor.decode(day.encode()) == day
    old = b64(f'{{"t":{CURSOR.ts_ms},"e":"e-1","p":"P","d":"in"}}'.encode())
    assert ScanCursor.decode(old) == ScanCursor(CURSOR.ts, "e-1", "P", "in", "instant")


def test_a_cursor_of_a_long_real_position_is_well_within_the_limit():
    cursor = ScanCursor(CURSOR.ts, "e" * 32, "P" * 64, "turn_back", "instant")
    assert len(cursor.encode()) == 212 < MAX_CURSOR_LENGTH


@pytest.mark.parametrize("text", [
    "",
    "not a cursor",
    "e30",  # {}
    CURSOR.encode() + "=",
    CURSOR.encode()[:-1] + "é",
    CURSOR.encode()[:-3],  # cut off
    "A" * 1025,
    b64(b"\xff\xfe garbage"),
    b64(b"[1, 2, 3]"),
    b64(b'{"t": 1, "e": "e", "p": "P"}'),
    b64(b'{"t": 1, "e": "e", "p": "P", "d": "in", "x": 1}'),
    b64(b'{"t": "1", "e": "e", "p": "P", "d": "in"}'),
    b64(b'{"t": true, "e": "e", "p": "P", "d": "in"}'),
    b64(b'{"t": 1.5, "e": "e", "p": "P", "d": "in"}'),
    b64(b'{"t": 1, "e": 7, "p": "P", "d": "in"}'),
    b64(b'{"t": 1, "e": "e", "p": null, "d": "in"}'),
    b64(b'{"t": 99999999999999999999, "e": "e", "p": "P", "d": "in"}'),
    b64(b'{"t": NaN, "e": "e", "p": "P", "d": "in"}'),
    b64(b"[" * 700),
    b64('{"t": 1, "e": "é", "p": "P", "d": "in"}'.encode()),  # JSON, but not ASCII
    None,
    b"bytes",
])
def test_anything_else_is_an_invalid_cursor(text):
    with pytest.raises(InvalidCursor):
        ScanCursor.decode(text)
    assert issubclass(InvalidCursor, ValueError) and not issubclass(InvalidCursor, WarehouseError)


# Paging ----------------------------------------------------------------------------------

def test_250_scans_come_in_pages_of_100_newest_first_without_gaps_or_repeats(warehouse):
    citizen = random_cccd()
    # Ten scans share each minute and three share each event id (same id, other place): the
    # page boundaries fall inside both groups.
    batch = [scan(f"{citizen}-{i // 3:03d}", citizen, minutes=i // 10, place_id=f"P{i % 3}",
                  direction=SCAN_DIRECTIONS[i % 4]) for i in range(250)]
    write_scans(warehouse, batch)
    write_scans(warehouse, batch[::-1])  # redelivered, in another order

    pages, cursor = [], None
    while True:
        page = scans_of_citizen(warehouse, citizen, limit=100, before=cursor)
        pages.append(page.scans)
        if page.next is None:
            break
        cursor = ScanCursor.decode(page.next.encode())  # as an HTTP client would send it back

    assert [len(p) for p in pages] == [100, 100, 50]
    got = [(r["ts"], r["event_id"], r["place_id"], r["direction"]) for p in pages for r in p]
    expected = sorted(((s.ts, s.event_id, s.place_id, s.direction) for s in batch), reverse=True)
    assert got == expected  # newest first, every scan once, kept-apart rows included


def test_rows_that_differ_only_in_precision_are_paged_once_each(warehouse):
    citizen = random_cccd()
    midnight = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)  # local midnight: day records start there
    batch = [scan(f"{citizen}-{i}", citizen, ts=midnight, precision=precision)
             for i in range(3) for precision in ("instant", "day")]
    write_scans(warehouse, batch)

    seen, cursor = [], None
    while True:
        page = scans_of_citizen(warehouse, citizen, limit=1, before=cursor)
        seen += [(r["event_id"], r["precision"]) for r in page.scans]
        if page.next is None:
            break
        cursor = ScanCursor.decode(page.next.encode())

    assert seen == sorted(((s.event_id, s.precision) for s in batch), reverse=True)


def test_a_page_that_ends_exactly_has_no_next(warehouse):
    citizen = random_cccd()
    write_scans(warehouse, [scan(f"{citizen}-{i}", citizen, minutes=i) for i in range(4)])

    first = scans_of_citizen(warehouse, citizen, limit=2)
    second = scans_of_citizen(warehouse, citizen, limit=2, before=first.next)

    assert [r["event_id"] for r in first.scans + second.scans] == [f"{citizen}-{i}" for i in (3, 2, 1, 0)]
    assert second.next is None


@pytest.mark.parametrize("limit", [0, -1, 1001, True, 10.0])
def test_page_size_is_bounded(warehouse, limit):
    with pytest.raises(ValueError, match="limit"):
        scans_of_citizen(warehouse, random_cccd(), limit=limit)


# The layout on a million rows ------------------------------------------------------------

def primary_key_granules(client, query: str, parameters: dict) -> tuple[int, int]:
    """(selected, total) granules of the primary key, from EXPLAIN indexes = 1 of ``query``."""
    plan = [row[0] for row in client.query("EXPLAIN indexes = 1 " + query, parameters=parameters).result_rows]
    start = next(i for i, line in enumerate(plan) if line.strip() == "PrimaryKey")
    for line in plan[start:]:
        if match := re.search(r"Granules: (\d+)/(\d+)", line):
            return int(match.group(1)), int(match.group(2))
    raise AssertionError("no primary key granules in\n" + "\n".join(plan))


def test_one_persons_scans_are_read_without_scanning_the_table(big_table, record_property):
    client = big_table.client
    record_property("insert_seconds", round(big_table.insert_seconds, 2))
    assert client.command("SELECT count() FROM scans_by_citizen") == BIG_ROWS
    parts = client.command("SELECT count() FROM system.parts"
                           " WHERE database = 'bigtest' AND table = 'scans_by_citizen' AND active")
    citizen = big_citizen(42)

    page = scans_of_citizen(client, citizen, limit=20)
    later = scans_of_citizen(client, citizen, limit=20, before=page.next)
    selected, total = primary_key_granules(client, FIRST_PAGE, {"citizen_id": citizen, "limit": 21})
    selected_later, _ = primary_key_granules(client, NEXT_PAGE, {
        "citizen_id": citizen, "limit": 21, "before_ms": page.next.ts_ms, "before_event_id": page.next.event_id,
        "before_place_id": page.next.place_id, "before_direction": page.next.direction,
        "before_precision": page.next.precision})
    on_place_table, _ = primary_key_granules(client, FIRST_PAGE.replace("scans_by_citizen", "scans"),
                                             {"citizen_id": citizen, "limit": 21})
    record_property("granules", f"{selected}/{total}")

    assert len(page.scans) == len(later.scans) == 20
    assert page.scans[-1]["ts"] > later.scans[0]["ts"]
    assert total >= BIG_ROWS // 8192
    # A person's rows are contiguous in each part: one granule, two where they straddle a
    # boundary. With 8192-row granules and monthly parts that is about 2.5% of this table.
    assert selected <= 2 * parts and selected / total <= 0.05
    assert selected_later <= selected
    # The place-ordered table would read everything for the same question.
    assert on_place_table == total


def test_reading_one_person_stays_under_a_row_budget_that_the_place_table_exceeds(big_table):
    # chDB keeps no query_log and reports result rows as read rows, so the engine enforces it.
    budget = {"max_rows_to_read": BIG_ROWS // 20, "read_overflow_mode": "throw", "use_query_condition_cache": 0}
    parameters = {"citizen_id": big_citizen(BIG_CITIZENS // 2 + 7), "limit": 101}

    rows = big_table.client.query(FIRST_PAGE, parameters=parameters, settings=budget).result_rows
    with pytest.raises(Exception, match="TOO_MANY_ROWS"):
        big_table.client.query(FIRST_PAGE.replace("scans_by_citizen", "scans"), parameters=parameters, settings=budget)

    assert len(rows) == BIG_ROWS // BIG_CITIZENS
