"""gunicorn's settings for the web processes: ``gunicorn -c python:webapp.gunicorn_conf 'webapp:create_app()'``.

Only what metrics need under several worker processes (:mod:`webapp.metrics`): with
``PROMETHEUS_MULTIPROC_DIR`` set, the master empties that directory as it starts (values of an
earlier run would be added to this one's), and retires each dead worker's live gauges, so
``/metrics`` adds up the workers that serve now. Everything else stays on the command line.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server) -> None:
    """The master, before it forks any worker: a fresh, empty metrics directory."""
    directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    if directory:
        path = Path(directory)
        if path.is_dir():
            for entry in path.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        path.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    """The master, once a worker has exited: its live gauges no longer count."""
    if os.environ.get(MULTIPROCESS_DIRECTORY):
        multiprocess.mark_process_dead(worker.pid)
