"""Benchmark: declaration POST through the real web stack into Kafka, beside the same stack without Kafka.

Budget (DESIGN.md): >= 1,500 declarations/s, p99 < 50 ms on one 2-core machine. Speed is
printed, never asserted. Each repetition runs two configurations of the same stack:

- **kafka**: gunicorn serving ``webapp:create_app()``, every declaration stored with its outbox
  event, the relay thread of each worker publishing to a dedicated local Kafka broker;
- **ceiling**: the same with ``TRUYVET_OUTBOX_RELAY=off``: declarations and outbox rows are stored, nothing
  goes to Kafka. It is the baseline the kafka run is compared with.

Load comes from ``wrk`` with ``bench/declarations.lua`` (a unique, valid declaration per request),
closed loop, loopback, sharing the machine's cores with the server. After every kafka run the
script waits for the outbox to drain and checks that the topic grew by exactly one message per
declaration stored (every 201 wrk saw, plus the few answered after wrk stopped counting).

    .venv/bin/python bench/declarations.py                 # SQLite (the default database)
    .venv/bin/python bench/declarations.py --postgres      # a throwaway PostgreSQL cluster (Debian's)
    .venv/bin/python bench/declarations.py --database-url postgresql+psycopg://u:p@127.0.0.1/db
    .venv/bin/python bench/declarations.py --profile 2000  # where a request's time goes (cProfile)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from streams.topics import DECLARATIONS

REPO = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_suffix(".lua")
GUNICORN = Path(sys.executable).with_name("gunicorn")
BUDGET_RATE = 1500
BUDGET_P99_MS = 50.0
# A fixed test key (32 zero bytes): tokens issued by a benchmark verify nowhere that matters.
SIGNING_KEY = "bench:" + "A" * 43
MODES = ("ceiling", "kafka")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    mode: str
    repetition: int
    rate: float  # 2xx responses per second
    p50_ms: float
    p99_ms: float
    requests: int
    created: int  # 201 responses
    non_2xx: int
    socket_errors: int
    backlog: int | None = None  # outbox rows not yet in Kafka when the load stopped
    drain_s: float | None = None
    stored: int | None = None  # declarations the database gained (201s plus those in flight at the end)
    delivered: int | None = None  # messages the topic gained
    rounds: int | None = None  # relay rounds (claims) that published the run's events
    attempts: int | None = None  # claims of the run's events, retries included
    # cores used during the load: web, wrk, broker, db (a server we started), machine (all of it),
    # others (machine minus ours: other tenants of a shared machine)
    cpu: dict[str, float] | None = None


def main() -> int:
    args = _arguments()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="truyvet-bench-"))
    env = {
        "TRUYVET_DATA_DIR": str(workdir / "data"),
        "TRUYVET_KAFKA_BOOTSTRAP": f"127.0.0.1:{args.kafka_port}",
        "TRUYVET_SECRET_KEY": "bench-secret-key",
        "TRUYVET_QR_SIGNING_KEYS": SIGNING_KEY,
    }
    os.environ.update(env)  # the app this process builds (tables, outbox count) reads the same settings
    from truyvet.broker import LocalBroker
    from truyvet.localpg import LocalPostgres

    broker = LocalBroker(home=workdir / "kafka", port=args.kafka_port)
    postgres = None
    args.database_pid = None  # a local database server whose CPU is counted, if we started one
    try:
        if args.postgres:
            postgres = LocalPostgres(args.postgres_port)
            args.database_url = postgres.start()
            args.database_pid = postgres.pid
            print(f"started a throwaway PostgreSQL {postgres.version} on port {args.postgres_port}", flush=True)
        if args.profile:
            return _profile(args, workdir)
        print(f"starting a dedicated Kafka broker on {broker.bootstrap} in {broker.home}", flush=True)
        broker.start()
        from streams.topics import ensure_topics

        ensure_topics([broker.bootstrap])
        runs = []
        for repetition in range(1, args.repeats + 1):
            for mode in MODES:
                run = _run_once(mode, repetition, len(runs), args, workdir, broker)
                runs.append(run)
                _print_run(run)
        return _summary(runs, args)
    finally:
        broker.stop()
        if postgres:
            postgres.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of (ceiling, kafka) [3]")
    parser.add_argument("--duration", type=int, default=12, help="seconds of measured load per run [12]")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring [3]")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections [16]")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads [1]")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes [3]")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class [sync]")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker [1]")
    parser.add_argument("--access-log", action="store_true",
                        help="write gunicorn's access log to a file, as the compose web service logs to stdout")
    parser.add_argument("--database-url", help="SQLAlchemy URL; default: a fresh SQLite file per run. "
                        "Its tables are dropped and re-created before every run")
    parser.add_argument("--postgres", action="store_true",
                        help="start a throwaway PostgreSQL cluster (initdb, pg_ctl; Debian's postgresql package) "
                        "and use it as the database")
    parser.add_argument("--postgres-port", type=int, default=28432, help="its port [28432]")
    parser.add_argument("--kafka-port", type=int, default=28092, help="the dedicated broker's port [28092]")
    parser.add_argument("--web-port", type=int, default=28180, help="gunicorn's port [28180]")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the outbox")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="instead: cProfile N declarations in one process (Flask test client), "
                        "then the relay publishing them to Kafka")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    return parser.parse_args()


# -- one run ---------------------------------------------------------------------------------------


def _run_once(mode: str, repetition: int, index: int, args: argparse.Namespace, workdir: Path,
              broker) -> Run:
    database_url = args.database_url or f"sqlite:///{workdir / f'run{index}-{mode}.db'}"
    bench_app = _bench_app(database_url)
    _reset_tables(bench_app)
    relay = mode == "kafka"
    spec = "webapp:create_app()"
    command = [
        str(GUNICORN), "--workers", str(args.workers), "--worker-class", args.worker_class,
        "--threads", str(args.threads), "--bind", f"127.0.0.1:{args.web_port}",
        "--log-level", "warning", "--error-logfile", str(workdir / "gunicorn.log"),
    ]
    if args.access_log:
        command += ["--access-logfile", str(workdir / "access.log")]
    server = subprocess.Popen(
        command + [spec], cwd=REPO, env=os.environ | {
            "TRUYVET_DATABASE_URL": database_url, "TRUYVET_RATE_LIMITS": "off",
            "TRUYVET_OUTBOX_RELAY": "on" if relay else "off"},
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{args.web_port}"
    base = (index + 1) * 10_000_000
    try:
        _wait_for_port(args.web_port, server, workdir / "gunicorn.log")
        _wrk(url, args.warmup, args, base)  # each worker: imports, ward tables, producer connection
        if relay:
            _wait_for_drain(bench_app, args.drain_timeout)
        offsets_before = _topic_size(broker.bootstrap) if relay else 0
        stored_before = _stored(bench_app)
        last_event = _last_outbox_id(bench_app)
        groups = {"web": server.pid, "broker": broker.status().pid, "db": args.database_pid}
        cpu_before, busy_before = _cpu(groups), _machine_busy()
        result, wrk_cpu = _wrk(url, args.duration, args, base + 5_000_000)
        cpu = _cores(cpu_before, _cpu(groups), busy_before, _machine_busy(), result["duration_us"] / 1e6)
        cpu["wrk"] = wrk_cpu / (result["duration_us"] / 1e6)
        cpu["others"] = max(0.0, cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine"))
        statuses = {int(code): count for code, count in result["statuses"].items()}
        run = Run(
            mode=mode, repetition=repetition,
            rate=sum(c for s, c in statuses.items() if 200 <= s < 300) / (result["duration_us"] / 1e6),
            p50_ms=result["p50_us"] / 1000, p99_ms=result["p99_us"] / 1000,
            requests=result["requests"], created=statuses.get(201, 0),
            non_2xx=sum(c for s, c in statuses.items() if not 200 <= s < 300),
            socket_errors=sum(v for k, v in result["errors"].items() if k != "status"), cpu=cpu,
        )
        if relay:
            stopped = time.monotonic()
            run.backlog = _pending(bench_app)
            _wait_for_drain(bench_app, args.drain_timeout)
            run.drain_s = time.monotonic() - stopped
            run.delivered = _topic_size(broker.bootstrap) - offsets_before
            run.stored = _stored(bench_app) - stored_before
            run.rounds, run.attempts = _relay_rounds(bench_app, last_event)
        if any(code >= 500 for code in statuses):
            print(f"  server errors; see {workdir / 'gunicorn.log'} (--keep to look)", flush=True)
        return run
    finally:
        _stop(server)
        with bench_app.app_context():
            from webapp.extensions import db

            db.engine.dispose()


def _bench_app(database_url: str):
    from config import Settings
    from webapp import create_app

    return create_app(replace(Settings.from_env(), database_url=database_url, outbox_relay=False,
                              rate_limits=False))


def _reset_tables(app) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.drop_all()
        db.create_all()


def _pending(app) -> int:
    from webapp.outbox import pending_count

    with app.app_context():
        return pending_count()


def _stored(app) -> int:
    from webapp.extensions import db
    from webapp.models import Declaration

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Declaration))


def _last_outbox_id(app) -> int:
    from webapp.extensions import db
    from webapp.models import OutboxEvent

    with app.app_context():
        return db.session.scalar(db.select(db.func.coalesce(db.func.max(OutboxEvent.id), 0)))


def _relay_rounds(app, after_id: int) -> tuple[int, int]:
    """How many relay rounds (distinct claims) published the events after ``after_id``, and claims made."""
    from webapp.extensions import db
    from webapp.models import OutboxEvent

    with app.app_context():
        rounds, attempts = db.session.execute(
            db.select(db.func.count(db.distinct(OutboxEvent.claim)), db.func.sum(OutboxEvent.attempts))
            .where(OutboxEvent.id > after_id)
        ).one()
        return rounds, attempts or 0


def _wait_for_drain(app, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pending(app):
        if time.monotonic() > deadline:
            raise SystemExit(f"the outbox did not drain within {timeout:.0f}s")
        time.sleep(0.05)


def _topic_size(bootstrap: str, topic: str = DECLARATIONS) -> int:
    """Messages ever written to ``topic``: the sum of its partitions' end offsets."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=[bootstrap])
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def _wrk(url: str, seconds: int, args: argparse.Namespace, base: int) -> tuple[dict, float]:
    """One wrk run: its BENCH_RESULT and the CPU seconds wrk itself used."""
    command = [
        "wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency",
        "--timeout", "10s", "-s", str(LUA), url, "--", str(base), str(args.wrk_threads),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(lines[0].removeprefix("BENCH_RESULT ")), used


def _wait_for_port(port: int, server: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{_tail(log)}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on {port} within {timeout:.0f}s:\n{_tail(log)}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# -- CPU accounting from /proc ---------------------------------------------------------------------


def _cpu(groups: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds used so far by each process and its live descendants."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    used = {}
    for name, root in groups.items():
        total, stack = 0.0, [root] if root else []
        while stack:
            pid = stack.pop()
            total += times.get(pid, 0.0)
            stack.extend(children.get(pid, []))
        used[name] = total
    return used


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _cores(before: dict[str, float], after: dict[str, float], busy_before: tuple[float, float],
           busy_after: tuple[float, float], seconds: float) -> dict[str, float]:
    cores = {name: (after[name] - before[name]) / seconds for name in before}
    busy, total = (busy_after[0] - busy_before[0]), (busy_after[1] - busy_before[1])
    cores["machine"] = (os.cpu_count() or 1) * busy / total if total else 0.0
    return cores


# -- output ----------------------------------------------------------------------------------------


def _print_run(run: Run) -> None:
    cpu = run.cpu or {}
    line = (
        f"  rep {run.repetition} {run.mode:<8} {run.rate:8.0f}/s  p50 {run.p50_ms:6.1f} ms  "
        f"p99 {run.p99_ms:6.1f} ms  2xx {run.requests - run.non_2xx:6d}  non-2xx {run.non_2xx}"
        f"  socket errors {run.socket_errors}  cores: web {cpu.get('web', 0):.2f} wrk {cpu.get('wrk', 0):.2f}"
        f" broker {cpu.get('broker', 0):.2f}" + (f" db {cpu['db']:.2f}" if cpu.get("db") else "")
        + f" others {cpu.get('others', 0):.2f}"
    )
    if run.mode == "kafka":
        check = "ok" if _delivered_all(run) else "MISMATCH"
        line += (f"\n           outbox backlog at end of load {run.backlog}, drained in {run.drain_s:.2f} s;"
                 f" topic +{run.delivered} for {run.stored} stored, {run.created} x 201 seen by wrk"
                 f" (the rest answered after wrk stopped): {check}; {run.rounds} relay rounds,"
                 f" {run.stored / max(run.rounds, 1):.1f} events each, {run.attempts - run.stored} re-claims")
    print(line, flush=True)


def _delivered_all(run: Run) -> bool:
    """One message per stored declaration, and every 201 that wrk saw among them."""
    return run.delivered == run.stored >= run.created


def _summary(runs: list[Run], args: argparse.Namespace) -> int:
    database = (args.database_url or "sqlite").split(":", 1)[0]
    print()
    print(f"declarations: {args.repeats} x {args.duration} s per configuration, {os.cpu_count()} cores, "
          f"gunicorn {args.workers} x {args.worker_class}"
          + (f" ({args.threads} threads)" if args.worker_class == "gthread" else "")
          + f", wrk -t{args.wrk_threads} -c{args.connections}, database {database}, {date.today()}")
    print(f"{'run':<20} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
          f"{'web cores':>10} {'web ms/req':>11} {'backlog':>8} {'drain s':>8} {'others':>7}")
    medians = {}
    for mode in MODES:
        mine = [run for run in runs if run.mode == mode]
        rate = statistics.median(run.rate for run in mine)
        web = statistics.median(run.cpu["web"] for run in mine)
        medians[mode] = rate
        backlog = drain = "-"
        if mode == "kafka":
            backlog = f"{statistics.median(run.backlog for run in mine):.0f}"
            drain = f"{statistics.median(run.drain_s for run in mine):.2f}"
        label = "ceiling (no Kafka)" if mode == "ceiling" else "kafka"
        print(f"{label:<20} {rate:8.0f} {statistics.median(r.p50_ms for r in mine):8.1f} "
              f"{statistics.median(r.p99_ms for r in mine):8.1f} {sum(r.non_2xx for r in mine):8d} "
              f"{web:10.2f} {1000 * web / rate:11.2f} {backlog:>8} {drain:>8} "
              f"{statistics.median(r.cpu['others'] for r in mine):7.2f}")
    print(f"{'ratio kafka/ceiling':<20} {medians['kafka'] / medians['ceiling']:8.2f}")
    print(f"{'budget':<20} {BUDGET_RATE:>8} {'':>8} {BUDGET_P99_MS:8.1f}   (kafka run, one 2-core machine)")
    print("medians. Latency is closed-loop at saturation (wrk), so it grows with --connections. wrk, the broker"
          " (and PostgreSQL) share the cores with the server; 'others' is CPU used by processes not ours"
          " (a shared machine). web ms/req: CPU of the gunicorn processes per 2xx.")
    mismatched = [run for run in runs if run.mode == "kafka" and not _delivered_all(run)]
    if mismatched:
        print(f"DELIVERY MISMATCH in {len(mismatched)} kafka run(s): "
              "the topic did not gain one message per stored declaration")
        return 1
    return 0


# -- profile ---------------------------------------------------------------------------------------


def _profile(args: argparse.Namespace, workdir: Path) -> int:
    """Where the time of one declaration goes: the request in one process, then the relay's rounds."""
    import cProfile

    from truyvet.broker import LocalBroker

    database_url = args.database_url or f"sqlite:///{workdir / 'profile.db'}"
    database = database_url.split(":", 1)[0]
    app = _bench_app(database_url)
    _reset_tables(app)
    client = app.test_client()
    count = args.profile
    bodies = iter([_declaration(n) for n in range(200 + 2 * count + 2 * ROUNDS)])
    serial = iter(range(10**9))

    def post() -> None:
        response = client.post("/api/v1/declarations", json=next(bodies),
                               headers={"Idempotency-Key": f"bench-{next(serial):08d}"})
        if response.status_code != 201:
            raise SystemExit(f"{response.status_code}: {response.get_data(as_text=True)}")

    for _ in range(200):
        post()  # warm: imports, ward tables, statement caches
    wall, cpu = _timed(lambda: [post() for _ in range(count)])
    print(f"\n== request path, {database}, Flask test client in one process (no HTTP server, no relay) ==")
    print(f"{1000 * wall / count:.2f} ms wall, {1000 * cpu / count:.2f} ms CPU per declaration without the "
          f"profiler ({count / wall:.0f}/s on one core)")
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [post() for _ in range(count)])
    _print_profile(profiler, count, REQUEST_FOCUS)

    broker = LocalBroker(home=workdir / "kafka", port=args.kafka_port)
    broker.start()
    from streams.topics import ensure_topics
    from webapp.outbox import pending_count, relay_pending
    from webapp.resources import get_publisher

    ensure_topics([broker.bootstrap])
    with app.app_context():
        publisher = get_publisher()
        relay_pending(publisher)  # connect the producer outside the measurements
        staged = pending_count()
        wall, cpu = _timed(lambda: [relay_pending(publisher) for _ in range(staged // 500 + 1)])
        print(f"\n== outbox relay, {database}: {staged} events in rounds of 500 (no profiler) ==")
        print(f"{1000 * wall / staged:.3f} ms wall, {1000 * cpu / staged:.3f} ms CPU per event "
              "(CPU of the whole process: the producer's I/O thread included)")
        # Under load the relay is woken by every commit, so its rounds are small (see the kafka runs).
        wall = cpu = 0.0
        for _ in range(ROUNDS):
            post()
            round_wall, round_cpu = _timed(lambda: relay_pending(publisher))
            wall, cpu = wall + round_wall, cpu + round_cpu
        print(f"\n== outbox relay, {database}: {ROUNDS} rounds of one event (no profiler) ==")
        print(f"{1000 * wall / ROUNDS:.2f} ms wall, {1000 * cpu / ROUNDS:.2f} ms CPU per round")
        _, idle = _timed(lambda: time.sleep(2.0))
        print(f"idle producer: {1000 * idle / 2:.1f} ms CPU per second")
        profiler = cProfile.Profile()
        for _ in range(ROUNDS):
            post()
            profiler.runcall(relay_pending, publisher)
        print(f"\n== outbox relay, {database}: {ROUNDS} rounds of one event, profiled ==")
        _print_profile(profiler, ROUNDS, RELAY_FOCUS)
    app.close()
    return 0


ROUNDS = 500
BUCKETS = (  # own time, by the file or built-in that spent it; first match wins
    ("sqlite3 (C: execute, commit incl. fsync)", ("sqlite3",)),
    ("psycopg (incl. waiting for PostgreSQL)", ("psycopg",)),
    ("SQLAlchemy ORM/core", ("sqlalchemy",)),
    ("Ed25519 signing, base32 (cryptography, qrtoken)", ("cryptography", "qrtoken", "base64")),
    ("kafka-python producer", ("kafka/",)),
    ("waiting on locks (the broker's acknowledgement)", ("_thread.lock",)),
    ("faust record dumps", ("faust", "mode/")),
    ("JSON", ("json",)),
    ("Flask/Werkzeug/extensions", ("flask", "werkzeug", "limits", "wtforms", "itsdangerous", "babel")),
    ("truyvet validation (ingest)", ("ingest/",)),
    ("truyvet web (webapp)", ("webapp/",)),
)
REQUEST_FOCUS = (  # (file, function): cumulative time, nested calls included
    ("flask/app.py", "wsgi_app"),
    ("flask/app.py", "full_dispatch_request"),
    ("webapp/declarations.py", "submit"),
    ("ingest/declarations.py", "parse_declaration"),
    ("webapp/declarations.py", "_registry_entry"),
    ("ingest/qrtoken.py", "issue"),
    ("webapp/outbox.py", "add"),
    ("sqlalchemy/orm/session.py", "commit"),
    ("sqlalchemy/orm/session.py", "flush"),
    ("'commit' of 'sqlite3.Connection'", ""),
    ("'execute' of 'sqlite3.Cursor'", ""),
    ("webapp/declarations.py", "as_json"),
    ("sqlalchemy/orm/scoping.py", "remove"),
)
RELAY_FOCUS = (
    ("webapp/outbox.py", "relay_pending"),
    ("sqlalchemy/orm/session.py", "commit"),
    ("'commit' of 'sqlite3.Connection'", ""),
    ("ingest/producer.py", "publish_many"),
    ("kafka/producer/future.py", "get"),
)


def _timed(work) -> tuple[float, float]:
    """(wall, CPU) seconds that ``work()`` took; CPU counts every thread of this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _print_profile(profiler, count: int, focus: tuple[tuple[str, str], ...]) -> None:
    import pstats

    stats = pstats.Stats(profiler).stats
    buckets: dict[str, float] = {}
    for (filename, _, function), (_, _, own, _, _) in stats.items():
        where = f"{filename}:{function}"
        name = next((label for label, needles in BUCKETS if any(n in where for n in needles)),
                    "other (builtins, stdlib)")
        buckets[name] = buckets.get(name, 0.0) + own
    total = sum(buckets.values())
    print(f"own time by area, per item ({1000 * total / count:.3f} ms under the profiler):")
    for name, seconds in sorted(buckets.items(), key=lambda item: -item[1]):
        print(f"  {1000 * seconds / count:7.3f} ms  {100 * seconds / total:5.1f} %  {name}")
    print("cumulative time of the steps, per item (nested, so they overlap):")
    for path, function in focus:
        # max, not sum: several functions can share a name (Session.commit, SessionTransaction.commit)
        cumulative = max((row[3] for (filename, _, name), row in stats.items()
                          if filename.endswith(path) and name == function
                          or filename == "~" and not function and path in name), default=0.0)
        if not function and not cumulative:
            continue  # a built-in of the other database driver
        label = f"{path}:{function}" if function else f"built-in {path}"
        print(f"  {1000 * cumulative / count:7.3f} ms  {100 * cumulative / total:5.1f} %  {label}")


def _declaration(n: int) -> dict:
    """The same shape of declaration as declarations.lua (for the profile)."""
    year = 1940 + (n // 1_000_000) % 70
    female = n % 2 == 1
    digit = (2 if year >= 2000 else 0) + (1 if female else 0)
    body = {
        "citizen_id": f"079{digit}{year % 100:02d}{n % 1_000_000:06d}",
        "full_name": "Trần Thị Bích" if female else "Nguyễn Văn An",
        "date_of_birth": f"{year}-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
        "sex": "female" if female else "male",
        "phone": f"09{n % 100_000_000:08d}",
        "residence": {"province_code": 1, "ward_code": 70, "address": f"Số {n % 200 + 1} ngõ 3"},
        "symptoms": ["cough"] if n % 5 == 0 else [],
        "contact_with_case": False, "visited_outbreak_area": False, "vaccination_doses": n % 4,
    }
    if n % 4 == 0:
        from ingest.identity import vietnam_today

        body["trip"] = {"from_province": 79, "to_province": 1, "means": "plane",
                        "vehicle_number": "VN 213", "date": vietnam_today().isoformat()}
    return body


if __name__ == "__main__":
    sys.exit(main())
