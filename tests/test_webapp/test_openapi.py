"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that matches the URL map, roles and answers.

Neither openapi-spec-validator nor jsonschema is a dependency, so the structure is checked here
(required keys, every ``$ref`` resolving, path templates declared as parameters), and answers
are checked by :func:`problems`, a small JSON Schema reader for the keywords the document uses;
a test keeps the document to those keywords, so none is silently skipped.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from importlib.resources import files
from typing import Any

import pytest

from ingest.units import wards
from streams.records import ExposureAlert, ScanEvent
from tests.conftest import random_cccd
from tests.factories import child, declaration
from tests.staff import add_place, add_staff, csrf_token, sign_in, station_headers
from tests.test_warehouse.conftest import T0, crowd, edge, pair, random_place, scan, verified_scan
from warehouse.alerts import write_alerts
from warehouse.writer import write_contacts, write_crowd_exposures, write_scans
from webapp.extensions import db
from webapp.models import Citizen
from webapp.roles import ANYONE, allowed_roles

OPENAPI = "/api/v1/openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# JSON Schema keywords :func:`problems` checks, and those that only annotate.
CHECKED = {"$ref", "allOf", "anyOf", "type", "const", "enum", "required", "properties", "additionalProperties",
           "items", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems"}
ANNOTATIONS = {"description", "examples", "default", "format", "title"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
RULE_ARGUMENT = re.compile(r"<(?:([a-z_]+)(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>")
CARD = "001090012345||Nguyễn Văn An|17051990|Nam|Số 1 Tràng Tiền, Hà Nội|01022021"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(files("webapp").joinpath("openapi.json").read_text(encoding="utf-8"))


# --- reading the document -------------------------------------------------------------------

def resolve(document: dict[str, Any], node: Any) -> Any:
    """``node``, or what its ``$ref`` names (local references only, followed to the end)."""
    while isinstance(node, dict) and "$ref" in node:
        reference = node["$ref"]
        assert reference.startswith("#/"), f"not a local reference: {reference}"
        node = document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, f"{reference} does not resolve"
            node = node[part]
    return node


def walk(node: Any, where: str = "#"):
    """Every (place, dict) in the document, depth first."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


def operations(document: dict[str, Any]):
    """(path, method, operation) for every operation described."""
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def schemas(document: dict[str, Any]):
    """(place, schema) for every schema: the components' and those inline, subschemas included."""
    def nested(schema: Any, where: str):
        if not isinstance(schema, dict):
            return
        yield where, schema
        for name, sub in schema.get("properties", {}).items():
            yield from nested(sub, f"{where}/properties/{name}")
        for keyword in ("items", "additionalProperties"):
            yield from nested(schema.get(keyword), f"{where}/{keyword}")
        for keyword in ("allOf", "anyOf"):
            for index, sub in enumerate(schema.get(keyword, ())):
                yield from nested(sub, f"{where}/{keyword}/{index}")

    for name, schema in document["components"]["schemas"].items():
        yield from nested(schema, f"#/components/schemas/{name}")
    for where, node in walk(document["paths"], "#/paths"):
        if isinstance(node.get("schema"), dict):
            yield from nested(node["schema"], f"{where}/schema")
    for kind in ("parameters", "responses", "headers"):
        for where, node in walk(document["components"].get(kind, {}), f"#/components/{kind}"):
            if isinstance(node.get("schema"), dict):
                yield from nested(node["schema"], f"{where}/schema")


def problems(document: dict[str, Any], value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (the keywords in CHECKED); empty when it conforms."""
    found: list[str] = []
    if "$ref" in schema:
        found += problems(document, value, resolve(document, {"$ref": schema["$ref"]}), where)
    for sub in schema.get("allOf", ()):
        found += problems(document, value, sub, where)
    if "anyOf" in schema and all(problems(document, value, sub, where) for sub in schema["anyOf"]):
        found.append(f"{where}: matches none of anyOf")
    if "type" in schema:
        allowed = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_is(value, kind) for kind in allowed):
            return found + [f"{where}: {value!r} is not {'/'.join(allowed)}"]
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            found.append(f"{where}: length {len(value)} out of bounds")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
            found.append(f"{where}: {value} out of bounds")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            found.append(f"{where}: {len(value)} items out of bounds")
        if "items" in schema:
            for index, item in enumerate(value):
                found += problems(document, item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        found += [f"{where}: lacks {name!r}" for name in schema.get("required", ()) if name not in value]
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                found += problems(document, item, properties[name], f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}: {name!r} is not described")
            elif isinstance(schema.get("additionalProperties"), dict):
                found += problems(document, item, schema["additionalProperties"], f"{where}.{name}")
    return found


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[kind])


def assert_documented(document: dict[str, Any], response, path: str, method: str = "get") -> None:
    """The answer's status is documented for the operation, and its JSON body fits the schema."""
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path} answered {status}, not documented"
    documented = resolve(document, operation["responses"][status])
    schema = documented["content"]["application/json"]["schema"]
    assert response.is_json, response.get_data(as_text=True)[:200]
    assert problems(document, response.json, schema) == [], response.json


# --- the document itself --------------------------------------------------------------------

def test_the_document_is_openapi_3_1_with_every_reference_resolving(document):
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert isinstance(document["info"]["title"], str) and isinstance(document["info"]["version"], str)
    assert document["paths"] and all(path.startswith("/") for path in document["paths"])
    for where, node in walk(document):
        if isinstance(node.get("$ref"), str):
            assert resolve(document, node) is not None, where
    schemes = document["components"]["securitySchemes"]
    for scheme in schemes.values():
        assert scheme["type"] in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect")
        if scheme["type"] == "apiKey":
            assert scheme["in"] in ("query", "header", "cookie") and scheme["name"]
    tags = {tag["name"] for tag in document.get("tags", ())}
    operation_ids = []
    for path, method, operation in operations(document):
        operation_ids.append(operation["operationId"])
        assert set(operation.get("tags", ())) <= tags, (path, method)
        assert operation["responses"], (path, method)
        for status, answer in operation["responses"].items():
            assert re.fullmatch(r"[1-5](?:[0-9]{2}|XX)|default", status), (path, method, status)
            assert isinstance(resolve(document, answer)["description"], str), (path, method, status)
        for requirement in operation.get("security", document.get("security", [])):
            assert set(requirement) <= set(schemes), (path, method, requirement)
        parameters = [resolve(document, parameter) for parameter in operation.get("parameters", ())]
        for parameter in parameters:
            assert parameter["in"] in ("query", "header", "path", "cookie") and parameter["name"], (path, method)
            assert "schema" in parameter or "content" in parameter, (path, method, parameter["name"])
        declared = {parameter["name"] for parameter in parameters if parameter["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), (path, method)
        assert all(parameter["required"] is True for parameter in parameters if parameter["in"] == "path")
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def test_the_document_uses_only_the_schema_keywords_this_module_checks(document):
    for where, schema in schemas(document):
        unknown = set(schema) - CHECKED - ANNOTATIONS
        assert not unknown, f"{where} uses {unknown}: teach problems() to check them"


def test_the_checker_finds_a_wrong_answer(document):
    page = {"$ref": "#/components/schemas/ScanPage"}
    good = {"citizen_id": "001090012345", "next": None, "scans": [
        {"event_id": "e-1", "place_id": "CP-HN-01", "ts": "2026-11-01T07:45:00.000Z", "direction": "in",
         "precision": "instant"}]}
    assert problems(document, good, page) == []
    bad = {"citizen_id": "12ab", "next": 3, "scans": [{"event_id": "e-1", "direction": "sideways"}]}
    found = problems(document, bad, page)
    assert any("12ab" in problem for problem in found)
    assert any("$.next" in problem for problem in found)
    assert any("lacks 'place_id'" in problem for problem in found)
    assert any("sideways" in problem for problem in found)


# --- the document and the app ---------------------------------------------------------------

def api_rules(app) -> dict[str, Any]:
    """``/api/`` rules by OpenAPI path ({x} for <x> and <int:x>), each method's rule."""
    routes: dict[str, dict[str, str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = RULE_ARGUMENT.sub(lambda match: "{" + match.group(2) + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.setdefault(path, {})[method.lower()] = rule
    return routes


def described_rules(app, document: dict[str, Any]):
    """(path, {method: rule}) of the rules described (the test above reports the others)."""
    return [(path, methods) for path, methods in api_rules(app).items() if path in document["paths"]]


def test_every_api_route_is_described_and_nothing_else(app, document):
    served = {path: set(methods) for path, methods in api_rules(app).items()}
    described = {path: {method for method in HTTP_METHODS if method in item}
                 for path, item in document["paths"].items()}
    assert set(served) - set(described) == set(), "served but not described in webapp/openapi.json"
    assert set(described) - set(served) == set(), "described in webapp/openapi.json but not served"
    assert served == described


def test_path_parameters_are_the_rules_arguments_with_their_types(app, document):
    for path, methods in described_rules(app, document):
        for method, rule in methods.items():
            operation = document["paths"][path][method]
            parameters = {parameter["name"]: parameter
                          for parameter in (resolve(document, p) for p in operation.get("parameters", ()))
                          if parameter["in"] == "path"}
            assert set(parameters) == set(rule.arguments), (path, method)
            for converter, name in RULE_ARGUMENT.findall(rule.rule):
                schema = resolve(document, parameters[name]["schema"])
                assert schema.get("type") == ("integer" if converter == "int" else "string"), (path, name)


def test_each_operation_declares_the_roles_its_view_allows(app, document):
    """``security`` lists the roles of ``@allow``: [] for ANYONE, else each scheme's role list."""
    for path, methods in described_rules(app, document):
        for method, rule in methods.items():
            allowed = {str(role) for role in allowed_roles(app, rule.endpoint)}
            security = document["paths"][path][method]["security"]
            if ANYONE in allowed:
                assert security == [], (path, method)
                continue
            roles = {role for requirement in security for scopes in requirement.values() for role in scopes}
            assert roles == allowed, (path, method)
            for requirement in security:
                if "staffSession" in requirement and method != "get":
                    assert "csrfToken" in requirement, f"{method} {path}: a session's write needs the CSRF token"
                if "stationToken" in requirement:
                    assert requirement["stationToken"] == ["station"], (path, method)


# --- the app's answers, against the document ------------------------------------------------

def test_the_description_is_served_to_anyone(client, document):
    response = client.get(OPENAPI)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json == document
    assert_documented(document, response, OPENAPI)


def test_citizens_answers_fit_their_schemas(client, document):
    wards = "/api/v1/units/provinces/{province_code}/wards"
    assert_documented(document, client.get("/api/v1/units/provinces/1/wards"), wards)
    missing = client.get("/api/v1/units/provinces/999/wards")
    assert missing.status_code == 404
    assert_documented(document, missing, wards)

    declared = client.post("/api/v1/declarations", json=declaration(dependants=[child()]),
                           headers={"Idempotency-Key": "openapi-test-1"})
    assert declared.status_code == 201 and declared.json["dependants"]
    assert_documented(document, declared, "/api/v1/declarations", "post")
    refused = client.post("/api/v1/declarations?lang=en", json=declaration(citizen_id="12ab", trip={"means": "boat"}))
    assert refused.status_code == 400
    assert_documented(document, refused, "/api/v1/declarations", "post")

    assert_documented(document, client.post("/api/v1/card-qr", json={"payload": CARD}), "/api/v1/card-qr", "post")
    not_a_card = client.post("/api/v1/card-qr", json={"payload": "a|b"})
    assert not_a_card.status_code == 422
    assert_documented(document, not_a_card, "/api/v1/card-qr", "post")

    check_in = client.post("/api/v1/self-check-ins", json={"place_code": "NO-SUCH", "action": "sideways"})
    assert check_in.status_code == 400
    assert_documented(document, check_in, "/api/v1/self-check-ins", "post")


def test_checkpoint_answers_fit_their_schemas(app, client, station_client, document):
    token = client.post("/api/v1/declarations", json=declaration()).json["qr_token"]

    looked_up = station_client.post("/api/v1/checkpoint-lookups", json={"place_code": "CP-HN-01", "qr_token": token})
    assert looked_up.status_code == 200 and looked_up.json["person"]["declaration"]
    assert_documented(document, looked_up, "/api/v1/checkpoint-lookups", "post")
    unknown = station_client.post("/api/v1/checkpoint-lookups", json={"place_code": "CP-HN-01",
                                                                      "citizen_id": random_cccd()})
    assert unknown.json["person"]["declaration"] is None
    assert_documented(document, unknown, "/api/v1/checkpoint-lookups", "post")
    forged = station_client.post("/api/v1/checkpoint-lookups", json={"place_code": "CP-HN-01", "qr_token": "forged"})
    assert forged.status_code == 422
    assert_documented(document, forged, "/api/v1/checkpoint-lookups", "post")

    decided = station_client.post("/api/v1/checkpoint-scans", json={
        "place_code": "CP-HN-01", "qr_token": token, "action": "turn_back", "reason": "Sốt",
        "retry_key": "openapi-1"})
    assert decided.status_code == 202
    assert_documented(document, decided, "/api/v1/checkpoint-scans", "post")

    elsewhere = add_place(app, "CP-HCM-02")
    not_mine = station_client.post("/api/v1/scans", json={
        "citizen_id": random_cccd(), "place_id": elsewhere, "direction": "in",
        "ts": datetime.now(timezone.utc).isoformat()})
    assert not_mine.status_code == 403
    assert_documented(document, not_mine, "/api/v1/scans", "post")
    malformed = station_client.post("/api/v1/scans", json={"citizen_id": "abc", "place_id": "CP-HN-01", "x": 1})
    assert malformed.status_code == 400 and malformed.json["errors"]
    assert_documented(document, malformed, "/api/v1/scans", "post")
    stranger = client.post("/api/v1/scans", json={}, headers={"Authorization": "Bearer tvst_forged"})
    assert stranger.status_code == 401
    assert_documented(document, stranger, "/api/v1/scans", "post")

    officer = app.test_client()
    sign_in(officer, add_staff(app, "officer"))
    assert_documented(document, officer.get("/api/v1/checkpoint-csrf-token"), "/api/v1/checkpoint-csrf-token")
    no_csrf = officer.post("/api/v1/checkpoint-scans", json={"place_code": "CP-HN-01", "qr_token": token,
                                                             "action": "pass"})
    assert no_csrf.status_code == 400 and "errors" not in no_csrf.json
    assert_documented(document, no_csrf, "/api/v1/checkpoint-scans", "post")
    station = app.test_client()
    station.environ_base["HTTP_AUTHORIZATION"] = station_headers(app)["Authorization"]
    assert_documented(document, station.get("/api/v1/checkpoint-csrf-token"), "/api/v1/checkpoint-csrf-token")


def test_officials_answers_fit_their_schemas(app, client, official_client, warehouse, document):
    citizen = random_cccd()
    register(app, citizen)
    start = datetime(2026, 10, 1, 7, 0, tzinfo=timezone.utc)
    write_scans(warehouse, [ScanEvent(event_id=f"o-{citizen}-{day}", citizen_id=citizen, place_id="METRO-1",
                                      ts=start + timedelta(days=day), direction="in") for day in range(3)])
    scans = "/api/v1/citizens/{citizen_id}/scans"
    page = official_client.get(f"/api/v1/citizens/{citizen}/scans?limit=2&reason=case_investigation")
    assert len(page.json["scans"]) == 2 and page.json["next"]
    assert_documented(document, page, scans)
    last = official_client.get(f"/api/v1/citizens/{citizen}/scans?limit=2&before={page.json['next']}"
                               "&reason=case_investigation")
    assert last.json["next"] is None
    assert_documented(document, last, scans)
    assert_documented(document, official_client.get("/api/v1/citizens/12ab/scans?limit=0&reason=case_investigation"),
                      scans)
    assert_documented(document, client.get(f"/api/v1/citizens/{citizen}/scans"), scans)
    assert_documented(document, official_client.get(f"/api/v1/citizens/{random_cccd()}/scans?reason=case_investigation"),
                      scans)  # not in the registry, or outside the official's scope: the same 404

    place = add_place(app, random_place(), kind="venue", name="Chợ Đồng Xuân")
    (a, b) = pair()
    write_scans(warehouse, [verified_scan(f"{a}-in", a, ts=T0, place_id=place),
                            verified_scan(f"{b}-1", b, registered=False, ts=T0 + timedelta(minutes=20),
                                          place_id=place, direction="pass")])
    write_contacts(warehouse, [edge(place, (a, b))])
    write_crowd_exposures(warehouse, [crowd(place, hours=1, head_count=480)])
    window = (f"?since={(T0 - timedelta(hours=1)).isoformat()}&until={(T0 + timedelta(hours=3)).isoformat()}"
              "&reason=case_investigation")
    window = window.replace("+", "%2B")
    for kind in ("presences", "contacts"):
        path = "/api/v1/places/{place_code}/" + kind
        answer = official_client.get(f"/api/v1/places/{place}/{kind}{window}")
        assert answer.status_code == 200 and answer.json[kind], answer.json
        assert_documented(document, answer, path)
        unknown = official_client.get(f"/api/v1/places/NO-SUCH-PLACE/{kind}?reason=case_investigation")
        assert_documented(document, unknown, path)
        assert_documented(document, official_client.get(f"/api/v1/places/{place}/{kind}?since=yesterday"
                                                        "&reason=case_investigation"), path)


def register(app, *people: str) -> None:
    with app.app_context():
        for person in people:
            db.session.add(Citizen(citizen_id=person, full_name="Nguyễn Văn An", date_of_birth=date(1990, 5, 1),
                                   sex="male", province_code=1, ward_code=101, phone="0912345678"))
        db.session.commit()


def test_a_traces_answers_fit_their_schemas(app, official_client, warehouse, document):
    case, contact = random_cccd(), random_cccd()
    register(app, case, contact)
    market = random_place()
    write_scans(warehouse, [scan(f"{case}-1", case, ts=T0, place_id=market),
                            scan(f"{contact}-1", contact, ts=T0 + timedelta(minutes=20), place_id=market)])
    path = "/api/v1/traces/{citizen_id}"
    window = (f"since={(T0 - timedelta(hours=1)).isoformat()}&until={(T0 + timedelta(days=2)).isoformat()}"
              "&reason=case_investigation")
    window = window.replace("+", "%2B")

    trace = official_client.get(f"/api/v1/traces/{case}?depth=1&{window}")
    assert trace.status_code == 200 and trace.json["edges"], trace.json
    assert_documented(document, trace, path)
    assert_documented(document, official_client.get(f"/api/v1/traces/{random_cccd()}?reason=case_investigation"), path)
    refused = official_client.get(f"/api/v1/traces/{case}?depth=99&format=pdf&reason=case_investigation")
    assert_documented(document, refused, path)


def test_cases_and_alerts_answers_fit_their_schemas(app, official_client, warehouse, document):
    case, contact = random_cccd(), random_cccd()
    register(app, case)
    official_client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(official_client, "/dang-nhap")
    today = datetime.now(timezone.utc).date().isoformat()
    for status in (201, 200):
        reported = official_client.post("/api/v1/cases", json={"citizen_id": case, "onset_date": today})
        assert reported.status_code == status, reported.json
        assert_documented(document, reported, "/api/v1/cases", "post")
    for body in ({"citizen_id": random_cccd(), "sample_date": today}, {"citizen_id": case, "extra": 1}):
        assert_documented(document, official_client.post("/api/v1/cases", json=body), "/api/v1/cases", "post")

    ward = 70  # Hoan Kiem, in the official's province (1)
    write_alerts(warehouse, [ExposureAlert(
        event_id=f"alert-{contact}", case_id=reported.json["case_id"], case_citizen_id=case,
        contact_citizen_id=contact, tier=1, first_exposure=datetime.now(timezone.utc) - timedelta(hours=2),
        place_id=None, criterion="household", source="imported", alerted_at=datetime.now(timezone.utc),
        ward_code=ward, province_code=1)])
    alerts = "/api/v1/wards/{ward_code}/alerts"
    found = official_client.get(f"/api/v1/wards/{ward}/alerts?reason=case_investigation")
    assert found.status_code == 200 and found.json["alerts"], found.json
    assert_documented(document, found, alerts)
    assert_documented(document, official_client.get("/api/v1/wards/4294967296/alerts?reason=case_investigation"),
                      alerts)
    outside = official_client.get(f"/api/v1/wards/{wards(79)[0][0]}/alerts?reason=case_investigation")
    assert outside.status_code == 404
    assert_documented(document, outside, alerts)
