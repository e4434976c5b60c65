"""Trace rule sets as data: the design's defaults, a department's file, and files refused."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from tracing.errors import InvalidTrace, TraceRulesError, UnknownRuleSet
from tracing.rules import DEFAULT_TRACE_RULES, load_trace_rules

AUGUST = {"name": "QD-2021-08-trace", "point_window_minutes": 30, "min_overlap_minutes": 15,
          "min_imported_minutes": 15, "infectious_days_before": 3, "backward_days": 10,
          "same_day": "as_recorded", "source": "a department's decision of August"}


def write(tmp_path, document) -> str:
    path = tmp_path / "trace-rules.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return str(path)


def test_the_default_follows_the_design():
    rules = load_trace_rules(None).choose(None)
    assert rules is DEFAULT_TRACE_RULES
    assert rules.name == "truyvet-trace-default-1"
    assert (rules.point_window, rules.min_overlap, rules.min_imported) == (
        timedelta(minutes=60), timedelta(minutes=15), timedelta(0))
    assert (rules.infectious_before, rules.backward_window, rules.same_day) == (
        timedelta(days=2), timedelta(days=14), "whole_day")


def test_a_department_file_adds_named_sets_beside_the_shipped_default(tmp_path):
    sets = load_trace_rules(write(tmp_path, {"rule_sets": [AUGUST]}))

    assert sorted(sets) == ["QD-2021-08-trace", "truyvet-trace-default-1"]
    assert sets.choose(None).name == "truyvet-trace-default-1"
    august = sets.choose("QD-2021-08-trace")
    assert (august.point_window, august.min_imported, august.infectious_before, august.backward_window) == (
        timedelta(minutes=30), timedelta(minutes=15), timedelta(days=3), timedelta(days=10))
    assert august.same_day == "as_recorded" and august.source == "a department's decision of August"


def test_a_file_may_choose_its_own_default(tmp_path):
    sets = load_trace_rules(write(tmp_path, {"default": "QD-2021-08-trace", "rule_sets": [AUGUST]}))
    assert sets.choose(None).name == "QD-2021-08-trace"


def test_an_unknown_set_is_refused_listing_the_known_ones(tmp_path):
    sets = load_trace_rules(write(tmp_path, {"rule_sets": [AUGUST]}))
    with pytest.raises(UnknownRuleSet, match=re.escape("known: ['QD-2021-08-trace', 'truyvet-trace-default-1']")):
        sets.choose("QD-2021-09-trace")


@pytest.mark.parametrize("document, message", [
    ("{not json", "cannot read trace rules"),
    ([AUGUST], 'a list under "rule_sets"'),
    ({"sets": [AUGUST]}, 'a list under "rule_sets"'),
    ({"rule_sets": [AUGUST], "version": 2}, "unknown fields ['version']"),
    ({"rule_sets": ["QD-1"]}, "rule set 0: expected an object"),
    ({"rule_sets": [{**AUGUST, "name": " "}]}, 'rule set 0: "name" must be a non-empty name'),
    ({"rule_sets": [{**AUGUST, "point_window": 30}]},
     "rule set 0 (QD-2021-08-trace): unknown fields ['point_window']"),
    ({"rule_sets": [{k: v for k, v in AUGUST.items() if k != "backward_days"}]},
     "rule set 0 (QD-2021-08-trace): backward_days must be a whole number of at least 1, got None"),
    ({"rule_sets": [AUGUST, {**AUGUST, "name": "QD-9", "min_imported_minutes": "15"}]},
     "rule set 1 (QD-9): min_imported_minutes must be a whole number of at least 0, got '15'"),
    ({"rule_sets": [{**AUGUST, "min_overlap_minutes": -1}]}, "min_overlap_minutes must be a whole number of at least 0"),
    ({"rule_sets": [{**AUGUST, "point_window_minutes": 7.5}]}, "point_window_minutes must be a whole number"),
    ({"rule_sets": [{**AUGUST, "infectious_days_before": True}]}, "infectious_days_before must be a whole number"),
    ({"rule_sets": [{**AUGUST, "backward_days": 0}]}, "backward_days must be a whole number of at least 1"),
    ({"rule_sets": [{**AUGUST, "same_day": "any"}]},
     "same_day must be one of ['whole_day', 'as_recorded', 'ignore'], got 'any'"),
    ({"rule_sets": [{**AUGUST, "source": 7}]}, "source must be text"),
    ({"rule_sets": [{**AUGUST, "name": "truyvet-trace-default-1"}]}, "the name of the shipped default"),
    ({"rule_sets": [AUGUST, AUGUST]}, "rule set names repeat: 'QD-2021-08-trace'"),
    ({"default": "QD-9", "rule_sets": [AUGUST]}, "the default rule set 'QD-9' is not among"),
    ({"default": 1, "rule_sets": [AUGUST]}, '"default" must be the name of a rule set'),
])
def test_a_file_that_cannot_be_used_is_refused_naming_the_set_and_field(tmp_path, document, message):
    with pytest.raises(TraceRulesError, match=re.escape(message)):
        load_trace_rules(write(tmp_path, document))


def test_a_missing_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(TraceRulesError, match="cannot read trace rules from .*absent.json"):
        load_trace_rules(tmp_path / "absent.json")


def test_an_onset_date_is_its_local_midnight_and_infectiousness_starts_two_days_earlier():
    rules = DEFAULT_TRACE_RULES
    assert rules.infectious_from(date(2021, 7, 10)) == datetime(2021, 7, 7, 17, tzinfo=timezone.utc)
    onset = datetime(2021, 7, 10, 9, 30, tzinfo=timezone.utc)
    assert rules.infectious_from(onset) == onset - timedelta(days=2)
    assert rules.backward_period(onset) == (onset - timedelta(days=14), onset)
    with pytest.raises(InvalidTrace, match="onset must be a date or a timezone-aware datetime"):
        rules.infectious_from(datetime(2021, 7, 10, 9, 30))
