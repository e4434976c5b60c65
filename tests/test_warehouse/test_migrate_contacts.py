"""0004: contacts, crowd exposures, rejections, and the registry flag on scans."""
from __future__ import annotations

import pytest

from tests.test_warehouse.conftest import edge, pair, random_place, verified_scan
from tests.test_warehouse.test_migrate import fill_0002_layout, layout, tables
from warehouse.errors import WarehouseError
from warehouse.migrate import apply_migrations, load_migrations
from warehouse.writer import write_contacts, write_scans

NEW_TABLES = {"contacts", "contacts_by_citizen", "contacts_by_citizen_mv", "crowd_exposures", "rejections"}


def up_to_0003_with_scans(client, months: int = 3) -> None:
    apply_migrations(client, load_migrations()[:3])
    fill_0002_layout(client, months)


def scan_counts(client) -> tuple[list, list]:
    """(registered, count) in scans, and the row count of scans_by_citizen, read FINAL."""
    return (client.query("SELECT registered, count() FROM scans FINAL GROUP BY registered").result_rows,
            client.query("SELECT count() FROM scans_by_citizen FINAL").result_rows)


def test_a_fresh_warehouse_gets_the_contact_tables_keyed_for_their_reads(scratch):
    apply_migrations(scratch)

    assert NEW_TABLES <= tables(scratch)
    assert layout(scratch, "contacts")[:3] == (
        "ReplacingMergeTree", "toYYYYMM(window_start)", "place_id, window_start, citizen_a, citizen_b, rule_version")
    assert layout(scratch, "contacts_by_citizen")[:3] == (
        "ReplacingMergeTree", "toYYYYMM(window_start)", "citizen_id, window_start, other_id, place_id, rule_version")
    assert layout(scratch, "crowd_exposures")[2] == "place_id, window_start"
    assert all(" TTL " not in layout(scratch, table)[3] for table in NEW_TABLES - {"contacts_by_citizen_mv"})
    # The registry flag is derived, not content: it stays out of the key.
    assert layout(scratch, "scans")[2] == "place_id, ts, event_id, citizen_id, direction, precision"


def test_a_warehouse_at_0003_keeps_its_scans_and_calls_them_registered(scratch):
    up_to_0003_with_scans(scratch)

    apply_migrations(scratch)

    assert scan_counts(scratch) == ([(True, 30)], [(30,)])
    assert NEW_TABLES <= tables(scratch)
    # New scans carry their flag; re-verifying a scan replaces its flag instead of adding a row.
    unknown = verified_scan("v-1", "000000000042", registered=False)
    write_scans(scratch, [unknown])
    write_scans(scratch, [verified_scan("v-1", "000000000042", registered=True)])
    assert scan_counts(scratch) == ([(True, 31)], [(31,)])


@pytest.mark.parametrize("done", range(len(load_migrations()[3].statements()) + 1))
def test_0004_can_run_again_after_failing_half_way(scratch, done):
    up_to_0003_with_scans(scratch)
    for statement in load_migrations()[3].statements()[:done]:  # as if the next statement had failed
        scratch.command(statement)

    apply_migrations(scratch)

    assert scan_counts(scratch) == ([(True, 30)], [(30,)])
    place, people = random_place(), pair()
    write_contacts(scratch, [edge(place, people)])
    assert scratch.query("SELECT citizen_id, other_id FROM contacts_by_citizen ORDER BY citizen_id").result_rows == [
        people, people[::-1]]


@pytest.mark.parametrize("changes, constraint", [
    ({"citizen_a": "07900000000"}, "citizen_a_is_cccd"),
    ({"citizen_b": "079000000001\n"}, "citizen_b_is_cccd"),
    ({"place_id": ""}, "place_id_length"),
])
def test_contacts_refuse_what_no_producer_should_send(warehouse, changes, constraint):
    with pytest.raises(WarehouseError, match=f"Constraint `{constraint}`") as caught:
        write_contacts(warehouse, [edge(**{"place_id": random_place(), "citizens": pair(), **changes})])
    assert (caught.value.code, caught.value.transient) == (469, False)


def test_a_pair_is_stored_in_one_order_only(warehouse):
    a, b = pair()
    for people in ((b, a), (a, a)):
        with pytest.raises(WarehouseError, match="Constraint `pair_is_ordered`"):
            write_contacts(warehouse, [edge(random_place(), people)])
