"""A case's trace for health officials: GET /api/v1/traces/<citizen_id>, JSON and exports."""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timedelta
from urllib.parse import quote

import networkx as nx
import pytest

from tests.conftest import random_cccd
from tests.staff import add_staff, sign_in, station_headers
from tests.test_warehouse.conftest import T0, random_place, scan
from warehouse.writer import write_scans
from webapp.extensions import db
from webapp.models import Citizen
from webapp.roles import Role

H = timedelta(hours=1)
M = timedelta(minutes=1)


def register(app, citizen_id: str, ward_code: int, full_name: str = "Nguyễn Văn An") -> None:
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name=full_name, date_of_birth=date(1990, 5, 1),
                               sex="Nam", province_code=1, ward_code=ward_code, phone="0912345678"))
        db.session.commit()


def window(since: datetime, until: datetime) -> str:
    return f"since={quote(since.isoformat())}&until={quote(until.isoformat())}&reason=case_investigation"


@pytest.fixture
def chain(app, warehouse):
    """A case, a person who met them at a market, and one who met that person later at a school."""
    case, f1, f2 = random_cccd(), random_cccd(), random_cccd()
    for person, ward in ((case, 101), (f1, 202), (f2, 303)):
        register(app, person, ward)
    market, school = random_place(), random_place()
    write_scans(warehouse, [
        scan(f"{case}-1", case, ts=T0, place_id=market),
        scan(f"{f1}-1", f1, ts=T0 + 20 * M, place_id=market),
        scan(f"{f1}-2", f1, ts=T0 + 3 * H, place_id=school),
        scan(f"{f1}-3", f1, ts=T0 + 4 * H, place_id=school, direction="out"),
        scan(f"{f2}-1", f2, ts=T0 + 3 * H, place_id=school),
        scan(f"{f2}-2", f2, ts=T0 + 4 * H, place_id=school, direction="out"),
    ])
    return dict(case=case, f1=f1, f2=f2, market=market, school=school)


def test_an_official_gets_the_tiers_with_where_each_contact_lives(official_client, chain):
    url = f"/api/v1/traces/{chain['case']}?depth=2&{window(T0 - H, T0 + 2 * 24 * H)}"

    response = official_client.get(url)

    assert response.status_code == 200, response.json
    nodes = {node["citizen_id"]: node for node in response.json["nodes"]}
    assert {person: node["tier"] for person, node in nodes.items()} == {chain["case"]: 0, chain["f1"]: 1, chain["f2"]: 2}
    assert (nodes[chain["f1"]]["ward_code"], nodes[chain["f2"]]["ward_code"]) == (202, 303)
    assert "full_name" not in nodes[chain["f1"]] and "phone" not in nodes[chain["f1"]]
    assert response.headers["Cache-Control"] == "private, no-store"


def test_depth_one_stops_at_the_f1(official_client, chain):
    response = official_client.get(f"/api/v1/traces/{chain['case']}?depth=1&{window(T0 - H, T0 + 48 * H)}")

    assert sorted(node["tier"] for node in response.json["nodes"]) == [0, 1]


def test_exports_are_files_other_tools_read(official_client, chain):
    base = f"/api/v1/traces/{chain['case']}?depth=2&{window(T0 - H, T0 + 48 * H)}"

    graphml = official_client.get(base + "&format=graphml")
    table = official_client.get(base + "&format=csv")
    godata = official_client.get(base + "&format=godata")

    assert graphml.status_code == table.status_code == godata.status_code == 200
    assert "attachment" in graphml.headers["Content-Disposition"]
    assert godata.headers["Cache-Control"] == "private, no-store"
    graph = nx.read_graphml(io.BytesIO(graphml.data))
    assert {person: int(data["tier"]) for person, data in graph.nodes(data=True)} == {
        chain["case"]: 0, chain["f1"]: 1, chain["f2"]: 2}
    rows = list(csv.DictReader(io.StringIO(table.data.decode("utf-8"))))
    assert len(rows) == 2
    with zipfile.ZipFile(io.BytesIO(godata.data)) as archive:
        assert archive.namelist(), "the Go.Data export holds its CSV files"


