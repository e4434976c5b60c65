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


class InvalidToken(IngestError):
    """A personal QR token was refused; ``reason`` is its reason code (one of ``REASONS``)."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REASONS = frozenset({MALFORMED, UNKNOWN_KEY, BAD_SIGNATURE, EXPIRED, NOT_YET_VALID})

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown token rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class InvalidKeyMaterial(IngestError):
    """A signing key or a public key document could not be loaded; the message never holds the key."""
