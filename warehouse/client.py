"""The only place that builds warehouse clients; everything else receives one.

``chdb:///abs/dir`` opens ClickHouse embedded in this process (chDB); ``http(s)://host:8123/db``
talks to a server. An embedded directory can be open in one process only: whoever opens a
client owns and closes it, and hands it to the parts that share the process (``truyvet run``
gives one to both the web app and the Faust worker).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from warehouse.errors import WarehouseError, WarehouseLocked, driver_errors

EMBEDDED_DATABASE = "truyvet"

def connect(url: str) -> Client:
    """Open a new client for ``url``; the caller closes it."""
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        return _connect_embedded(Path(parsed.path))
    if parsed.scheme in ("http", "https"):
        with driver_errors(f"connecting to ClickHouse at {parsed.hostname}:{parsed.port}"):
            return clickhouse_connect.get_client(dsn=url)
    raise WarehouseError(f"unsupported warehouse URL {url!r}: use chdb:///dir or http(s)://host:port/db")


def ping(client: Client) -> None:
    with driver_errors("warehouse ping"):
        client.command("SELECT 1")


def _connect_embedded(directory: Path) -> Client:
    if not directory.is_absolute():
        raise WarehouseError(f"the chdb:// path must be absolute, got {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        client = clickhouse_connect.get_client(dsn=f"chdb://{directory}")
    except Exception as exc:  # chDB reports a held lock as a generic error
        if "Cannot lock file" in str(exc):
            raise WarehouseLocked(
                f"the embedded warehouse {directory} is open in another process "
                "(is another `truyvet run` or worker using this data directory?)"
            ) from exc
        raise WarehouseError(f"opening the embedded warehouse {directory} failed: {exc}") from exc
    with driver_errors("creating the embedded database"):
        client.command(f"CREATE DATABASE IF NOT EXISTS {EMBEDDED_DATABASE}")
        client.database = EMBEDDED_DATABASE
    return client
