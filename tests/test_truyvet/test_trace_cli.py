"""`truyvet trace`: a case's tiers on the terminal, or an export to a file."""
from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from datetime import date, timedelta

import networkx as nx
import pytest
from click.testing import CliRunner

from tests.conftest import random_cccd
from tests.test_warehouse.conftest import T0, random_place, scan
from truyvet.cliapp import registry
from truyvet.trace_cli import trace
from warehouse.writer import write_scans
from webapp.extensions import db
from webapp.models import Citizen

H = timedelta(hours=1)
# T0 is 08:00 UTC, 15:00 in Vietnam: the window is given in Vietnam time.
SINCE, UNTIL = "2026-11-28 00:00", "2026-11-30 00:00"


@pytest.fixture
def cli_env(tmp_path, warehouse, warehouse_url, monkeypatch):
    """A `truyvet` run with its own data directory, the session's (migrated) warehouse, no Kafka."""
    for name in [name for name in os.environ if name.startswith("TRUYVET_")]:
        monkeypatch.delenv(name)
    env = dict(TRUYVET_DATA_DIR=str(tmp_path / "data"), TRUYVET_KAFKA_BOOTSTRAP="127.0.0.1:1",
               TRUYVET_SECRET_KEY="test", TRUYVET_CLICKHOUSE_URL=warehouse_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def chain(cli_env, warehouse):
    """A case and the person they met at a market, both in the registry."""
    case, contact = random_cccd(), random_cccd()
    with registry():
        for person, name in ((case, "Trần Thị Bình"), (contact, "Lê Văn Cường")):
            db.session.add(Citizen(citizen_id=person, full_name=name, date_of_birth=date(1985, 3, 2), sex="Nữ",
                                   province_code=1, ward_code=4, phone="0987654321"))
        db.session.commit()
    market = random_place()
    write_scans(warehouse, [scan(f"{case}-1", case, ts=T0, place_id=market),
                            scan(f"{contact}-1", contact, ts=T0 + H / 2, place_id=market)])
    return case, contact, market


def invoke(*args: str):
    return CliRunner().invoke(trace, list(args))


def test_the_text_report_names_each_tier_with_where_and_when(chain):
    case, contact, market = chain

    result = invoke(case, "--since", SINCE, "--until", UNTIL)

    assert result.exit_code == 0, result.output
    assert f"trace of {case}" in result.output
    assert "F1: 1 person" in result.output
    assert f"{contact}  from 2026-11-28 15:00  at {market} (stream), via {case}" in result.output


def test_exports_go_to_files_the_tools_read(chain, tmp_path):
    case, contact, _ = chain
    window = ("--since", SINCE, "--until", UNTIL)

    as_json = invoke(case, *window, "--format", "json")
    as_csv = invoke(case, *window, "--format", "csv")
    as_graphml = invoke(case, *window, "--format", "graphml", "--output", str(tmp_path / "t.graphml"))
    as_godata = invoke(case, *window, "--format", "godata", "--output", str(tmp_path / "godata.zip"))

    assert [result.exit_code for result in (as_json, as_csv, as_graphml, as_godata)] == [0, 0, 0, 0]
    assert json.loads(as_json.output)["tiers"] == {"1": 1}
    assert len(list(csv.DictReader(io.StringIO(as_csv.output)))) == 1
    assert set(nx.read_graphml(tmp_path / "t.graphml").nodes) == {case, contact}
    with zipfile.ZipFile(tmp_path / "godata.zip") as archive:
        contacts = archive.read("contacts.csv").decode("utf-8-sig")
    assert "Cường" in contacts  # the name Go.Data needs to create the contact


@pytest.mark.parametrize("args, message", [
    (("--depth", "9"), "at most 3"),
    (("--rules", "nope"), "nope"),
    (("--since", "2026-11-30 00:00", "--until", "2026-11-28 00:00"), "before --until"),
    (("--format", "godata"), "--output"),
])
def test_what_the_settings_do_not_allow_is_refused_with_the_reason(chain, args, message):
    result = invoke(chain[0], *args)

    assert result.exit_code == 2
    assert message in result.output


def test_an_unknown_person_is_an_error_naming_the_registry(cli_env):
    result = invoke(random_cccd())

    assert result.exit_code == 1
    assert "registry" in result.output
