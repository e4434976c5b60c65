"""Benchmark: checkpoint scans from 200 station devices through the real web stack into Kafka.

Budget (DESIGN.md): officer scan, server time: p99 < 50 ms, here under 200 concurrent stations
on one 2-core machine. Speed is printed, never asserted. One gunicorn serves
``webapp:create_app()`` against a registry prepared before it starts (checkpoint places, one
station token per station, declarations with their personal QR codes); each repetition runs
three routes under the same wrk settings:

- **ceiling**: ``GET /static/poster.css`` (``--ceiling-path``), the smallest static file: the
  cheapest route that answers 2xx from every worker here, through the same gunicorn and Flask
  hooks (principal, health thread) with no database, signature or Kafka; the baseline.
  (``/healthz`` answers from memory too, but says 503 from every worker that could not open the
  embedded warehouse, which only one process can hold);
- **lookup**: ``POST /api/v1/checkpoint-lookups``, the officer's first step: who the QR code is;
- **scan**: ``POST /api/v1/checkpoint-scans`` with action ``pass``: the same lookup, then the
  officer's decision and its scan event committed in one transaction (the outbox) before the
  202; the relay thread of each worker publishes the event to ``truyvet.scans.v1``.

Load comes from ``wrk`` with ``bench/checkpoint_scans.lua``: every connection is a station (its
own bearer token, the place it is bound to), closed loop, loopback, sharing the cores with the
server. Latency is reported twice: wrk's (what a station waits, queueing in the listen backlog
included) and the server's own (gunicorn's access log, ``%(D)s``: from the parsed request to the
response written). After every scan run the script waits for the outbox to drain; the topic
must then have gained exactly one message per decision stored and per 202 the server sent (its
access log), and no fewer than wrk saw; a mismatch, or any non-2xx answer to a lookup or scan,
exits 1.

    .venv/bin/python bench/checkpoint_scans.py                       # 3 repetitions x 10 s
    .venv/bin/python bench/checkpoint_scans.py --connections 2       # light load: service time
    .venv/bin/python bench/checkpoint_scans.py --postgres            # a throwaway PostgreSQL cluster
    .venv/bin/python bench/checkpoint_scans.py --profile 2000        # where a scan's time goes
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

# The process, CPU and profile helpers of the declarations benchmark, shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import declarations as harness  # noqa: E402
from streams.topics import SCANS  # noqa: E402

REPO = harness.REPO
LUA = Path(__file__).with_suffix(".lua")
BUDGET_P99_MS = 50.0
MODES = ("ceiling", "lookup", "scan")
ROUTES = {"lookup": "/api/v1/checkpoint-lookups", "scan": "/api/v1/checkpoint-scans"}
# gunicorn's access log, parsed for server time and for the 202s the topic is checked against.
ACCESS_FORMAT = "%(s)s %(m)s %(U)s %(D)s"


@dataclass
class Run:
    mode: str
    repetition: int
    rate: float  # 2xx responses per second, as wrk saw them
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    statuses: dict[int, int]
    server_p50_ms: float  # gunicorn's own time per request (access log), measured window
    server_p99_ms: float
    cpu: dict[str, float] = field(default_factory=dict)
    wrk_accepted: int = 0  # 202s wrk saw, warm-up included (scan runs)
    served_accepted: int = 0  # 202s the server sent, warm-up and the requests in flight at the end included
    stored: int = 0  # checkpoint decisions the database gained
    delivered: int = 0  # messages the scans topic gained
    backlog: int = 0  # outbox events not yet in Kafka when the load stopped
    drain_s: float = 0.0  # from the end of the load to an empty outbox


def main() -> int:
    args = _arguments()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="truyvet-bench-scans-"))
    (workdir / "data").mkdir()
    os.environ.update({  # gunicorn's workers and the app this process builds read the same settings
        "TRUYVET_DATA_DIR": str(workdir / "data"),
        "TRUYVET_KAFKA_BOOTSTRAP": f"127.0.0.1:{args.kafka_port}",
        "TRUYVET_SECRET_KEY": "bench-secret-key",
        "TRUYVET_QR_SIGNING_KEYS": harness.SIGNING_KEY,
        "TRUYVET_RATE_LIMITS": "off",  # all the load comes from one address
        "TRUYVET_OUTBOX_RELAY": "on",  # scans reach Kafka through each worker's relay
    })
    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so the finally below stops what we started.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    from streams.topics import ensure_topics
    from truyvet.broker import LocalBroker
    from truyvet.localpg import LocalPostgres

    broker = LocalBroker(home=workdir / "kafka", port=args.kafka_port)
    server = app = postgres = None
    args.database, args.database_pid = "SQLite", None  # the database server whose CPU is counted, if ours
    try:
        if args.postgres:
            postgres = LocalPostgres(args.postgres_port)
            os.environ["TRUYVET_DATABASE_URL"] = postgres.start()
            args.database, args.database_pid = f"PostgreSQL {postgres.version}", postgres.pid
            print(f"started a throwaway {args.database} on port {args.postgres_port}", flush=True)
        print(f"starting a dedicated Kafka broker on {broker.bootstrap} in {broker.home}", flush=True)
        broker.start()
        ensure_topics([broker.bootstrap])
        app = _bench_app()
        started = time.monotonic()
        stations, qr_tokens = _prepare(app, args)
        print(f"registry: {args.places} checkpoints, {len(stations)} station tokens, {len(qr_tokens)} "
              f"declarations in {time.monotonic() - started:.1f} s", flush=True)
        if args.profile:
            return _profile(app, stations, qr_tokens, args, broker)
        data = workdir / "stations.tsv"
        data.write_text("".join([f"station\t{token}\t{place}\n" for token, place in stations]
                                + [f"qr\t{token}\n" for token in qr_tokens]))
        server = _serve(args, workdir)
        _warm(app, args, workdir, data)
        runs = []
        for repetition in range(1, args.repetitions + 1):
            for mode in MODES:
                run = _run_once(mode, repetition, app, args, workdir, data, server, broker)
                runs.append(run)
                _print_run(run)
        return _summary(runs, args)
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        if server is not None:
            harness._stop(server)
        if app is not None:
            app.close()
        broker.stop()
        if postgres is not None:
            postgres.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=3, help="repetitions of (ceiling, lookup, scan) [3]")
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per run [10]")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before measuring [2]")
    parser.add_argument("--settle", type=int, default=5,
                        help="seconds of unmeasured load per route once the server is up [5]")
    parser.add_argument("--connections", type=int, default=200, help="wrk connections, one station each [200]")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads [2]")
    parser.add_argument("--stations", type=int, default=200, help="station tokens [200]")
    parser.add_argument("--places", type=int, default=20, help="checkpoints the stations are spread over [20]")
    parser.add_argument("--declarations", type=int, default=2000, help="declarations (QR codes) to scan [2000]")
    parser.add_argument("--ceiling-path", default="/static/poster.css",
                        help="the baseline route, a GET [/static/poster.css]")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes [3]")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class [sync]")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker [1]")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the outbox")
    parser.add_argument("--postgres", action="store_true",
                        help="keep the registry in a throwaway PostgreSQL cluster (truyvet/localpg.py) "
                        "instead of SQLite")
    parser.add_argument("--postgres-port", type=int, default=28434, help="its port [28434]")
    parser.add_argument("--kafka-port", type=int, default=28094, help="the dedicated broker's port [28094]")
    parser.add_argument("--web-port", type=int, default=28181, help="gunicorn's port [28181]")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="instead: cProfile N checkpoint scans in one process (Flask test client), "
                        "then relay their events to the broker")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    return parser.parse_args()


# -- the registry ----------------------------------------------------------------------------------


def _bench_app():
    """The app this process uses for the registry and the outbox; it never serves, nor relays."""
    from config import Settings
    from webapp import create_app

    app = create_app(replace(Settings.from_env(), rate_limits=False, outbox_relay=False))
    # Its probes would open the embedded warehouse here and hold its lock against the workers.
    app.extensions["truyvet"].health.stop()
    return app


def _prepare(app, args: argparse.Namespace) -> tuple[list[tuple[str, str]], list[str]]:
    """Places, station tokens and declarations in the app's database: (token, place) and QR tokens."""
    from webapp.accounts import issue_station_token
    from webapp.extensions import db
    from webapp.places import add_place

    with app.app_context():
        db.create_all()
        places = [add_place(code=f"CP-BENCH-{n:03d}", kind="checkpoint", name=f"Chốt kiểm soát số {n + 1}",
                            province_code=1).code for n in range(args.places)]
        stations = []
        for n in range(args.stations):
            place = places[n % len(places)]
            _, token = issue_station_token(place, f"bench station {n + 1}")
            stations.append((token, place))
    client = app.test_client()
    qr_tokens = []
    for n in range(args.declarations):
        response = client.post("/api/v1/declarations", json=_declaration(n))
        if response.status_code != 201:
            raise SystemExit(f"declaration {n}: {response.status_code} {response.get_data(as_text=True)}")
        qr_tokens.append(response.get_json()["qr_token"])
    return stations, qr_tokens


