"""A place's presences and contacts for health officials: GET /api/v1/places/<code>/presences|contacts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.conftest import random_cccd
from tests.staff import add_place, add_staff, sign_in, station_headers
from tests.test_warehouse.conftest import T0, crowd, edge, pair, random_place, verified_scan
from warehouse.writer import write_contacts, write_crowd_exposures, write_scans
from webapp.roles import Role

H = timedelta(hours=1)


def iso(moment: datetime) -> str:
    """A time as the API writes it."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def window(since: datetime, until: datetime) -> str:
    return f"?since={quote(since.isoformat())}&until={quote(until.isoformat())}&lang=en&reason=case_investigation"


@pytest.fixture
def place(app) -> str:
    return add_place(app, random_place(), kind="venue", name="Chợ Đồng Xuân")


def test_an_official_sees_everyone_at_a_place_with_their_registry_flag(official_client, warehouse, place):
    worker, visitor = random_cccd(), random_cccd()
    write_scans(warehouse, [
        verified_scan(f"{worker}-in", worker, ts=T0, place_id=place),
        verified_scan(f"{worker}-out", worker, ts=T0 + 2 * H, place_id=place, direction="out"),
        verified_scan(f"{visitor}-1", visitor, registered=False, ts=T0 + H, place_id=place, direction="pass"),
    ])

    response = official_client.get(f"/api/v1/places/{place}/presences" + window(T0, T0 + 3 * H))

    assert response.status_code == 200
    assert response.json == {
        "place_code": place, "place_name": "Chợ Đồng Xuân", "since": iso(T0), "until": iso(T0 + 3 * H),
        "presences": [
            {"citizen_id": worker, "kind": "interval", "start": iso(T0), "end": iso(T0 + 2 * H), "registered": True},
            {"citizen_id": visitor, "kind": "point", "start": iso(T0 + H), "end": iso(T0 + H), "registered": False},
        ],
    }


def test_an_official_sees_the_current_contacts_and_the_crowded_hours(official_client, warehouse, place):
    (a, b), (c, d) = pair(), pair()
    kept = edge(place, (a, b), revision=2)
    write_contacts(warehouse, [edge(place, (a, b), revision=1), kept, edge(place, (c, d), minutes=30),
                               edge(place, (c, d), minutes=30, revision=9, retracted=True)])
    write_crowd_exposures(warehouse, [crowd(place, hours=1, head_count=480)])

    response = official_client.get(f"/api/v1/places/{place}/contacts" + window(T0, T0 + 3 * H))

    assert response.status_code == 200
    assert response.json["contacts"] == [{
        "citizen_a": a, "citizen_b": b, "criterion": kept.criterion, "rule_version": kept.rule_version,
        "window_start": iso(kept.window_start), "first_together": iso(kept.first_together),
        "last_together": iso(kept.last_together), "overlap_minutes": kept.overlap_minutes,
    }]
    assert response.json["crowd_exposures"] == [{
        "window_start": iso(T0 + H), "window_end": iso(T0 + 2 * H), "head_count": 480,
        "rule_version": "truyvet-default-1"}]


def test_without_a_window_the_last_24_hours_are_read(official_client, warehouse, place):
    now = datetime.now(timezone.utc)
    recent, old = random_cccd(), random_cccd()
    write_scans(warehouse, [verified_scan(f"{recent}-1", recent, ts=now - H, place_id=place),
                            verified_scan(f"{old}-1", old, ts=now - 25 * H, place_id=place)])

    answer = official_client.get(f"/api/v1/places/{place}/presences?reason=case_investigation").json

    assert [p["citizen_id"] for p in answer["presences"]] == [recent]
    since, until = (datetime.fromisoformat(answer[k]) for k in ("since", "until"))
    assert until - since == 24 * H and abs(until - now) < timedelta(minutes=1)


def test_an_unencoded_plus_in_the_offset_is_read_as_one(official_client, place):
    response = official_client.get(f"/api/v1/places/{place}/contacts?since=2026-11-28T08:00:00+07:00"
                                   "&until=2026-11-28T09:00:00+07:00&reason=case_investigation")
    assert response.status_code == 200
    assert (response.json["since"], response.json["until"]) == ("2026-11-28T01:00:00.000Z", "2026-11-28T02:00:00.000Z")


