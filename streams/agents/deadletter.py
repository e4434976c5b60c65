"""The dead-letter topic, as every agent uses it: an event it cannot take, never dropped silently."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import faust
from faust.types import TopicT

from streams import metrics, topics
from streams.gapless import Taken
from streams.records import DeadLetter, new_event_id

log = logging.getLogger(__name__)

PAYLOAD_LIMIT = 10_000


@dataclass
class DeadLetters:
    """Sends an agent's refused events, with where they came from and why, to the dead-letter topic."""

    topic: TopicT

    @classmethod
    def of(cls, app: faust.App) -> "DeadLetters":
        return cls(app.topic(topics.DEADLETTER, value_type=DeadLetter))

    async def send(self, event: Taken, reason: str, error: str) -> None:
        message = event.message
        log.warning("event at %s[%s]@%s refused (%s): %s",
                    message.topic, message.partition, message.offset, reason, error)
        metrics.dead_letters.labels(reason).inc()
        await self.topic.send(value=DeadLetter(
            event_id=new_event_id(),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=reason,
            error=error,
            payload=_text(event.value)[:PAYLOAD_LIMIT],
        ))


def _text(value: object) -> str:
    """The payload as text: raw bytes as received, or a record re-serialised."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, faust.Record):
        return value.dumps().decode()
    return str(value or "")
