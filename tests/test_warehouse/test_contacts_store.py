"""Contact edges, crowd exposures and rejections: written in revisions, read as they stand now."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.test_warehouse.conftest import T0, crowd, edge, pair, random_place, rejection
from warehouse.contacts import MAX_PLACE_WINDOW, contacts_at_place, crowd_exposures_at_place
from warehouse.errors import TooMuchToRead, WarehouseError
from warehouse.migrate import apply_migrations
from warehouse.writer import write_contacts, write_crowd_exposures, write_rejections

H = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def migrated(scratch):
    apply_migrations(scratch)
    return scratch


def shown(edges) -> list[tuple]:
    return [(e.citizen_a, e.citizen_b, e.revision, e.last_together) for e in edges]


def contacts_of(client, citizen_id: str) -> list[tuple]:
    """One person's current contacts, as tracing reads them from contacts_by_citizen."""
    return client.query(
        "SELECT other_id, revision, last_together FROM contacts_by_citizen FINAL"
        " WHERE citizen_id = {c:String} AND NOT retracted ORDER BY other_id",
        parameters={"c": citizen_id}, tz_mode="aware").result_rows


def row_counts(client, table: str, place_id: str) -> tuple[int, int]:
    """Rows of ``place_id`` in ``table`` as read (FINAL) and as stored."""
    return client.query(
        f"SELECT (SELECT count() FROM {table} FINAL WHERE place_id = {{p:String}}),"
        f"       (SELECT count() FROM {table} WHERE place_id = {{p:String}})", parameters={"p": place_id},
    ).result_rows[0]


def test_only_the_latest_revision_of_an_edge_shows_and_a_retraction_withdraws_it(warehouse):
    place, (a, b) = random_place(), pair()
    first = edge(place, (a, b), revision=10)
    write_contacts(warehouse, [first])
    longer = edge(place, (a, b), revision=12, last_together=first.last_together + H)
    write_contacts(warehouse, [longer])

    assert shown(contacts_at_place(warehouse, place, T0, T0 + DAY)) == [(a, b, 12, longer.last_together)]
    assert contacts_of(warehouse, a) == [(b, 12, longer.last_together)]
    assert contacts_of(warehouse, b) == [(a, 12, longer.last_together)]

    write_contacts(warehouse, [edge(place, (a, b), revision=15, retracted=True)])

    assert contacts_at_place(warehouse, place, T0, T0 + DAY) == []
    assert contacts_of(warehouse, a) == contacts_of(warehouse, b) == []


def test_an_older_revision_arriving_late_does_not_bring_an_edge_back(warehouse):
    place, people = random_place(), pair()
    write_contacts(warehouse, [edge(place, people, revision=7, retracted=True)])
    write_contacts(warehouse, [edge(place, people, revision=3)])  # a replay from further back

    assert contacts_at_place(warehouse, place, T0, T0 + DAY) == []
    assert contacts_of(warehouse, people[0]) == []


def test_edges_differing_in_identity_are_kept_apart(warehouse):
    place, (a, b), (c, d) = random_place(), pair(), pair()
    write_contacts(warehouse, [
        edge(place, (a, b)),
        edge(place, (c, d)),
        edge(place, (a, b), rule_version="bo-y-te-2021-07"),
        edge(place, (a, b), minutes=90),  # met again in a later hour: another window
        edge(random_place(), (a, b)),  # another place
    ])

    found = contacts_at_place(warehouse, place, T0, T0 + DAY)

    assert len(found) == 4
    assert {(e.citizen_a, e.rule_version, e.window_start) for e in found} == {
        (a, "truyvet-default-1", T0), (c, "truyvet-default-1", T0), (a, "bo-y-te-2021-07", T0),
        (a, "truyvet-default-1", T0 + H)}


def test_a_replayed_batch_adds_no_row(migrated):
    place, people = random_place(), pair()
    batch = [edge(place, people, revision=4), edge(place, pair(), revision=4)]
    crowds = [crowd(place, revision=4)]
    for _ in range(3):
        write_contacts(migrated, batch)
        write_crowd_exposures(migrated, crowds)
    for table in ("contacts", "contacts_by_citizen", "crowd_exposures"):
        migrated.command(f"OPTIMIZE TABLE {table} FINAL")

    assert row_counts(migrated, "contacts", place) == (2, 2)
    assert row_counts(migrated, "contacts_by_citizen", place) == (4, 4)
    assert row_counts(migrated, "crowd_exposures", place) == (1, 1)
    assert shown(contacts_at_place(migrated, place, T0, T0 + DAY))[0][2] == 4


