"""Security headers on every answer, no inline code in the pages, what a proxy may tell the app,
production's refusal of weak settings, and logs without ID numbers or bound values."""
from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests
from flask import request
from werkzeug.serving import make_server

from config import SettingsError
from tests.conftest import PORT_OFFSET, QR_TEST_KEYS
from tests.staff import csrf_token
from webapp.extensions import db
from webapp.models import Citizen
from webapp.roles import ANYONE, allow
from webapp.security import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
GUNICORN_PORT = 25300 + PORT_OFFSET
CCCD = "079012345678"
CMND = "025123456"
PHONE = "0912345678"


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: sources for name, *sources in parts}


def assert_security_headers(response) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert "camera=(self)" in headers["Permissions-Policy"]


@pytest.mark.parametrize("path, status, mimetype", [
    ("/", 200, "text/html"),
    ("/api/v1/openapi.json", 200, "application/json"),
    ("/static/citizen.css", 200, "text/css"),
    ("/khong-co-trang-nay", 404, "text/html"),
    ("/api/v1/nothing-here", 404, "application/json"),
    (f"/api/v1/traces/{CCCD}", 401, "application/json"),
])
def test_every_answer_carries_the_security_headers(client, path, status, mimetype):
    response = client.get(path)

    assert (response.status_code, response.mimetype) == (status, mimetype)
    assert_security_headers(response)
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_a_server_error_carries_them_too(make_app):
    app = make_app()
    app.testing = False  # answer the 500 instead of raising it into the test

    @app.get("/boom")
    @allow(ANYONE)
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert_security_headers(response)


def test_hsts_only_over_https(client):
    secure = client.get("/", base_url="https://truyvet.example")
    plain = client.get("/")

    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "Strict-Transport-Security" not in plain.headers


def test_the_policy_allows_no_inline_or_evaluated_code():
    policy = directives(CONTENT_SECURITY_POLICY)

    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in CONTENT_SECURITY_POLICY


class InlineCode(HTMLParser):
    """Finds what a CSP without 'unsafe-inline' refuses: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        given = {name.lower(): (value or "") for name, value in attrs}
        if tag == "style":
            self.found.append(f"line {line}: <style>")
        # A JSON data block is not executed; every other script without src is.
        if tag == "script" and "src" not in given and given.get("type", "").lower() != "application/json":
            self.found.append(f"line {line}: inline <script>")
        for name, value in given.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f"line {line}: {name}= attribute")
            if value.strip().lower().startswith("javascript:"):
                self.found.append(f"line {line}: javascript: URL in {name}")


# Also where Jinja code sits inside a tag and hides an attribute from the parser.
INLINE_ATTRIBUTE = re.compile(r"""(?<![\w-])(on[a-z]+|style)\s*=\s*["'{]""", re.IGNORECASE)


JINJA_COMMENT = re.compile(r"{#.*?#}", re.DOTALL)


def inline_code(template: str) -> list[str]:
    html = JINJA_COMMENT.sub(lambda comment: "\n" * comment.group().count("\n"), template)  # never rendered
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    by_pattern = [f"line {html.count(chr(10), 0, match.start()) + 1}: {match.group(1)}= attribute"
                  for match in INLINE_ATTRIBUTE.finditer(html)]
    return sorted(set(parser.found) | set(by_pattern))


def test_the_scan_finds_each_kind_of_inline_code():
    assert inline_code('<script src="/static/a.js"></script><script type="application/json">{}</script>'
                       '<p class="onward">on=1</p>') == []
    assert len(inline_code("<script>alert(1)</script>")) == 1
    assert len(inline_code("<style>p{}</style>")) == 1
    assert inline_code('<p style="color: red">') != []
    assert inline_code('<button type="button" onclick="go()">') != []
    assert inline_code('<a {% if x %}onclick="go()"{% endif %}>') != []
    assert inline_code('<a href="javascript:go()">') != []
    assert inline_code("{# no <style> here #}<p>") == []


