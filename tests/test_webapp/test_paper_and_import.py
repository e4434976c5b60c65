"""Officers' paper declarations and scan-log uploads, in-process (Kafka unreachable unless faked)."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from streams.records import VIETNAM_TIME
from ingest.producer import EventPublisher
from streams import topics
from tests.conftest import random_cccd
from tests.staff import add_place, add_staff, csrf_token, sign_in
from tests.test_webapp.test_citizen_pages import Page
from webapp.extensions import db
from webapp.models import CheckpointDecision, Declaration, OutboxEvent
from webapp.roles import Role

CHECKPOINT, VENUE, ELSEWHERE = "CP-HN-01", "CHO-DONG-XUAN", "CP-HP-02"
PAPER = f"/chot/{CHECKPOINT}/nhap-giay"
UPLOAD = "/chot/nhap-csv"


@pytest.fixture
def officer(app, client):
    """The client, signed in as an officer bound to the checkpoint and the venue (not ELSEWHERE)."""
    add_place(app, CHECKPOINT, kind="checkpoint", name="Chốt Pháp Vân")
    add_place(app, VENUE, kind="venue", name="Chợ Đồng Xuân")
    add_place(app, ELSEWHERE, kind="checkpoint", name="Chốt Quán Toan")
    sign_in(client, add_staff(app, Role.OFFICER, places=(CHECKPOINT, VENUE)))
    return client


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, str, dict]]:
    """(topic, key, event) of what reaches Kafka, each message acknowledged."""
    sent: list[tuple[str, str, dict]] = []

    def acknowledge(self, messages):
        sent.extend((topic, key, json.loads(payload)) for topic, key, payload in messages)
        return [None] * len(messages)

    monkeypatch.setattr(EventPublisher, "publish_many", acknowledge)
    return sent


def open_paper(client, path: str = PAPER) -> Page:
    response = client.get(path)
    assert response.status_code == 200
    return Page(response.get_data(as_text=True))


def paper(page: Page, **answers) -> dict:
    """The paper form as the browser sends it: hidden fields, the preset action, the answers."""
    data = dict(page.values)
    data.update({name: value for name, value in page.checked})
    data.update(citizen_id="001090012345", full_name="Nguyễn Văn An", date_of_birth="1990-05-17",
                sex="male", phone="0912345678", **{"residence-province_code": "1"})
    data.update(answers)
    return data


def counts(app, citizen_id: str = "001090012345") -> tuple[int, int, int]:
    """(declarations, staged scan events, checkpoint decisions) for one person."""
    with app.app_context():
        declared = db.session.scalar(select(func.count()).select_from(Declaration)
                                     .where(Declaration.id_number == citizen_id))
        scans = [json.loads(row.payload) for row in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == topics.SCANS))]
        decisions = db.session.scalar(select(func.count()).select_from(CheckpointDecision)
                                      .where(CheckpointDecision.citizen_id == citizen_id))
    return declared, sum(scan["citizen_id"] == citizen_id for scan in scans), decisions


# --- paper declarations ---------------------------------------------------------------------

def test_the_paper_form_speaks_vietnamese_with_the_action_preset_by_kind_of_place(officer):
    response = officer.get(PAPER)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = Page(html)
    for words in ("Nhập tờ khai y tế giấy", "Chốt Pháp Vân", "Số CCCD (hoặc số CMND 9 số)", "Họ và tên",
                  "Triệu chứng trong 14 ngày qua", "Khai báo hộ người thân", "Xử lý tại địa điểm",
                  "Cho qua", "Không cho qua", "Lưu tờ khai và ghi nhận"):
        assert words in page.text, words
    assert '<option value="Chưa khai báo y tế">' in html  # the station's one-tap reasons
    assert ("action", "pass") in page.checked
    assert page.values["idempotency_key"] and page.values["csrf_token"]
    assert ("action", "in") in open_paper(officer, f"/chot/{VENUE}/nhap-giay").checked


def test_only_the_officers_own_places_take_paper_forms(app, client, officer):
    assert officer.get(f"/chot/{ELSEWHERE}/nhap-giay").status_code == 403
    assert "Bạn không được phân công" in officer.get(f"/chot/{ELSEWHERE}/nhap-giay").get_data(as_text=True)
    assert officer.get("/chot/NO-SUCH-PLACE/nhap-giay").status_code == 404
    data = paper(open_paper(officer))
    assert officer.post(f"/chot/{ELSEWHERE}/nhap-giay", data=data).status_code == 403
    assert counts(app) == (0, 0, 0)

    anonymous = app.test_client()
    response = anonymous.get(PAPER)
    assert response.status_code == 302 and response.headers["Location"].startswith("/dang-nhap")


def test_a_paper_declaration_is_one_declaration_one_scan_and_a_qr_to_print(app, officer):
    data = paper(open_paper(officer), symptoms=["cough"])

    response = officer.post(PAPER, data=data)

    assert response.status_code == 303, response.get_data(as_text=True)
    assert counts(app) == (1, 1, 1)
    with app.app_context():
        decision = db.session.scalars(select(CheckpointDecision)).one()
        declaration = db.session.get(Declaration, decision.declaration_id)
        assert (decision.place_code, decision.action, decision.reason) == (CHECKPOINT, "pass", None)
        assert declaration.details["symptoms"] == ["cough"]
        [staged] = db.session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topics.SCANS)).all()
        assert staged.event_id == decision.event_id
        assert json.loads(staged.payload)["place_id"] == CHECKPOINT

    result = officer.get(response.headers["Location"])
    html = result.get_data(as_text=True)
    shown = Page(html)
    assert result.status_code == 200
    assert "Đã nhập tờ khai giấy" in shown.text and "Cho qua" in shown.text and "Nguyễn Văn An" in shown.text
    assert html.count('class="personal-qr"') == 1
    assert f'href="/khai-bao/{declaration.id}/qr.png"' in html
    assert f'href="/chot/{CHECKPOINT}"' in html
    assert "data-keep-token" not in html  # a traveller's code is not kept on the officer's phone


def test_sending_the_same_paper_form_twice_is_one_declaration_and_one_scan(app, officer):
    data = paper(open_paper(officer))

    first = officer.post(PAPER, data=data)
    second = officer.post(PAPER, data=data)

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert counts(app) == (1, 1, 1)


def test_an_edited_form_sent_with_a_used_key_asks_to_send_again(app, officer):
    data = paper(open_paper(officer))
    officer.post(PAPER, data=data)

    edited = officer.post(PAPER, data={**data, "vaccination_doses": "3"})

    assert edited.status_code == 409
    shown = Page(edited.get_data(as_text=True))
    assert "Tờ khai giấy này đã được gửi trước đó với nội dung khác" in shown.text
    assert shown.values["vaccination_doses"] == "3" and shown.values["idempotency_key"] != data["idempotency_key"]
    assert officer.post(PAPER, data={**data, **shown.values}).status_code == 303
    assert counts(app) == (2, 2, 2)


def test_mistakes_are_shown_beside_their_fields_with_the_answers_kept(app, officer):
    page = open_paper(officer)
    data = paper(page, citizen_id="079090", phone="12345", **{"trip-vehicle_number": "29A-123.45"})
    del data["sex"]

    response = officer.post(PAPER, data=data)

    assert response.status_code == 422
    shown = Page(response.get_data(as_text=True))
    assert shown.said("citizen_id-error") == "Lỗi: Số giấy tờ phải là số CCCD 12 chữ số hoặc số CMND 9 chữ số."
    assert shown.said("sex-error") == "Lỗi: hãy chọn một mục"
    assert shown.said("phone-error") == "Lỗi: phải là số điện thoại Việt Nam, ví dụ 0912345678"
    assert "Vui lòng sửa" in shown.text
    assert (shown.values["citizen_id"], shown.values["phone"], shown.values["trip-vehicle_number"]) == \
        ("079090", "12345", "29A-123.45")
    assert shown.values["idempotency_key"] == page.values["idempotency_key"]
    assert ("action", "pass") in shown.checked
    assert counts(app, "079090") == (0, 0, 0)


def test_turning_back_needs_a_reason_and_a_resend_completes_the_same_form(app, officer):
    data = paper(open_paper(officer), action="turn_back")

    refused = officer.post(PAPER, data=data)

    assert refused.status_code == 422
    shown = Page(refused.get_data(as_text=True))
    assert shown.said("reason-error") == "Lỗi: hãy ghi lý do không cho qua"
    assert "Tờ khai đã được lưu, nhưng chưa ghi nhận được xử lý" in shown.text
    assert ("action", "turn_back") in shown.checked

    done = officer.post(PAPER, data={**data, "reason": "Có triệu chứng"})

    assert done.status_code == 303
    assert counts(app) == (1, 1, 1)  # the stored declaration was reused, not declared again
    with app.app_context():
        assert db.session.scalars(select(CheckpointDecision.reason)).one() == "Có triệu chứng"


def test_a_cmnd_only_paper_form_cannot_make_a_scan(app, officer):
    response = officer.post(PAPER, data=paper(open_paper(officer), citizen_id="012345678"))

    assert response.status_code == 422
    shown = Page(response.get_data(as_text=True))
    assert shown.said("citizen_id-error") == \
        "Lỗi: hãy nhập số CCCD 12 chữ số: không thể ghi nhận chỉ bằng số CMND"
    assert shown.values["citizen_id"] == "012345678"
    assert counts(app, "012345678")[1:] == (0, 0)


def test_the_result_page_is_only_for_the_officer_who_typed_it(app, officer):
    location = officer.post(PAPER, data=paper(open_paper(officer))).headers["Location"]
    colleague = app.test_client()
    sign_in(colleague, add_staff(app, Role.OFFICER, places=(CHECKPOINT,)))

    assert colleague.get(location).status_code == 404
    assert officer.get(location.replace(CHECKPOINT, VENUE)).status_code == 404


# --- scan-log uploads -----------------------------------------------------------------------

def upload(client, text: str | bytes, **fields):
    data = text.encode() if isinstance(text, str) else text
    return client.post(UPLOAD, content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, UPLOAD), "scan_log": (io.BytesIO(data), "so-quet.csv"), **fields})


def row_errors(html: str) -> list[tuple[str, str, str]]:
    """(line, column, message) of the page's table of rows not imported."""
    body = html.split('id="row-errors"', 1)[1].split("</table>", 1)[0]
    return [tuple(re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row))
            for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1])]


