"""Trace rules as data: which exposures a trace counts, and over which periods.

A trace is asked under one named **rule set** (``?rules=NAME``); the name is its version, and
every exposure the trace judges itself carries it. The shipped set,
``truyvet-trace-default-1``, holds the defaults of DESIGN.md; a health department adds its own
sets in a strict JSON file (format in docs/trace-rules.md), never by editing code.

A rule set says:

- ``point_window`` and ``min_overlap``: when two presences at one place meet, for presences
  the trace judges itself (stream contact edges were judged by the stream and are kept as
  judged);
- ``min_imported``: the cumulative time two people must have spent together in imported
  contacts (case interviews, proximity devices) to be contacts; zero means any recorded
  contact;
- ``infectious_before``: how long before symptom onset (or the positive sample) a case is
  infectious;
- ``backward_window``: how far before onset backward tracing looks for who infected the case;
- ``same_day``: how a date-only presence (a whole local day) counts in time, one of
  ``SAME_DAY_RULES``: ``whole_day`` (default: the contact spans its whole local day, since the
  record cannot say earlier or later), ``as_recorded`` (the times the contact carries), or
  ``ignore`` (date-only contacts are not contacts under this set).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Literal

from streams.records import VIETNAM_TIME
from streams.rules import RuleBook, RuleVersion
from tracing.errors import InvalidTrace, TraceRulesError, UnknownRuleSet

SameDayRule = Literal["whole_day", "as_recorded", "ignore"]
SAME_DAY_RULES: tuple[SameDayRule, ...] = ("whole_day", "as_recorded", "ignore")
DEFAULT_NAME = "truyvet-trace-default-1"


@dataclass(frozen=True)
class TraceRules:
    """One named rule set; the fields are described in the module docstring."""

    name: str
    point_window: timedelta
    min_overlap: timedelta
    min_imported: timedelta
    infectious_before: timedelta
    backward_window: timedelta
    same_day: SameDayRule
    source: str = ""

    def infectious_from(self, onset: date | datetime) -> datetime:
        """When a case with this onset (or positive sample) became infectious, in UTC.

        A date means its local (Viet Nam) midnight.

        >>> DEFAULT_TRACE_RULES.infectious_from(date(2021, 7, 10)).isoformat()
        '2021-07-07T17:00:00+00:00'
        """
        return moment_of(onset, "onset") - self.infectious_before

    def backward_period(self, onset: date | datetime) -> tuple[datetime, datetime]:
        """The [since, until) in which backward tracing looks for who infected the case.

        >>> since, until = DEFAULT_TRACE_RULES.backward_period(date(2021, 7, 15))
        >>> f"{since.astimezone(VIETNAM_TIME):%d/%m %H:%M} - {until.astimezone(VIETNAM_TIME):%d/%m %H:%M}"
        '01/07 00:00 - 15/07 00:00'
        """
        until = moment_of(onset, "onset")
        return until - self.backward_window, until


DEFAULT_TRACE_RULES = TraceRules(
    name=DEFAULT_NAME,
    point_window=timedelta(minutes=60),
    min_overlap=timedelta(minutes=15),
    min_imported=timedelta(0),
    infectious_before=timedelta(days=2),
    backward_window=timedelta(days=14),
    same_day="whole_day",
    source="DESIGN.md defaults: scans within 60 minutes, stays overlapping 15 minutes, any recorded "
           "imported contact, infectious 2 days before onset, 14 days of backward tracing",
)


def moment_of(value: date | datetime, name: str) -> datetime:
    """An aware moment in UTC; a date is its local (Viet Nam) midnight.

    >>> moment_of(date(2021, 7, 10), "onset").isoformat()
    '2021-07-09T17:00:00+00:00'
    >>> moment_of(datetime(2021, 7, 10, 8), "onset")
    Traceback (most recent call last):
    ...
    tracing.errors.InvalidTrace: onset must be a date or a timezone-aware datetime, got datetime.datetime(2021, 7, 10, 8, 0)
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidTrace(f"{name} must be a date or a timezone-aware datetime, got {value!r}")
        return value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time(), VIETNAM_TIME).astimezone(timezone.utc)
    raise InvalidTrace(f"{name} must be a date or a timezone-aware datetime, got {value!r}")


@lru_cache(maxsize=64)
def contact_book(rules: TraceRules) -> RuleBook:
    """The stream's rule book holding this set's meeting rules, for ``streams.meetings.meet``.

    >>> contact_book(DEFAULT_TRACE_RULES).at(datetime(2021, 7, 1, tzinfo=timezone.utc)).version
    'truyvet-trace-default-1'
    """
    # The crowd threshold is the stream's concern: a trace judging presences pairs everyone.
    version = RuleVersion(rules.name, date(2000, 1, 1), rules.point_window, rules.min_overlap,
                          crowd_threshold=2, source=rules.source)
    return RuleBook((version,))


