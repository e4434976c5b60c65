"""Shared pieces of the trace benchmark: its constants, one trace's record, and the measuring and printing.

``Trace`` is what every engine's trace returns and ``print_trace`` prints it as one line;
``measured``, ``others_cores``, ``floor`` and ``loadavg`` say what a run cost and what else the
machine was doing meanwhile (CPU from /proc, through ``declarations``' accounting); the rest
describe the machine and the code for the report's first lines. Imported by ``traces.py`` and its
sibling modules, with ``bench/`` on ``sys.path``.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import declarations as harness  # CPU accounting from /proc

REPO = Path(__file__).resolve().parents[1]  # where ``git rev-parse`` runs

BUDGET_MS = {1: 50.0, 2: 300.0, 3: 1000.0}
DEPTHS = (1, 2, 3)
WINDOW = timedelta(days=14)
DAYS = 30
# Day 0 of the data: 2026-10-01 00:00 in Viet Nam (UTC+7).
DAY0 = datetime(2026, 9, 30, 17, 0, tzinfo=timezone.utc)
ENGINES = ("truyvet", "clickhouse-sql", "postgres")


@dataclass
class Trace:
    """One trace of one case by one engine."""

    engine: str
    depth: int
    case: str
    since: datetime
    ms: float = 0.0
    tiers: dict[int, int] = field(default_factory=dict)  # tier -> people
    refused: str = ""  # why no answer: TooMuchToRead, a timeout
    query_ms: float = 0.0  # truyvet: client.query, decoding included
    fetch_ms: float = 0.0  # truyvet: rows_of, query included
    queries: int = 0
    rows_read: int = 0  # truyvet: scans returned by ClickHouse; PostgreSQL: rows the rounds returned


def print_trace(run: Trace) -> Trace:
    tiers = " ".join(f"F{tier} {count:,}" for tier, count in run.tiers.items()) or "-"
    line = f"  {run.case} from {run.since:%m-%d}: {run.ms:9.1f} ms"
    if run.engine == "truyvet":
        line += (f"  (ClickHouse {run.query_ms:8.1f} ms in {run.queries} queries, {run.rows_read:,} scans; "
                 f"to presences {run.fetch_ms - run.query_ms:7.1f} ms; judging {run.ms - run.fetch_ms:7.1f} ms)")
    else:
        line += f"  ({run.queries} rounds, {run.rows_read:,} rows)"
    print(line + f"  {tiers}" + (f"  REFUSED: {run.refused[:140]}" if run.refused else ""), flush=True)
    return run


def measured(work, pg_pid: int | None = None) -> tuple[dict[str, float], Any]:
    """Run ``work``; the machine's load after it and the cores used by others (not us, not PostgreSQL)."""
    busy, cpu, began = harness._machine_busy(), time.process_time(), time.perf_counter()
    pg0 = harness._cpu({"pg": pg_pid})["pg"] if pg_pid else 0.0
    result = work()
    seconds = time.perf_counter() - began
    pg_cores = (harness._cpu({"pg": pg_pid})["pg"] - pg0) / seconds if pg_pid else 0.0
    return {"seconds": seconds, "others": others_cores(busy, cpu, seconds, pg_cores), "pg_cores": pg_cores,
            "load1": float(loadavg().split()[0])}, result


def others_cores(busy_before: tuple[float, float], cpu_before: float, seconds: float, ours: float = 0.0) -> float:
    """Cores the rest of the machine used over the last ``seconds``: all busy CPU less this process (and ``ours``)."""
    busy, total = harness._machine_busy()
    machine = (os.cpu_count() or 1) * (busy - busy_before[0]) / max(total - busy_before[1], 1)
    return max(0.0, machine - (time.process_time() - cpu_before) / seconds - ours)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")


def floor(query) -> float:
    """The median time of a trivial query: what any query costs before it does anything."""
    times = []
    for _ in range(50):
        began = time.perf_counter()
        query()
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1e6
    return 0.0


def revision() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip() or "?"


def code_name(code: int | None) -> str:
    from warehouse.errors import TRANSIENT_CODES

    return TRANSIENT_CODES.get(code or 0, f"ClickHouse error {code}")
