"""Errors raised while taking events in."""
from __future__ import annotations


class IngestError(Exception):
    """Base class for ingest errors."""


class InvalidInput(IngestError):
    """Submitted data failed validation; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class BrokerUnavailable(IngestError):
    """Kafka did not acknowledge the event in time; nothing was accepted."""
