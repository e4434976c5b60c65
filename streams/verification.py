"""Checking an event's identity against the registry table, pure: what verify decides.

A number that cannot be a CCCD, or one the registry contradicts (its fourth to sixth digits
encode another sex or birth year than the registry holds), is an impossible identity and is
rejected with the reason code of the first rule it breaks (``ingest.identity.REASONS``). A
sound number the registry does not hold (a visitor, a child without a card) is not rejected:
the person was there, and the presence is flagged unregistered.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ingest.identity import is_cmnd, validate_cccd
from streams.records import CitizenRecord

# What verify keeps of a registry entry: the facts the number encodes, and where the person
# lives (exposure alerts are routed to that ward). No name: no event carries one to compare.
RegistryEntry = dict


def registry_entry(record: CitizenRecord) -> RegistryEntry:
    """The registry table's value for a citizens-topic record."""
    return {"date_of_birth": record.date_of_birth, "sex": record.sex,
            "province_code": record.province_code, "ward_code": record.ward_code}


@dataclass(frozen=True)
class Verdict:
    """Verify's answer for one event: rejected with a reason, or a presence (registered or not)."""

    registered: bool
    reason: str | None = None
    detail: str = ""

    @property
    def rejected(self) -> bool:
        return self.reason is not None


def verdict(citizen_id: str, entry: RegistryEntry | None, today: date, *, cmnd_allowed: bool = False) -> Verdict:
    """Judge ``citizen_id`` against its registry entry (None: not in the registry).

    ``cmnd_allowed``: a 9-digit CMND stands for the person (declarations of people whose CCCD
    is not known yet); it has no structure to check and cannot be found by number.

    >>> today = date(2026, 11, 28)
    >>> verdict("079090012345", None, today)
    Verdict(registered=False, reason=None, detail='')
    >>> verdict("079090012345", {"date_of_birth": "1990-05-01", "sex": "female"}, today).reason
    'century_sex'
    >>> verdict("12345", None, today).reason
    'format'
    """
    if cmnd_allowed and is_cmnd(citizen_id):
        return Verdict(registered=False)
    born, sex = None, None
    if entry is not None:
        born, sex = date.fromisoformat(entry["date_of_birth"]), entry["sex"]
    problems = validate_cccd(citizen_id, born, sex, today=today)
    if problems:
        return Verdict(registered=entry is not None, reason=problems[0].reason,
                       detail="; ".join(problem.message for problem in problems))
    return Verdict(registered=entry is not None)
