"""Errors raised by the trace engine; :class:`TracingError` is the base of them all."""
from __future__ import annotations


class TracingError(Exception):
    """Base class for trace-engine errors."""


class TraceRulesError(TracingError, ValueError):
    """A trace rule set or rules file that cannot be used; the message names the set and field."""


class UnknownRuleSet(TraceRulesError, LookupError):
    """A trace asked for a rule set by a name no loaded rule set has."""


class InvalidTrace(TracingError, ValueError):
    """A trace that cannot be asked: a naive time, an empty window, a negative depth."""


class InvalidRow(TracingError, ValueError):
    """A row that cannot be an exposure: naive times, last before first, one person twice."""
