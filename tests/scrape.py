"""Test helpers for metrics: read a value out of Prometheus's text format, sign in as ops."""
from __future__ import annotations

import re
import time
from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families

OPS_PASSWORD = "mat-khau-van-hanh-2026"


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly these labels; 0 when it is not there (a counter not moved yet)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include these."""
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def series(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of every sample ``name``."""
    return [sample.labels for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == name]


def signed_in_ops(url: str, username: str, password: str = OPS_PASSWORD) -> requests.Session:
    """A requests session signed in through the page as an ops account (password only)."""
    session = requests.Session()
    page = session.get(f"{url}/dang-nhap", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = session.post(f"{url}/dang-nhap", data={"username": username, "password": password,
                                                   "csrf_token": token}, timeout=10)
    assert answer.ok and "/dang-nhap" not in answer.url, answer.text
    return session


def poll(read: Callable[[], str], done: Callable[[str], bool], timeout: float = 60) -> str:
    """Read until ``done`` holds of what was read; the last reading either way."""
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        if done(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.5)