@pytest.mark.parametrize("since, until, seen", [
    (T0 - H, T0, False),  # ends as the edge begins
    (T0 - H, T0 + timedelta(minutes=1), True),
    (T0 + timedelta(minutes=20), T0 + H, True),  # the edge's last moment
    (T0 + timedelta(minutes=21), T0 + H, False),
])
def test_an_edge_shows_in_every_window_it_overlaps(warehouse, since, until, seen):
    place = random_place()
    write_contacts(warehouse, [edge(place, pair())])  # together from T0 to T0 + 20 minutes

    assert bool(contacts_at_place(warehouse, place, since, until)) is seen


def test_a_day_long_edge_shows_in_a_window_long_after_its_hour(warehouse):
    place, (a, b) = random_place(), pair()
    write_contacts(warehouse, [edge(place, (a, b), criterion="same_day", last_together=T0 + 22 * H)])

    assert shown(contacts_at_place(warehouse, place, T0 + 21 * H, T0 + 23 * H)) == [(a, b, 1, T0 + 22 * H)]


def test_crowd_exposures_show_their_latest_state_in_the_windows_they_overlap(warehouse):
    place = random_place()
    write_crowd_exposures(warehouse, [crowd(place, 0, 250, revision=1), crowd(place, 2, 300, revision=1)])
    write_crowd_exposures(warehouse, [crowd(place, 0, 420, revision=5), crowd(place, 2, 0, revision=6,
                                                                             retracted=True)])

    found = crowd_exposures_at_place(warehouse, place, T0, T0 + DAY)
    edge_of_hour = crowd_exposures_at_place(warehouse, place, T0 + H, T0 + 2 * H)

    assert [(c.window_start, c.head_count, c.revision) for c in found] == [(T0, 420, 5)]
    assert edge_of_hour == []  # the hour ends as the window begins


def test_a_redelivered_rejection_collapses_and_another_event_under_its_id_does_not(migrated):
    first = rejection()
    other = rejection(event_id=first.event_id, citizen_id="not-even-digits")
    for batch in ([first], [first, other], [first]):
        write_rejections(migrated, batch)
    migrated.command("OPTIMIZE TABLE rejections FINAL")

    rows = migrated.query("SELECT citizen_id FROM rejections ORDER BY citizen_id").result_rows

    assert rows == [("079-not-a-cccd",), ("not-even-digits",)]


def test_a_rejection_keeps_any_id_up_to_64_characters(warehouse):
    write_rejections(warehouse, [rejection(citizen_id="ư" * 64), rejection(citizen_id="")])
    with pytest.raises(WarehouseError, match="Constraint `citizen_id_length`"):
        write_rejections(warehouse, [rejection(citizen_id="9" * 65)])
    with pytest.raises(WarehouseError, match="Constraint `source_is_known`"):
        write_rejections(warehouse, [rejection(source="guess")])


@pytest.mark.parametrize("write, record, field, value", [
    (write_contacts, lambda: edge(random_place(), pair()), "revision", -1),
    (write_contacts, lambda: edge(random_place(), pair()), "retracted", "no"),
    (write_contacts, lambda: edge(random_place(), pair()), "overlap_minutes", True),
    (write_crowd_exposures, lambda: crowd(random_place()), "head_count", 2.5),
    (write_rejections, rejection, "occurred_at", "2026-11-28T08:00:00Z"),
])
def test_a_row_of_the_wrong_types_is_refused_naming_its_event(warehouse, write, record, field, value):
    bad = record()
    setattr(bad, field, value)
    with pytest.raises(WarehouseError, match=f"{bad.event_id}.*{field}") as caught:
        write(warehouse, [record(), bad])
    assert caught.value.transient is False


def test_empty_batches_write_nothing(warehouse):
    assert write_contacts(warehouse, []) == write_crowd_exposures(warehouse, []) == write_rejections(warehouse, []) == 0


def test_injection_attempts_get_nothing(warehouse):
    place = random_place()
    write_contacts(warehouse, [edge(place, pair())])
    assert contacts_at_place(warehouse, f"{place}' OR '1'='1", T0, T0 + DAY) == []


@pytest.mark.parametrize("since, until", [
    (T0, T0),
    (T0 + H, T0),
    (T0.replace(tzinfo=None), T0 + H),
    (T0, T0 + MAX_PLACE_WINDOW + timedelta(seconds=1)),
])
def test_a_place_window_is_two_aware_times_in_order_at_most_a_month_apart(warehouse, since, until):
    with pytest.raises(ValueError):
        contacts_at_place(warehouse, random_place(), since, until)
    with pytest.raises(ValueError):
        crowd_exposures_at_place(warehouse, random_place(), since, until)


def test_a_runaway_number_of_edges_is_refused_not_cut_short(warehouse, monkeypatch):
    place = random_place()
    write_contacts(warehouse, [edge(place, pair()) for _ in range(3)])
    monkeypatch.setattr("warehouse.contacts.MAX_ROWS_READ", 2)

    with pytest.raises(TooMuchToRead, match="more than 2 contacts") as caught:
        contacts_at_place(warehouse, place, T0, T0 + DAY)
    assert caught.value.transient is False
