"""The baselines: the same trace in rounds of SQL, in ClickHouse (chDB) and in a PostgreSQL peer.

Each round is one statement (``PG_ROUND``, ``CH_ROUND``: every scan a point, two people meet when
their scans at one place are at most 60 min apart); ``rounds_trace`` chains them like truyvet's
rounds, and a round over its time limit ends the trace as refused (``RoundRefused``).
``load_postgres`` starts the peer, copies the chDB scans into it as CSV and indexes them;
``explain_postgres`` shows the plan of one round.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import declarations as harness  # CPU accounting from /proc
from trace_common import WINDOW, Trace, code_name, floor, loadavg, others_cores

# The PostgreSQL peer's round: everyone the frontier met, and when it first counts. A frontier
# person's scans from their own first exposure (``since``, less the window) to the end of the
# trace; everyone's scans at the same place within +-60 min of each (both scans are points);
# the meeting spans [earlier scan, later scan] and counts from max(its start, the frontier
# person's since), if that is no later than its end and before the end of the trace.
PG_ROUND = """
WITH frontier AS (
  SELECT * FROM unnest(%(citizens)s::text[], %(since)s::timestamptz[]) AS f(citizen_id, since)
), mine AS (
  SELECT f.citizen_id, f.since, s.place_id, s.ts
  FROM frontier f
  JOIN scans s ON s.citizen_id = f.citizen_id
              AND s.ts >= f.since - interval '60 minutes' AND s.ts < %(until)s::timestamptz + interval '60 minutes'
)
SELECT o.citizen_id, min(greatest(least(m.ts, o.ts), m.since)) AS exposed_at
FROM mine m
JOIN scans o ON o.place_id = m.place_id
            AND o.ts BETWEEN m.ts - interval '60 minutes' AND m.ts + interval '60 minutes'
WHERE o.citizen_id <> m.citizen_id
  AND greatest(m.ts, o.ts) >= m.since
  AND greatest(least(m.ts, o.ts), m.since) < %(until)s::timestamptz
GROUP BY o.citizen_id
"""
# PG_ROUND's rule in ClickHouse. A join on the place alone would pair every scan of a place
# with every other over the two weeks before the time filter; joining on (place, hour) with
# the frontier's scans copied into the hours before and after keeps the pairs near in time.
# The frontier comes in a Memory table, not a bound array: in chDB 26.9 `x IN {ids:Array(String)}`
# with more than ~50,000 ids takes minutes (50,000: 0.2 s; 55,000: over 40 s; 65,000: 562 s).
FRONTIER_TABLE = "bench_frontier"  # CH_ROUND names it
CH_ROUND = """
WITH mine AS (
  SELECT s.citizen_id AS citizen_id, f.since AS since, s.place_id AS place_id, s.ts AS ts
  FROM scans_by_citizen AS s
  INNER JOIN bench_frontier AS f ON s.citizen_id = f.citizen_id
  WHERE s.citizen_id IN (SELECT citizen_id FROM bench_frontier)
    AND s.ts >= fromUnixTimestamp64Milli({first_ms:Int64} - 3600000, 'UTC')
    AND s.ts < fromUnixTimestamp64Milli({until_ms:Int64} + 3600000, 'UTC')
    AND s.ts >= f.since - INTERVAL 60 MINUTE
)
SELECT o.citizen_id, min(greatest(least(m.ts, o.ts), m.since)) AS exposed_at
FROM (SELECT *, intDiv(toUnixTimestamp64Milli(ts), 3600000) + arrayJoin([-1, 0, 1]) AS hour FROM mine) AS m
INNER JOIN (SELECT citizen_id, place_id, ts, intDiv(toUnixTimestamp64Milli(ts), 3600000) AS hour FROM scans
            WHERE place_id IN (SELECT place_id FROM mine)
              AND ts >= fromUnixTimestamp64Milli({first_ms:Int64} - 7200000, 'UTC')
              AND ts < fromUnixTimestamp64Milli({until_ms:Int64} + 7200000, 'UTC')) AS o
        ON o.place_id = m.place_id AND o.hour = m.hour
WHERE o.ts BETWEEN m.ts - INTERVAL 60 MINUTE AND m.ts + INTERVAL 60 MINUTE
  AND o.citizen_id != m.citizen_id
  AND greatest(m.ts, o.ts) >= m.since
  AND greatest(least(m.ts, o.ts), m.since) < fromUnixTimestamp64Milli({until_ms:Int64}, 'UTC')
