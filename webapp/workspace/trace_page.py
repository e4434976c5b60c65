"""A case's trace as a page: the form, the graph by tier and time, contact tables, export links.

``GET /truy-vet/ca/<citizen_id>?depth=&since=&until=&rules=&reason=`` reads what
``GET /api/v1/traces/<citizen_id>`` reads (webapp/traces.py), with the same parameters, except
that ``since`` and ``until`` may come from the form's ``datetime-local`` inputs, which are Viet
Nam time. The reason comes first: without one the page is the form alone (400) and nothing is
read. People outside the official's scope appear under a pseudonym with their ward only
(webapp/scope.py); their alerts go to their own ward.

The graph travels as a JSON data block that ``static/trace.js`` draws: no inline script.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import networkx as nx
from flask import render_template, request, url_for

from ingest.errors import InvalidInput, Message
from tracing.export import graph_json
from warehouse.errors import TooMuchToRead
from warehouse.traces import trace_case
from webapp.audit import audited
from webapp.followup import STATUSES, current_statuses
from webapp.official import utc_text
from webapp.resources import get_resources, get_warehouse
from webapp.roles import Role, allow
from webapp.scope import person_in_scope, redact_trace
from webapp.traces import TOO_MUCH, UNKNOWN_CASE, trace_arguments, people_of
from webapp.workspace.blueprint import bp
from webapp.workspace.display import LOCAL_INPUT, local_time, person_href, place_href, residence, zoned_window
from webapp.workspace.reasons import reason_choices, reason_query

FORM_FIELDS = ("depth", "since", "until", "rules")
EXPORTS = {"csv": "CSV", "graphml": "GraphML", "godata": "Go.Data"}


def _form_page(errors: Mapping[str, Message], citizen_id: str) -> str:
    """The form alone, as typed, each error beside its field: nothing about anyone is read."""
    depth, since, until, rules, _ = trace_arguments({})  # the defaults
    shown = _form_values(depth, since, until, rules.name) | {
        name: request.args[name] for name in FORM_FIELDS if request.args.get(name)}
    return render_template("workspace/trace.html", citizen_id=citizen_id, form=shown, errors=errors,
                           trace=None, **_form_choices())


@bp.get("/truy-vet/ca/<citizen_id>")
@allow(Role.OFFICIAL)
def case_trace(citizen_id: str):
    """Who: officials. The trace of a case living in their scope (404 otherwise, as for no one)."""
    try:
        return _audited_trace(citizen_id=citizen_id)
    except InvalidInput as invalid:  # a bad field shows nothing, so, as in the API, is not audited
        return _form_page(invalid.errors, citizen_id), 400


@audited("trace", "citizen_id", FORM_FIELDS, ask=_form_page)  # the reason first
def _audited_trace(citizen_id: str) -> str:
    case = person_in_scope(citizen_id, UNKNOWN_CASE)
    depth, since, until, rules, _ = trace_arguments(api_arguments(request.args))
    try:
        graph = trace_case(get_warehouse(), case.citizen_id, since, until, depth, rules)
    except TooMuchToRead:
        raise InvalidInput({"since": TOO_MUCH}) from None
    graph, people = redact_trace(graph, people_of(graph.nodes, with_identity=True))
    asked = {"depth": depth, "since": utc_text(since), "until": utc_text(until), "rules": rules.name}
    data = _graph_data(graph, people)
    return render_template(
        "workspace/trace.html", citizen_id=citizen_id, case=case, case_residence=residence(case.province_code, case.ward_code),
        form=_form_values(depth, since, until, rules.name), errors={}, trace=data, tiers=data["tiers"],
        tables=_contact_tables(graph, people, data), statuses=STATUSES,
        here=request.full_path.rstrip("?"), exports=_export_links(case.citizen_id, asked), **_form_choices())


def api_arguments(args: Mapping[str, str]) -> dict[str, str]:
    """The form's fields as the API reads them: blanks dropped, zone-less times taken as Viet Nam time.

    >>> api_arguments({"depth": "", "rules": "QD-1", "since": "2026-11-28T08:00", "x": "1"})
    {'since': '2026-11-28T08:00:00+07:00', 'rules': 'QD-1'}
    """
    return zoned_window(args) | {name: args[name].strip() for name in ("depth", "rules") if args.get(name, "").strip()}


def _form_values(depth: int, since: datetime, until: datetime, rules: str) -> dict[str, str]:
    return {"depth": str(depth), "since": local_time(since, LOCAL_INPUT), "until": local_time(until, LOCAL_INPUT),
            "rules": rules}


def _form_choices() -> dict[str, Any]:
    resources = get_resources()
    return {"max_depth": resources.settings.trace_max_depth, "rule_sets": list(resources.trace_rules),
            **reason_choices()}


def status_href(citizen_id: str) -> str:
    return url_for("workspace.set_status", citizen_id=citizen_id)


def _export_links(citizen_id: str, asked: Mapping[str, Any]) -> dict[str, str]:
    """The API's files for the very same trace (its window fixed, not "now" again)."""
    return {label: url_for("traces.case_trace", citizen_id=citizen_id, **asked, format=kind, **reason_query())
            for kind, label in EXPORTS.items()}


