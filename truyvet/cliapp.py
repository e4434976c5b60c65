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


def bilingual(message: Message) -> str:
    """A rule's message for a terminal: English, then Vietnamese."""
    return f"{message.en} / {message.vi}"
