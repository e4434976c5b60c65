"""The load generator: a reproducible, well-formed day of a synthetic province."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from ingest.identity import validate_cccd
from ingest.scans import parse_scan
from ingest.simulate import Simulation, simulate
from ingest.units import ward_in_province
from streams import topics
from streams.records import CitizenRecord, DeclarationEvent, ScanEvent, VIETNAM_TIME
from truyvet.simulate_cli import simulate as simulate_command

START = datetime(2026, 11, 27, tzinfo=VIETNAM_TIME)


@pytest.fixture(scope="module")
def day() -> Simulation:
    return simulate(1000, 40, seed=11, start=START)


def _bytes(sim: Simulation) -> list[tuple[str, str, bytes]]:
    return [(topic, key, event.dumps()) for topic, key, event in sim]


def test_same_seed_same_events_byte_for_byte(day: Simulation) -> None:
    assert _bytes(simulate(1000, 40, seed=11, start=START)) == _bytes(day)


def test_different_seeds_differ(day: Simulation) -> None:
    other = _bytes(simulate(1000, 40, seed=12, start=START))
    assert {payload for _, _, payload in other}.isdisjoint(payload for _, _, payload in _bytes(day))


def test_registry_first_then_the_day_in_time_order(day: Simulation) -> None:
    messages = list(day)
    registry = [event for topic, _, event in messages[:len(day.residents)]]
    assert all(isinstance(event, CitizenRecord) for event in registry)
    assert {topic for topic, _, _ in messages[len(day.residents):]} == {topics.DECLARATIONS, topics.SCANS}
    times = [event.ts if isinstance(event, ScanEvent) else event.declared_at
             for _, _, event in messages[len(day.residents):]]
    assert times == sorted(times)
    assert START <= times[0] and times[-1] < day.end
    event_ids = [event.event_id for _, _, event in messages]
    assert len(set(event_ids)) == len(event_ids)
    assert all(key == event.citizen_id for _, key, event in messages)


def test_citizens_have_valid_numbers_and_home_wards(day: Simulation) -> None:
    records = [event for topic, _, event in day if topic == topics.CITIZENS]
    assert len({record.citizen_id for record in records}) == 1000
    for record in records:
        born = datetime.fromisoformat(record.date_of_birth).date()
        assert validate_cccd(record.citizen_id, born, record.sex, today=START.date()) == []
        assert record.province_code == day.province_code
        assert ward_in_province(record.ward_code, day.province_code)
        assert len(record.full_name.split()) >= 3


def test_every_scan_passes_the_api_checks(day: Simulation) -> None:
    scans = [event for topic, _, event in day if topic == topics.SCANS]
    assert {scan.direction for scan in scans} == {"in", "out", "pass", "turn_back"}
    for scan in scans:
        payload = {**scan.asdict(), "ts": scan.ts.isoformat()}
        assert parse_scan(payload, now=day.end, retention=None) == scan
    declarations = [event for topic, _, event in day if topic == topics.DECLARATIONS]
    assert 150 < len(declarations) < 450  # about 30% of 1000 declare
    assert all(isinstance(d, DeclarationEvent) and d.verification == "verified" for d in declarations)


def test_in_out_pairs_are_well_formed(day: Simulation) -> None:
    """Every out follows an in by the same person at the same place; nobody is in two places at once."""
    kinds = day.place_kinds()
    inside: dict[str, tuple[str, datetime]] = {}
    for topic, _, scan in day:
        if topic != topics.SCANS:
            continue
        where = inside.get(scan.citizen_id)
        if scan.direction == "out":
            assert where is not None and where[0] == scan.place_id and where[1] < scan.ts
            del inside[scan.citizen_id]
            continue
        if where is not None:  # a lone in at a market: nobody scanned the way out
            assert kinds[where[0]] == "market"
        if scan.direction == "in":
            inside[scan.citizen_id] = (scan.place_id, scan.ts)
        else:
            assert kinds[scan.place_id] == "checkpoint"
            inside.pop(scan.citizen_id, None)


def test_a_market_day_gathers_hundreds_within_an_hour(day: Simulation) -> None:
    arrivals: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for topic, _, scan in day:
        if topic == topics.SCANS and scan.direction == "in":
            arrivals[scan.place_id].append((scan.ts, scan.citizen_id))
    busiest = 0
    for scans in arrivals.values():
        scans.sort()
        for first, _ in scans:
            busiest = max(busiest, len({who for ts, who in scans if first <= ts < first + timedelta(hours=1)}))
    assert busiest >= 200


def test_too_few_places_is_refused() -> None:
    with pytest.raises(ValueError, match="5 places"):
        simulate(10, 4, seed=1, start=START)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"TRUYVET_DATA_DIR": str(tmp_path), "TRUYVET_KAFKA_BOOTSTRAP": "127.0.0.1:1"}


def test_dry_run_prints_counts_per_topic_and_kind(env: dict[str, str]) -> None:
    result = CliRunner().invoke(simulate_command, ["--citizens", "300", "--places", "10", "--seed", "3",
                                                   "--start", "2026-11-27", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{topics.CITIZENS}\t-\t300" in result.output
    assert f"{topics.SCANS}\tmarket in\t" in result.output
    assert f"{topics.SCANS}\tworkplace out\t" in result.output
    assert "nothing published (dry run)" in result.output


def test_unreachable_kafka_exits_1_and_counts_what_was_lost(env: dict[str, str]) -> None:
    result = CliRunner().invoke(simulate_command, ["--citizens", "20", "--places", "5", "--rate", "100",
                                                   "--duration", "0.1"], env=env)
    assert result.exit_code == 1, result.output
    assert "kafka: 0 of 10 events acknowledged" in result.output
    assert "10 event(s) NOT acknowledged" in result.output
