"""Where truyvet's trace spends its time: cProfile by area, EXPLAIN, and variants of its place query.

``profile`` (``--profile N``) traces N cases at F1 and N at F2 under cProfile and sums own time by
the areas in ``PROFILE_AREAS`` (cumulative time for the functions in ``PROFILE_FOCUS``), then
follows one case's F1 and F2 fetches: EXPLAIN of the place query, and that query beside two other
ways of holding rows to their windows.
"""
from __future__ import annotations

import statistics
import time
from collections import Counter
from datetime import datetime
from typing import Any

from trace_common import WINDOW, print_trace
from trace_truyvet import TimedClient, truyvet_trace


def profile(client: Any, cases: list[tuple[str, datetime]], count: int) -> None:
    """truyvet's F1 and F2 traces under cProfile, own time by area; EXPLAIN and variants of its place query."""
    import cProfile
    import pstats

    for depth, mine in ((1, cases[:count]), (2, cases[count:])):
        print(f"\n[profile] {len(mine)} F{depth} traces under cProfile", flush=True)
        profiler = cProfile.Profile()
        for case, since in mine:
            print_trace(profiler.runcall(truyvet_trace, client, case, since, depth))
        stats = pstats.Stats(profiler).stats
        areas: Counter = Counter()
        for (filename, _, function), (_, _, own, _, _) in stats.items():
            where = f"{filename}:{function}"
            areas[next((label for label, needles in PROFILE_AREAS if any(n in where for n in needles)),
                       "other (builtins, stdlib)")] += own
        total = sum(areas.values())
        print(f"  own time by area ({1000 * total / len(mine):.0f} ms profiled per trace):")
        for name, seconds in areas.most_common():
            print(f"    {1000 * seconds / len(mine):8.1f} ms {100 * seconds / total:5.1f} %  {name}")
        print("  cumulative per trace (nested, so they overlap):")
        for path, function in PROFILE_FOCUS:
            found = [row for (filename, _, name), row in stats.items() if filename.endswith(path) and name == function]
            if found:
                seconds, calls = max(row[3] for row in found), max(row[1] for row in found)
                print(f"    {1000 * seconds / len(mine):8.1f} ms {100 * seconds / total:5.1f} %  {path}:{function} "
                      f"({calls / len(mine):,.0f} calls)")

    from tracing.forward import expand, next_fetch, start_graph
    from tracing.rules import DEFAULT_TRACE_RULES as rules
    from warehouse.errors import TooMuchToRead
    from warehouse.traces import rows_of

    case, since = cases[count]
    graph = start_graph(case, since, since + WINDOW, rules)
    frontier: set[str] = {case}
    for depth in (1, 2):
        request = next_fetch(graph, frontier, rules)
        timed = TimedClient(client)
        recorded: list[tuple[str, dict]] = []
        original = timed.query

        def recording(query: str, parameters: dict | None = None, **options: Any) -> Any:
            recorded.append((query, dict(parameters or {})))
            return original(query, parameters, **options)

        timed.query = recording  # type: ignore[method-assign]
        try:
            rows = rows_of(timed, *request, rules)
        except TooMuchToRead as refused:
            rows = None
            print(f"\n  the F{depth} fetch of {case} ({len(request.citizens):,} people) was refused: {refused}")
        query, parameters = next((q, p) for q, p in recorded if "FROM scans\n" in q)
        spans = [(b - a) / 3_600_000 for starts, ends in zip(parameters["window_from_ms"], parameters["window_to_ms"])
                 for a, b in zip(starts, ends)]
        print(f"\n  F{depth} fetch of {case}: {len(request.citizens):,} people; the place query asks for "
              f"{len(parameters['places']):,} places, {len(spans):,} windows of {statistics.median(spans):.1f} h "
              f"(median; presences are points or stays of up to a few hours, met within 60 min)")
        if depth == 1:
            print("  EXPLAIN indexes = 1:")
            for (line,) in client.query("EXPLAIN indexes = 1 " + query, parameters=parameters).result_rows:
                if any(word in line for word in ("ReadFromMergeTree", "Granules:", "PrimaryKey", "Ranges:",
                                                 "filter column")):
                    line = line.rstrip()
                    print(f"    {line[:150]}" + (f" ... ({len(line):,} characters)" if len(line) > 150 else ""))
        _place_query_variants(client, query, parameters)
        if rows is None:
            break
        frontier = expand(graph, request.citizens, rows, rules)


