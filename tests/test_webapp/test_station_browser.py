"""The officer's station and the citizens' self check-in in a real headless Chromium, against the
whole running system: a fake camera filming a personal QR code, a network that drops, a poster.

Every result is read where it lands: on the page, and on the Kafka topic the warehouse is fed from.
"""
from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import requests
import segno
from kafka import KafkaConsumer, TopicPartition
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from streams import topics
from tests.conftest import TRUYVET, random_cccd, system_env
from tests.factories import declaration
from tests.test_webapp.test_browser import CHROMIUM_ARGS, PHONE, chromium_executable

pytestmark = [pytest.mark.browser, pytest.mark.broker]

CHECKPOINT, VENUE = "CP-TEST-STATION", "VENUE-TEST-STATION"
OFFICER, PASSWORD = "can-bo-tram-quet", "mat-khau-tram-quet-2026"
TOPIC_READ_SECONDS = 30


def declare(system, full_name: str) -> dict:
    response = requests.post(f"{system['url']}/api/v1/declarations", json=declaration(full_name=full_name), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def add_places_and_officer(system) -> None:
    """Two places straight into the system's database, and an officer bound to both (the CLI)."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(system["data_dir"] / "truyvet.db", timeout=30) as database:
        database.executemany(
            "INSERT OR IGNORE INTO places (code, kind, name, province_code, ward_code, latitude, longitude,"
            " active, created_at) VALUES (?, ?, ?, 1, NULL, NULL, NULL, 1, ?)",
            [(CHECKPOINT, "checkpoint", "Chốt Thử Pháp Vân", created),
             (VENUE, "venue", "Chợ Thử Đồng Xuân", created)])
    result = subprocess.run(
        [TRUYVET, "user", "add", OFFICER, "--role", "officer", "--full-name", "Cán bộ Trạm Quét",
         "--place", CHECKPOINT, "--place", VENUE, "--password", PASSWORD],
        env=system_env(system["data_dir"], system["broker"].port), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def qr_in_view(text: str) -> Image.Image:
    """What the station's camera sees: the QR code held up in the middle of a 640 x 480 frame."""
    png = io.BytesIO()
    segno.make(text, micro=False).save(png, kind="png", scale=8, border=4)
    code = Image.open(png).convert("RGB")
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    return frame


def write_y4m(image: Image.Image, path: Path, frames: int = 5) -> None:
    """A still YUV4MPEG2 video (4:2:0, full-range BT.601 as C420jpeg says) for Chromium's fake camera."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    height, width = r.shape
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b

    def half(plane: np.ndarray) -> np.ndarray:  # one chroma sample per 2 x 2 pixels, their mean
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    planes = (y, half(cb), half(cr))
    frame = b"FRAME\n" + b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)
    with open(path, "wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        video.write(frame * frames)


def scans_on_topic(bootstrap: str, event_id: str, timeout: float = 30) -> list[dict]:
    """Every event on the scans topic with this id, once it is there (decisions reach Kafka
    through the server's outbox relay, a moment after their 202)."""
    deadline = time.monotonic() + timeout
    while not (found := _scans_on_topic_now(bootstrap, event_id)):
        assert time.monotonic() < deadline, f"{event_id} never reached {topics.SCANS}"
        time.sleep(0.2)
    return found


def _scans_on_topic_now(bootstrap: str, event_id: str) -> list[dict]:
    """Every event on the scans topic with this id, reading each partition to its current end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topics.SCANS, p) for p in consumer.partitions_for_topic(topics.SCANS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found = []
        deadline = time.monotonic() + TOPIC_READ_SECONDS
        while any(consumer.position(p) < ends[p] for p in partitions):
            assert time.monotonic() < deadline, "the scans topic could not be read to its end"
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    if event_id.encode() in record.value:
                        found.append(json.loads(record.value))
        return found
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def first_person(system):
    return declare(system, "Trần Thị Quét")


@pytest.fixture(scope="module")
def browser(system, first_person, tmp_path_factory):
    """Chromium whose camera films the first person's personal QR code; places and officer ready."""
    add_places_and_officer(system)
    video = tmp_path_factory.mktemp("station-camera") / "personal-qr.y4m"
    write_y4m(qr_in_view(first_person["qr_token"]), video)
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=chromium_executable(), headless=True,
            args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={video}"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def officer_state(system, browser) -> dict:
    """The officer's signed-in cookies, signing in once through the page (sign-ins are rate-limited)."""
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page = context.new_page()
    page.goto(f"{system['url']}/dang-nhap?next=/chot")
    page.get_by_label("Tên đăng nhập").fill(OFFICER)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{system['url']}/chot")
    expect(page.get_by_role("link", name="Chốt Thử Pháp Vân")).to_be_visible()
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def officer(system, browser, officer_state):
    """A fresh browser context (its own IndexedDB) signed in as the officer, camera allowed."""
    context = browser.new_context(viewport=PHONE, locale="vi-VN", storage_state=officer_state)
    context.grant_permissions(["camera"], origin=system["url"])
    yield context
    context.close()


def open_station(context, system, place_code: str):
    page = context.new_page()
    response = page.goto(f"{system['url']}/chot/{place_code}")
    assert response.status == 200
    page.locator("[data-station][data-ready=true]").wait_for()
    return page


def test_the_camera_reads_a_personal_qr_code_and_the_decision_reaches_kafka(system, officer, first_person):
    page = open_station(officer, system, CHECKPOINT)

    page.get_by_role("button", name="Quét bằng camera").click()

    card = page.locator("[data-result] .person-card")
    expect(card.locator(".person-name")).to_have_text("Trần Thị Quét")
    expect(card).to_contain_text("Sinh năm 1990")
    expect(card).to_contain_text("Chưa xác thực")
    expect(card.locator("[data-slot=symptoms]")).to_have_text("Ho")
    page.get_by_role("button", name="Cho qua", exact=True).click()

    status = page.locator("[data-status]")
    expect(status).to_contain_text("Đã ghi nhận: Cho qua · Trần Thị Quét")
    event_id = status.locator("[data-event-id]").get_attribute("data-event-id")
    expect(page.locator("[data-queue-count]")).to_have_text("0")
    [event] = scans_on_topic(system["broker"].bootstrap, event_id)
    assert (event["citizen_id"], event["place_id"], event["direction"]) == (
        first_person["citizen_id"], CHECKPOINT, "pass")


def test_a_turn_back_needs_a_reason_and_records_it(system, officer):
    page = open_station(officer, system, CHECKPOINT)
    cccd = random_cccd()
    page.get_by_label("Quét mã QR (máy quét) hoặc nhập số CCCD").fill(cccd)
    page.keyboard.press("Enter")
    expect(page.locator("[data-result] .person-name")).to_have_text("Chưa có tờ khai y tế")

    page.get_by_role("button", name="Không cho qua", exact=True).click()
    page.get_by_role("button", name="Xác nhận không cho qua").click()
    expect(page.locator("[data-reason-error]")).to_have_text("Hãy ghi lý do không cho qua.")
    page.get_by_role("button", name="Chưa khai báo y tế").click()
    page.get_by_role("button", name="Xác nhận không cho qua").click()

    expect(page.locator("[data-status]")).to_contain_text("Đã ghi nhận: Không cho qua")
    event_id = page.locator("[data-status] [data-event-id]").get_attribute("data-event-id")
    [event] = scans_on_topic(system["broker"].bootstrap, event_id)
    assert (event["citizen_id"], event["direction"]) == (cccd, "turn_back")


def test_actions_taken_offline_wait_in_order_and_are_sent_once_when_the_network_is_back(system, officer):
    page = open_station(officer, system, VENUE)
    field = page.get_by_label("Quét mã QR (máy quét) hoặc nhập số CCCD")
    first, second = random_cccd(), random_cccd()

    officer.set_offline(True)
    tapped = datetime.now(timezone.utc)
    field.fill(first)
    field.press("Enter")
    expect(page.locator("[data-result]")).to_contain_text("Mất kết nối: thao tác sẽ được gửi khi có mạng")
    page.get_by_role("button", name="Vào", exact=True).click()
    expect(page.locator("[data-queue-count]")).to_have_text("1")
    field.fill(second)
    field.press("Enter")
    page.get_by_role("button", name="Ra", exact=True).click()
    expect(page.locator("[data-queue-count]")).to_have_text("2")
    expect(page.locator("[data-queue-list] li")).to_have_count(2)
    expect(page.locator("[data-queue-list] li").first).to_contain_text(first)
    expect(page.locator("[data-offline]")).to_be_visible()
    reconnected = datetime.now(timezone.utc)

    officer.set_offline(False)

    expect(page.locator("[data-queue-count]")).to_have_text("0", timeout=20_000)
    recent = page.locator("[data-recent-list] li[data-event-id]")
    expect(recent).to_have_count(2)
    expect(page.locator("[data-offline]")).to_be_hidden()
    # Newest first on screen; sent in the order of the taps.
    sent = [recent.nth(1).get_attribute("data-event-id"), recent.nth(0).get_attribute("data-event-id")]
    for event_id, (cccd, direction) in zip(sent, [(first, "in"), (second, "out")]):
        [event] = scans_on_topic(system["broker"].bootstrap, event_id)
        assert (event["citizen_id"], event["place_id"], event["direction"]) == (cccd, VENUE, direction)
        # The time of the tap, not of the replay.
        assert tapped - timedelta(seconds=1) <= datetime.fromisoformat(event["ts"]) <= reconnected


def test_a_queued_action_survives_closing_the_page(system, officer):
    page = open_station(officer, system, VENUE)
    cccd = random_cccd()
    officer.set_offline(True)
    page.get_by_label("Quét mã QR (máy quét) hoặc nhập số CCCD").fill(cccd)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Vào", exact=True).click()
    expect(page.locator("[data-queue-count]")).to_have_text("1")
    page.close()
    officer.set_offline(False)

    page = open_station(officer, system, VENUE)

    expect(page.locator("[data-queue-count]")).to_have_text("0", timeout=20_000)
    event_id = page.locator("[data-recent-list] li[data-event-id]").first.get_attribute("data-event-id")
    [event] = scans_on_topic(system["broker"].bootstrap, event_id)
    assert (event["citizen_id"], event["direction"]) == (cccd, "in")


def test_a_queued_action_the_server_refuses_leaves_the_queue_and_says_why(system, officer):
    page = open_station(officer, system, VENUE)
    officer.set_offline(True)
    page.get_by_label("Quét mã QR (máy quét) hoặc nhập số CCCD").fill("123456789")  # an old CMND, no declaration
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Vào", exact=True).click()
    expect(page.locator("[data-queue-count]")).to_have_text("1")

    officer.set_offline(False)

    expect(page.locator("[data-queue-count]")).to_have_text("0", timeout=20_000)
    expect(page.locator("[data-failed-list] li")).to_have_count(1)
    expect(page.locator("[data-failed-list]")).to_contain_text("hãy nhập số CCCD 12 chữ số")
    expect(page.locator("[data-status]")).to_contain_text("Không ghi nhận được: Vào")


def test_a_citizen_checks_in_from_the_venue_poster(system, browser):
    person = declare(system, "Lê Thị Chợ")
    context = browser.new_context(viewport=PHONE, locale="vi-VN")
    page = context.new_page()
    assert page.goto(f"{system['url']}/check-in/{VENUE}").status == 200
    expect(page.get_by_text("Điện thoại này chưa lưu mã QR cá nhân nào.")).to_be_visible()
    page.evaluate("people => localStorage.setItem('truyvet.people', JSON.stringify(people))",
                  [{"name": "Lê Thị Chợ", "token": person["qr_token"], "expires_at": person["qr_expires_at"]}])
    page.reload()

    page.get_by_role("button", name="Vào – Lê Thị Chợ").click()

    done = page.locator(".people [data-event-id]")
    expect(done).to_contain_text("Đã ghi nhận Lê Thị Chợ vào Chợ Thử Đồng Xuân lúc")
    [event] = scans_on_topic(system["broker"].bootstrap, done.get_attribute("data-event-id"))
    assert (event["citizen_id"], event["place_id"], event["direction"]) == (person["citizen_id"], VENUE, "in")
    context.close()