def scan_log() -> tuple[str, list[str]]:
    """A log of good, bad and date-only rows, and the three people of its good rows."""
    now = datetime.now(VIETNAM_TIME)
    earlier = (now - timedelta(hours=1)).strftime("%d/%m/%Y %H:%M")
    today, people = now.strftime("%d/%m/%Y"), [random_cccd() for _ in range(3)]
    return ("citizen_id,place_code,time,date,direction\n"
            f"{people[0]},{CHECKPOINT},{earlier},,qua\n"   # 2: good
            f"{people[1]},{VENUE},,{today},\n"              # 3: good, the whole day
            f"1090000003,{CHECKPOINT},{earlier},,\n"        # 4: leading zeros dropped
            f"{people[2]},{ELSEWHERE},{earlier},,\n"        # 5: not this officer's place
            f"{people[2]},NOWHERE,,{today},\n"              # 6: nor is an unknown code
            f"{people[2]},{VENUE},,{today},ra\n"), people    # 7: good, the whole day


def test_an_upload_publishes_the_good_rows_and_lists_the_bad_ones_by_line(officer, published):
    text, people = scan_log()

    response = upload(officer, text)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    page = Page(html)
    assert "Đọc được 3 lượt quét, trong đó 2 lượt chỉ có ngày (tính cả ngày)" in page.text
    assert "3 dòng có lỗi" in page.text
    assert "Đã tiếp nhận 3 trên 3 lượt quét." in page.said("kafka-result")
    assert row_errors(html) == [
        ("4", "citizen_id", "có 10 chữ số thay vì 12: bảng tính có thể đã bỏ các số 0 ở đầu (hãy định dạng cột là văn bản)"),
        ("5", "place_code", "không phải địa điểm bạn phụ trách"),
        ("6", "place_code", "không phải địa điểm bạn phụ trách"),
    ]
    assert [(topic, key, event["place_id"], event["precision"], event["direction"])
            for topic, key, event in published] == [
        (topics.SCANS, people[0], CHECKPOINT, "instant", "pass"),
        (topics.SCANS, people[1], VENUE, "day", "in"),
        (topics.SCANS, people[2], VENUE, "day", "out"),
    ]

    again = upload(officer, text)  # the same file: the same event ids, nothing doubles downstream
    assert [event["event_id"] for _, _, event in published[3:]] == [event["event_id"] for _, _, event in published[:3]]
    assert again.status_code == 200


