"""The officer's station pages and the citizens' self check-in, in-process (no broker, no browser)."""
from __future__ import annotations

import json
import re
from html import unescape

import pytest

from ingest.producer import EventPublisher
from streams import topics
from tests.factories import declaration
from tests.staff import add_place, add_staff, sign_in
from webapp.roles import Role

CHECKPOINT, VENUE, ELSEWHERE = "CP-HN-01", "CHO-DONG-XUAN", "CP-HP-02"
SELF_CHECK_IN = "/api/v1/self-check-ins"


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, str, dict]]:
    """(topic, key, event) of what reaches Kafka, each message acknowledged."""
    sent: list[tuple[str, str, dict]] = []

    def acknowledge(self, messages):
        sent.extend((topic, key, json.loads(payload)) for topic, key, payload in messages)
        return [None] * len(messages)

    monkeypatch.setattr(EventPublisher, "publish_many", acknowledge)
    return sent


@pytest.fixture
def places(app):
    add_place(app, CHECKPOINT, kind="checkpoint", name="Chốt Pháp Vân")
    add_place(app, VENUE, kind="venue", name="Chợ Đồng Xuân")
    add_place(app, ELSEWHERE, kind="checkpoint", name="Chốt Quán Toan")


@pytest.fixture
def officer(app, client, places):
    """The client, signed in as an officer bound to the checkpoint and the venue (not ELSEWHERE)."""
    sign_in(client, add_staff(app, Role.OFFICER, places=(CHECKPOINT, VENUE)))
    return client


def declare(client, **changes) -> dict:
    response = client.post("/api/v1/declarations", json=declaration(**changes))
    assert response.status_code == 201, response.json
    return response.json


def texts_of(page: str) -> dict:
    """The station script's words: JSON in a single-quoted data attribute."""
    return json.loads(unescape(re.search(r"data-texts='([^']*)'", page).group(1)))


# --- the station pages -------------------------------------------------------------------------

def test_the_list_links_each_place_to_its_station_page(officer):
    page = officer.get("/chot").get_data(as_text=True)

    assert 'href="/chot/CP-HN-01"' in page and 'href="/chot/CHO-DONG-XUAN"' in page
    assert "Chợ Đồng Xuân" in page and "Mở trạm quét" in page
    assert 'href="/dia-diem/CHO-DONG-XUAN/poster"' in page
    assert ELSEWHERE not in page


def test_the_station_page_speaks_vietnamese_to_its_officer(officer):
    response = officer.get(f"/chot/{CHECKPOINT}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for words in ("Chốt Pháp Vân", "Cho qua", "Không cho qua", "Đang chờ gửi", "Quét bằng camera",
                  "Quét mã QR (máy quét) hoặc nhập số CCCD",
                  "Mất kết nối: thao tác sẽ được gửi khi có mạng",
                  "Chưa khai báo y tế"):
        assert words in page, words
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', page)
    assert 'data-place-code="CP-HN-01"' in page and 'data-place-kind="checkpoint"' in page
    assert "/static/station.js" in page and "/static/vendor/jsqr-1.4.0/jsQR.js" in page
    # No inline script: every script is a file, so a strict Content-Security-Policy can hold.
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", page))


def test_the_station_texts_reach_the_script_as_json(officer):
    page = officer.get(f"/chot/{VENUE}?lang=en").get_data(as_text=True)

    texts = texts_of(page)

    assert texts["actions"] == {"pass": "Let through", "turn_back": "Turn back", "in": "In", "out": "Out"}
    assert texts["symptoms"]["cough"] == "Cough" and texts["provinces"]["1"] == "Thành phố Hà Nội"
    assert "Waiting to send" in page and 'data-place-kind="venue"' in page


def test_another_places_station_is_forbidden_and_an_unknown_one_not_found(officer):
    other = officer.get(f"/chot/{ELSEWHERE}")
    assert other.status_code == 403
    assert "Bạn không được phân công tại địa điểm này." in other.get_data(as_text=True)
    assert officer.get("/chot/NO-SUCH-PLACE").status_code == 404


def test_strangers_are_sent_to_sign_in(client, places):
    response = client.get(f"/chot/{CHECKPOINT}")

    assert response.status_code == 302
    assert response.headers["Location"] == f"/dang-nhap?next=/chot/{CHECKPOINT}"


