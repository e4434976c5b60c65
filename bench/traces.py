"""Benchmark: F1/F2/F3 traces from the warehouse at 10 M (or 100 M) scans, beside a PostgreSQL peer.

Budget (DESIGN.md, issue 9): a trace at 100 M scans, F1 < 50 ms, F2 < 300 ms, F3 < 1 s, on one
2-core machine, and >= 10x faster than the PostgreSQL peer. Speed is printed, never asserted.

1. **Data**, generated inside the engine: a fresh embedded warehouse (chDB) in a temporary
   directory, the warehouse migrations, then ``INSERT INTO scans ... SELECT ... FROM numbers()``
   in chunks (the materialised view fills ``scans_by_citizen`` in the same insert). A city of
   ``rows / 50`` people over 30 days, every value a deterministic hash (``cityHash64``): wards of
   ~1,000 residents, each with a market, 40 workplaces/schools and 12 shops; every person has a
   home ward, a workplace (40 % in another ward) and two usual shops; one big city market per
   50,000 people and one stadium per 1,000,000 (events on 4 evenings). Visits: 30 % work (8 h),
   26 % home market, 26 % own shops, 12.5 % a random place in the city, 5 % a big market
   (morning peak), 0.5 % a stadium event. Most visits are in/out pairs, some lone ``pass``
   points (40 % at shops, 10 % at work, 20 % elsewhere). Density per place does not grow with
   ``--rows``: a bigger table is a bigger city, as a national warehouse would be.
2. **truyvet**: ``tracing.forward.trace`` with the fetch ``warehouse.traces.trace_case`` uses
   (``rows_of``), ``DEFAULT_TRACE_RULES``, a 14-day infectious window, no isolations, for
   ``--cases`` different people at F1 and ``--deep-cases`` at F2 and at F3 (ClickHouse caches
   identical query conditions: no case is traced twice by one engine). Each trace's time is
   split into ClickHouse (``client.query``, the driver's decoding included), the rest of the
   fetch (scans to presences), and judging (``expand``: pairs, time-respecting filter, graph).
   A fetch that would read more than the warehouse's row limit raises ``TooMuchToRead``, one
   that needs more than ``--memory-limit`` fails with MEMORY_LIMIT_EXCEEDED: both are counted
   as refused, with the time it took to refuse.
3. **PostgreSQL peer** (Debian package, ``truyvet.localpg``): the same scans, exported from
   chDB as CSV and ``COPY``-ed into one table with two covering B-tree indexes. The trace goes
   round by round like truyvet's, each round one SQL statement (see ``PG_ROUND``): every scan
   is a point, two people meet when their scans at one place are at most 60 min apart.
4. **The same rounds in ClickHouse SQL** (``CH_ROUND``, same rule as the peer, on the same
   chDB tables): not truyvet's code, but what the warehouse does when it pairs the scans
   itself instead of shipping them to Python; a second baseline, engine against engine.

    .venv/bin/python bench/traces.py                         # 10 M scans, ~35 min
    .venv/bin/python bench/traces.py --rows 100000000        # 100 M: ~3 GB chDB, ~6 GB CSV, ~17 GB PostgreSQL
    .venv/bin/python bench/traces.py --profile 5             # also 5 F1 and 5 F2 traces under cProfile, EXPLAINs
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import declarations as harness  # noqa: E402  (CPU accounting from /proc)
from trace_common import (  # noqa: E402
    BUDGET_MS, DAY0, DAYS, DEPTHS, ENGINES, WINDOW, Trace, floor, loadavg, measured, memory_gb, others_cores,
    percentile, print_trace, revision,
)
from trace_peers import (  # noqa: E402
    clickhouse_round, explain_postgres, load_postgres, postgres_round, postmaster_pid, rounds_trace,
)
from trace_profile import profile  # noqa: E402
from trace_truyvet import truyvet_trace  # noqa: E402

PEOPLE_PER_WARD = 1000
PEOPLE_PER_BIG_MARKET = 50_000
PEOPLE_PER_STADIUM = 1_000_000
SCANS_PER_PERSON = 50
ROWS_PER_VISIT = 1.83  # measured: the share of lone points makes a visit 1.83 scans on average

# One visit per row of numbers(); ARRAY JOIN makes its one or two scans. Hash salts are
# constants: the same --rows gives the same table on every run.
GENERATE = """
INSERT INTO scans (event_id, citizen_id, place_id, ts, direction, precision)
SELECT lower(hex(cityHash64(number, k, 9))), '0792' || leftPad(toString(p), 8, '0'), place,
       start + toIntervalMinute(k * stay), if(point, 'pass', if(k = 0, 'in', 'out')), 'instant'