@pytest.mark.parametrize("what", ["presences", "contacts"])
def test_an_unknown_place_is_a_json_404(official_client, what):
    response = official_client.get(f"/api/v1/places/{random_place()}/{what}?reason=case_investigation")
    assert response.status_code == 404
    assert "no place with code" in response.json["error"]


@pytest.mark.parametrize("query, field, message", [
    ("since=2026-11-28T09:00:00Z&until=2026-11-28T09:00:00Z", "until", "since must be before until"),
    ("since=2026-11-28T10:00:00Z&until=2026-11-28T09:00:00Z", "until", "since must be before until"),
    ("since=2026-10-01T00:00:00Z&until=2026-11-01T00:00:01Z", "until", "at most 31 days"),
    ("since=2000-01-01T00:00:00Z", "since", "at most 31 days"),  # until is now
    ("since=2099-01-01T00:00:00Z", "since", "since must be before until"),
    ("since=2026-11-28T09:00:00", "since", "needs a UTC offset"),
    ("until=28/11/2026", "until", "ISO 8601"),
    ("until=", "until", "ISO 8601"),
    ("since=1999-12-31T23:59:59Z", "since", "must be from 2000-01-01"),
    ("until=9999-12-31T23:59:59-12:00", "until", "must be from 2000-01-01"),
    ("since=0001-01-01T00:00:00%2B14:00", "since", "must be from 2000-01-01"),
])
def test_a_bad_window_is_a_400_naming_the_field(official_client, place, query, field, message):
    for what in ("presences", "contacts"):
        response = official_client.get(f"/api/v1/places/{place}/{what}?{query}&lang=en&reason=case_investigation")
        assert response.status_code == 400, response.json
        assert list(response.json["errors"]) == [field]
        assert message in response.json["errors"][field]


@pytest.mark.parametrize("path", [
    "/api/v1/places/{place}/presences?since=2026-11-28T00:00:00Z'%20OR%201=1%20--",
    "/api/v1/places/{place}/contacts?until=2026-11-28T00:00:00Z);DROP%20TABLE%20contacts;--",
    "/api/v1/places/{place}'%20OR%20'1'='1/contacts",
    "/api/v1/places/{place}%00/presences",
])
def test_injection_attempts_are_refused_not_run(official_client, warehouse, place, path):
    (a, b) = pair()
    write_contacts(warehouse, [edge(place, (a, b))])

    url = path.format(place=place)
    response = official_client.get(url + ("&" if "?" in url else "?") + "reason=case_investigation")

    assert response.status_code in (400, 404), response.status_code
    assert a not in response.get_data(as_text=True)
    assert warehouse.command("SELECT count() FROM contacts FINAL WHERE place_id = {p:String}",
                             parameters={"p": place}) == 1


def test_a_window_too_full_to_answer_is_a_400(official_client, warehouse, place, monkeypatch):
    write_contacts(warehouse, [edge(place, pair()) for _ in range(3)])
    monkeypatch.setattr("warehouse.contacts.MAX_ROWS_READ", 2)

    response = official_client.get(f"/api/v1/places/{place}/contacts" + window(T0, T0 + H))

    assert response.status_code == 400
    assert "shorter window" in response.json["errors"]["until"]


@pytest.mark.parametrize("what", ["presences", "contacts"])
def test_only_health_officials_read_a_place(app, client, place, what):
    url = f"/api/v1/places/{place}/{what}"
    assert client.get(url).status_code == 401
    station = app.test_client()
    station.environ_base["HTTP_AUTHORIZATION"] = station_headers(app, place)["Authorization"]
    assert station.get(url).status_code == 403
    for role in (Role.OFFICER, Role.VENUE_MANAGER, Role.OPS, Role.ADMIN):
        staff = app.test_client()
        sign_in(staff, add_staff(app, role, places=(place,) if role in (Role.OFFICER, Role.VENUE_MANAGER) else ()))
        assert staff.get(url).status_code == 403, role
