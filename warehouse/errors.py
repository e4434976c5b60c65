"""Errors of the warehouse boundary; driver errors are wrapped here, keeping their code.

A wrapped error says whether it is worth retrying (:attr:`WarehouseError.transient`): a writer
retries transient errors with backoff and sets aside the rows of permanent ones, which would
fail the same way on every retry.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# ClickHouse error codes that say "not now" rather than "not these rows": the network, the
# server's load, its memory or disk, replication and keeper trouble. Names from errorCodeToName.
TRANSIENT_CODES: dict[int, str] = {
    3: "UNEXPECTED_END_OF_FILE",
    23: "CANNOT_READ_FROM_ISTREAM",
    24: "CANNOT_WRITE_TO_OSTREAM",
    32: "ATTEMPT_TO_READ_AFTER_EOF",
    159: "TIMEOUT_EXCEEDED",
    164: "READONLY",
    198: "DNS_ERROR",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT",
    210: "NETWORK_ERROR",
    225: "NO_ZOOKEEPER",
    236: "ABORTED",
    241: "MEMORY_LIMIT_EXCEEDED",
    242: "TABLE_IS_READ_ONLY",
    243: "NOT_ENOUGH_SPACE",
    252: "TOO_MANY_PARTS",
    285: "TOO_FEW_LIVE_REPLICAS",
    286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE",
    319: "UNKNOWN_STATUS_OF_INSERT",
    394: "QUERY_WAS_CANCELLED",
    425: "SYSTEM_ERROR",
    439: "CANNOT_SCHEDULE_TASK",
    999: "KEEPER_EXCEPTION",
    1000: "POCO_EXCEPTION",
}
TOO_MANY_PARTS = 252
# Code 252 also reports a batch whose rows span more partitions (months) than one insert may
# touch: that is the batch's content, and it fails again however long one waits.
TOO_MANY_PARTITIONS_MESSAGE = "Too many partitions for single INSERT block"
_CODE_IN_MESSAGE = re.compile(r"\bCode:\s*(\d+)")


class WarehouseError(Exception):
    """A warehouse operation failed; ``code`` is ClickHouse's error code when there is one.

    ``transient`` may be given to override the classification by code (for errors raised
    before ClickHouse saw the request).
    """

    def __init__(self, message: str, code: int | None = None, transient: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self._transient = transient

    @property
    def transient(self) -> bool:
        """Whether the same operation may succeed if retried later (see :func:`is_transient`)."""
        if self._transient is not None:
            return self._transient
        return is_transient(self.code, str(self))


class TooMuchToRead(WarehouseError):
    """A read would return more rows than one answer may carry: ask for a shorter window."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class WarehouseLocked(WarehouseError):
    """The embedded warehouse directory is already open in another process."""


class MigrationError(WarehouseError):
    """A migration could not be applied, or an applied one was edited afterwards."""


class InvalidCursor(ValueError):
    """A paging cursor that :meth:`warehouse.queries.ScanCursor.decode` cannot read.

    Not a WarehouseError: the warehouse is fine, the caller sent something malformed (the web
    layer answers WarehouseError with 503 and this with 400).
    """


def is_transient(code: int | None, message: str = "") -> bool:
    """Whether an error with this ClickHouse ``code`` is worth retrying.

    No code means ClickHouse never answered (refused, timed out, cut off): retry.

    >>> is_transient(None), is_transient(241), is_transient(469), is_transient(6)
    (True, True, False, False)
    >>> is_transient(252, "Code: 252. DB::Exception: Too many parts (300) in table")
    True
    >>> is_transient(252, "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100)")
    False
    """
    if code is None:
        return True
    if code == TOO_MANY_PARTS and TOO_MANY_PARTITIONS_MESSAGE in message:
        return False
    return code in TRANSIENT_CODES


def error_code(exc: BaseException) -> int | None:
    """The ClickHouse code of a driver error: its ``code`` attribute, else "Code: N." in its text.

    >>> error_code(RuntimeError("Code: 469. DB::Exception: Constraint `c` is violated"))
    469
    >>> error_code(RuntimeError("connection refused")) is None
    True
    """
    code = getattr(exc, "code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    match = _CODE_IN_MESSAGE.search(str(exc))
    return int(match.group(1)) if match else None


@contextmanager
def driver_errors(action: str, error: type[WarehouseError] = WarehouseError) -> Iterator[None]:
    """Turn driver errors raised inside the block into ``error`` (a WarehouseError).

    Driver errors are clickhouse-connect's and chDB's own ``ChdbError``. clickhouse-connect 1.12
    wraps chDB's errors, code included, on every path seen; a ChdbError that escapes it (another
    version, chDB's own API) carries its code only in the text, "Code: 469. DB::Exception: ...".
    """
    try:
        yield
    except _driver_exceptions() as exc:
        raise error(f"{action} failed: {exc}", code=error_code(exc), transient=_transient_override(exc)) from exc


def _driver_exceptions() -> tuple[type[BaseException], ...]:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    # Only a loaded chDB can have raised its error; importing it here would load the engine.
    chdb_errors = sys.modules.get("chdb._exceptions")
    if chdb_errors is None:
        return (ClickHouseError,)
    return (ClickHouseError, chdb_errors.ChdbError)


def _transient_override(exc: BaseException) -> bool | None:
    """False for rows clickhouse-connect refused to serialize (no code, yet never retryable)."""
    from clickhouse_connect.driver.exceptions import DataError

    if isinstance(exc, DataError) and error_code(exc) is None:
        return False
    return None
