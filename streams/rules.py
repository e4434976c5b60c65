"""Contact rules as data: which presences at one place make two people contacts.

Rules change by decision (the Ministry of Health revised them several times in 2020-2021), so
they are versions with an effective date, and a contact is judged by the version in force when
the two people were first both at the place. The shipped version holds the defaults of
DESIGN.md; a health department adds its own decisions in a JSON file named by
``TRUYVET_CONTACT_RULES`` (format in docs/contact-rules.md), never by editing code.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from streams.errors import StreamError
from streams.records import VIETNAM_TIME


class RulesError(StreamError):
    """A rules file that cannot be used; the message names the version and field."""


@dataclass(frozen=True)
class RuleVersion:
    """One version of the contact rules.

    ``point_window``: two point presences (scans) this close in time are a contact.
    ``min_overlap``: two in/out stays overlapping at least this long are a contact.
    ``crowd_threshold``: above this many people at a place in one hour, the hour is a crowd:
    one place-level exposure instead of every pair (5,000 people would be 12.5 million pairs).
    """

    version: str
    effective_from: date  # a local (Viet Nam) date
    point_window: timedelta
    min_overlap: timedelta
    crowd_threshold: int
    source: str = ""

    @property
    def effective_at(self) -> datetime:
        return datetime.combine(self.effective_from, datetime.min.time(), VIETNAM_TIME)


DEFAULT_RULES = (
    RuleVersion(
        version="truyvet-default-1",
        effective_from=date(2000, 1, 1),
        point_window=timedelta(minutes=60),
        min_overlap=timedelta(minutes=15),
        crowd_threshold=200,
        source="DESIGN.md defaults: point scans within 60 minutes, in/out stays overlapping 15 minutes",
    ),
)


class RuleBook:
    """Rule versions by effective date; :meth:`at` gives the one in force at a moment.

    >>> book = RuleBook(DEFAULT_RULES)
    >>> book.at(datetime(2021, 7, 1, tzinfo=VIETNAM_TIME)).version
    'truyvet-default-1'
    """

    def __init__(self, versions: tuple[RuleVersion, ...] | list[RuleVersion]) -> None:
        ordered = sorted(versions, key=lambda rule: rule.effective_from)
        if not ordered:
            raise RulesError("a rule book needs at least one version")
        names = [rule.version for rule in ordered]
        if len(set(names)) != len(names):
            raise RulesError(f"version names repeat: {sorted(names)}")
        dates = [rule.effective_from for rule in ordered]
        if len(set(dates)) != len(dates):
            raise RulesError("two versions take effect on the same date")
        self.versions = tuple(ordered)
        self._starts = [rule.effective_at for rule in ordered]
        # How far apart two presences may start and still meet, under any version: the
        # co-location state looks this far around a presence for partners.
        self.widest_window = max(rule.point_window for rule in ordered)

    def at(self, moment: datetime) -> RuleVersion:
        """The version in force at ``moment``; before the first one, the first one."""
        if len(self.versions) == 1:  # the common case, on the hot path of every meeting
            return self.versions[0]
        return self.versions[max(bisect_right(self._starts, moment) - 1, 0)]


def load_rules(path: Path | None) -> RuleBook:
    """The rule book in ``path`` (JSON), or the shipped defaults when ``path`` is None."""
    if path is None:
        return RuleBook(DEFAULT_RULES)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RulesError(f"cannot read contact rules from {path}: {exc}") from exc
    entries = document.get("versions") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise RulesError(f"{path}: expected an object with a list under \"versions\"")
    return RuleBook([_version(entry, index) for index, entry in enumerate(entries)])


_FIELDS = {"version", "effective_from", "point_window_minutes", "min_overlap_minutes",
           "crowd_threshold", "source"}


def _version(entry: object, index: int) -> RuleVersion:
    """One version from its JSON object, refusing anything unclear rather than guessing.

    >>> _version({"version": "QD-1", "effective_from": "2021-07-01", "point_window_minutes": 30,
    ...           "min_overlap_minutes": 15, "crowd_threshold": 100}, 0).point_window
    datetime.timedelta(seconds=1800)
    >>> _version({"version": "QD-1", "effective_from": "1/7/2021"}, 0)
    Traceback (most recent call last):
    ...
    streams.rules.RulesError: version 0 (QD-1): effective_from must be a date YYYY-MM-DD, got '1/7/2021'
    """
    if not isinstance(entry, dict):
        raise RulesError(f"version {index}: expected an object")
    name = entry.get("version")
    where = f"version {index} ({name})"
    if not isinstance(name, str) or not name.strip():
        raise RulesError(f"version {index}: \"version\" must be a non-empty name")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise RulesError(f"{where}: unknown fields {unknown}")
    try:
        effective = date.fromisoformat(entry.get("effective_from", ""))
    except (TypeError, ValueError):
        raise RulesError(f"{where}: effective_from must be a date YYYY-MM-DD, "
                         f"got {entry.get('effective_from')!r}") from None
    numbers = {}
    for field, low in (("point_window_minutes", 0), ("min_overlap_minutes", 0), ("crowd_threshold", 2)):
        value = entry.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise RulesError(f"{where}: {field} must be a whole number of at least {low}, got {value!r}")
        numbers[field] = value
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise RulesError(f"{where}: source must be text")
    return RuleVersion(
        version=name.strip(),
        effective_from=effective,
        point_window=timedelta(minutes=numbers["point_window_minutes"]),
        min_overlap=timedelta(minutes=numbers["min_overlap_minutes"]),
        crowd_threshold=numbers["crowd_threshold"],
        source=source,
    )