class TraceRuleSets(Mapping[str, TraceRules]):
    """Rule sets by name, and the one a trace gets when it names none.

    >>> sets = TraceRuleSets([DEFAULT_TRACE_RULES])
    >>> sets.choose(None).name
    'truyvet-trace-default-1'
    >>> sets.choose("QD-9")
    Traceback (most recent call last):
    ...
    tracing.errors.UnknownRuleSet: no trace rule set named 'QD-9'; known: ['truyvet-trace-default-1']
    """

    def __init__(self, rule_sets: Iterable[TraceRules], default: str = DEFAULT_NAME) -> None:
        self._sets: dict[str, TraceRules] = {}
        for rules in rule_sets:
            if rules.name in self._sets:
                raise TraceRulesError(f"rule set names repeat: {rules.name!r}")
            self._sets[rules.name] = rules
        if default not in self._sets:
            raise TraceRulesError(f"the default rule set {default!r} is not among {sorted(self._sets)}")
        self.default = default

    def __getitem__(self, name: str) -> TraceRules:
        return self._sets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def choose(self, name: str | None) -> TraceRules:
        """The set named ``name``, or the default for None."""
        if name is None:
            return self._sets[self.default]
        if name not in self._sets:
            raise UnknownRuleSet(f"no trace rule set named {name!r}; known: {sorted(self._sets)}")
        return self._sets[name]


def load_trace_rules(path: Path | str | None) -> TraceRuleSets:
    """The shipped default and the rule sets in ``path`` (JSON), or the default alone for None."""
    if path is None:
        return TraceRuleSets([DEFAULT_TRACE_RULES])
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceRulesError(f"cannot read trace rules from {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("rule_sets"), list):
        raise TraceRulesError(f"{path}: expected an object with a list under \"rule_sets\"")
    unknown = sorted(set(document) - {"rule_sets", "default"})
    if unknown:
        raise TraceRulesError(f"{path}: unknown fields {unknown}")
    default = document.get("default", DEFAULT_NAME)
    if not isinstance(default, str):
        raise TraceRulesError(f"{path}: \"default\" must be the name of a rule set")
    found = [_rule_set(entry, index) for index, entry in enumerate(document["rule_sets"])]
    return TraceRuleSets([DEFAULT_TRACE_RULES, *found], default)


_WHOLE_NUMBERS = (  # field, lowest value, unit of the timedelta
    ("point_window_minutes", 0, "minutes"),
    ("min_overlap_minutes", 0, "minutes"),
    ("min_imported_minutes", 0, "minutes"),
    ("infectious_days_before", 0, "days"),
    ("backward_days", 1, "days"),
)
_FIELDS = {"name", "same_day", "source", *(field for field, _, _ in _WHOLE_NUMBERS)}


def _rule_set(entry: object, index: int) -> TraceRules:
    """One rule set from its JSON object, refusing anything unclear rather than guessing.

    >>> _rule_set({"name": "QD-1", "point_window_minutes": 30, "min_overlap_minutes": 15,
    ...            "min_imported_minutes": 15, "infectious_days_before": 3, "backward_days": 14,
    ...            "same_day": "as_recorded"}, 0).infectious_before
    datetime.timedelta(days=3)
    >>> _rule_set({"name": "QD-1", "point_window_minutes": "30"}, 0)
    Traceback (most recent call last):
    ...
    tracing.errors.TraceRulesError: rule set 0 (QD-1): point_window_minutes must be a whole number of at least 0, got '30'
    """
    if not isinstance(entry, dict):
        raise TraceRulesError(f"rule set {index}: expected an object")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TraceRulesError(f"rule set {index}: \"name\" must be a non-empty name")
    where = f"rule set {index} ({name.strip()})"
    if name.strip() == DEFAULT_NAME:
        raise TraceRulesError(f"{where}: the name of the shipped default; give the set its own name")
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise TraceRulesError(f"{where}: unknown fields {unknown}")
    spans = {}
    for field, low, unit in _WHOLE_NUMBERS:
        value = entry.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise TraceRulesError(f"{where}: {field} must be a whole number of at least {low}, got {value!r}")
        spans[field] = timedelta(**{unit: value})
    same_day = entry.get("same_day")
    if same_day not in SAME_DAY_RULES:
        raise TraceRulesError(f"{where}: same_day must be one of {list(SAME_DAY_RULES)}, got {same_day!r}")
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise TraceRulesError(f"{where}: source must be text")
    return TraceRules(
        name=name.strip(),
        point_window=spans["point_window_minutes"],
        min_overlap=spans["min_overlap_minutes"],
        min_imported=spans["min_imported_minutes"],
        infectious_before=spans["infectious_days_before"],
        backward_window=spans["backward_days"],
        same_day=same_day,
        source=source,
    )