def test_the_page_renews_its_csrf_token_and_the_api_takes_the_new_one(officer):
    declared = declare(officer, full_name="Lê Văn Tám")
    renewed = officer.get("/api/v1/checkpoint-csrf-token")
    assert renewed.status_code == 200 and renewed.headers["Cache-Control"] == "no-store"

    response = officer.post("/api/v1/checkpoint-lookups", json={"place_code": CHECKPOINT, "qr_token": declared["qr_token"]},
                            headers={"X-CSRFToken": renewed.json["csrf_token"]})

    assert response.status_code == 200
    assert response.json["person"]["declaration"]["full_name"] == "Lê Văn Tám"
    refused = officer.post("/api/v1/checkpoint-lookups", json={"place_code": CHECKPOINT, "citizen_id": declared["citizen_id"]})
    assert refused.status_code == 400 and "errors" not in refused.json  # what the page's script renews on


# --- self check-in -------------------------------------------------------------------------------

def test_a_citizen_checks_in_at_a_venue_with_their_own_qr_code(client, places, published):
    declared = declare(client, full_name="Phạm Thị Hoa")

    response = client.post(SELF_CHECK_IN, json={"place_code": VENUE, "qr_token": declared["qr_token"], "action": "in"})

    assert response.status_code == 202
    # Nothing about the person that the phone did not send: no name, no ID number.
    assert set(response.json) == {"event_id", "action", "place_name"}
    assert (response.json["action"], response.json["place_name"]) == ("in", "Chợ Đồng Xuân")
    [(topic, key, event)] = published
    assert (topic, key) == (topics.SCANS, declared["citizen_id"])
    assert (event["event_id"], event["citizen_id"], event["place_id"], event["direction"]) == (
        response.json["event_id"], declared["citizen_id"], VENUE, "in")

    out = client.post(SELF_CHECK_IN, json={"place_code": VENUE, "qr_token": declared["qr_token"], "action": "out"})
    assert out.status_code == 202 and out.json["event_id"] != response.json["event_id"]
    assert published[-1][2]["direction"] == "out"


def test_a_forged_qr_code_is_refused_with_its_reason(client, places, published):
    token = declare(client)["qr_token"]
    payload, signature = token.split(".")
    forged = payload + "." + ("B" if signature[0] != "B" else "C") + signature[1:]

    response = client.post(SELF_CHECK_IN + "?lang=en", json={"place_code": VENUE, "qr_token": forged, "action": "in"})

    assert response.status_code == 422
    assert response.json == {"error": "This QR code has been altered or forged.", "reason": "bad_signature"}
    assert published == []


def test_a_checkpoint_takes_no_self_check_in(client, places, published):
    token = declare(client)["qr_token"]

    response = client.post(SELF_CHECK_IN, json={"place_code": CHECKPOINT, "qr_token": token, "action": "in"})

    assert response.status_code == 400
    assert "không nhận tự khai báo" in response.json["errors"]["place_code"]
    assert published == []


@pytest.mark.parametrize("body, fields", [
    ({"place_code": VENUE, "action": "in"}, {"qr_token"}),
    ({"place_code": VENUE, "qr_token": "X", "action": "pass"}, {"action"}),
    ({"place_code": "NO-SUCH", "qr_token": "X", "action": "in"}, {"place_code"}),
    # A typed ID number would let anyone check anyone in: only the QR token is taken.
    ({"place_code": VENUE, "citizen_id": "001090012345", "action": "in"}, {"qr_token", "body"}),
])
def test_self_check_in_refuses_what_it_cannot_take(client, places, published, body, fields):
    response = client.post(SELF_CHECK_IN, json=body)

    assert response.status_code == 400
    assert set(response.json["errors"]) == fields
    assert published == []


def test_self_check_in_is_rate_limited_per_address(client, places, published):
    answers = [client.post(SELF_CHECK_IN, json={"place_code": VENUE, "qr_token": "X", "action": "in"}).status_code
               for _ in range(31)]

    assert answers[:30] == [422] * 30 and answers[30] == 429


def test_the_self_check_in_page_is_public_and_for_venues(client, places):
    page = client.get(f"/check-in/{VENUE}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Chợ Đồng Xuân" in text and "Khai báo vào/ra" in text and "/static/checkin.js" in text
    assert 'href="/khai-bao"' in text and 'data-url="/api/v1/self-check-ins"' in text

    at_checkpoint = client.get(f"/check-in/{CHECKPOINT}").get_data(as_text=True)
    assert "không nhận tự khai báo vào/ra" in at_checkpoint and "checkin.js" not in at_checkpoint
    assert client.get("/check-in/NO-SUCH-PLACE").status_code == 404