def _declaration(n: int) -> dict:
    """A valid declaration of person ``n``: a different CCCD number for every n below a million."""
    from ingest.identity import make_cccd

    female = n % 2 == 1
    born = date(1950, 1, 1) + timedelta(days=(n * 37) % (50 * 365))
    sex = "female" if female else "male"
    return {
        "citizen_id": make_cccd(1, born, sex, n), "full_name": "Trần Thị Bích" if female else "Nguyễn Văn An",
        "date_of_birth": born.isoformat(), "sex": sex, "phone": f"09{n:08d}",
        "residence": {"province_code": 1, "ward_code": 70, "address": f"Số {n % 200 + 1} ngõ 3"},
        "symptoms": ["cough"] if n % 5 == 0 else [], "vaccination_doses": n % 4,
    }


# -- one run ---------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, workdir: Path) -> subprocess.Popen:
    command = [
        str(harness.GUNICORN), "--workers", str(args.workers), "--worker-class", args.worker_class,
        "--threads", str(args.threads), "--bind", f"127.0.0.1:{args.web_port}",
        "--log-level", "warning", "--error-logfile", str(workdir / "gunicorn.log"),
        "--access-logfile", str(workdir / "access.log"), "--access-logformat", ACCESS_FORMAT,
        "webapp:create_app()",
    ]
    # The app's own warnings (health probes) go to stderr: keep them out of the table.
    with open(workdir / "gunicorn.log", "ab") as log:
        server = subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=True)
    harness._wait_for_port(args.web_port, server, workdir / "gunicorn.log")
    return server


