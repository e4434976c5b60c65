"""Contact rules as data: a health department's file of versions, chosen by event time."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from streams.app import create_app
from streams.records import VIETNAM_TIME
from streams.rules import DEFAULT_RULES, RulesError, load_rules
from tests.conftest import settings_for_tests

VERSIONS = [
    {"version": "QD-2021-06", "effective_from": "2021-06-01", "point_window_minutes": 60,
     "min_overlap_minutes": 15, "crowd_threshold": 200, "source": "a department's decision of June"},
    {"version": "QD-2021-09", "effective_from": "2021-09-15", "point_window_minutes": 30,
     "min_overlap_minutes": 10, "crowd_threshold": 100},
]


def write(tmp_path, document) -> str:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
    return str(path)


def test_the_version_in_force_at_local_midnight_judges_what_follows(tmp_path):
    book = load_rules(write(tmp_path, {"versions": VERSIONS}))
    change = datetime(2021, 9, 15, tzinfo=VIETNAM_TIME)

    assert book.at(change - timedelta(seconds=1)).version == "QD-2021-06"
    assert book.at(change).version == "QD-2021-09"
    assert book.at(change).point_window == timedelta(minutes=30)
    assert book.at(datetime(2020, 1, 1, tzinfo=timezone.utc)).version == "QD-2021-06"  # before any: the first
    assert book.widest_window == timedelta(minutes=60)


def test_without_a_file_the_shipped_defaults_of_the_design_apply():
    book = load_rules(None)
    assert book.versions == DEFAULT_RULES
    assert (book.versions[0].point_window, book.versions[0].min_overlap) == (timedelta(minutes=60), timedelta(minutes=15))


@pytest.mark.parametrize("document, message", [
    ("{not json", "cannot read contact rules"),
    ({"rules": []}, 'a list under "versions"'),
    ({"versions": []}, "at least one version"),
    ({"versions": [{**VERSIONS[0], "point_window": 60}]}, "unknown fields ['point_window']"),
    ({"versions": [{**VERSIONS[0], "crowd_threshold": 1}]}, "crowd_threshold must be a whole number of at least 2"),
    ({"versions": [{**VERSIONS[0], "min_overlap_minutes": "15"}]}, "min_overlap_minutes must be a whole number"),
    ({"versions": [VERSIONS[0], {**VERSIONS[1], "version": "QD-2021-06"}]}, "version names repeat"),
    ({"versions": [VERSIONS[0], {**VERSIONS[1], "effective_from": "2021-06-01"}]}, "same date"),
    ({"versions": [{**VERSIONS[0], "effective_from": "01/06/2021"}]}, "effective_from must be a date YYYY-MM-DD"),
])
def test_a_file_that_cannot_be_used_is_refused_naming_what_is_wrong(tmp_path, document, message):
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_rules(write(tmp_path, document))


def test_a_worker_does_not_start_on_a_broken_rules_file(tmp_path, warehouse_url):
    settings = settings_for_tests(tmp_path, warehouse_url, contact_rules=write(tmp_path, {"versions": [{}]}))
    with pytest.raises(RulesError, match="version 0"):
        create_app(settings)