def _graph_data(graph: nx.DiGraph, people: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The API's JSON of the trace with a label and a link per person and place, nothing personal more."""
    shown = {node: _node_extra(node, people.get(node)) for node in graph}
    data = graph_json(graph, shown)
    for edge in data["edges"]:
        edge["href"] = place_href(edge["place_id"]) if edge["place_id"] else None
    return data


def _node_extra(citizen_id: str, described: Mapping[str, Any] | None) -> dict[str, Any]:
    if described is None:  # not in the registry: in scope of whoever traced them
        return {"label": citizen_id, "href": None, "outside": False}
    if described.get("outside"):
        return {"label": citizen_id, "href": None, "outside": True}
    return {"label": described["full_name"], "href": person_href(citizen_id), "outside": False}


def _contact_tables(graph: nx.DiGraph, people: Mapping[str, Mapping[str, Any]],
                    data: Mapping[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Tier -> its people's rows, in the API's order: who, where they live, when and how exposed."""
    nodes = {node["citizen_id"]: node for node in data["nodes"]}
    statuses = current_statuses(citizen for citizen, node in nodes.items() if not node["outside"])
    tables: dict[int, list[dict[str, Any]]] = {}
    for citizen, node in nodes.items():
        if node["tier"] > 0:
            row = _contact_row(graph, citizen, people.get(citizen), nodes) | {"status": statuses.get(citizen)}
            tables.setdefault(node["tier"], []).append(row)
    return tables


def _contact_row(graph: nx.DiGraph, citizen: str, described: Mapping[str, Any] | None,
                 nodes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One contact; an outside person's ``described`` holds their residence only (redact_trace)."""
    described = described or {}
    exposures = sorted(graph.in_edges(citizen, data=True), key=lambda edge: edge[2]["exposed_at"])
    return {
        "citizen_id": citizen, "name": described.get("full_name"), "phone": described.get("phone"),
        "href": nodes[citizen]["href"], "outside": nodes[citizen]["outside"], "registered": bool(described),
        "residence": residence(described.get("province_code"), described.get("ward_code")),
        # Followed up here: in-scope people of the registry (an outside person's ward follows them).
        "status_action": status_href(citizen) if described and not nodes[citizen]["outside"] else None,
        "first_exposure": local_time(graph.nodes[citizen].get("first_exposure")),
        "exposed_by": [{"source": nodes[source]["label"], "source_href": nodes[source]["href"],
                        "place": edge["place_id"], "place_href": place_href(edge["place_id"]) if edge["place_id"] else None,
                        "at": local_time(edge["exposed_at"])} for source, _, edge in exposures],
    }
