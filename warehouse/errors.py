"""Errors of the warehouse boundary; driver errors are wrapped here, keeping their code."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class WarehouseError(Exception):
    """A warehouse operation failed; ``code`` is ClickHouse's error code when there is one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class WarehouseLocked(WarehouseError):
    """The embedded warehouse directory is already open in another process."""


class MigrationError(WarehouseError):
    """A migration could not be applied, or an applied one was edited afterwards."""


@contextmanager
def driver_errors(action: str, error: type[WarehouseError] = WarehouseError) -> Iterator[None]:
    """Turn clickhouse-connect errors raised inside the block into ``error`` (a WarehouseError)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        yield
    except ClickHouseError as exc:
        code = getattr(exc, "code", None)
        raise error(f"{action} failed: {exc}", code=code) from exc
