"""The trace engine: pure functions from warehouse rows to networkx graphs, no I/O inside.

- :mod:`tracing.rules`: named, versioned trace rule sets, loaded from a strict JSON file;
- :mod:`tracing.rows`: the rows (exposures; presences from ``warehouse.presence``);
- :mod:`tracing.judging`: rows to the exposures a rule set counts, and the time-respecting filter;
- :mod:`tracing.forward`: forward tracing F0 -> Fn, a step function and a driver calling a fetch;
- :mod:`tracing.backward`: who could have infected a case;
- :mod:`tracing.clusters`, :mod:`tracing.hotspots`: an outbreak's shape and its places;
- :mod:`tracing.graph`: the attributes of the graphs these return.
"""
from tracing.backward import backward, possible_sources
from tracing.clusters import Cluster, clusters
from tracing.errors import InvalidRow, InvalidTrace, TraceRulesError, TracingError, UnknownRuleSet
from tracing.graph import tiers
from tracing.hotspots import Hotspot, hotspots
from tracing.judging import Row, counted_at, drop_short_imported, exposures_among
from tracing.rows import SOURCES, Exposure, Presence
from tracing.rules import DEFAULT_TRACE_RULES, TraceRules, TraceRuleSets, load_trace_rules
from tracing.forward import Fetch, FetchRequest, expand, fetch_period, next_fetch, start_graph, trace

__all__ = [
    "DEFAULT_TRACE_RULES", "SOURCES", "Cluster", "Exposure", "Fetch", "FetchRequest", "Hotspot",
    "InvalidRow", "InvalidTrace", "Presence", "Row", "TraceRuleSets", "TraceRules", "TraceRulesError",
    "TracingError", "UnknownRuleSet", "backward", "clusters", "counted_at", "drop_short_imported",
    "expand", "exposures_among", "fetch_period", "hotspots", "load_trace_rules", "next_fetch",
    "possible_sources", "start_graph", "tiers", "trace",
]
