"""Trace graphs out: the JSON API's shape, GraphML and a flat CSV (Go.Data: :mod:`tracing.godata`).

Pure: a graph of the shape :mod:`tracing.graph` describes goes in, text, bytes or dicts come
out; nothing here reads the registry or writes a file. ``people`` maps a citizen ID to extra
fields the caller chose to add (``ward_code``, ``phone``...); the exports know no one else.

**JSON** (:func:`graph_json`; the contract of ``GET /api/v1/traces/<citizen_id>``)::

    {"case": "F0", "direction": "forward", "rules": "truyvet-trace-default-1",
     "since": "...", "until": "...", "tiers": {"1": 2, "2": 1},
     "nodes": [{"citizen_id", "tier", "first_exposure", "last_exposure", "isolated_at", ...}],
     "edges": [{"source", "target", "exposed_at", "place_id", "first_together", "last_together",
                "minutes", "exposure_count", "rule_version", "source_kind", "criterion"}]}

- times are ISO 8601 strings in UTC to the millisecond (``2021-07-05T01:00:00.000Z``), as every
  answer of the JSON API writes them;
- ``direction`` is ``forward`` (tiers 1, 2... from the case, tier 0) or ``backward`` (possible
  sources of the case, tier -1); ``tiers`` counts the people of each tier but the case's, keyed
  by the tier as a string, in tier order;
- every node has the five keys above, ``null`` where the trace has no value:
  ``first_exposure`` (forward: from when the person counts as exposed; null for the case),
  ``last_exposure`` (backward: the last moment a possible source was with the case),
  ``isolated_at``; then the caller's ``people`` fields, which may not reuse a key of the node;
- an edge points from who could pass infection on (``source``) to who was exposed
  (``target``); ``exposed_at`` is when its first exposure counts, ``first_together`` and
  ``last_together`` span all of the pair's exposures, ``minutes`` (a number) adds them up over
  ``exposure_count`` exposures; ``place_id``, ``rule_version`` and ``criterion`` are those of the
  exposure counting first (``place_id`` null for an imported contact); ``source_kind`` is
  ``stream`` (movement data) or ``imported`` (a case interview or a proximity device);
- nodes come by tier, first (or last) exposure, then ID; edges by their target's place in that
  order, ``exposed_at``, then their source's place. Same graph, same answer.

**GraphML** (:func:`graph_graphml`): the same nodes (ID: the citizen ID), edges and graph
attributes under the same names, times as the same ISO strings; absent values are left out
(GraphML has no null) and so is the ``exposures`` tuple.

**CSV** (:func:`graph_csv`): one row per edge, columns :data:`CSV_COLUMNS`, then
``source_<field>`` and ``target_<field>`` for each ``people`` field; times in Viet Nam time
with their offset (``+07:00``), for people reading it in a spreadsheet.

**Go.Data**: :mod:`tracing.godata`, the files WHO's Go.Data imports.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone, tzinfo
from typing import Any

import networkx as nx

from streams.records import VIETNAM_TIME

People = Mapping[str, Mapping[str, Any]]

GRAPH_KEYS = ("case", "direction", "rules", "since", "until")
NODE_KEYS = ("citizen_id", "tier", "first_exposure", "last_exposure", "isolated_at")
EDGE_KEYS = ("source", "target", "exposed_at", "place_id", "first_together", "last_together", "minutes",
             "exposure_count", "rule_version", "source_kind", "criterion")
CSV_COLUMNS = ("source", "source_tier", "target", "target_tier", "exposed_at", "place_id", "first_together",
               "last_together", "minutes", "exposure_count", "rule_version", "source_kind", "criterion")
_NODE_TIMES = ("first_exposure", "last_exposure", "isolated_at")
_EDGE_TIMES = ("exposed_at", "first_together", "last_together")
_LONG_AGO = datetime.min.replace(tzinfo=timezone.utc)
# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def graph_json(graph: nx.DiGraph, people: People | None = None) -> dict[str, Any]:
    """The trace as the JSON API returns it (shape in the module docstring); json.dumps-able.

    >>> graph = _example()
    >>> answer = graph_json(graph, {"A": {"ward_code": 26734}})
    >>> answer["tiers"], [(n["citizen_id"], n["tier"]) for n in answer["nodes"]]
    ({'1': 1, '2': 1}, [('F0', 0), ('A', 1), ('B', 2)])
    >>> a = answer["nodes"][1]
    >>> list(a), a["first_exposure"]
    (['citizen_id', 'tier', 'first_exposure', 'last_exposure', 'isolated_at', 'ward_code'], '2021-07-01T02:00:00.000Z')
    >>> answer["edges"][0]["source_kind"], answer["edges"][0]["minutes"]
    ('stream', 0.0)
    """
    order = _node_order(graph)
    counts = Counter(tier for _, tier in graph.nodes(data="tier") if tier != 0)
    return {
        **_graph_fields(graph),
        "tiers": {str(tier): counts[tier] for tier in sorted(counts)},
        "nodes": [_node_fields(graph, citizen, people) for citizen in order],
        "edges": [_edge_fields(graph, *edge) for edge in _edge_order(graph, order)],
    }


def graph_graphml(graph: nx.DiGraph, people: People | None = None) -> str:
    """The trace as GraphML text: ``networkx.read_graphml`` reads it back, as do Gephi and yEd.

    >>> graph = _example()
    >>> back = nx.read_graphml(io.StringIO(graph_graphml(graph)))
    >>> dict(back.nodes(data="tier")), back.edges["F0", "A"]["exposed_at"]
    ({'F0': 0, 'A': 1, 'B': 2}, '2021-07-01T02:00:00.000Z')
    """
    out = nx.DiGraph(**{key: value for key, value in _graph_fields(graph).items() if value is not None})
    order = _node_order(graph)
    for citizen in order:
        fields = _node_fields(graph, citizen, people)
        del fields["citizen_id"]
        out.add_node(citizen, **_graphml_values(fields))
    for edge in _edge_order(graph, order):
        fields = _edge_fields(graph, *edge)
        del fields["source"], fields["target"]
        out.add_edge(*edge, **_graphml_values(fields))
    buffer = io.BytesIO()
    nx.write_graphml(out, buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def graph_csv(graph: nx.DiGraph, people: People | None = None, *, tz: tzinfo = VIETNAM_TIME) -> str:
    """One row per exposure edge with both ends' tiers: :data:`CSV_COLUMNS`, then people fields.

    Times are in ``tz`` (Viet Nam time by default) with their offset. A text cell starting like
    a spreadsheet formula (``=``, ``+``, ``-``, ``@``) gets a leading ``'``, so a phone number
    such as ``+8490...`` stays text and nothing in the file runs as a formula.

    >>> rows = list(csv.DictReader(io.StringIO(graph_csv(_example(), {"B": {"phone": "+84901234567"}}))))
    >>> [(r["source"], r["source_tier"], r["target"], r["target_tier"], r["exposed_at"]) for r in rows]
    [('F0', '0', 'A', '1', '2021-07-01T09:00:00+07:00'), ('A', '1', 'B', '2', '2021-07-01T10:00:00+07:00')]
    >>> rows[1]["source_phone"], rows[1]["target_phone"]
    ('', "'+84901234567")
    """
    order = _node_order(graph)
    edges = _edge_order(graph, order)
    extras = _extra_keys(people, {citizen for edge in edges for citizen in edge})
    header = list(CSV_COLUMNS) + [f"{end}_{key}" for end in ("source", "target") for key in extras]
    clashing = sorted(set(header[len(CSV_COLUMNS):]) & set(CSV_COLUMNS))
    if clashing:
        raise ValueError(f"people fields would overwrite the CSV columns {clashing}")
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    for source, target in edges:
        fields = _edge_fields(graph, source, target, tz)
        row = {**fields, "source_tier": graph.nodes[source]["tier"], "target_tier": graph.nodes[target]["tier"]}
        cells = [row[column] for column in CSV_COLUMNS]
        for end in (source, target):
            known = (people or {}).get(end, {})
            cells += [known.get(key) for key in extras]
        writer.writerow([_cell(value) for value in cells])
    return buffer.getvalue()


def _example() -> nx.DiGraph:
    """The small trace the examples show: F0 met A at SHOP at 02:00 UTC, A met B there at 03:00."""
    from tracing.forward import trace
    from tracing.rows import Exposure
    from tracing.rules import DEFAULT_TRACE_RULES

    t = datetime(2021, 7, 1, tzinfo=timezone.utc)
    rows = [Exposure(a, b, "SHOP", t.replace(hour=h), t.replace(hour=h), 0, "QD-1", "stream", "point_window")
            for a, b, h in (("F0", "A", 2), ("A", "B", 3))]
    return trace("F0", t, 2, DEFAULT_TRACE_RULES, lambda citizens, since, until: rows, until=t.replace(day=6))


# Shared shape ---------------------------------------------------------------------------------
def _graph_fields(graph: nx.DiGraph) -> dict[str, Any]:
    return {key: _iso(value) if isinstance(value, datetime) else value
            for key, value in ((key, graph.graph.get(key)) for key in GRAPH_KEYS)}


def _node_fields(graph: nx.DiGraph, citizen: str, people: People | None) -> dict[str, Any]:
    node = graph.nodes[citizen]
    fields = {"citizen_id": citizen, "tier": node["tier"]}
    fields |= {key: _iso(node.get(key)) for key in _NODE_TIMES}
    extra = (people or {}).get(citizen, {})
    clashing = sorted(set(extra) & set(NODE_KEYS))
    if clashing:
        raise ValueError(f"people fields of {citizen} would overwrite the trace's {clashing}")
    return fields | dict(extra)


def _edge_fields(graph: nx.DiGraph, source: str, target: str, tz: tzinfo = timezone.utc) -> dict[str, Any]:
    edge = graph.edges[source, target]
    fields = {"source": source, "target": target} | {key: _iso(edge[key], tz) for key in _EDGE_TIMES}
    fields |= {"place_id": edge["place_id"], "minutes": float(edge["minutes"]),
               "exposure_count": int(edge["exposure_count"]), "rule_version": edge["rule_version"],
               "source_kind": edge["source"], "criterion": edge["criterion"]}
    return {key: fields[key] for key in EDGE_KEYS}


def _node_order(graph: nx.DiGraph) -> list[str]:
    """People by tier, then first (backward: last) exposure, then ID."""
    def key(citizen: str) -> tuple:
        node = graph.nodes[citizen]
        when = node.get("first_exposure") or node.get("last_exposure")
        return node["tier"], when is None, when or _LONG_AGO, citizen
    return sorted(graph, key=key)


def _edge_order(graph: nx.DiGraph, order: list[str]) -> list[tuple[str, str]]:
    place = {citizen: index for index, citizen in enumerate(order)}
    return sorted(graph.edges, key=lambda e: (place[e[1]], graph.edges[e]["exposed_at"], place[e[0]]))


def _extra_keys(people: People | None, citizens: Iterable[str]) -> list[str]:
    return sorted({key for citizen in citizens for key in (people or {}).get(citizen, {})})


def _iso(moment: datetime | None, tz: tzinfo = timezone.utc) -> str | None:
    """ISO 8601: in UTC to the millisecond with ``Z``, as the rest of the JSON API writes times."""
    if moment is None:
        return None
    if tz is not timezone.utc:
        return moment.astimezone(tz).isoformat()
    return moment.astimezone(tz).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _local_date(moment: datetime) -> str:
    return moment.astimezone(VIETNAM_TIME).date().isoformat()


def _graphml_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """GraphML holds str, int, float and bool; no null, so absent values are left out."""
    return {key: value if isinstance(value, (str, int, float, bool)) else str(value)
            for key, value in fields.items() if value is not None}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def _csv_text(columns: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns))
    writer.writeheader()
    writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
    return buffer.getvalue()
