"""Imported contacts: stored once whatever the order of the pair, read by person, kept as long as scans."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from ingest.contactlog import SETTINGS, SOURCES, LoggedContact
from tests.test_warehouse.conftest import T0, pair
from warehouse import imported
from warehouse.errors import TooMuchToRead, WarehouseError
from warehouse.imported import (ImportedContact, StoreResult, imported_contacts_of, store_imported_contacts,
                                write_imported_contacts)
from warehouse.migrate import apply_migrations
from warehouse.retention import apply_retention, current_ttls

H = timedelta(hours=1)
DAY = timedelta(days=1)


def contact(citizens: tuple[str, str], minutes: float = 0, length: timedelta = timedelta(minutes=20),
            **changes) -> LoggedContact:
    """A household contact by interview starting ``minutes`` after T0."""
    start = T0 + timedelta(minutes=minutes)
    values = dict(citizen_a=citizens[0], citizen_b=citizens[1], started_at=start, ended_at=start + length,
                  setting="household", source="interview", place_id="")
    return LoggedContact(**{**values, **changes})


def stored_rows(client, citizens: tuple[str, str]) -> int:
    """Rows as stored (no FINAL) in both tables for the pair: what a re-import must not add to."""
    return client.query(
        "SELECT (SELECT count() FROM imported_contacts WHERE citizen_a = {a:String} AND citizen_b = {b:String}),"
        "       (SELECT count() FROM imported_contacts_by_citizen WHERE citizen_id IN ({a:String}, {b:String}))",
        parameters={"a": citizens[0], "b": citizens[1]}).result_rows[0]


@pytest.fixture
def migrated(scratch):
    apply_migrations(scratch)
    return scratch


def test_a_contact_is_read_as_each_persons_with_its_minutes(warehouse):
    (a, b), (c, d) = pair(), pair()
    first = contact((a, b), place_id="CHO-BT")
    other = contact((c, d), minutes=30, setting="school", source="device")

    assert store_imported_contacts(warehouse, [first, other]) == StoreResult(added=2)

    assert imported_contacts_of(warehouse, [a], T0, T0 + DAY) == [ImportedContact(
        a, b, first.started_at, first.ended_at, 20.0, "household", "interview", "CHO-BT", first.contact_id)]
    assert [(row.citizen_id, row.other_id) for row in imported_contacts_of(warehouse, {b, c}, T0, T0 + DAY)] == sorted(
        [(b, a), (c, d)])  # by person
    assert [(row.citizen_id, row.other_id) for row in imported_contacts_of(warehouse, [a, b], T0, T0 + DAY)] == [
        (a, b), (b, a)]  # between two of the people asked about: once as each one's


def test_importing_again_adds_no_row_and_another_place_corrects_the_stored_one(warehouse):
    people = pair()
    contacts = [contact(people), contact(people, minutes=60, setting="social")]
    store_imported_contacts(warehouse, contacts)
    rows = stored_rows(warehouse, people)

    assert store_imported_contacts(warehouse, contacts) == StoreResult(unchanged=2)
    assert stored_rows(warehouse, people) == rows == (2, 4)

    moved = replace(contacts[1], place_id="NHA-THO")
    assert store_imported_contacts(warehouse, [contacts[0], moved]) == StoreResult(updated=1, unchanged=1)
    assert [row.place_id for row in imported_contacts_of(warehouse, [people[0]], T0, T0 + DAY)] == ["", "NHA-THO"]
    assert [row.place_id for row in imported_contacts_of(warehouse, [people[1]], T0, T0 + DAY)] == ["", "NHA-THO"]


def test_copies_written_by_two_imports_at_once_read_as_one(warehouse):
    people = pair()
    write_imported_contacts(warehouse, [contact(people)])
    write_imported_contacts(warehouse, [contact(people)])

    assert len(imported_contacts_of(warehouse, [people[0]], T0, T0 + DAY)) == 1
    assert store_imported_contacts(warehouse, [contact(people)]) == StoreResult(unchanged=1)


def test_contacts_differing_in_identity_are_kept_apart(warehouse):
    people = pair()
    same = contact(people)
    store_imported_contacts(warehouse, [
        same, replace(same, setting="workplace"), replace(same, source="device"),
        replace(same, ended_at=same.ended_at + H), replace(same, started_at=same.started_at - H)])

    assert len(imported_contacts_of(warehouse, [people[0]], T0 - DAY, T0 + DAY)) == 5


def test_a_window_takes_the_contacts_overlapping_it_including_one_that_started_the_day_before(warehouse):
    a, b = pair()
    long_one = contact((a, b), minutes=-23 * 60, length=MAX_HOURS)  # T0 - 23 h to T0 + 1 h
    before = contact((a, b), minutes=-60, length=timedelta(minutes=60))  # ends at T0
    inside = contact((a, b), minutes=30)
    after = contact((a, b), minutes=120)
    store_imported_contacts(warehouse, [long_one, before, inside, after])

    found = imported_contacts_of(warehouse, [a], T0, T0 + 2 * H)

    assert [row.started_at for row in found] == [long_one.started_at, before.started_at, inside.started_at]
    assert [row.minutes for row in found] == [24 * 60.0, 60.0, 20.0]
    assert imported_contacts_of(warehouse, [a], T0 + 3 * H, T0 + DAY) == []


def test_values_are_bound_never_interpolated(warehouse):
    a, b = pair()
    store_imported_contacts(warehouse, [contact((a, b))])

    assert imported_contacts_of(warehouse, [f"{a}' OR 1=1 --", "x') OR (1=1"], T0, T0 + DAY) == []
    assert imported_contacts_of(warehouse, [], T0, T0 + DAY) == []


@pytest.mark.parametrize("since, until, citizens", [
    (T0, T0, ["079090000001"]),
    (T0 + H, T0, ["079090000001"]),
    (T0.replace(tzinfo=None), T0 + H, ["079090000001"]),
    (T0, T0 + H, "079090000001"),
    (T0, T0 + H, [79090000001]),
])
def test_a_window_or_people_that_make_no_sense_are_refused(warehouse, since, until, citizens):
    with pytest.raises(ValueError):
        imported_contacts_of(warehouse, citizens, since, until)


def test_an_answer_too_large_is_refused_not_cut_short(warehouse, monkeypatch):
    a, b = pair()
    store_imported_contacts(warehouse, [contact((a, b), minutes=m) for m in range(0, 90, 30)])
    monkeypatch.setattr(imported, "MAX_ROWS_READ", 2)

    with pytest.raises(TooMuchToRead, match="ask for a shorter window"):
        imported_contacts_of(warehouse, [a], T0, T0 + DAY)


def test_large_imports_go_in_batches_and_are_counted_across_them(warehouse, monkeypatch):
    monkeypatch.setattr(imported, "BATCH", 3)
    people = pair()
    contacts = [contact(people, minutes=m) for m in range(0, 7 * 30, 30)]
    store_imported_contacts(warehouse, contacts[:4])

    assert store_imported_contacts(warehouse, contacts[::-1]) == StoreResult(added=3, unchanged=4)
    assert len(imported_contacts_of(warehouse, [people[1]], T0, T0 + DAY)) == 7
    assert stored_rows(warehouse, people) == (7, 14)


def test_every_setting_and_source_of_the_file_format_is_one_the_table_takes(warehouse):
    people = pair()
    kinds = [(setting, "interview") for setting in SETTINGS] + [("other", source) for source in SOURCES]
    store_imported_contacts(warehouse, [contact(people, minutes=i, setting=setting, source=source)
                                        for i, (setting, source) in enumerate(kinds)])
    assert len(imported_contacts_of(warehouse, [people[0]], T0, T0 + DAY)) == len(kinds)


@pytest.mark.parametrize("changes", [
    dict(setting="church"),
    dict(source="app"),
    dict(ended_at=T0),
    dict(ended_at=T0 + timedelta(hours=24, milliseconds=1)),
    dict(citizen_a="999999999999"),  # after citizen_b: the pair is not in order
    dict(citizen_a="07909000000X"),
    dict(started_at=datetime(1999, 12, 31, 23, 0, tzinfo=timezone.utc),
         ended_at=datetime(1999, 12, 31, 23, 30, tzinfo=timezone.utc)),
    dict(place_id="P" * 65),
])
def test_the_table_refuses_what_the_file_format_refuses(migrated, changes):
    with pytest.raises(WarehouseError, match="violated") as caught:
        write_imported_contacts(migrated, [contact(pair(), **changes)])
    assert caught.value.transient is False
    assert migrated.query("SELECT count() FROM imported_contacts").result_rows == [(0,)]


def test_imported_contacts_are_kept_as_long_as_scans_from_their_end(migrated):
    tables = ["imported_contacts", "imported_contacts_by_citizen"]
    long_ago = datetime(2001, 1, 1, 8, tzinfo=timezone.utc)
    recent = datetime.now(timezone.utc).replace(microsecond=0) - 2 * H
    (a, b), (c, d) = pair(), pair()
    store_imported_contacts(migrated, [contact((a, b), started_at=long_ago, ended_at=long_ago + H),
                                       contact((c, d), started_at=recent, ended_at=recent + H)])

    assert apply_retention(migrated, 30) is True
    assert current_ttls(migrated, tables) == {table: "toDateTime(ended_at) + toIntervalDay(30)" for table in tables}
    for table in tables:
        migrated.command(f"OPTIMIZE TABLE {table} FINAL")

    assert migrated.query("SELECT citizen_a FROM imported_contacts").result_rows == [(c,)]
    assert sorted(migrated.query("SELECT citizen_id FROM imported_contacts_by_citizen").result_rows) == [(c,), (d,)]
    assert apply_retention(migrated, 0) is True
    assert set(current_ttls(migrated, tables).values()) == {None}


def test_without_the_migration_the_error_says_to_apply_it(scratch):
    with pytest.raises(WarehouseError, match=r"no table imported_contacts: apply the warehouse migrations") as caught:
        store_imported_contacts(scratch, [contact(pair())])
    assert caught.value.transient is False


MAX_HOURS = imported.MAX_DURATION