def test_a_file_far_larger_than_a_form_is_taken_in_batches(officer, published):
    today = datetime.now(VIETNAM_TIME).strftime("%d/%m/%Y")
    rows = "".join(f"0790{number:08d},{CHECKPOINT},,{today},\n" for number in range(25_000))
    text = "citizen_id,place_code,time,date,direction\n" + rows
    assert len(text) > 800 * 1024  # the app takes 64 KB from any other request

    response = upload(officer, text)

    assert response.status_code == 200
    assert "Đã tiếp nhận 25000 trên 25000 lượt quét." in Page(response.get_data(as_text=True)).said("kafka-result")
    assert len(published) == 25_000


def test_with_kafka_unreachable_the_page_says_nothing_was_accepted_and_to_upload_again(officer):
    text, _ = scan_log()

    response = upload(officer, text)

    assert response.status_code == 503
    said = Page(response.get_data(as_text=True)).said("kafka-result")
    assert "Đã tiếp nhận 0 trên 3 lượt quét. 3 lượt quét CHƯA được tiếp nhận." in said
    assert "hãy tải lại đúng tệp này" in said


def test_a_check_only_upload_sends_nothing(officer, published):
    text, _ = scan_log()
    response = upload(officer, text, check_only="1")
    assert response.status_code == 200
    assert "Chỉ kiểm tra: chưa gửi lượt quét nào." in Page(response.get_data(as_text=True)).said("kafka-result")
    assert published == []