def test_no_template_has_inline_script_style_or_handler():
    templates = sorted(path for path in (ROOT / "webapp").rglob("*.html") if "templates" in path.parts)
    assert len(templates) > 20
    found = {str(path.relative_to(ROOT)): problems for path in templates
             if (problems := inline_code(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_in_production_gunicorns_app_refuses_a_weak_secret(monkeypatch, tmp_path):
    from webapp import create_app

    for name in [name for name in os.environ if name.startswith("TRUYVET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TRUYVET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRUYVET_PRODUCTION", "on")
    for weak in ("", "test-secret", "s3cret", "too-short-but-random-Qx7"):
        monkeypatch.setenv("TRUYVET_SECRET_KEY", weak)
        with pytest.raises(SettingsError, match="TRUYVET_SECRET_KEY") as refused:
            create_app()  # what gunicorn calls
        assert "secrets.token_urlsafe(48)" in str(refused.value)


# Proxies ---------------------------------------------------------------------------------------

def add_probe(app) -> None:
    """A route that tells what the app believes about the client."""

    @app.get("/probe")
    @allow(ANYONE)
    def probe():
        return {"remote_addr": request.remote_addr, "secure": request.is_secure}


FORWARDED = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app):
    app = make_app()  # trusted_proxies=0, the default
    add_probe(app)

    response = app.test_client().get("/probe", headers=FORWARDED)

    assert response.json == {"remote_addr": "127.0.0.1", "secure": False}
    assert "Strict-Transport-Security" not in response.headers


def test_behind_one_trusted_proxy_its_hop_is_the_client(make_app):
    app = make_app(trusted_proxies=1)
    add_probe(app)

    response = app.test_client().get("/probe", headers=FORWARDED)

    # The last address is the one our proxy saw; 198.51.100.7 is what the client claimed.
    assert response.json == {"remote_addr": "203.0.113.9", "secure": True}
    assert "Strict-Transport-Security" in response.headers


def lookups(app, forwarded_for: list[str]) -> list[int]:
    client = app.test_client()
    form = {"csrf_token": csrf_token(client, "/tra-cuu")}
    return [client.post("/tra-cuu", data=form, headers={"X-Forwarded-For": address}).status_code
            for address in forwarded_for]


def test_a_spoofed_forwarded_for_does_not_escape_the_rate_limit(make_app):
    spoofed = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]

    direct = lookups(make_app(declaration_rate_per_ip="2/minute"), spoofed)
    proxied = lookups(make_app(declaration_rate_per_ip="2/minute", trusted_proxies=1), spoofed)

    assert direct == [200, 200, 429]  # one key, the TCP peer's, whatever the header says
    assert proxied == [200, 200, 200]  # behind a trusted proxy: three clients


# Logs ------------------------------------------------------------------------------------------

def a_citizen(full_name: str) -> Citizen:
    return Citizen(citizen_id=CCCD, full_name=full_name, date_of_birth=date(1990, 1, 2), sex="nu",
                   province_code=79, ward_code=26734, phone=PHONE)


def test_a_database_error_is_logged_without_the_bound_values(make_app, caplog):
    app = make_app()
    app.testing = False
    name = "Nguyễn Thị Riêng Tư"

    @app.get("/duplicate")
    @allow(ANYONE)
    def duplicate():
        db.session.add(a_citizen(name))
        db.session.commit()
        db.session.add(a_citizen(name))
        db.session.commit()  # the same CCCD again: IntegrityError
        return "", 204

    with app.app_context():
        assert db.engine.hide_parameters
    caplog.set_level(logging.ERROR)
    response = app.test_client().get("/duplicate")

    assert response.status_code == 500
    assert "IntegrityError" in caplog.text
    assert "parameters hidden" in caplog.text
    assert name not in caplog.text and CCCD not in caplog.text and PHONE not in caplog.text


def test_the_development_servers_access_log_masks_id_numbers(app, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        for path in (f"/truy-vet/nguoi/{CCCD}", f"/api/v1/contacts/{CCCD}/status?cmnd={CMND}&phone={PHONE}"):
            requests.get(url + path, allow_redirects=False, timeout=10)
    finally:
        server.shutdown()
        thread.join(timeout=10)

    access = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert any("/truy-vet/nguoi/[id]" in line for line in access), access
    assert any("/api/v1/contacts/[id]/status?cmnd=[id]&phone=[id]" in line for line in access), access
    assert not any(number in caplog.text for number in (CCCD, CMND, PHONE))


def test_rate_limit_and_error_messages_mask_id_numbers(app, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("flask-limiter").warning("ratelimit %s (%s) exceeded", "10 per 1 hour", f"id:{CCCD}")
    try:
        raise ValueError(f"Key (citizen_id)=({CCCD}) already exists.")
    except ValueError:
        logging.getLogger("webapp").exception("Exception on /truy-vet/nguoi/%s [GET]", CCCD)

    assert "(id:[id]) exceeded" in caplog.text
    assert "Exception on /truy-vet/nguoi/[id] [GET]" in caplog.text
    assert "Key (citizen_id)=([id])" in caplog.text
    assert CCCD not in caplog.text


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not listen on {port} in {timeout}s")


def test_gunicorns_access_log_masks_id_numbers(tmp_path):
    env = {name: value for name, value in os.environ.items() if not name.startswith("TRUYVET_")}
    env.update(
        TRUYVET_DATA_DIR=str(tmp_path),
        TRUYVET_KAFKA_BOOTSTRAP="127.0.0.1:1",
        TRUYVET_CLICKHOUSE_URL="http://127.0.0.1:1/truyvet",  # never reached by these requests
        TRUYVET_SECRET_KEY="test-secret",
        TRUYVET_QR_SIGNING_KEYS=QR_TEST_KEYS,
        TRUYVET_OUTBOX_RELAY="off",
    )
    log = tmp_path / "access.log"
    # The production command line (docker-compose.yml), access log to a file instead of stdout.
    process = subprocess.Popen(
        [GUNICORN, "--workers", "1", "--bind", f"127.0.0.1:{GUNICORN_PORT}", "--access-logfile", str(log),
         "webapp:create_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(GUNICORN_PORT, process)
        url = f"http://127.0.0.1:{GUNICORN_PORT}"
        assert requests.get(f"{url}/api/v1/traces/{CCCD}?phone={PHONE}", timeout=30).status_code == 401
        assert requests.get(f"{url}/truy-vet/ca/{CCCD}", allow_redirects=False,
                            headers={"Referer": f"{url}/truy-vet/nguoi/{CMND}"}, timeout=30).status_code == 302
        deadline = time.monotonic() + 10
        while log.read_text().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=30)

    lines = log.read_text()
    assert "/api/v1/traces/[id]?phone=[id]" in lines
    assert "/truy-vet/ca/[id]" in lines and "/truy-vet/nguoi/[id]" in lines  # the referrer too
    assert not any(number in lines for number in (CCCD, CMND, PHONE))