def test_an_unknown_case_is_a_404_that_says_so(official_client):
    response = official_client.get(f"/api/v1/traces/{random_cccd()}?reason=case_investigation")

    assert response.status_code == 404
    assert "registry" in response.json["error"]


@pytest.mark.parametrize("query, field", [
    ("depth=0", "depth"), ("depth=4", "depth"), ("depth=two", "depth"),
    ("since=2026-11-28T08:00:00%2B00:00&until=2026-11-27T08:00:00%2B00:00", "until"),
    ("since=2026-10-01T08:00:00%2B00:00&until=2026-11-28T08:00:00%2B00:00", "until"),
    ("since=yesterday", "since"), ("since=2026-11-28T08:00:00", "since"),
    ("rules=no-such-rules", "rules"), ("format=pdf", "format"),
])
def test_a_bad_parameter_is_a_400_naming_the_field(official_client, chain, query, field):
    response = official_client.get(f"/api/v1/traces/{chain['case']}?{query}&lang=en&reason=case_investigation")

    assert response.status_code == 400, response.json
    assert set(response.json["errors"]) == {field}


@pytest.mark.parametrize("crafted", ["' OR 1=1 --", "079%27%20OR%20%271%27%3D%271", "%00"])
def test_crafted_ids_find_no_case(official_client, crafted):
    assert official_client.get(f"/api/v1/traces/{crafted}?reason=case_investigation").status_code == 404


def test_only_health_officials_trace(app, client, chain):
    url = f"/api/v1/traces/{chain['case']}"
    assert client.get(url).status_code == 401
    station = app.test_client()
    station.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    assert station.get(url).status_code == 403
    for role in (Role.OFFICER, Role.VENUE_MANAGER, Role.OPS, Role.ADMIN):
        staff = app.test_client()
        sign_in(staff, add_staff(app, role, places=(chain["market"],) if role in (Role.OFFICER, Role.VENUE_MANAGER) else ()))
        assert staff.get(url).status_code == 403, role


def test_a_trace_reading_too_much_is_a_400_not_a_cut_answer(official_client, chain, monkeypatch):
    from warehouse import traces
    monkeypatch.setattr(traces, "MAX_SCANS_READ", 1)

    response = official_client.get(f"/api/v1/traces/{chain['case']}?{window(T0 - H, T0 + 48 * H)}&lang=en")

    assert response.status_code == 400
    assert "shorter period" in response.json["errors"]["since"]


def test_a_rules_file_offers_its_sets_by_name_and_a_bad_one_stops_the_app(make_app, tmp_path, warehouse):
    from tracing.errors import TraceRulesError

    rules = tmp_path / "trace-rules.json"
    rules.write_text('{"rule_sets": [{"name": "QD-2021-strict", "point_window_minutes": 1, "min_overlap_minutes": 600,'
                     ' "min_imported_minutes": 600, "infectious_days_before": 2, "backward_days": 14,'
                     ' "same_day": "ignore"}]}', encoding="utf-8")
    app = make_app(trace_rules=str(rules))
    case, contact, market = random_cccd(), random_cccd(), random_place()
    register(app, case, 1)
    write_scans(warehouse, [scan(f"{case}-1", case, ts=T0, place_id=market),
                            scan(f"{contact}-1", contact, ts=T0 + 20 * M, place_id=market)])
    client = app.test_client()
    sign_in(client, add_staff(app, "official"))
    url = f"/api/v1/traces/{case}?{window(T0 - H, T0 + 48 * H)}"

    default, strict = client.get(url).json, client.get(url + "&rules=QD-2021-strict").json

    assert (default["rules"], len(default["nodes"])) == ("truyvet-trace-default-1", 2)
    assert (strict["rules"], len(strict["nodes"])) == ("QD-2021-strict", 1)  # 20 minutes apart: not within 1
    rules.write_text('{"rule_sets": [{"name": "broken"}]}', encoding="utf-8")
    with pytest.raises(TraceRulesError, match="broken"):
        make_app(trace_rules=str(rules))