def test_a_file_that_is_missing_unreadable_or_too_large_is_refused_whole(officer, published):
    token = csrf_token(officer, UPLOAD)
    missing = officer.post(UPLOAD, content_type="multipart/form-data", data={"csrf_token": token})
    unreadable = upload(officer, "code,kind,name\nCHO-BT,venue,Chợ Bến Thành\n")
    huge = upload(officer, b"citizen_id,place_code,date\n" + b"0" * (6 * 1024 * 1024))
    forged = officer.post(UPLOAD, content_type="multipart/form-data",
                          data={"scan_log": (io.BytesIO(b"citizen_id,place_code,date\n"), "a.csv")})

    assert (missing.status_code, unreadable.status_code, huge.status_code, forged.status_code) == (400, 422, 413, 400)
    assert "Hãy chọn tệp CSV trước." in Page(missing.get_data(as_text=True)).said("upload-problem")
    assert "dòng đầu phải là tên các cột" in Page(unreadable.get_data(as_text=True)).said("upload-problem")
    assert "Tệp lớn hơn 5 MB" in Page(huge.get_data(as_text=True)).said("upload-problem")
    assert "Trang đã hết hạn" in Page(forged.get_data(as_text=True)).said("upload-problem")
    assert published == []


def test_the_upload_page_is_for_officers_only(app, officer, official_client):
    page = officer.get(UPLOAD)
    assert page.status_code == 200
    assert "Nhập sổ quét từ tệp CSV" in page.get_data(as_text=True) and CHECKPOINT in page.get_data(as_text=True)
    assert ELSEWHERE not in page.get_data(as_text=True)
    assert official_client.get(UPLOAD).status_code == 403
    assert app.test_client().get(UPLOAD).status_code == 302