def _warm(app, args: argparse.Namespace, workdir: Path, data: Path) -> None:
    """Load every route once, unmeasured: each worker imports, connects its producer, starts its probes.

    The relays also publish the declarations made to prepare (to the declarations topic) here.
    """
    url = f"http://127.0.0.1:{args.web_port}"
    for mode in MODES:
        _wrk(url, args.settle, mode if mode in ROUTES else args.ceiling_path, data, args)
    _wait_until_quiet(workdir / "access.log")
    harness._wait_for_drain(app, args.drain_timeout)


def _run_once(mode: str, repetition: int, app, args: argparse.Namespace, workdir: Path, data: Path,
              server: subprocess.Popen, broker) -> Run:
    access_log = workdir / "access.log"
    url = f"http://127.0.0.1:{args.web_port}"
    target = ROUTES.get(mode, args.ceiling_path)
    target_arg = mode if mode in ROUTES else args.ceiling_path
    offsets_before = harness._topic_size(broker.bootstrap, SCANS) if mode == "scan" else 0
    stored_before = _decisions(app) if mode == "scan" else 0
    start_mark = _size(access_log)
    warmup, _ = _wrk(url, args.warmup, target_arg, data, args)
    # wrk leaves up to one request per connection queued when it stops; the server still answers
    # them. Let them finish, or they would take the first seconds of the measured window.
    _wait_until_quiet(access_log)
    measured_mark = _size(access_log)
    groups = {"web": server.pid, "broker": broker.status().pid, "db": args.database_pid}
    cpu_before, busy_before = harness._cpu(groups), harness._machine_busy()
    result, wrk_cpu = _wrk(url, args.duration, target_arg, data, args)
    seconds = result["duration_us"] / 1e6
    cpu = harness._cores(cpu_before, harness._cpu(groups), busy_before, harness._machine_busy(), seconds)
    cpu["wrk"] = wrk_cpu / seconds
    cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
    served = _access_lines(access_log, measured_mark, _size(access_log))  # what wrk's window saw served
    stopped, backlog = time.monotonic(), harness._pending(app)
    _wait_until_quiet(access_log)
    statuses = {int(code): count for code, count in result["statuses"].items()}
    times = sorted(micros for _, path, micros in served if path == target)
    run = Run(
        mode=mode, repetition=repetition,
        rate=sum(c for s, c in statuses.items() if 200 <= s < 300) / seconds,
        p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000, requests=result["requests"],
        non_2xx=sum(c for s, c in statuses.items() if not 200 <= s < 300),
        socket_errors=sum(v for k, v in result["errors"].items() if k != "status"), statuses=statuses,
        server_p50_ms=_percentile(times, 50) / 1000, server_p99_ms=_percentile(times, 99) / 1000, cpu=cpu,
    )
    if mode == "scan":
        run.wrk_accepted = statuses.get(202, 0) + {int(k): v for k, v in warmup["statuses"].items()}.get(202, 0)
        run.served_accepted = sum(1 for status, path, _ in _access_lines(access_log, start_mark)
                                  if status == 202 and path == target)
        run.backlog = backlog
        harness._wait_for_drain(app, args.drain_timeout)
        run.drain_s = time.monotonic() - stopped
        run.stored = _decisions(app) - stored_before
        run.delivered = harness._topic_size(broker.bootstrap, SCANS) - offsets_before
    if run.non_2xx and mode in ROUTES:
        print(f"  NON-2XX ANSWERS to {target}: {statuses}\n{harness._tail(workdir / 'gunicorn.log', 15)}",
              flush=True)
    return run


