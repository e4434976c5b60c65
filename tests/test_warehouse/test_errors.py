"""Which warehouse errors are worth retrying: a table of examples, then chDB's real answers."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError, ProgrammingError

from tests.conftest import random_cccd
from tests.test_warehouse.conftest import scan
from warehouse.errors import TRANSIENT_CODES, WarehouseError, driver_errors, is_transient
from warehouse.writer import write_scans

TOO_MANY_PARTITIONS = (
    "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). The limit is "
    "controlled by 'max_partitions_per_insert_block' setting. (TOO_MANY_PARTS)"
)


@pytest.mark.parametrize("code, message, transient", [
    (None, "HTTPDriver for http://ch:8123 received ClickHouse error: connection refused", True),
    (3, "Code: 3. DB::Exception: Unexpected end of file", True),
    (23, "Code: 23. DB::Exception: Cannot read from istream", True),
    (24, "Code: 24. DB::Exception: Cannot write to ostream", True),
    (32, "Code: 32. DB::Exception: Attempt to read after eof", True),
    (159, "Code: 159. DB::Exception: Timeout exceeded: elapsed 30 seconds", True),
    (164, "Code: 164. DB::Exception: Cannot execute query in readonly mode", True),
    (202, "Code: 202. DB::Exception: Too many simultaneous queries", True),
    (203, "Code: 203. DB::Exception: No free connection", True),
    (209, "Code: 209. DB::NetException: Timeout exceeded while reading from socket", True),
    (210, "Code: 210. DB::NetException: Connection refused", True),
    (241, "Code: 241. DB::Exception: Memory limit (total) exceeded", True),
    (242, "Code: 242. DB::Exception: Table is in readonly mode", True),
    (252, "Code: 252. DB::Exception: Too many parts (3000) in table. Merges are processing "
          "significantly slower than inserts", True),
    (252, TOO_MANY_PARTITIONS, False),
    (285, "Code: 285. DB::Exception: Number of alive replicas (1) is less than requested quorum (2)", True),
    (286, "Code: 286. DB::Exception: Quorum for previous write has not been satisfied yet", True),
    (319, "Code: 319. DB::Exception: Unknown status of insert", True),
    (394, "Code: 394. DB::Exception: Query was cancelled", True),
    (425, "Code: 425. DB::Exception: System error", True),
    (999, "Code: 999. Coordination::Exception: Connection loss", True),
    (1000, "Code: 1000. DB::Exception: Poco exception", True),
    (469, "Code: 469. DB::Exception: Constraint `citizen_id_is_cccd` for table scans is violated", False),
    (6, "Code: 6. DB::Exception: Cannot parse string 'x' as Int32", False),
    (53, "Code: 53. DB::Exception: Type mismatch in IN or VALUES section", False),
    (60, "Code: 60. DB::Exception: Unknown table expression identifier 'scans'", False),
    (62, "Code: 62. DB::Exception: Syntax error", False),
    (691, "Code: 691. DB::Exception: Unknown element 'sideways' for enum", False),
])
def test_errors_are_transient_by_code_and_message(code, message, transient):
    assert is_transient(code, message) is transient
    assert WarehouseError(message, code=code).transient is transient


def test_a_transient_flag_overrides_the_code():
    assert WarehouseError("row refused before sending", transient=False).transient is False
    assert WarehouseError("x", code=469, transient=True).transient is True


@pytest.mark.parametrize("raised, code, transient", [
    (OperationalError("Error HTTPConnectionPool(host='ch', port=8123): Max retries exceeded"), None, True),
    (DatabaseError("Code: 469. DB::Exception: Constraint violated", code=469), 469, False),
    # The text carries the code when the attribute does not.
    (DatabaseError("Code: 241. DB::Exception: Memory limit (total) exceeded"), 241, True),
    (ProgrammingError("The client has been closed"), None, True),
    # clickhouse-connect could not serialize the rows: they will never go.
    (DataError("Invalid None value in non-Nullable column, column name: `citizen_id`"), None, False),
])
def test_driver_errors_are_wrapped_keeping_code_and_kind(raised, code, transient):
    with pytest.raises(WarehouseError, match="^writing failed: ") as caught:
        with driver_errors("writing"):
            raise raised
    assert (caught.value.code, caught.value.transient) == (code, transient)
    assert caught.value.__cause__ is raised


def test_chdb_engine_errors_are_wrapped_too(warehouse):
    from chdb import ChdbError  # loaded by the session warehouse

    with pytest.raises(WarehouseError) as caught:
        with driver_errors("writing"):
            raise ChdbError("Code: 210. DB::NetException: Connection refused (NETWORK_ERROR)")
    assert (caught.value.code, caught.value.transient) == (210, True)


def test_other_exceptions_are_not_driver_errors():
    with pytest.raises(KeyError):
        with driver_errors("writing"):
            raise KeyError("a bug, not the warehouse")


def test_transient_codes_are_named_as_clickhouse_names_them(warehouse):
    rows = warehouse.query("SELECT number, errorCodeToName(toUInt32(number)) FROM system.numbers"
                           " WHERE number IN {codes:Array(UInt32)} LIMIT {n:UInt32}",
                           parameters={"codes": list(TRANSIENT_CODES), "n": len(TRANSIENT_CODES)}).result_rows
    assert dict(rows) == TRANSIENT_CODES


# chDB's real answers ---------------------------------------------------------------------

def test_a_batch_spanning_more_than_100_months_is_permanent(warehouse):
    citizen = random_cccd()
    batch = [scan(f"{citizen}-{m}", citizen, ts=datetime(2010 + m // 12, m % 12 + 1, 1, tzinfo=timezone.utc))
             for m in range(101)]

    with pytest.raises(WarehouseError, match="Too many partitions for single INSERT block") as caught:
        write_scans(warehouse, batch)

    assert (caught.value.code, caught.value.transient) == (252, False)
    assert warehouse.query("SELECT count() FROM scans WHERE citizen_id = {c:String}",
                           parameters={"c": citizen}).result_rows == [(0,)]


def test_a_constraint_violation_is_permanent(warehouse):
    with pytest.raises(WarehouseError, match="VIOLATED_CONSTRAINT") as caught:
        write_scans(warehouse, [scan("e-bad", "not-a-cccd")])
    assert (caught.value.code, caught.value.transient) == (469, False)
