"""The registry table: the citizens topic materialised in a Faust table.

Keyed by citizen id and co-partitioned with the scans and declarations topics (same key, same
partition count), so the worker that verifies a partition's events holds exactly the registry
entries they need. Faust keeps the table's changelog topic and rebuilds the table from it
after a restart, before any agent runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import AgentT, StreamT

from streams import metrics, topics
from streams.agents.deadletter import DeadLetters
from streams.errors import UndecodableEvent
from streams.gapless import Gapless
from streams.logic import decode_event
from streams.records import CitizenRecord, DeadLetter
from streams.verification import registry_entry

TABLE_NAME = "registry"
AGENT_NAME = "truyvet.registry"


@dataclass
class Registry:
    table: faust.Table
    agent: AgentT


def register(app: faust.App, dead_letters: DeadLetters) -> Registry:
    """Add the registry table, and the agent that keeps it, to ``app``."""
    table = app.Table(TABLE_NAME, default=None, partitions=topics.PARTITIONS, key_type=str)
    citizens = app.topic(topics.CITIZENS, key_serializer="raw", value_serializer="raw")
    gapless = Gapless.of(app, topics.CITIZENS, AGENT_NAME)
    written = metrics.stream_events.labels(metrics.agent_label(AGENT_NAME), metrics.OUT)

    @app.agent(citizens, name=AGENT_NAME)
    async def materialise(stream: StreamT) -> None:
        # One event at a time: a table write goes to the changelog partition of the event
        # being processed, which is the partition its key belongs to (for an offset read back by
        # Gapless, that of the event that revealed the hole: the same partition).
        async for event in gapless.events(stream):
            try:
                record = decode_event(event.value, CitizenRecord)
            except UndecodableEvent as exc:
                await dead_letters.send(event, DeadLetter.UNDECODABLE, str(exc))
                continue
            table[record.citizen_id] = registry_entry(record)
            written.inc()

    return Registry(table, materialise)
