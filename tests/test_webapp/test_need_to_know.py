"""Need-to-know: officials of two provinces, ward staff, officers, ops, admins and strangers over
every page, API route and export that shows a person, a place, a trace or a ward's alerts.

Hanoi (province 1) and Ho Chi Minh City (79) each have a person, a place and a ward. An official
sees their own province's and gets a 404 for the other's, exactly as for something that does not
exist; ward staff see their ward's alerts and nothing else; other roles are refused.
"""
from __future__ import annotations

import csv
import io
import uuid
import zipfile
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import networkx as nx
import pytest

from ingest.units import wards
from streams.records import ExposureAlert
from tests.conftest import random_cccd
from tests.staff import add_place, add_staff, sign_in, station_headers
from tests.test_warehouse.conftest import T0, random_place, scan
from warehouse.alerts import write_alerts
from warehouse.writer import write_scans
from webapp.extensions import db
from webapp.models import Citizen
from webapp.roles import Role

H = timedelta(hours=1)
M = timedelta(minutes=1)
REASON = "reason=case_investigation"
WINDOW = f"since={quote((T0 - H).isoformat())}&until={quote((T0 + 48 * H).isoformat())}"
HANOI, SAIGON = 1, 79
HANOI_WARD, SAIGON_WARD = wards(HANOI)[0][0], wards(SAIGON)[0][0]
PRINCIPALS = ("official_hanoi", "official_saigon", "ward_staff_hanoi", Role.OFFICER, Role.VENUE_MANAGER,
              Role.STATION, Role.OPS, Role.ADMIN, "anonymous")


def register(app, province: int, ward: int, name: str) -> str:
    citizen_id = random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen_id, full_name=name, date_of_birth=date(1988, 3, 4), sex="Nữ",
                               province_code=province, ward_code=ward, phone="0987654321"))
        db.session.commit()
    return citizen_id


@pytest.fixture(scope="module")
def world(tmp_path_factory, warehouse, warehouse_url):
    """One app; per province a person with a contact at a place there, and an alert in a ward."""
    from tests.conftest import settings_for_tests
    from webapp import create_app

    app = create_app(settings_for_tests(tmp_path_factory.mktemp("need-to-know"), warehouse_url), warehouse=warehouse)
    app.testing = True
    with app.app_context():
        db.create_all()
    people, places = {}, {}
    for province, ward in ((HANOI, HANOI_WARD), (SAIGON, SAIGON_WARD)):
        case = register(app, province, ward, f"Ca bệnh {province}")
        contact = register(app, province, ward, f"Người tiếp xúc {province}")
        place = add_place(app, random_place(), province_code=province, name=f"Chợ {province}")
        write_scans(warehouse, [scan(f"{case}-n", case, ts=T0, place_id=place),
                                scan(f"{contact}-n", contact, ts=T0 + 10 * M, place_id=place)])
        write_alerts(warehouse, [ExposureAlert(
            event_id=uuid.uuid4().hex, case_id=uuid.uuid4().hex, case_citizen_id=case, contact_citizen_id=contact,
            tier=1, first_exposure=T0, place_id=place, criterion="point_window", source="stream",
            alerted_at=datetime.now(timezone.utc) - H, ward_code=ward, province_code=province)])
        people[province], places[province] = case, place
    yield dict(app=app, people=people, places=places)
    app.close()


@pytest.fixture(scope="module")
def clients(world):
    app = world["app"]
    made = {}
    for principal in PRINCIPALS:
        client = app.test_client()
        if principal == Role.STATION:
            client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
        elif principal == "official_hanoi":
            sign_in(client, add_staff(app, Role.OFFICIAL, areas=(str(HANOI),)))
        elif principal == "official_saigon":
            sign_in(client, add_staff(app, Role.OFFICIAL, areas=(str(SAIGON),)))
        elif principal == "ward_staff_hanoi":
            sign_in(client, add_staff(app, Role.WARD_STAFF, areas=(f"{HANOI}:{HANOI_WARD}",)))
        elif principal != "anonymous":
            sign_in(client, add_staff(app, principal))
        made[principal] = client
    return made


# What each kind of read looks like for a subject of a province: a person, a place or a ward.
READS = {
    "person's scans": lambda w, p: f"/api/v1/citizens/{w['people'][p]}/scans?{REASON}",
    "place's presences": lambda w, p: f"/api/v1/places/{w['places'][p]}/presences?{WINDOW}&{REASON}",
    "place's contacts": lambda w, p: f"/api/v1/places/{w['places'][p]}/contacts?{WINDOW}&{REASON}",
    "trace": lambda w, p: f"/api/v1/traces/{w['people'][p]}?depth=1&{WINDOW}&{REASON}",
    "csv export": lambda w, p: f"/api/v1/traces/{w['people'][p]}?format=csv&{WINDOW}&{REASON}",
    "graphml export": lambda w, p: f"/api/v1/traces/{w['people'][p]}?format=graphml&{WINDOW}&{REASON}",
    "go.data export": lambda w, p: f"/api/v1/traces/{w['people'][p]}?format=godata&{WINDOW}&{REASON}",
    "ward alerts": lambda w, p: f"/api/v1/wards/{HANOI_WARD if p == HANOI else SAIGON_WARD}/alerts?{REASON}",
}
WARD_READS = {"ward alerts"}


