"""What /healthz answers: the parts' states, probed in the background and read from memory.

A probe per request would put a Kafka admin connection behind every load balancer check; here
a thread probes every few seconds and the endpoint answers from the last result. A publish that
fails or succeeds updates the Kafka state at once (:meth:`HealthMonitor.report`).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"
STARTING = "starting"
PROBE_INTERVAL_SECONDS = 2.0


class HealthMonitor:
    """Runs named probes on a daemon thread; each probe returns a value or raises."""

    def __init__(self, probes: dict[str, Callable[[], object]],
                 interval: float = PROBE_INTERVAL_SECONDS) -> None:
        self._probes = probes
        self._interval = interval
        self._states = {name: STARTING for name in probes}
        self._values: dict[str, object] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start probing (again after a fork, which keeps no threads); cheap when running."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="health-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end; it does after the probe under way (not joined: a probe of an
        unreachable broker can take seconds, and there is nothing to flush)."""
        with self._lock:
            self._stop.set()

    def states(self) -> dict[str, str]:
        """Each part's state, ``ok`` or ``unavailable``; probed here if never probed yet."""
        with self._lock:
            states = dict(self._states)
        if STARTING in states.values():
            self.probe_now()
            with self._lock:
                states = dict(self._states)
        return states

    def value(self, name: str) -> object | None:
        """What the probe last returned (e.g. the outbox backlog), None until it succeeded."""
        with self._lock:
            return self._values.get(name)

    def report(self, name: str, healthy: bool) -> None:
        """Record what a real operation just learnt about a part, ahead of the next probe."""
        with self._lock:
            self._states[name] = OK if healthy else UNAVAILABLE

    def probe_now(self) -> None:
        for name, probe in self._probes.items():
            try:
                value = probe()
            except Exception as exc:  # a probe reports every failure instead of raising it
                if not self._stop.is_set():  # a stopped app's parts are closed: not news
                    log.warning("health probe %s failed: %s", name, exc)
                self.report(name, False)
            else:
                with self._lock:
                    self._states[name] = OK
                    self._values[name] = value

    def _run(self) -> None:
        while not self._stop.is_set():
            self.probe_now()
            self._stop.wait(self._interval)
