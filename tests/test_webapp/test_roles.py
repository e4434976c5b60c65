"""Every route says who may use it, and the app holds to it: a walk over the whole URL map."""
from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.conftest import random_cccd
from tests.staff import add_staff, csrf_token, sign_in, station_headers
from webapp.roles import ANYONE, Role, allow, allowed_roles, check_declared

SAMPLE_VALUES = {"place_code": "CP-HN-01", "citizen_id": None, "declaration_id": "0" * 32,
                 "province_code": 1, "ward_code": 26734, "filename": "citizen.css", "event_id": "0" * 32}
PRINCIPALS = ("anonymous", *(role.value for role in Role))
SIGN_OUT = "auth.logout"  # answers everyone it lets in with a redirect to the sign-in page


def sample_url(rule) -> str:
    values = {name: (random_cccd() if name == "citizen_id" else SAMPLE_VALUES[name]) for name in rule.arguments}
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def client_as(app, principal: str):
    client = app.test_client()
    if principal == Role.STATION:
        client.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    elif principal != "anonymous":
        sign_in(client, add_staff(app, principal))
        client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client, "/dang-nhap")
    return client


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, warehouse, warehouse_url):
    """(rule, method, principal) -> status, for every route, method and principal."""
    from tests.conftest import settings_for_tests
    from webapp import create_app
    from webapp.extensions import db

    app = create_app(settings_for_tests(tmp_path_factory.mktemp("roles"), warehouse_url, rate_limits=False),
                     warehouse=warehouse)
    app.testing = True
    with app.app_context():
        db.create_all()
    clients = {principal: client_as(app, principal) for principal in PRINCIPALS}
    statuses = {}
    # Signing out ends the session the rest of the walk needs: it goes last.
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.endpoint == SIGN_OUT):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for principal, client in clients.items():
                response = client.open(sample_url(rule), method=method, json={})
                statuses[rule.endpoint, method, principal] = (response.status_code, response.headers.get("Location", ""))
    yield app, statuses
    app.close()


def test_every_route_declares_who_may_use_it(matrix):
    app, _ = matrix
    for endpoint in app.view_functions:
        assert allowed_roles(app, endpoint), endpoint


def test_strangers_are_turned_away_from_every_route_that_is_not_public(matrix):
    app, statuses = matrix
    for (endpoint, method, principal), (status, location) in statuses.items():
        if principal != "anonymous" or ANYONE in allowed_roles(app, endpoint):
            continue
        assert status == 401 or (status == 302 and "/dang-nhap" in location), (endpoint, method, status)


def test_every_role_is_refused_where_it_is_not_allowed_and_let_in_where_it_is(matrix):
    app, statuses = matrix
    checked = 0
    for (endpoint, method, principal), (status, location) in statuses.items():
        roles = allowed_roles(app, endpoint)
        if principal == "anonymous" or ANYONE in roles:
            continue
        if principal in roles:
            signed_out = endpoint == SIGN_OUT and status == 302
            assert status not in (401, 403) and ("/dang-nhap" not in location or signed_out), (
                endpoint, method, principal, status)
        else:
            assert status == 403, (endpoint, method, principal, status)
        checked += 1
    assert checked > 0


def test_public_routes_answer_strangers(matrix):
    app, statuses = matrix
    for (endpoint, method, principal), (status, _) in statuses.items():
        if principal == "anonymous" and ANYONE in allowed_roles(app, endpoint):
            assert status not in (401, 403), (endpoint, method, status)


def test_an_app_with_a_route_that_declares_nothing_does_not_start():
    app = Flask(__name__)

    @app.get("/declared")
    @allow(ANYONE)
    def declared():
        return "ok"

    @app.get("/forgotten")
    def forgotten():
        return "oops"

    with pytest.raises(RuntimeError, match="forgotten"):
        check_declared(app)
