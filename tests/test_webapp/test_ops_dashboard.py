"""The ops dashboard: ops only, no personal data, alerts at their thresholds, charts in a real browser."""
from __future__ import annotations

import json
import time

import pytest
import requests
from playwright.sync_api import sync_playwright

from streams import topics
from tests.conftest import SYSTEM_KAFKA_PORT, random_cccd, run_cli
from tests.scrape import OPS_PASSWORD, poll, signed_in_ops
from tests.staff import add_staff, sign_in, station_headers
from tests.test_webapp.test_browser import CHROMIUM_ARGS, chromium_executable
from webapp import opsdata
from webapp.opsdata import alerts_of

PAGES = ("/ops", "/ops/data")


def client_as(app, role: str | None):
    client = app.test_client()
    if role == "station":
        client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    elif role is not None:
        sign_in(client, add_staff(app, role))
    return client


@pytest.mark.parametrize("role", ["admin", "official", "officer", "venue_manager", "ward_staff", "station"])
def test_only_ops_open_the_dashboard(app, role):
    client = client_as(app, role)
    for path in PAGES:
        assert client.get(path).status_code == 403, path


def test_a_stranger_is_sent_to_sign_in(client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/dang-nhap" in response.headers["Location"], path


def test_the_page_is_vietnamese_first_and_loads_its_scripts_from_the_app(app):
    ops = client_as(app, "ops")

    page = ops.get("/ops").get_data(as_text=True)

    assert "Vận hành" in page and "Địa điểm im lặng bất thường" in page
    assert "/static/vendor/uplot-1.6.32/uPlot.iife.min.js" in page and "/static/ops.js" in page
    assert "<script>" not in page  # no inline script: the data comes from /ops/data
    assert "Operations" in ops.get("/ops?lang=en").get_data(as_text=True)
    assert ops.get("/static/vendor/uplot-1.6.32/uPlot.iife.min.js").status_code == 200


def test_the_data_says_kafka_is_down_when_it_is_in_the_reader_s_language(app):
    ops = client_as(app, "ops")

    response = ops.get("/ops/data?lang=en")  # the test app's Kafka and warehouse are unreachable

    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    data = response.json
    assert data["per_minute"] is None and data["lag"] is None
    assert len(data["minutes"]) == opsdata.WINDOW_MINUTES
    assert [alert["code"] for alert in data["alerts"]][0] == "kafka"
    assert data["alerts"][0]["level"] == "critical" and data["alerts"][0]["text"].startswith("Kafka does not answer")
    assert data["thresholds"]["lag_warning"] == opsdata.LAG_WARNING


def minutes(**series: list[int]) -> dict[str, list[int]]:
    quiet = {name: [0] * opsdata.WINDOW_MINUTES for name in opsdata.SERIES_TOPICS}
    return {**quiet, **{name: [0] * (opsdata.WINDOW_MINUTES - len(values)) + values
                        for name, values in series.items()}}


def codes(alerts) -> list[tuple[str, str]]:
    return [(alert.level, alert.code) for alert in alerts]


def test_lag_alerts_at_its_thresholds():
    assert codes(alerts_of(minutes(), opsdata.LAG_WARNING - 1, 0)) == []
    assert codes(alerts_of(minutes(), opsdata.LAG_WARNING, 0)) == [("warning", "lag")]
    assert codes(alerts_of(minutes(), opsdata.LAG_CRITICAL, 0)) == [("critical", "lag")]


def test_rejections_alert_when_many_and_a_large_share_of_what_came_in():
    window = opsdata.REJECTION_WINDOW_MINUTES
    # 25 of 1,000 in five minutes: 2.5 %, quiet.
    assert codes(alerts_of(minutes(scans=[200] * window, rejections=[5] * window), 0, 0)) == []
    # 5 of 50: 10 %, but too few to call.
    assert codes(alerts_of(minutes(scans=[10] * window, rejections=[1] * window), 0, 0)) == []
    # 25 of 250: 10 %.
    assert codes(alerts_of(minutes(scans=[30] * window, declarations=[20] * window, rejections=[5] * window),
                           0, 0)) == [("warning", "rejections")]
    # Older than the window: over.
    assert codes(alerts_of(minutes(rejections=[100] + [0] * window), 0, 0)) == []


def test_any_dead_letter_is_a_warning_and_many_are_critical():
    assert codes(alerts_of(minutes(dead_letters=[1] + [0] * 10), 0, 0)) == [("warning", "dead_letters")]
    assert codes(alerts_of(minutes(dead_letters=[opsdata.DEAD_LETTERS_CRITICAL]), 0, 0)) == [
        ("critical", "dead_letters")]
    assert codes(alerts_of(minutes(dead_letters=[5] + [0] * opsdata.DEAD_LETTER_WINDOW_MINUTES), 0, 0)) == []


def test_a_growing_outbox_and_a_silent_warehouse_are_warnings_critical_ones_first():
    found = alerts_of(minutes(dead_letters=[1]), opsdata.LAG_CRITICAL, opsdata.OUTBOX_WARNING, warehouse_answered=False)
    assert codes(found) == [("critical", "lag"), ("warning", "dead_letters"), ("warning", "outbox"),
                            ("warning", "warehouse")]


# --- on the whole running system ------------------------------------------------------------

@pytest.fixture(scope="module")
def ops_session(system):
    run_cli(system["data_dir"], SYSTEM_KAFKA_PORT, "user", "add", "van-hanh-bang", "--role", "ops",
            "--full-name", "Vận hành Bảng", "--password", OPS_PASSWORD)
    return signed_in_ops(system["url"], "van-hanh-bang")


@pytest.fixture(scope="module")
def scanned(system):
    """Scans posted at a place of this module, and their citizens."""
    place = "CP-OPS-01"
    headers = system["station_headers"](place)
    citizens = [random_cccd() for _ in range(4)]
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    for citizen in citizens:
        response = requests.post(system["url"] + "/api/v1/scans", headers=headers, timeout=10, json={
            "citizen_id": citizen, "place_id": place, "ts": now, "direction": "in"})
        assert response.status_code == 202, response.text
    return citizens


@pytest.mark.broker
def test_the_data_shows_the_last_hour_from_kafka_and_nothing_personal(system, ops_session, scanned):
    def read() -> str:
        response = ops_session.get(system["url"] + "/ops/data", timeout=30)
        assert response.status_code == 200
        return response.text

    text = poll(read, lambda text: sum((json.loads(text)["per_minute"] or {"scans": [0]})["scans"]) >= len(scanned))
    data = json.loads(text)

    assert sum(data["per_minute"]["scans"]) >= len(scanned)
    assert set(data["lag"]["by_topic"]) == set(topics.CONSUMED)
    assert data["lag"]["total"] == sum(data["lag"]["by_topic"].values())
    assert data["silent_places"] is not None and data["rejections_by_reason"] is not None
    assert data["outbox_pending"] is not None
    assert not any(citizen in text for citizen in scanned)


@pytest.mark.browser
@pytest.mark.broker
def test_the_dashboard_draws_its_charts_in_chromium_without_a_console_error(system, ops_session, scanned):
    problems: list[str] = []
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True)
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
        context.add_cookies([{"name": cookie.name, "value": cookie.value, "url": system["url"]}
                             for cookie in ops_session.cookies])
        page = context.new_page()
        # A failed load is told by its response (the console's message names no address); the
        # browser's own guess at /favicon.ico is no page's doing.
        page.on("console", lambda message: message.type == "error" and not message.text.startswith(
            "Failed to load resource") and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("response", lambda answer: answer.status >= 400 and not answer.url.endswith("/favicon.ico")
                and problems.append(f"{answer.status} {answer.url}"))

        response = page.goto(system["url"] + "/ops")
        assert response.status == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.locator("#ops[data-loaded=true]").wait_for(timeout=30_000)

        assert page.locator(".ops-chart canvas").count() >= 4
        for chart, lines in (("chart-throughput", "2"), ("chart-lag", "1"), ("chart-dead-letters", "1")):
            assert page.locator(f"#{chart}").get_attribute("data-series") == lines
        assert page.locator("#ops-alerts").get_attribute("data-count") is not None
        assert page.get_by_role("heading", name="Lưu lượng mỗi phút").is_visible()
        topics_shown = page.locator("#ops-lag-table tbody tr").count()
        assert topics_shown == len(topics.CONSUMED)
        # It keeps polling: a second reading lands and the lag chart has two points.
        page.locator("#ops[data-polls='2']").wait_for(timeout=30_000)
        chromium.close()

    assert problems == []
