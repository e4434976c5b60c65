"""An official's night shift in a real headless Chromium, against the whole running system.

Search the case, open the trace, see the tiers drawn, download the CSV, mark the F1 positive,
and watch the new case's own contact appear in the alerts of the ward where they live: the
case goes through the outbox to Kafka, the worker traces it from the warehouse and routes the
alert by the registry, the sink stores it, the ward's page reads it.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
import requests
from kafka import KafkaProducer
from playwright.sync_api import expect, sync_playwright

from ingest.units import wards
from streams import topics
from streams.records import CitizenRecord, new_event_id
from tests.conftest import SYSTEM_KAFKA_PORT, random_cccd, run_cli
from tests.test_webapp.test_browser import CHROMIUM_ARGS, chromium_executable

pytestmark = [pytest.mark.browser, pytest.mark.broker]

PASSWORD = "mat-khau-ca-dem-2026"
HANOI = 1
WAIT_SECONDS = 120


def add_to_registry(system, citizen_id: str, name: str, ward_code: int) -> None:
    """A Hanoi resident in the web app's registry and in the stream's (as `truyvet seed` does both)."""
    sex = "Nữ" if int(citizen_id[3]) % 2 else "Nam"
    born = f"19{citizen_id[4:6]}-03-04"
    with sqlite3.connect(system["data_dir"] / "truyvet.db") as registry:
        registry.execute("INSERT INTO citizens (citizen_id, full_name, date_of_birth, sex, province_code, ward_code, "
                         "phone, updated_at) VALUES (?, ?, ?, ?, ?, ?, '0912000111', CURRENT_TIMESTAMP)",
                         (citizen_id, name, born, sex, HANOI, ward_code))
    producer = KafkaProducer(bootstrap_servers=system["broker"].bootstrap, acks="all")
    try:
        producer.send(topics.CITIZENS, key=citizen_id.encode(), value=CitizenRecord(
            event_id=new_event_id(), citizen_id=citizen_id, cmnd=None, full_name=name, date_of_birth=born,
            sex="female" if sex == "Nữ" else "male", province_code=HANOI, ward_code=ward_code).dumps()).get(timeout=10)
    finally:
        producer.close()


def scanned(system, citizen_id: str, place: str, ts: datetime) -> None:
    response = requests.post(f"{system['url']}/api/v1/scans", timeout=30, headers=system["station_headers"](place),
                             json={"citizen_id": citizen_id, "place_id": place, "ts": ts.isoformat(),
                                   "direction": "pass"})
    assert response.status_code in (200, 201, 202), response.text


def wait_until(what: str, check, timeout: float = WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s")
        time.sleep(0.5)
    return found


@pytest.fixture
def night(system):
    """A case who met an F1 at a market; the F1 later met a colleague at their office."""
    ward_names = dict(wards(HANOI))
    case_ward, f1_ward, colleague_ward = list(ward_names)[:3]
    people = {"case": (random_cccd(), "Đỗ Thị Ca", case_ward), "f1": (random_cccd(), "Vũ Văn Một", f1_ward),
              "colleague": (random_cccd(), "Hoàng Thị Đồng Nghiệp", colleague_ward)}
    for citizen_id, name, ward in people.values():
        add_to_registry(system, citizen_id, name, ward)
    market, office = f"CHO-{random_cccd()[-6:]}", f"VP-{random_cccd()[-6:]}"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    scanned(system, people["case"][0], market, now - timedelta(hours=6))
    scanned(system, people["f1"][0], market, now - timedelta(hours=6) + timedelta(minutes=15))
    scanned(system, people["f1"][0], office, now - timedelta(hours=3))
    scanned(system, people["colleague"][0], office, now - timedelta(hours=3) + timedelta(minutes=10))
    for citizen_id, count in ((people["case"][0], 1), (people["f1"][0], 2), (people["colleague"][0], 1)):
        wait_until(f"scans of {citizen_id} in the warehouse", lambda c=citizen_id, n=count: len(system["official"].get(
            f"{system['url']}/api/v1/citizens/{c}/scans", params={"reason": "case_investigation"},
            timeout=10).json().get("scans", [])) >= n)
    username = f"bs-dem-{random_cccd()[-6:]}"
    run_cli(system["data_dir"], SYSTEM_KAFKA_PORT, "user", "add", username, "--role", "official",
            "--full-name", "Bác sĩ Ca Đêm", "--area", str(HANOI), "--password", PASSWORD)
    return {**{role: citizen_id for role, (citizen_id, _, _) in people.items()},
            "names": {role: name for role, (_, name, _) in people.items()},
            "colleague_ward": colleague_ward, "username": username}


@pytest.fixture
def page(tmp_path):
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(locale="vi-VN", accept_downloads=True, viewport={"width": 1280, "height": 900})
        yield context.new_page()
        browser.close()


def sign_in(page, url: str, username: str) -> None:
    page.goto(f"{url}/dang-nhap")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    secret = page.locator("code[data-secret]").inner_text()
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    expect(page.locator("form.sign-out")).to_be_visible()


def test_search_trace_export_mark_positive_and_the_ward_is_alerted(system, night, page):
    url = system["url"]
    sign_in(page, url, night["username"])

    # Search the case by CCCD, with a reason, and open their page.
    page.click(".site-nav >> text=Truy vết")
    page.fill("#q", night["case"])
    page.select_option("select[name=reason]", "case_investigation")
    page.click("#search-form button[type=submit]")
    page.click(f"text={night['names']['case']}")
    expect(page.locator("h1")).to_contain_text(night["case"])

    # Their trace: the graph draws one F1 and one F2.
    page.click("#trace-link")
    graph = page.locator("#trace-graph[data-rendered-nodes]")
    expect(graph).to_have_attribute("data-rendered-nodes", "3", timeout=30_000)
    assert json.loads(graph.get_attribute("data-tier-counts")) == {"1": 1, "2": 1}
    expect(page.locator("#contacts-f1")).to_contain_text(night["names"]["f1"])
    expect(page.locator("#contacts-f2")).to_contain_text(night["names"]["colleague"])

    # The CSV export downloads and holds both exposures.
    with page.expect_download() as download:
        page.click("#exports a:has-text('CSV')")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert {(row["source"], row["target"]) for row in rows} == {
        (night["case"], night["f1"]), (night["f1"], night["colleague"])}

    # The F1 tests positive: a new case, whose own contacts are alerted where they live.
    row = page.locator(f"tr[data-citizen='{night['f1']}']")
    row.locator("select[name=status]").select_option("positive")
    row.locator("button[type=submit]").click()
    expect(page.locator("[data-flash]")).to_be_visible()

    alerts_page = f"{url}/canh-bao/{night['colleague_ward']}?reason=contact_follow_up"

    def colleague_alerted() -> bool:
        page.goto(alerts_page)
        return night["names"]["colleague"] in page.locator("main").inner_text()

    wait_until("alert for the F1's colleague in their ward", colleague_alerted)
    alert_row = page.locator("tr", has_text=night["names"]["colleague"])
    expect(alert_row).to_contain_text("F1")  # an F1 of the new case
    assert night["case"] not in page.content() and night["f1"] not in page.content()  # the ward sees no case