FROM (
  SELECT number,
    cityHash64(number, 1) % {people:UInt64} AS p,
    cityHash64(p, 100) % {wards:UInt64} AS home,
    if(cityHash64(p, 101) % 10 < 6, home, cityHash64(p, 102) % {wards:UInt64}) AS work_ward,
    cityHash64(number, 3) % 1000 AS r,
    multiIf(r < 300, 0, r < 560, 1, r < 820, 2, r < 945, 3, r < 995, 4, 5) AS kind,
    cityHash64(number, 4) AS h,
    if(kind = 5, [4, 11, 18, 25][1 + h % 4], cityHash64(number, 2) % 30) AS day,
    multiIf(kind = 0, 'W' || toString(work_ward) || '-WORK-' || toString(cityHash64(p, 103) % 40),
            kind = 1, 'W' || toString(home) || '-MARKET',
            kind = 2, 'W' || toString(home) || '-SHOP-' || toString(cityHash64(p, 104 + h % 2) % 12),
            kind = 3, 'W' || toString(cityHash64(number, 5) % {wards:UInt64})
                      || if(h % 4 = 0, '-MARKET', '-SHOP-' || toString(intDiv(h, 4) % 12)),
            kind = 4, 'CITY-MARKET-' || toString(if(h % 5 < 4, cityHash64(p, 106), h) % {big_markets:UInt64}),
            'STADIUM-' || toString(cityHash64(p, 107) % {stadiums:UInt64})) AS place,
    -- minutes after local midnight, and minutes of the stay
    multiIf(kind = 0, 420 + cityHash64(number, 6) % 120, kind = 1, 330 + cityHash64(number, 6) % 300,
            kind = 4, 300 + cityHash64(number, 6) % 240, kind = 5, 1080 + cityHash64(number, 6) % 90,
            480 + cityHash64(number, 6) % 780) AS arrive,
    multiIf(kind = 0, 420 + cityHash64(number, 7) % 120, kind = 1, 20 + cityHash64(number, 7) % 40,
            kind = 2, 5 + cityHash64(number, 7) % 35, kind = 3, 10 + cityHash64(number, 7) % 50,
            kind = 4, 15 + cityHash64(number, 7) % 45, 150 + cityHash64(number, 7) % 60) AS stay,
    cityHash64(number, 8) % 100 < multiIf(kind = 2, 40, kind = 0, 10, 20) AS point,
    toDateTime64('2026-09-30 17:00:00', 3, 'UTC') + toIntervalMinute(day * 1440 + arrive)
        + toIntervalMillisecond(cityHash64(number, 10) % 60000) AS start
  FROM numbers({first:UInt64}, {count:UInt64})
)
ARRAY JOIN if(point, [0], [0, 1]) AS k
"""


def main() -> int:
    args = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="truyvet-bench-traces-"))
    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so the finally below stops what we started.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    client = postgres = None
    began = time.perf_counter()
    try:
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(f"conditions: {os.cpu_count()} cores, {memory_gb():.0f} GB RAM, Python {sys.version.split()[0]}, "
              f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, code at {revision()} (working tree), work in "
              f"{workdir}, {shutil.disk_usage(workdir).free / 1e9:.0f} GB free; load {loadavg()}", flush=True)
        from warehouse.client import connect

        client = connect(f"chdb://{workdir / 'chdb'}")
        # This machine is shared: no query of ours may take its memory (ClickHouse's own ceiling is 90 %).
        client.set_client_setting("max_memory_usage", str(int(args.memory_limit * 2**30)))
        load = _generate(client, args)
        load["floor_ms"] = floor(lambda: client.query("SELECT 1"))
        print(f"  round trip floor: SELECT 1 through clickhouse-connect and chDB, {load['floor_ms']:.2f} ms (median)")
        people = load["people"]
        cases = {depth: _cases(people, depth, args.cases if depth == 1 else args.deep_cases, args.seed)
                 for depth in DEPTHS}
        results: list[Trace] = []
        phases: dict[str, dict[str, float]] = {}

        def run_all(engine: str, trace_one, pg_pid: int | None = None) -> None:
            for depth in DEPTHS:
                print(f"\n[{engine} F{depth}] {len(cases[depth])} cases", flush=True)
                trace_one(*_cases(people, 1000 + depth, 1, args.seed)[0], depth)  # warm-up, not counted
                phases[f"{engine} F{depth}"], found = measured(
                    lambda d=depth: [print_trace(trace_one(case, since, d)) for case, since in cases[d]], pg_pid)
                results.extend(found)

        run_all("truyvet", lambda case, since, depth: truyvet_trace(client, case, since, depth))
        if not args.skip_clickhouse_sql:
            run_all("clickhouse-sql", lambda case, since, depth: rounds_trace(
                "clickhouse-sql", lambda *round_args: clickhouse_round(client, args.round_timeout, *round_args),
                case, since, depth))
        if args.profile:
            profile(client, _cases(people, 99, 2 * args.profile, args.seed), args.profile)
        pg_load: dict[str, Any] = {"skipped": "--skip-postgres"}
        if not args.skip_postgres:
            from truyvet.localpg import LocalPostgres

            postgres = LocalPostgres(args.pg_port)
            pg_load = load_postgres(client, postgres, workdir, args)
            if "failed" not in pg_load:
                connection = pg_load["connection"]
                run_all("postgres", lambda case, since, depth: rounds_trace(
                    "postgres", lambda *round_args: postgres_round(connection, *round_args), case, since, depth),
                    pg_pid=postmaster_pid(postgres))
                if args.profile:
                    explain_postgres(connection, cases[2][0])
        _summary(results, load, pg_load, phases, args)
        print(f"took {(time.perf_counter() - began) / 60:.1f} min")
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        if postgres is not None:
            postgres.stop()
        if client is not None:
            client.close()
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"cleaned up {workdir}" + (" and the PostgreSQL cluster" if postgres is not None else ""), flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="scans to generate [10,000,000]")
    parser.add_argument("--chunk", type=int, default=20_000_000, help="scans per INSERT [20,000,000]")
    parser.add_argument("--cases", type=int, default=20, help="cases traced at F1, per engine [20]")
    parser.add_argument("--deep-cases", type=int, default=10, help="cases traced at F2 and at F3, per engine [10]")
    parser.add_argument("--memory-limit", type=float, default=4.0,
                        help="GiB one chDB query may use (max_memory_usage); past it the trace counts as refused [4]")
    parser.add_argument("--seed", type=int, default=1, help="which people are the cases [1]")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also trace N more cases at F1 and N at F2 under cProfile, and EXPLAIN the queries [0]")
    parser.add_argument("--skip-clickhouse-sql", action="store_true", help="no rounds in ClickHouse SQL")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--pg-port", type=int, default=35432, help="the throwaway PostgreSQL cluster's port [35432]")
    parser.add_argument("--pg-load-limit", type=float, default=20.0,
                        help="minutes the PostgreSQL load (COPY, indexes, VACUUM ANALYZE) may take; past it the "
                        "peer is reported as not loaded [20]")
    parser.add_argument("--round-timeout", type=float, default=60.0,
                        help="seconds one SQL round (ClickHouse's max_execution_time, PostgreSQL's "
                        "statement_timeout) may take before the trace counts as refused [60]")
    parser.add_argument("--pg-shared-buffers", default="2GB",
                        help="shared_buffers of the peer (restart after initdb); '' keeps the stock 128MB [2GB]")
    args = parser.parse_args()
    if args.rows < 1_000_000:
        parser.error("--rows below 1,000,000 makes a city of fewer than one big market")
    return args


# -- the data ---------------------------------------------------------------------------------------


def _generate(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Migrate a fresh warehouse and fill it with ~``args.rows`` scans, server-side; the figures."""
    from warehouse.migrate import apply_migrations

    apply_migrations(client)
    people = args.rows // SCANS_PER_PERSON
    sizes = {"people": people, "wards": max(1, people // PEOPLE_PER_WARD),
             "big_markets": max(1, people // PEOPLE_PER_BIG_MARKET), "stadiums": max(1, people // PEOPLE_PER_STADIUM)}
    visits = round(args.rows / ROWS_PER_VISIT)
    per_insert = max(1, round(args.chunk / ROWS_PER_VISIT))
    print(f"\n[data] {args.rows:,} scans asked: {visits:,} visits of {sizes['people']:,} people, {sizes['wards']:,} "
          f"wards, {sizes['big_markets']} big markets, {sizes['stadiums']} stadium(s), {DAYS} days from "
          f"{DAY0:%Y-%m-%d %H:%M} UTC; {per_insert:,} visits per INSERT", flush=True)
    busy, cpu, began = harness._machine_busy(), time.process_time(), time.perf_counter()
    for first in range(0, visits, per_insert):
        client.command(GENERATE, parameters={**sizes, "first": first, "count": min(per_insert, visits - first)})
        done = client.command("SELECT count() FROM scans")
        elapsed = time.perf_counter() - began
        print(f"  {done:,} scans in {elapsed:.0f} s ({done / elapsed:,.0f} rows/s); load {loadavg()}", flush=True)
    insert_s = time.perf_counter() - began
    others = others_cores(busy, cpu, insert_s)
    # Background merges compete with the traces for the two cores: let them finish first.
    merge_began = time.perf_counter()
    while client.command("SELECT count() FROM system.merges WHERE database = currentDatabase()"):
        time.sleep(2)
    merge_s = time.perf_counter() - merge_began
    rows = client.command("SELECT count() FROM scans")
    by_citizen = client.command("SELECT count() FROM scans_by_citizen")
    parts = dict(client.query("SELECT table, toString(count()) || ' parts, ' || formatReadableSize(sum(bytes_on_disk)) "
                              "FROM system.parts WHERE active AND database = currentDatabase() "
                              "AND table IN ('scans', 'scans_by_citizen') GROUP BY table").result_rows)
    crowd = client.query("SELECT place_id, count() AS n FROM scans GROUP BY place_id, toStartOfHour(ts) "
                         "ORDER BY n DESC LIMIT 1").result_rows[0]
    per_person = client.query("SELECT quantiles(0.5, 0.99)(n) FROM (SELECT count() AS n FROM scans_by_citizen "
                              "GROUP BY citizen_id)").result_rows[0][0]
    shares = client.query("SELECT multiIf(place_id LIKE '%-WORK-%', 'work', place_id LIKE 'W%-MARKET', 'ward market', "
                          "place_id LIKE '%-SHOP-%', 'shop', place_id LIKE 'CITY-%', 'big market', 'stadium') AS kind, "
                          "count() FROM scans GROUP BY kind ORDER BY kind").result_rows
    print(f"  loaded {rows:,} scans ({by_citizen:,} in scans_by_citizen) in {insert_s:.1f} s: "
          f"{rows / insert_s:,.0f} rows/s into both tables; merges settled {merge_s:.0f} s later; "
          f"others {others:.2f} cores; load {loadavg()}")
    print(f"  {'; '.join(f'{table}: {size}' for table, size in sorted(parts.items()))}")
    print(f"  scans per person p50 {per_person[0]:.0f}, p99 {per_person[1]:.0f}; busiest place-hour: "
          f"{crowd[0]} with {crowd[1]:,} scans; by kind: "
          + ", ".join(f"{kind} {100 * n / rows:.1f} %" for kind, n in shares), flush=True)
    return {**sizes, "rows": rows, "insert_s": insert_s, "merge_s": merge_s, "others": others, "parts": parts}


def _cases(people: int, salt: int, count: int, seed: int) -> list[tuple[str, datetime]]:
    """``count`` different people, each with an infectious start (a local midnight, day 0-15), by hash."""
    found, seen, n = [], set(), 0
    while len(found) < count:
        value = int.from_bytes(hashlib.blake2b(f"{seed}:{salt}:{n}".encode(), digest_size=8).digest(), "big")
        n += 1
        person = value % people
        if person not in seen:
            seen.add(person)
            found.append((f"0792{person:08d}", DAY0 + timedelta(days=(value >> 32) % (DAYS - WINDOW.days))))
    return found


# -- the summary ------------------------------------------------------------------------------------


def _summary(results: list[Trace], load: dict[str, Any], pg_load: dict[str, Any], phases: dict[str, dict],
             args: argparse.Namespace) -> None:
    print(f"\n== traces at {load['rows']:,} scans, {args.cases} cases at F1 and {args.deep_cases} at F2 and F3 "
          f"(per engine), a {WINDOW.days}-day infectious "
          f"window, DEFAULT_TRACE_RULES; {os.cpu_count()} cores; load {loadavg()} ==")
    print(f"data: chDB {load['rows'] / load['insert_s']:,.0f} rows/s ({load['insert_s']:.0f} s + merges "
          f"{load['merge_s']:.0f} s), SELECT 1 {load['floor_ms']:.2f} ms", end="")
    if "failed" in pg_load or "skipped" in pg_load:
        print(f"; PostgreSQL NOT LOADED: {pg_load.get('failed') or pg_load['skipped']}")
    else:
        steps = ", ".join(f"{label.split(' INCLUDE')[0]} {seconds:.0f} s" for label, seconds in pg_load["timings"].items())
        print(f"; PostgreSQL {pg_load['version'].split()[0]}: export {pg_load['export_s']:.0f} s, {steps} "
              f"(total {pg_load['load_s']:.0f} s), SELECT 1 {pg_load['floor_ms']:.2f} ms")
    print(f"{'engine':<15} {'depth':<5} {'ok':>3} {'refused':>7} {'after ms':>9} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} "
          f"{'budget':>6}  {'people per tier, median':<29} {'max':<22} {'CH ms':>7} {'pres ms':>7} {'judge ms':>8} "
          f"{'others':>6} {'load':>5}")
    for engine in ENGINES:
        for depth in DEPTHS:
            runs = [r for r in results if r.engine == engine and r.depth == depth]
            if not runs:
                continue
            ok = [r for r in runs if not r.refused]
            ms = [r.ms for r in ok]
            tiers = {t: statistics.median([r.tiers.get(t, 0) for r in ok]) if ok else 0 for t in range(1, depth + 1)}
            most = {t: max((r.tiers.get(t, 0) for r in ok), default=0) for t in range(1, depth + 1)}
            phase = phases[f"{engine} F{depth}"]
            split = ("", "", "")
            if engine == "truyvet" and ok:
                split = (f"{statistics.median(r.query_ms for r in ok):.1f}",
                         f"{statistics.median(r.fetch_ms - r.query_ms for r in ok):.1f}",
                         f"{statistics.median(r.ms - r.fetch_ms for r in ok):.1f}")
            refused_ms = statistics.median([r.ms for r in runs if r.refused] or [float("nan")])
            print(f"{engine:<15} F{depth:<4} {len(ok):>3} {len(runs) - len(ok):>7} {refused_ms:>9.0f} {percentile(ms, .5):>9.1f} "
                  f"{percentile(ms, .95):>9.1f} {max(ms, default=float('nan')):>9.1f} {BUDGET_MS[depth]:>6.0f}  "
                  f"{' / '.join(f'{tiers[t]:,.0f}' for t in tiers):<29} {' / '.join(f'{most[t]:,}' for t in most):<22} "
                  f"{split[0]:>7} {split[1]:>7} {split[2]:>8} {phase['others']:>6.2f} {phase['load1']:>5.2f}")
    for engine in ENGINES[:2]:
        print(f"ratio {engine} / PostgreSQL, over the cases both answered (median of each one's times on them):")
        for depth in DEPTHS:
            mine = {r.case: r for r in results if r.engine == engine and r.depth == depth and not r.refused}
            theirs = {r.case: r for r in results if r.engine == "postgres" and r.depth == depth and not r.refused}
            both = sorted(set(mine) & set(theirs))
            if not both:
                print(f"  F{depth}: no case answered by both")
                continue
            ratio = statistics.median(mine[c].ms for c in both) / statistics.median(theirs[c].ms for c in both)
            per_case = statistics.median(mine[c].ms / theirs[c].ms for c in both)
            found = statistics.median(sum(mine[c].tiers.values()) / max(sum(theirs[c].tiers.values()), 1) for c in both)
            budget = "; the budget asks <= 0.10" if engine == "truyvet" else ""
            print(f"  F{depth}: {ratio:.2f} over {len(both)} cases (median of per-case ratios {per_case:.2f}); people "
                  f"found {engine}/PostgreSQL {found:.2f} (median){budget}")
    for engine in ENGINES:
        for depth in DEPTHS:
            refused = Counter(r.refused.split(" (")[0] for r in results
                              if r.engine == engine and r.depth == depth and r.refused)
            if refused:
                print(f"refused, {engine} F{depth}: " + ", ".join(f"{why} x{n}" for why, n in refused.items()))
    print("after ms: median time until a refusal. people per tier: F1 / F2 / F3 of the answered cases. CH ms: client.query (ClickHouse and the driver's "
          "decoding); pres ms: the rest of the fetch (scans -> presences); judge ms: expand (pairs, time-respecting "
          "filter, graph); medians. others: cores other processes used while that row ran; load: 1-min load average "
          "after it.")


if __name__ == "__main__":
    sys.exit(main())
