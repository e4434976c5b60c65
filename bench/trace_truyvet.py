"""truyvet's own trace, the engine under test, with its fetch and its warehouse queries timed.

``truyvet_trace`` runs ``tracing.forward.trace`` with the fetch ``warehouse.traces.trace_case``
uses, through ``TimedClient``, which times every query and counts the rows it returns; a fetch the
warehouse refuses (too much to read, memory) is recorded as refused, not raised.
"""
from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any

from trace_common import WINDOW, Trace, code_name


class TimedClient:
    """A warehouse client that times every ``query`` and counts the rows it returns."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.seconds = 0.0
        self.queries = 0
        self.rows = 0

    def query(self, query: str, parameters: dict | None = None, **options: Any) -> Any:
        began = time.perf_counter()
        try:
            result = self._client.query(query, parameters=parameters, **options)
        finally:
            self.seconds += time.perf_counter() - began
            self.queries += 1
        self.rows += len(result.result_rows)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def truyvet_trace(client: Any, case: str, since: datetime, depth: int) -> Trace:
    """``warehouse.traces.trace_case``, with its fetch and its queries timed."""
    from tracing.forward import trace
    from tracing.rules import DEFAULT_TRACE_RULES as rules
    from warehouse.errors import TooMuchToRead, WarehouseError
    from warehouse.traces import rows_of

    timed = TimedClient(client)
    result = Trace("truyvet", depth, case, since)

    def fetch(citizens, fetch_since, fetch_until):  # what trace_fetch(client, rules) returns, timed
        began = time.perf_counter()
        try:
            return rows_of(timed, citizens, fetch_since, fetch_until, rules)
        finally:
            result.fetch_ms += 1000 * (time.perf_counter() - began)

    began = time.perf_counter()
    try:
        graph = trace(case, since, depth, rules, fetch, until=since + WINDOW)
        result.tiers = dict(sorted(Counter(tier for _, tier in graph.nodes(data="tier") if tier).items()))
    except TooMuchToRead as refused:
        result.refused = f"TooMuchToRead ({refused})"
    except WarehouseError as failed:  # e.g. MEMORY_LIMIT_EXCEEDED (241): an answer not given
        result.refused = f"{code_name(failed.code)} ({str(failed).split('DB::Exception: ')[-1][:100]})"
    result.ms = 1000 * (time.perf_counter() - began)
    result.query_ms, result.queries, result.rows_read = 1000 * timed.seconds, timed.queries, timed.rows
    return result
