"""The stream worker's Prometheus metrics: every one the agents move, defined in this one place.

``truyvet run`` hosts the worker in the web process, so its ``/metrics`` shows these beside the
web app's; a worker on its own (``truyvet worker``) serves them with :func:`start_exporter`.
Labels never hold personal data: agents, reasons, tables, topics, partitions and place codes.

Agent labels are the Faust agent names without the ``truyvet.`` prefix: ``registry``,
``verify_scans``, ``verify_declarations``, ``colocate``, ``sink_scans``, ``sink_contacts``,
``sink_rejections``, ``trace_cases``, ``route_alerts``, ``sink_exposure_alerts``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import faust
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app

log = logging.getLogger(__name__)

# How often the worker measures its consumer lag.
LAG_REFRESH_SECONDS = 5.0
IN, OUT = "in", "out"

stream_events = Counter(
    "truyvet_stream_events", "Events an agent took from its topic (in) and sent on or stored (out)",
    ["agent", "direction"])
stream_rejections = Counter(
    "truyvet_stream_rejections", "Scans and declarations whose identity cannot be true, by reason code",
    ["agent", "reason"])
dead_letters = Counter("truyvet_dead_letters", "Events sent to the dead-letter topic, by reason code", ["reason"])
late_events = Counter(
    "truyvet_late_events", "Events the consumer skipped and the agent read back from the broker, late", ["agent"])
duplicates_dropped = Counter(
    "truyvet_duplicates_dropped", "Redelivered events (or copies in one batch) an agent dropped", ["agent"])
sink_batch_rows = Histogram(
    "truyvet_sink_batch_rows", "Rows a sink stored in one batch", ["table"],
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000))
sink_batch_seconds = Histogram(
    "truyvet_sink_batch_seconds", "Time to store one batch, retries included", ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
consumer_lag = Gauge(
    "truyvet_consumer_lag", "Messages on the broker this worker's consumer group has not committed yet",
    ["topic", "partition"], multiprocess_mode="livemax")
place_scans = Counter("truyvet_place_scans", "Verified scans, by place code", ["place"])
exposure_alerts = Counter(
    "truyvet_exposure_alerts", "Exposure alerts published to a ward, by whether the registry knew where the "
    "contact lives", ["ward"])


def agent_label(name: str) -> str:
    """The agent label of a Faust agent name.

    >>> agent_label("truyvet.verify_scans")
    'verify_scans'
    """
    return name.removeprefix("truyvet.")


class LagWatch:
    """Keeps ``truyvet_consumer_lag`` current for the partitions a worker is assigned.

    Lag is the partition's end offset minus the group's committed offset (the consumer's
    position while nothing is committed yet): what the worker still owes its topics.
    """

    def __init__(self, app: faust.App, topics: Callable[[], Iterable[str]]) -> None:
        self._app = app
        self._topics = topics
        self._shown: set[tuple[str, str]] = set()

    @classmethod
    def of(cls, app: faust.App, topics: Callable[[], Iterable[str]]) -> "LagWatch":
        """A lag watch of ``app``'s ``topics()``, refreshed by a timer of the app."""
        watch = cls(app, topics)
        app.timer(LAG_REFRESH_SECONDS, name="truyvet.consumer_lag")(watch.refresh_safely)
        return watch

    async def refresh(self) -> dict[tuple[str, int], int]:
        """Measure the lag of every assigned partition of the topics; return it by (topic, partition)."""
        app = self._app
        if app.rebalancing:
            return {}
        consumer = app.consumer
        wanted = set(self._topics())
        assigned = [tp for tp in consumer.assignment() if tp.topic in wanted]
        lags: dict[tuple[str, int], int] = {}
        if assigned:
            ends = await consumer.highwaters(*assigned)
            for tp in assigned:
                end = ends.get(tp)
                done = consumer._committed_offset.get(tp)  # Faust's own record of its last commit
                if done is None:
                    done = await consumer.position(tp)
                if end is not None and done is not None:
                    lags[tp.topic, tp.partition] = max(end - done, 0)
        shown = {(topic, str(partition)) for topic, partition in lags}
        for topic, partition in self._shown - shown:  # partitions given to another worker
            consumer_lag.remove(topic, partition)
        for (topic, partition), lag in lags.items():
            consumer_lag.labels(topic, str(partition)).set(lag)
        self._shown = shown
        return lags

    async def refresh_safely(self) -> None:
        """The timer's round: a failed measurement is logged, and the next round measures again."""
        try:
            await self.refresh()
        except Exception as exc:  # a monitoring timer must outlive a broker hiccup or a rebalance
            log.warning("consumer lag not measured: %r", exc)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        """Scrapes every few seconds would flood the worker's log."""


def start_exporter(port: int, token: str = "", addr: str = "0.0.0.0") -> WSGIServer:
    """Serve this process's metrics on ``addr:port`` at any path, in a daemon thread.

    For ``truyvet worker``, whose Faust web server is off. With ``token`` (the web app's
    ``TRUYVET_METRICS_TOKEN``), a scraper must send ``Authorization: Bearer <token>``; the
    server is returned so that its caller may ``shutdown()`` it.
    """
    metrics_app = make_wsgi_app(REGISTRY)

    def guarded(environ, start_response):
        if token and not same_token(_bearer(environ.get("HTTP_AUTHORIZATION", "")), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                ("WWW-Authenticate", "Bearer")])
            return [b"send the metrics token as a bearer token\n"]
        return metrics_app(environ, start_response)

    server = make_server(addr, port, guarded, _ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    log.info("metrics served on http://%s:%d/metrics", addr, server.server_port)
    return server


def same_token(given: str, expected: str) -> bool:
    """Whether ``given`` is the ``expected`` token, in time independent of where they differ.

    Both are hashed first, so the comparison does not even reveal the token's length.

    >>> same_token("s3cret-token", "s3cret-token"), same_token("s3cret-tokem", "s3cret-token")
    (True, False)
    >>> same_token("", "")
    False
    """
    if not given or not expected:
        return False
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest())


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
