"""What every ``truyvet`` command shares: settings from the environment, and the registry.

The commands import what they run only when they run, so ``truyvet --help`` stays fast; this
module therefore imports nothing heavy at the top either.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from config import Settings, SettingsError

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from ingest.errors import Message


def settings() -> Settings:
    """This machine's settings; a malformed variable is a clear command-line error."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def registry(current: Settings | None = None) -> Iterator[None]:
    """An app context on the CRUD database, tables created; no relay thread, closed afterwards.

    Commands that stage events relay them themselves (``truyvet seed``) or leave them to the
    running system.
    """
    from webapp import create_app
    from webapp.schema import create_or_upgrade

    app = create_app(replace(current or settings(), outbox_relay=False))
    try:
        with app.app_context():
            create_or_upgrade()
            yield
    finally:
        app.close()


@contextmanager
def open_warehouse(current: Settings, consequence: str) -> Iterator[Client]:
    """The warehouse client of ``current``, closed afterwards; a clear error if it cannot open.

    ``consequence`` says what failing means for the command ("nothing was stored").
    """
    from warehouse.client import connect
    from warehouse.errors import WarehouseError, WarehouseLocked

    try:
        client = connect(current.clickhouse_url)
    except WarehouseError as exc:
        # chDB does not always say that another process holds the directory.
        embedded = current.clickhouse_url.startswith("chdb:") and not isinstance(exc, WarehouseLocked)
        raise click.ClickException(f"{exc}; {consequence}" + (
            " (an embedded warehouse opens in one process at a time: is `truyvet run` or a worker "
            "using it? stop it and try again)" if embedded else "")) from exc
    try:
        yield client
    finally:
        client.close()


def bilingual(message: Message) -> str:
    """A rule's message for a terminal: English, then Vietnamese."""
    return f"{message.en} / {message.vi}"
