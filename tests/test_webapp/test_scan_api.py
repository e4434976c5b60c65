"""The scan API without a broker: validation, outage answers, reads from the warehouse."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from streams.records import ScanEvent
from tests.conftest import random_cccd
from tests.staff import add_place, add_staff, sign_in, station_headers
from warehouse.writer import write_scans
from webapp.extensions import db
from webapp.models import Citizen


def test_malformed_scan_gets_field_level_400_in_vietnamese_first(station_client):
    scan = {"citizen_id": "abc", "place_id": "CP-HN-01", "direction": "in"}
    response = station_client.post("/api/v1/scans", json=scan)
    assert response.status_code == 400
    assert response.json["errors"]["citizen_id"] == "phải là số CCCD gồm 12 chữ số"

    response = station_client.post("/api/v1/scans", json=scan, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert response.json["errors"] == {
        "citizen_id": "must be a 12-digit CCCD number",
        "ts": "must be an ISO 8601 time with a UTC offset, e.g. 2026-11-28T08:00:00+07:00",
    }


def test_non_json_body_gets_400(station_client):
    response = station_client.post("/api/v1/scans?lang=en", data=b"\xff\xfe garbage", content_type="application/json")
    assert response.status_code == 400
    assert response.json["errors"] == {"body": "expected a JSON object"}


def test_oversized_body_gets_413(station_client):
    response = station_client.post("/api/v1/scans", data=b"x" * 100_000, content_type="application/json")
    assert response.status_code == 413


def test_unreachable_broker_gets_503_with_a_clear_message(station_client):
    scan = {"citizen_id": random_cccd(), "place_id": "CP-HN-01", "direction": "in",
            "ts": datetime.now(timezone.utc).isoformat()}
    response = station_client.post("/api/v1/scans?lang=en", json=scan)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json == {"error": "The event stream is unavailable; nothing was recorded. Please retry shortly."}
    assert "gián đoạn" in station_client.post("/api/v1/scans?lang=vi", json=scan).json["error"]


def station_client_of(app):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    return client


def test_a_scan_older_than_retention_is_refused_not_accepted_and_lost(make_app):
    app = make_app(retention_days=30)
    client = station_client_of(app)
    scan = {"citizen_id": random_cccd(), "place_id": "CP-HN-01", "direction": "in",
            "ts": (datetime.now(timezone.utc) - timedelta(days=31)).isoformat()}

    response = client.post("/api/v1/scans?lang=en", json=scan)

    assert response.status_code == 400
    assert set(response.json["errors"]) == {"ts"}
    assert "30-day" in response.json["errors"]["ts"]


def test_with_retention_off_a_historical_scan_goes_on_to_kafka(make_app):
    app = make_app(retention_days=0)
    client = station_client_of(app)
    scan = {"citizen_id": random_cccd(), "place_id": "CP-HN-01", "direction": "in", "ts": "2021-07-09T08:30:00+07:00"}

    response = client.post("/api/v1/scans", json=scan)

    assert response.status_code == 503  # validated and sent; only the (unreachable) broker is missing


def in_the_registry(app) -> str:
    """A person living in Hanoi (province 1), where the test official answers: their movements may be read."""
    citizen = random_cccd()
    with app.app_context():
        db.session.add(Citizen(citizen_id=citizen, full_name="Nguyễn Văn An", date_of_birth=date(1990, 5, 1),
                               sex="Nam", province_code=1, ward_code=70, phone="0912345678"))
        db.session.commit()
    return citizen


def test_citizen_scans_are_read_from_the_warehouse(app, official_client, warehouse):
    citizen = in_the_registry(app)
    ts = datetime(2026, 11, 1, 7, 45, tzinfo=timezone.utc)
    write_scans(warehouse, [ScanEvent(event_id="w-1", citizen_id=citizen, place_id="MARKET-3", ts=ts, direction="in")])

    response = official_client.get(f"/api/v1/citizens/{citizen}/scans?reason=case_investigation")

    assert response.status_code == 200
    assert response.json == {
        "citizen_id": citizen,
        "scans": [{"event_id": "w-1", "place_id": "MARKET-3", "ts": "2026-11-01T07:45:00.000Z", "direction": "in",
                   "precision": "instant"}],
        "next": None,
    }


def test_a_commuters_scans_come_newest_first_in_pages(app, official_client, warehouse):
    citizen = in_the_registry(app)
    start = datetime(2026, 10, 1, 7, 0, tzinfo=timezone.utc)
    write_scans(warehouse, [
        ScanEvent(event_id=f"c-{day:03d}", citizen_id=citizen, place_id="METRO-1",
                  ts=start + timedelta(days=day), direction="in")
        for day in range(45)
    ])

    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=20&before={cursor}" if cursor else "?limit=20"
        query += "&reason=case_investigation"
        page = official_client.get(f"/api/v1/citizens/{citizen}/scans{query}").json
        seen += [scan["event_id"] for scan in page["scans"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == [f"c-{day:03d}" for day in reversed(range(45))]


def test_a_malformed_page_request_gets_field_errors(app, official_client):
    response = official_client.get(f"/api/v1/citizens/{in_the_registry(app)}/scans?limit=0&before=garbage&lang=en"
                                   "&reason=case_investigation")
    assert response.status_code == 400
    assert set(response.json["errors"]) == {"limit", "before"}


def test_citizen_scans_reject_a_malformed_id(official_client):
    response = official_client.get("/api/v1/citizens/12ab/scans?lang=en&reason=case_investigation")
    assert response.status_code == 400
    assert response.json["errors"] == {"citizen_id": "must be a 12-digit CCCD number"}


def test_unknown_path_is_a_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert "error" in response.json


def test_a_station_may_post_only_for_its_own_place(app, station_client):
    add_place(app, "CP-HCM-02", name="Chốt Quốc lộ 1A")
    scan = {"citizen_id": random_cccd(), "place_id": "CP-HCM-02", "direction": "in",
            "ts": datetime.now(timezone.utc).isoformat()}

    assert station_client.post("/api/v1/scans", json=scan).status_code == 403
    scan["place_id"] = "NO-SUCH-PLACE"
    assert station_client.post("/api/v1/scans", json=scan).json["errors"] == {
        "place_id": "không phải địa điểm đã đăng ký"}


def test_strangers_and_revoked_stations_may_not_post_scans(app, client):
    scan = {"citizen_id": random_cccd(), "place_id": "CP-HN-01", "direction": "in",
            "ts": datetime.now(timezone.utc).isoformat()}
    headers = station_headers(app)
    from webapp import accounts
    from webapp.models import StationToken
    with app.app_context():
        station_id = max(t.id for t in StationToken.query.all())
        accounts.revoke_station_token(station_id)

    assert client.post("/api/v1/scans", json=scan).status_code == 401
    assert client.post("/api/v1/scans", json=scan, headers=headers).status_code == 401
    assert client.post("/api/v1/scans", json=scan, headers={"Authorization": "Bearer tvst_forged"}).status_code == 401


def test_an_officers_session_must_send_the_csrf_token(app):
    client = app.test_client()
    sign_in(client, add_staff(app, "officer"))
    scan = {"citizen_id": random_cccd(), "place_id": "CP-HN-01", "direction": "in",
            "ts": datetime.now(timezone.utc).isoformat()}

    response = client.post("/api/v1/scans", json=scan)

    assert response.status_code == 400
    assert "CSRF" in response.json["error"]


def test_only_officials_read_a_persons_movements(app, client):
    citizen = random_cccd()
    assert client.get(f"/api/v1/citizens/{citizen}/scans").status_code == 401
    officer = app.test_client()
    sign_in(officer, add_staff(app, "officer"))
    assert officer.get(f"/api/v1/citizens/{citizen}/scans").status_code == 403
