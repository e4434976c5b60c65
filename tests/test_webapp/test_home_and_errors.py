"""The front door, and errors answered by one rule: JSON for the API, a page for people."""
from __future__ import annotations

from tests.test_webapp.test_citizen_pages import Page


def test_the_root_is_a_home_page_leading_citizens_to_declare_and_to_their_declarations(client):
    response = client.get("/")

    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    assert "Khai báo y tế" in page.text
    assert 'href="/khai-bao"' in response.get_data(as_text=True)
    assert 'href="/tra-cuu"' in response.get_data(as_text=True)
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Declare now" in english and "Khai báo ngay" not in english


def test_a_missing_page_is_a_page_in_vietnamese_and_a_missing_api_path_is_json(client):
    page = client.get("/khong-co-trang-nay")
    api = client.get("/api/v1/nothing-here")

    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "Không tìm thấy trang" in page.get_data(as_text=True)
    assert api.status_code == 404
    assert api.mimetype == "application/json" and "error" in api.json


def test_a_missing_declaration_page_says_what_to_do(client):
    response = client.get("/khai-bao/0123456789abcdef0123456789abcdef?lang=en")
    assert response.status_code == 404
    assert "look your declarations up" in response.get_data(as_text=True)


def test_a_wrong_method_is_405_with_the_allowed_methods(client):
    response = client.get("/api/v1/scans")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "error" in response.json


def test_a_form_page_posted_as_json_is_refused_with_a_page_not_a_crash(client):
    for path in ("/khai-bao", "/tra-cuu"):
        for body in (b"\xff", b"[1]", b'"x"'):
            response = client.post(path, data=body, content_type="application/json")
            assert response.status_code == 400, (path, body)
