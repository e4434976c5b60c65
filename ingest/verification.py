"""Checking what a person declared against the population registry."""
from __future__ import annotations

from datetime import date

from ingest.names import same_name

VERIFIED = "verified"
MISMATCH = "mismatch"
UNKNOWN = "unknown"


def mismatched_fields(
    declared: tuple[str, date, str], registered: tuple[str, date, str]
) -> list[str]:
    """The fields of (full_name, date_of_birth, sex) that disagree with the registry.

    Names match with or without diacritics, in any case and spacing.

    >>> mismatched_fields(("Tran Van Duc", date(1990, 1, 2), "male"),
    ...                   ("Trần Văn Đức", date(1990, 1, 2), "male"))
    []
    >>> mismatched_fields(("Tran Van Duc", date(1990, 2, 1), "female"),
    ...                   ("Trần Văn Đức", date(1990, 1, 2), "male"))
    ['date_of_birth', 'sex']
    """
    name, date_of_birth, sex = declared
    registered_name, registered_dob, registered_sex = registered
    fields = []
    if not same_name(name, registered_name):
        fields.append("full_name")
    if date_of_birth != registered_dob:
        fields.append("date_of_birth")
    if sex != registered_sex:
        fields.append("sex")
    return fields


def outcome(found: bool, mismatched: list[str]) -> str:
    """verified / mismatch / unknown, as shown to the citizen and carried on the event."""
    if not found:
        return UNKNOWN
    return MISMATCH if mismatched else VERIFIED
