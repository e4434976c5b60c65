"""``truyvet trace``: a case's contacts, F1 to Fn, on the terminal or as an export.

Attached to the main command with ``main.add_command(trace)``. It reads the warehouse directly
(an embedded one opens in one process at a time: with ``truyvet run`` up, use the API), with
the rules and limits the API uses (``webapp/traces.py``).
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from truyvet.cliapp import open_warehouse, registry, settings

FORMATS = ("text", "json", "graphml", "csv", "godata")


@click.command("trace")
@click.argument("citizen_id")
@click.option("--depth", type=click.IntRange(min=1), default=2, show_default=True, help="Tiers to trace (F1…Fn).")
@click.option("--rules", "rule_set", default=None, help="A trace rule set by name (TRUYVET_TRACE_RULES).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]), default=None,
              help="When the case became infectious, Vietnam time (default: 14 days before --until).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]), default=None,
              help="The end of the trace, e.g. the case's isolation, Vietnam time (default: now).")
@click.option("--format", "kind", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the export to this file (default: standard output; godata needs a file).")
def trace(citizen_id: str, depth: int, rule_set: str | None, since: datetime | None, until: datetime | None,
          kind: str, output: Path | None) -> None:
    """Trace CITIZEN_ID: print each tier's people, or export the graph.

    Exits 1 for a person the registry does not know, a window too long, or a rule set or depth
    the settings do not allow.
    """
    import json

    from streams.records import VIETNAM_TIME
    from tracing import export, godata
    from tracing.errors import UnknownRuleSet
    from tracing.rules import load_trace_rules
    from warehouse.errors import TooMuchToRead, WarehouseError
    from warehouse.traces import trace_case
    from webapp.extensions import db
    from webapp.models import Citizen
    from webapp.traces import MAX_TRACE_WINDOW, people_of

    current = settings()
    if depth > current.trace_max_depth:
        raise click.BadParameter(f"at most {current.trace_max_depth} (TRUYVET_TRACE_MAX_DEPTH)", param_hint="--depth")
    try:
        rules = load_trace_rules(current.trace_rules or None).choose(rule_set)
    except UnknownRuleSet as exc:
        raise click.BadParameter(str(exc), param_hint="--rules") from exc
    end = until.replace(tzinfo=VIETNAM_TIME).astimezone(timezone.utc) if until else datetime.now(timezone.utc)
    start = since.replace(tzinfo=VIETNAM_TIME).astimezone(timezone.utc) if since else end - timedelta(days=14)
    if start >= end or end - start > MAX_TRACE_WINDOW:
        raise click.BadParameter(f"--since must be before --until, at most {MAX_TRACE_WINDOW.days} days before it",
                                 param_hint="--since")
    if kind == "godata" and output is None:
        raise click.BadParameter("the Go.Data export is a zip file: name it with --output", param_hint="--output")

    with registry(current):
        if db.session.get(Citizen, citizen_id) is None:
            raise click.ClickException(f"{citizen_id}: no one with this citizen id is in the registry")
        with open_warehouse(current, "nothing was traced") as warehouse:
            try:
                graph = trace_case(warehouse, citizen_id, start, end, depth, rules)
            except TooMuchToRead as exc:
                raise click.ClickException(f"{exc}") from exc
            except WarehouseError as exc:
                raise click.ClickException(f"{exc}; nothing was traced") from exc
        people = people_of(graph.nodes, with_identity=kind == "godata")

    if kind == "text":
        click.echo(describe(graph))
        return
    body = {
        "json": lambda: json.dumps(export.graph_json(graph, people), ensure_ascii=False, indent=2),
        "graphml": lambda: export.graph_graphml(graph, people),
        "csv": lambda: export.graph_csv(graph, people),
        "godata": lambda: godata.godata_zip(graph, people),
    }[kind]()
    if output is None:
        sys.stdout.write(body)
    elif isinstance(body, bytes):
        output.write_bytes(body)
    else:
        output.write_text(body, encoding="utf-8")


def describe(graph) -> str:
    """Tiers and their people, earliest exposure first, with where and from whom (Vietnam time)."""
    from streams.records import VIETNAM_TIME
    from tracing.graph import tiers

    def local(moment: datetime) -> str:
        return f"{moment.astimezone(VIETNAM_TIME):%Y-%m-%d %H:%M}"

    head = graph.graph
    lines = [f"trace of {head['case']}: {local(head['since'])} to {local(head['until'])} (Vietnam time), "
             f"rules {head['rules']}"]
    for tier, people in sorted(tiers(graph).items()):
        if tier == 0:
            continue
        lines.append(f"F{tier}: {len(people)} {'person' if len(people) == 1 else 'people'}")
        for person in sorted(people, key=lambda who: (graph.nodes[who]["first_exposure"], who)):
            via = min(graph.in_edges(person, data=True), key=lambda edge: edge[2]["exposed_at"])
            where = via[2]["place_id"] or via[2]["criterion"]
            lines.append(f"  {person}  from {local(graph.nodes[person]['first_exposure'])}  "
                         f"at {where} ({via[2]['source']}), via {via[0]}")
    if len(lines) == 1:
        lines.append("no contacts in this period")
    return "\n".join(lines)