GROUP BY o.citizen_id
"""


def rounds_trace(engine: str, run_round, case: str, since: datetime, depth: int) -> Trace:
    """A trace in rounds like truyvet's: a person reached sooner than before is traced again from then.

    ``run_round(citizens, their since, until)`` returns (person met, first moment it counts).
    """
    result = Trace(engine, depth, case, since)
    until = since + WINDOW
    first: dict[str, datetime] = {case: since}
    tier: dict[str, int] = {case: 0}
    frontier = {case: since}
    began = time.perf_counter()
    try:
        for hop in range(1, depth + 1):
            citizens = sorted(frontier)
            rows = run_round(citizens, [frontier[c] for c in citizens], until)
            result.queries += 1
            result.rows_read += len(rows)
            frontier = {}
            for citizen, exposed_at in rows:
                if citizen != case and (citizen not in first or exposed_at < first[citizen]):
                    first[citizen] = frontier[citizen] = exposed_at
                    tier.setdefault(citizen, hop)
            if not frontier:
                break
        result.tiers = dict(sorted(Counter(t for t in tier.values() if t).items()))
    except RoundRefused as refused:
        result.refused = str(refused)
    result.ms = result.query_ms = 1000 * (time.perf_counter() - began)
    return result


class RoundRefused(Exception):
    """A round got no answer: past its time (statement_timeout, max_execution_time) or its memory."""


def clickhouse_round(client: Any, timeout: float, citizens: list[str], since: list[datetime],
                     until: datetime) -> list:
    from warehouse.errors import WarehouseError, driver_errors

    parameters = {"first_ms": min(_ms(moment) for moment in since), "until_ms": _ms(until)}
    try:
        with driver_errors("a round"):
            client.command(f"CREATE TABLE IF NOT EXISTS {FRONTIER_TABLE} (citizen_id String, "
                           "since DateTime64(3, 'UTC')) ENGINE = Memory")
            client.command(f"TRUNCATE TABLE {FRONTIER_TABLE}")
            client.insert(FRONTIER_TABLE, list(zip(citizens, since)), column_names=["citizen_id", "since"])
            return client.query(CH_ROUND, parameters=parameters, tz_mode="aware",
                                settings={"max_execution_time": timeout}).result_rows
    except WarehouseError as failed:
        raise RoundRefused(f"{code_name(failed.code)} ({len(citizens):,} people in the round)") from failed


def postgres_round(connection: Any, citizens: list[str], since: list[datetime], until: datetime) -> list:
    import psycopg

    try:
        return connection.execute(PG_ROUND, {"citizens": citizens, "since": since, "until": until}).fetchall()
    except psycopg.errors.QueryCanceled as cancelled:
        raise RoundRefused(f"TIMEOUT (statement_timeout, {len(citizens):,} people in the round)") from cancelled


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


# -- PostgreSQL ---------------------------------------------------------------------------------------


def load_postgres(client: Any, postgres: Any, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start the peer, copy the scans into it, index; the figures, or ``failed`` with the reason."""
    import psycopg

    print(f"\n[postgres] starting a cluster on 127.0.0.1:{args.pg_port} ({postgres.bindir})", flush=True)
    postgres.start()
    if args.pg_shared_buffers:
        with psycopg.connect(_pg_dsn(args), autocommit=True) as connection:
            connection.execute(f"ALTER SYSTEM SET shared_buffers = '{args.pg_shared_buffers}'")
        # -l: the restarted server must not inherit our output (pg_ctl would leave it holding the pipe).
        subprocess.run([str(postgres.bindir / "pg_ctl"), "-D", str(postgres.data), "-l", str(postgres.home / "postgres.log"),
                        "-m", "fast", "-w", "restart"], user=postgres.user, cwd=postgres.home,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    connection = psycopg.connect(_pg_dsn(args), autocommit=True)
    version = connection.execute("SHOW server_version").fetchone()[0]
    settings = {name: connection.execute(f"SHOW {name}").fetchone()[0]
                for name in ("shared_buffers", "work_mem", "jit", "max_parallel_workers_per_gather")}
    print(f"  PostgreSQL {version}, {', '.join(f'{k}={v}' for k, v in settings.items())}", flush=True)

    # chDB writes the file, the PostgreSQL server reads it: it must be able to.
    export_dir = workdir / "export"
    export_dir.mkdir()
    os.chmod(workdir, 0o755)
    os.chmod(export_dir, 0o777)
    path = export_dir / "scans.csv"
    began = time.perf_counter()
    client.command(f"INSERT INTO FUNCTION file('{path}', 'CSV', 'citizen_id String, place_id String, "
                   "ts DateTime64(3, \\'UTC\\'), direction String') "
                   "SELECT citizen_id, place_id, ts, direction FROM scans")
    export_s = time.perf_counter() - began
    os.chmod(path, 0o644)
    print(f"  exported {path.stat().st_size / 1e9:.2f} GB of CSV from chDB in {export_s:.1f} s", flush=True)

    deadline = time.monotonic() + 60 * args.pg_load_limit
    steps = (
        ("COPY", f"COPY scans FROM '{path}' (FORMAT csv)"),
        ("index (citizen_id, ts) INCLUDE (place_id)",
         "CREATE INDEX scans_by_citizen ON scans (citizen_id, ts) INCLUDE (place_id)"),
        ("index (place_id, ts) INCLUDE (citizen_id)",
         "CREATE INDEX scans_by_place ON scans (place_id, ts) INCLUDE (citizen_id)"),
        ("VACUUM ANALYZE", "VACUUM (ANALYZE) scans"),
    )
    connection.execute("SET timezone = 'UTC'")
    connection.execute("SET maintenance_work_mem = '1GB'")
    # UNLOGGED: the peer's copy needs no WAL, as chDB's tables keep none either.
    connection.execute("CREATE UNLOGGED TABLE scans (citizen_id text COLLATE \"C\" NOT NULL, "
                       "place_id text COLLATE \"C\" NOT NULL, ts timestamptz NOT NULL, direction text NOT NULL)")
    timings: dict[str, float] = {}
    pg_pid = postmaster_pid(postgres)
    busy, cpu0, pg0 = harness._machine_busy(), time.process_time(), harness._cpu({"pg": pg_pid})["pg"]
    load_began = time.perf_counter()
    for label, statement in steps:
        left = deadline - time.monotonic()
        failed = {"timings": timings, "export_s": export_s, "version": version}
        if left <= 0:
            return {**failed, "failed": f"the load took longer than {args.pg_load_limit:g} min before {label}"}
        connection.execute(f"SET statement_timeout = {int(1000 * left)}")
        began = time.perf_counter()
        try:
            connection.execute(statement)
        except psycopg.errors.QueryCanceled:
            timings[label] = time.perf_counter() - began
            print(f"  {label}: cancelled after {timings[label]:.0f} s (the load limit)", flush=True)
            return {**failed, "failed": f"{label} did not finish within the {args.pg_load_limit:g} min load limit"}
        timings[label] = time.perf_counter() - began
        print(f"  {label}: {timings[label]:.1f} s; load {loadavg()}", flush=True)
    load_s = time.perf_counter() - load_began
    pg_cores = (harness._cpu({"pg": pg_pid})["pg"] - pg0) / load_s
    others = others_cores(busy, cpu0, load_s, pg_cores)
    connection.execute("SET statement_timeout = 0")
    rows = connection.execute("SELECT count(*) FROM scans").fetchone()[0]
    sizes = connection.execute("SELECT pg_size_pretty(pg_table_size('scans')), "
                               "pg_size_pretty(pg_indexes_size('scans'))").fetchone()
    path.unlink()
    print(f"  {rows:,} rows in {load_s:.0f} s (COPY {rows / timings['COPY']:,.0f} rows/s); table {sizes[0]}, "
          f"indexes {sizes[1]}; postgres {pg_cores:.2f} cores, others {others:.2f}", flush=True)
    connection.execute(f"SET statement_timeout = {int(1000 * args.round_timeout)}")
    floor_ms = floor(lambda: connection.execute("SELECT 1").fetchall())
    print(f"  round trip floor: SELECT 1 through psycopg, {floor_ms:.2f} ms (median)")
    return {"connection": connection, "floor_ms": floor_ms, "version": version, "settings": settings, "rows": rows, "timings": timings,
            "export_s": export_s, "load_s": load_s, "sizes": sizes, "others": others}


def explain_postgres(connection: Any, case: tuple[str, datetime]) -> None:
    """EXPLAIN ANALYZE of the peer's second round for ``case`` (its F1 as the frontier)."""
    citizen, since = case
    rows = postgres_round(connection, [citizen], [since], since + WINDOW)
    frontier = sorted((who, at) for who, at in rows if who != citizen)
    print(f"\n[profile] EXPLAIN (ANALYZE, BUFFERS) of the peer's F2 round for {citizen} ({len(frontier):,} people):")
    plan = connection.execute("EXPLAIN (ANALYZE, BUFFERS) " + PG_ROUND, {
        "citizens": [who for who, _ in frontier], "since": [at for _, at in frontier], "until": since + WINDOW,
    }).fetchall()
    for (line,) in plan:
        if "Filter" not in line or "Rows Removed" in line:
            print(f"    {line[:150]}")


def _pg_dsn(args: argparse.Namespace) -> str:
    return f"host=127.0.0.1 port={args.pg_port} user=truyvet dbname=postgres"


def postmaster_pid(postgres: Any) -> int:
    return int((postgres.data / "postmaster.pid").read_text().split("\n", 1)[0])
