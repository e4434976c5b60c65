"""Kafka topic names and their layout: the one place that names topics."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compacted: bool = False


# Every keyed topic has this many partitions: verify and co-locate run in at most as many
# worker processes, and a table's changelog partition follows its source topic's.
PARTITIONS = 6

CITIZENS = "truyvet.citizens.v1"
DECLARATIONS = "truyvet.declarations.v1"
SCANS = "truyvet.scans.v1"
VERIFIED_SCANS = "truyvet.verified-scans.v1"
CONTACTS = "truyvet.contacts.v1"
REJECTIONS = "truyvet.rejections.v1"
DEADLETTER = "truyvet.deadletter.v1"
# Cases and their exposure alerts (streams/agents/alerts.py).
CASES = "truyvet.cases.v1"
ALERTS_TO_ROUTE = "truyvet.alerts-to-route.v1"
EXPOSURE_ALERTS = "truyvet.exposure-alerts.v1"
# Changelogs of the alerts agents' Faust tables, named as Faust names them ("<app id>-<table
# name>-changelog"). Created ahead with the topics above: one Faust creates while a worker starts
# can be missing from the consumer's metadata for minutes, and the first write to its table fails.
OPEN_CASES_CHANGELOG = "truyvet-open-cases-changelog"
ALERTED_CHANGELOG = "truyvet-alerted-changelog"

TOPICS = (
    TopicSpec(CITIZENS, partitions=PARTITIONS, compacted=True),
    TopicSpec(DECLARATIONS, partitions=PARTITIONS),
    TopicSpec(SCANS, partitions=PARTITIONS),
    # Verify and co-locate scale by partitions: the citizen-keyed topics above share one count
    # (a worker holds the registry entries of the scans it verifies), and the place-keyed topic
    # holds everything a place's co-location state needs.
    TopicSpec(VERIFIED_SCANS, partitions=PARTITIONS),
    TopicSpec(CONTACTS, partitions=PARTITIONS),
    TopicSpec(REJECTIONS, partitions=PARTITIONS),
    TopicSpec(DEADLETTER, partitions=1),
    # Keyed by the case's citizen id; the open-cases table is kept on the same partitions.
    TopicSpec(CASES, partitions=PARTITIONS),
    # Keyed by the contact's citizen id, with the citizens topic's partition count: the worker
    # routing a partition's alerts holds those people's registry entries (their ward).
    TopicSpec(ALERTS_TO_ROUTE, partitions=PARTITIONS),
    # Keyed by the ward code of the contact's residence ("0": the registry does not know them).
    TopicSpec(EXPOSURE_ALERTS, partitions=PARTITIONS),
    TopicSpec(OPEN_CASES_CHANGELOG, partitions=PARTITIONS, compacted=True),
    TopicSpec(ALERTED_CHANGELOG, partitions=PARTITIONS, compacted=True),
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