def _place_query_variants(client: Any, query: str, parameters: dict) -> None:
    """The place query as warehouse.traces runs it, beside every row held to every window (as it
    did until 2026-11-29) and the key ranges alone."""
    base, _ = query.split("  AND arrayExists", 1)
    limit = "LIMIT {limit:UInt32}"
    flat = [(place, start, end) for place, starts, ends in
            zip(parameters["places"], parameters["window_from_ms"], parameters["window_to_ms"])
            for start, end in zip(starts, ends)]
    every = {**parameters, "window_places": [place for place, _, _ in flat],
             "window_from_ms": [start for _, start, _ in flat], "window_to_ms": [end for _, _, end in flat]}
    every_window = base + (
        "  AND arrayExists((place, first_ms, last_ms) -> place = place_id\n"
        "      AND toUnixTimestamp64Milli(ts) >= first_ms AND toUnixTimestamp64Milli(ts) < last_ms,\n"
        "      {window_places:Array(String)}, {window_from_ms:Array(Int64)}, {window_to_ms:Array(Int64)})\n" + limit)
    variants = (
        ("as warehouse.traces runs it (each row against its own place's windows)", query, parameters),
        ("every row against every window (arrayExists, before 2026-11-29)", every_window, every),
        ("key ranges only (places, first to last window)", base + limit, parameters),
    )
    print(f"  the place query, LIMIT {parameters['limit']:,} as the engine asks; best of 2:")
    for label, sql, bound in variants:
        times, rows = [], 0
        try:
            for _ in range(2):
                began = time.perf_counter()
                rows = len(client.query(sql, parameters=bound).result_rows)
                times.append(1000 * (time.perf_counter() - began))
        except Exception as failed:  # noqa: BLE001  (the driver's error, shown as it is)
            print(f"    {1000 * (time.perf_counter() - began):9.1f} ms  FAILED: {str(failed)[:120]}  {label}")
            continue
        print(f"    {min(times):9.1f} ms  {rows:>8,} rows  {label}")
    try:
        needed = client.command("SELECT count() FROM (" + query.replace(limit, "") + ")", parameters=parameters)
    except Exception as failed:  # noqa: BLE001
        print(f"    scans in the windows, no LIMIT: not counted ({str(failed)[:120]})")
        return
    print(f"    scans in the windows, no LIMIT: {needed:,} (the engine refuses more than {parameters['limit'] - 1:,})")


PROFILE_AREAS = (  # own time, by the file that spent it; first match wins
    ("chDB engine + clickhouse-connect decoding", ("chdb", "clickhouse_connect")),
    ("scans -> presences (warehouse/presence.py, faust records)", ("warehouse/presence.py", "faust", "mode/")),
    ("pair judging (tracing/judging.py, streams/meetings.py, tracing/rows.py)",
     ("tracing/judging.py", "streams/meetings.py", "tracing/rows.py", "streams/rules.py")),
    ("graph and rounds (tracing/forward.py, tracing/graph.py, networkx)",
     ("tracing/forward.py", "tracing/graph.py", "networkx")),
    ("warehouse/traces.py (windows, filters)", ("warehouse/traces.py",)),
    ("datetime", ("datetime",)),
)
PROFILE_FOCUS = (
    ("warehouse/traces.py", "rows_of"),
    ("clickhouse_connect/driver/client.py", "query"),
    ("warehouse/traces.py", "_presences_around"),
    ("warehouse/traces.py", "<listcomp>"),
    ("warehouse/presence.py", "presences"),
    ("tracing/forward.py", "expand"),
    ("tracing/judging.py", "_judge"),
    ("streams/meetings.py", "meet"),
    ("tracing/rows.py", "from_meeting"),
    ("tracing/graph.py", "edge_attributes"),
)