def _wrk(url: str, seconds: int, target: str, data: Path, args: argparse.Namespace) -> tuple[dict, float]:
    """One wrk run: its BENCH_RESULT and the CPU seconds wrk itself used."""
    command = [
        "wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency",
        "--timeout", "10s", "-s", str(LUA), url, "--", target, str(data), str(args.wrk_threads),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(lines[0].removeprefix("BENCH_RESULT ")), used


def _decisions(app) -> int:
    from webapp.extensions import db
    from webapp.models import CheckpointDecision

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(CheckpointDecision))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _wait_until_quiet(access_log: Path, quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Wait until gunicorn has logged nothing for ``quiet`` seconds (each line is flushed)."""
    deadline = time.monotonic() + timeout
    size, since = _size(access_log), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise SystemExit(f"the server was still answering {timeout:.0f} s after the load stopped")
        time.sleep(0.1)
        if (now := _size(access_log)) != size:
            size, since = now, time.monotonic()


def _access_lines(access_log: Path, start: int, end: int | None = None) -> list[tuple[int, str, int]]:
    """(status, path, microseconds) of the requests logged from byte ``start`` to ``end`` (whole lines)."""
    with access_log.open("rb") as log:
        log.seek(start)
        text = log.read() if end is None else log.read(end - start)
    rows = []
    for line in text[:text.rfind(b"\n") + 1].decode().splitlines():  # a line being written waits
        status, _, path, micros = line.split()
        rows.append((int(status), path, int(micros)))
    return rows


def _percentile(ordered: list[int], percent: float) -> float:
    """Nearest-rank percentile of a sorted list (0 when empty)."""
    if not ordered:
        return 0.0
    return float(ordered[max(0, math.ceil(len(ordered) * percent / 100) - 1)])


# -- output ----------------------------------------------------------------------------------------


def _print_run(run: Run) -> None:
    cpu = run.cpu
    line = (f"  rep {run.repetition} {run.mode:<8} {run.rate:7.0f}/s  p50 {run.p50_ms:6.1f} ms  "
            f"p99 {run.p99_ms:6.1f} ms  server p50 {run.server_p50_ms:5.1f} p99 {run.server_p99_ms:5.1f} ms  "
            f"non-2xx {run.non_2xx}  socket errors {run.socket_errors}  cores: web {cpu['web']:.2f} "
            f"wrk {cpu['wrk']:.2f} broker {cpu['broker']:.2f}" + (f" db {cpu['db']:.2f}" if cpu.get("db") else "")
            + f" others {cpu['others']:.2f}")
    if run.mode == "scan":
        line += (f"\n           outbox backlog at end of load {run.backlog}, drained in {run.drain_s:.2f} s; "
                 f"topic +{run.delivered} for {run.stored} decisions stored, {run.served_accepted} x 202 sent "
                 f"by the server, {run.wrk_accepted} seen by wrk (warm-up included): "
                 + ("ok" if _delivered_all(run) else "MISMATCH"))
    print(line, flush=True)


def _delivered_all(run: Run) -> bool:
    """One message per decision stored and per 202 the server sent, and every 202 wrk saw among them."""
    return run.delivered == run.stored == run.served_accepted >= run.wrk_accepted


def _summary(runs: list[Run], args: argparse.Namespace) -> int:
    print()
    print(f"checkpoint scans: {args.repetitions} x {args.duration} s per route, {os.cpu_count()} cores, "
          f"gunicorn {args.workers} x {args.worker_class}"
          + (f" ({args.threads} threads)" if args.worker_class == "gthread" else "")
          + f", wrk -t{args.wrk_threads} -c{args.connections}, {args.stations} stations at {args.places} "
          f"checkpoints, {args.declarations} QR codes, {args.database}, {date.today()}")
    print(f"{'run':<22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'srv p50':>8} {'srv p99':>8} "
          f"{'non-2xx':>8} {'web cores':>10} {'web ms/req':>11} {'others':>7}")
    medians: dict[str, dict[str, float]] = {}
    for mode in MODES:
        mine = [run for run in runs if run.mode == mode]
        m = medians[mode] = {name: statistics.median(getattr(run, name) for run in mine)
                             for name in ("rate", "p50_ms", "p99_ms", "server_p50_ms", "server_p99_ms")}
        web = statistics.median(run.cpu["web"] for run in mine)
        label = f"ceiling {args.ceiling_path}" if mode == "ceiling" else mode
        print(f"{label:<22} {m['rate']:7.0f} {m['p50_ms']:7.1f} {m['p99_ms']:7.1f} {m['server_p50_ms']:8.1f} "
              f"{m['server_p99_ms']:8.1f} {sum(r.non_2xx for r in mine):8d} {web:10.2f} "
              f"{1000 * web / m['rate']:11.2f} {statistics.median(r.cpu['others'] for r in mine):7.2f}")
    scans = [run for run in runs if run.mode == "scan"]
    print(f"{'scan outbox':<22} backlog at end of load {statistics.median(r.backlog for r in scans):.0f} events,"
          f" drained {statistics.median(r.drain_s for r in scans):.2f} s after the load stopped")
    for mode in ROUTES:
        rate = medians[mode]["rate"] / medians["ceiling"]["rate"]
        p99 = medians[mode]["p99_ms"] / medians["ceiling"]["p99_ms"]
        print(f"{'ratio ' + mode + '/ceiling':<22} {rate:7.2f} {'':>7} {p99:7.2f}")
    scan = medians["scan"]
    print(f"{'budget':<22} {'':>7} {'':>7} {BUDGET_P99_MS:7.1f} {'':>8} {BUDGET_P99_MS:8.1f}   "
          f"(scan, server time)")
    verdict = "met" if scan["server_p99_ms"] < BUDGET_P99_MS else "MISSED"
    print(f"verdict: server time p99 {scan['server_p99_ms']:.1f} ms ({verdict}); what a station waits, p99 "
          f"{scan['p99_ms']:.1f} ms (" + ("met" if scan["p99_ms"] < BUDGET_P99_MS else "missed") + ")")
    print("medians. wrk's latency is closed loop: at saturation it is about connections / rate, queueing in"
          " the listen backlog included; srv = gunicorn's access log, from the parsed request to the response"
          " written. wrk and the broker share the cores with the server; 'others' is CPU of processes not"
          " ours (a shared machine). web ms/req: CPU of the gunicorn processes per 2xx.")
    failed = 0
    refused = [run for run in runs if run.mode in ROUTES and (run.non_2xx or run.socket_errors)]
    if refused:
        print(f"FAILED: {len(refused)} lookup/scan run(s) had non-2xx answers or socket errors: "
              + "; ".join(f"rep {r.repetition} {r.mode} {r.statuses} socket errors {r.socket_errors}"
                          for r in refused))
        failed = 1
    mismatched = [run for run in runs if run.mode == "scan" and not _delivered_all(run)]
    if mismatched:
        print(f"DELIVERY MISMATCH in {len(mismatched)} scan run(s): "
              "the topic did not gain one message per decision stored and per 202")
        failed = 1
    return failed


# -- profile ---------------------------------------------------------------------------------------


SCAN_FOCUS = (  # (file, function): cumulative time, nested calls included
    ("flask/app.py", "wsgi_app"),
    ("flask/app.py", "full_dispatch_request"),
    ("webapp/roles.py", "_authorize"),
    ("webapp/roles.py", "_station"),
    ("webapp/checkpoint/api.py", "checkpoint_scan"),
    ("webapp/stations.py", "place_for"),
    ("webapp/stations.py", "resolve"),
    ("ingest/qrtoken.py", "verify"),
    ("webapp/stations.py", "_latest"),
    ("webapp/stations.py", "record"),
    ("ingest/scans.py", "parse_scan"),
    ("webapp/outbox.py", "add"),
    ("sqlalchemy/orm/session.py", "commit"),
    ("sqlalchemy/orm/session.py", "flush"),
    ("'commit' of 'sqlite3.Connection'", ""),
    ("'execute' of 'sqlite3.Cursor'", ""),
    ("webapp/stations.py", "as_json"),
    ("sqlalchemy/orm/scoping.py", "remove"),
)


def _profile(app, stations: list[tuple[str, str]], qr_tokens: list[str], args: argparse.Namespace,
             broker) -> int:
    """Where the time of one scan goes: the request in one process, then the relay publishing it."""
    import cProfile
    import pstats

    from webapp.outbox import relay_pending
    from webapp.resources import get_publisher

    client = app.test_client()
    count = args.profile
    serial = iter(range(10**9))

    def post(route: str = "scan") -> None:
        n = next(serial)
        token, place = stations[n % len(stations)]
        body = {"place_code": place, "qr_token": qr_tokens[n % len(qr_tokens)]}
        if route == "scan":
            body["action"] = "pass"
        response = client.post(ROUTES[route], json=body, headers={"Authorization": f"Bearer {token}"})
        if response.status_code != (202 if route == "scan" else 200):
            raise SystemExit(f"{route} {response.status_code}: {response.get_data(as_text=True)}")

    with app.app_context():
        publisher = get_publisher()
        relay_pending(publisher)  # connect the producer outside the measurements
        while relay_pending(publisher):
            pass  # the declarations made to prepare
    before = harness._topic_size(broker.bootstrap, SCANS)
    for _ in range(200):
        post()  # warm: imports, statement caches
    print(f"\n== Flask test client in one process (no HTTP server, no relay), {args.database}, "
          f"{count} requests each ==")
    for route in ("lookup", "scan"):
        wall, cpu = harness._timed(lambda: [post(route) for _ in range(count)])
        print(f"{route:<6}: {1000 * wall / count:.2f} ms wall, {1000 * cpu / count:.2f} ms CPU per request "
              "without the profiler")
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [post() for _ in range(count)])
    print(f"\n== scan, profiled ({count} requests) ==")
    harness._print_profile(profiler, count, SCAN_FOCUS)
    print("\ntop functions by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)

    with app.app_context():
        staged = harness._pending(app)
        wall, cpu = harness._timed(lambda: [relay_pending(publisher) for _ in range(staged // 500 + 1)])
    published = harness._topic_size(broker.bootstrap, SCANS) - before
    print(f"== outbox relay: {staged} scan events in rounds of 500 (no profiler) ==")
    print(f"{1000 * wall / staged:.3f} ms wall, {1000 * cpu / staged:.3f} ms CPU per event "
          "(CPU of the whole process: the producer's I/O thread included)")
    expected = 200 + 2 * count
    print(f"topic +{published} for {expected} scans: " + ("ok" if published == expected else "MISMATCH"))
    return 0 if published == expected else 1


if __name__ == "__main__":
    sys.exit(main())
