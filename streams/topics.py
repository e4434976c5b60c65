"""Kafka topic names and their layout: the one place that names topics."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


CITIZENS = "truyvet.citizens.v1"
DECLARATIONS = "truyvet.declarations.v1"
SCANS = "truyvet.scans.v1"
DEADLETTER = "truyvet.deadletter.v1"

TOPICS = (
    TopicSpec(CITIZENS, partitions=6, compacted=True),
    TopicSpec(DECLARATIONS, partitions=6),
    TopicSpec(SCANS, partitions=6),
    TopicSpec(DEADLETTER, partitions=1),
)


def ensure_topics(bootstrap: str | list[str], replication: int = 1) -> list[str]:
    """Create any missing topic; return the names created. Safe to call on every start."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication,
                topic_configs={"cleanup.policy": "compact"} if spec.compacted else {},
            )
            for spec in TOPICS
            if spec.name not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create
        return [topic.name for topic in missing]
    finally:
        admin.close()
