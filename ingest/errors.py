"""Errors raised while taking events in."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class IngestError(Exception):
    """Base class for ingest errors."""


@dataclass(frozen=True)
class IdentityProblem:
    """One broken ID-number rule: a stable ``reason`` code, an English message and a Vietnamese one."""

    reason: str
    message: str
    message_vi: str


@dataclass(frozen=True)
class Message:
    """A message for a person, in both languages of the UI (Vietnamese first).

    Rules produce their messages where they live, so the API, the forms and the stream can all
    explain a rejection without a web request to pick a language from.
    """

    en: str
    vi: str

    def in_language(self, language: str) -> str:
        return self.en if language == "en" else self.vi


class InvalidInput(IngestError):
    """Submitted data failed validation; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, Message]) -> None:
        super().__init__("; ".join(f"{field}: {message.en}" for field, message in errors.items()))
        self.errors = errors

    def messages(self, language: str) -> dict[str, str]:
        return {field: message.in_language(language) for field, message in self.errors.items()}


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


class InvalidIdentity(IngestError):
    """A citizen ID number broke the structural rules; ``problems`` lists each rule and why."""

    def __init__(self, problems: Sequence[IdentityProblem]) -> None:
        super().__init__("; ".join(problem.message for problem in problems))
        self.problems = tuple(problems)


class InvalidCardQr(IngestError):
    """A scanned CCCD card QR could not be read; ``reason`` is a stable code for counting rejections.

    ``message_vi`` is the same explanation for the citizen or officer, in Vietnamese; ``problems``
    holds the CCCD rule failures when ``reason`` is ``CCCD``.
    """

    ENCODING = "encoding"
    FIELD_COUNT = "field_count"
    CCCD = "cccd"
    CMND = "cmnd"
    DATE_OF_BIRTH = "date_of_birth"
    FUTURE_BIRTH = "future_birth"
    SEX = "sex"
    ISSUE_DATE = "issue_date"
    REASONS = frozenset({ENCODING, FIELD_COUNT, CCCD, CMND, DATE_OF_BIRTH, FUTURE_BIRTH, SEX, ISSUE_DATE})

    def __init__(
        self, reason: str, message: str, message_vi: str, problems: Sequence[IdentityProblem] = ()
    ) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown card QR rejection reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.message_vi = message_vi
        self.problems = tuple(problems)