def expected(principal: str, read: str, province: int) -> int:
    own = {"official_hanoi": HANOI, "official_saigon": SAIGON, "ward_staff_hanoi": HANOI}.get(principal)
    if principal == "anonymous":
        return 401
    if principal.startswith("official") or (principal == "ward_staff_hanoi" and read in WARD_READS):
        return 200 if province == own else 404
    return 403


@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("read", READS)
def test_each_principal_sees_only_what_their_job_needs(world, clients, principal, read):
    for province in (HANOI, SAIGON):
        response = clients[principal].get(READS[read](world, province))
        assert response.status_code == expected(principal, read, province), (principal, read, province)


def test_outside_a_scope_is_answered_like_nothing_there(world, clients):
    """The 404 for the other province's person or place says what it says of no one at all."""
    official = clients["official_hanoi"]
    nobody, nowhere = random_cccd(), random_place()
    for read in ("trace", "person's scans", "place's presences"):
        other = official.get(READS[read](world, SAIGON))
        nothing = official.get(READS[read]({"people": {SAIGON: nobody}, "places": {SAIGON: nowhere}}, SAIGON))
        assert other.status_code == nothing.status_code == 404, read
        assert other.json["error"] == nothing.json["error"].replace(nowhere, world["places"][SAIGON]), read


@pytest.fixture(scope="module")
def crossing(world, warehouse):
    """A Hanoi case whose F1 lives in Saigon and met an F2, also of Saigon, at a Saigon school."""
    app = world["app"]
    case = register(app, HANOI, HANOI_WARD, "Ca bệnh Hà Nội")
    f1 = register(app, SAIGON, SAIGON_WARD, "Lê Thị Sài Gòn")
    f2 = register(app, SAIGON, SAIGON_WARD, "Phạm Văn Tân Bình")
    market, school = random_place(), random_place()
    write_scans(warehouse, [
        scan(f"{case}-x", case, ts=T0, place_id=market),
        scan(f"{f1}-x1", f1, ts=T0 + 20 * M, place_id=market),
        scan(f"{f1}-x2", f1, ts=T0 + 3 * H, place_id=school),
        scan(f"{f2}-x1", f2, ts=T0 + 3 * H + 10 * M, place_id=school),
    ])
    return dict(case=case, f1=f1, f2=f2, market=market, school=school)


def trace_url(case: str, kind: str) -> str:
    return f"/api/v1/traces/{case}?depth=2&format={kind}&{WINDOW}&{REASON}"


def test_a_trace_across_provinces_shows_outside_contacts_only_as_their_alert_needs(clients, crossing):
    answer = clients["official_hanoi"].get(trace_url(crossing["case"], "json"))

    assert answer.status_code == 200, answer.json
    nodes = {node["tier"]: node for node in answer.json["nodes"]}
    assert set(nodes) == {0, 1, 2}
    for tier in (1, 2):
        assert nodes[tier]["outside"] is True
        assert nodes[tier]["ward_code"] == SAIGON_WARD and nodes[tier]["province_code"] == SAIGON
        assert nodes[tier]["first_exposure"] is not None  # when their quarantine counts from
    body = answer.get_data(as_text=True)
    for hidden in (crossing["f1"], crossing["f2"], "Lê Thị", "Phạm Văn", crossing["school"]):
        assert hidden not in body, hidden
    edges = {edge["target"]: edge for edge in answer.json["edges"]}
    assert edges[nodes[1]["citizen_id"]]["place_id"] == crossing["market"]  # where the Hanoi case was
    assert edges[nodes[2]["citizen_id"]]["place_id"] is None  # two outsiders: their movements


@pytest.mark.parametrize("kind", ["csv", "graphml", "godata"])
def test_exports_hide_outside_people_too(clients, crossing, kind):
    response = clients["official_hanoi"].get(trace_url(crossing["case"], kind))

    assert response.status_code == 200
    if kind == "godata":
        with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
            text = "".join(archive.read(name).decode("utf-8") for name in archive.namelist())
    else:
        text = response.get_data(as_text=True)
    for hidden in (crossing["f1"], crossing["f2"], "Lê Thị", "Phạm Văn", crossing["school"]):
        assert hidden not in text, (kind, hidden)
    if kind == "csv":
        assert len(list(csv.DictReader(io.StringIO(text)))) == 2
    if kind == "graphml":
        assert nx.read_graphml(io.StringIO(text)).number_of_nodes() == 3


def test_the_other_provinces_official_sees_the_same_people_in_full(clients, crossing):
    """Saigon's official may trace their own F1: the names hidden from Hanoi are theirs to see."""
    answer = clients["official_saigon"].get(trace_url(crossing["f1"], "json"))
    assert answer.status_code == 200
    ids = {node["citizen_id"] for node in answer.json["nodes"]}
    assert crossing["f2"] in ids
    assert clients["official_saigon"].get(trace_url(crossing["case"], "json")).status_code == 404


def test_ward_staff_learn_of_a_contact_but_not_who_the_case_is(world, clients):
    staff = clients["ward_staff_hanoi"].get(READS["ward alerts"](world, HANOI))
    official = clients["official_hanoi"].get(READS["ward alerts"](world, HANOI))

    assert staff.status_code == official.status_code == 200
    assert [alert["case_citizen_id"] for alert in staff.json["alerts"]] == [None]
    assert world["people"][HANOI] not in staff.get_data(as_text=True)
    assert [alert["case_citizen_id"] for alert in official.json["alerts"]] == [world["people"][HANOI]]
