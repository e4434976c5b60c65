"""Kafka topic names and their layout: the one place that names topics."""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from config import PREFIX, SettingsError
from streams.errors import StreamError

log = logging.getLogger(__name__)


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

# The Faust app's id, which is its workers' consumer group: the ops dashboard reads its lag.
CONSUMER_GROUP = "truyvet"
# What the workers read, whose lag is theirs to catch up.
CONSUMED = (CITIZENS, DECLARATIONS, SCANS, VERIFIED_SCANS, CONTACTS, REJECTIONS, CASES, ALERTS_TO_ROUTE,
            EXPOSURE_ALERTS)

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


class TopicSetupError(StreamError):
    """The cluster cannot hold the topics as configured; the message names the setting."""


@dataclass(frozen=True)
class Replication:
    """How many copies of each partition, and how many must be in sync for an ``acks=all`` write.

    One local broker holds one copy (the defaults). Production runs three brokers with
    ``factor=3, min_insync=2`` (docker-compose.yml): one broker may fail and writes go on, a
    second failure stops acknowledged writes rather than keep a single copy.
    """

    factor: int = 1
    min_insync: int = 1

    FACTOR_VARIABLE = f"{PREFIX}TOPIC_REPLICATION"
    MIN_INSYNC_VARIABLE = f"{PREFIX}TOPIC_MIN_INSYNC"

    def __post_init__(self) -> None:
        if self.factor < 1:
            raise SettingsError(f"{self.FACTOR_VARIABLE} must be at least 1, got {self.factor}")
        if not 1 <= self.min_insync <= self.factor:
            raise SettingsError(
                f"{self.MIN_INSYNC_VARIABLE} must be between 1 and {self.FACTOR_VARIABLE} "
                f"({self.factor}), got {self.min_insync}: Kafka could never acknowledge a write"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Replication":
        """Read ``TRUYVET_TOPIC_REPLICATION`` and ``TRUYVET_TOPIC_MIN_INSYNC`` (both default 1).

        >>> Replication.from_env({"TRUYVET_TOPIC_REPLICATION": "3", "TRUYVET_TOPIC_MIN_INSYNC": "2"})
        Replication(factor=3, min_insync=2)
        >>> Replication.from_env({"TRUYVET_TOPIC_REPLICATION": "three"})
        Traceback (most recent call last):
        ...
        config.SettingsError: TRUYVET_TOPIC_REPLICATION must be a whole number of at least 1, got 'three'
        """
        env = os.environ if environ is None else environ
        return cls(factor=_whole_number(env, cls.FACTOR_VARIABLE),
                   min_insync=_whole_number(env, cls.MIN_INSYNC_VARIABLE))

    def topic_configs(self, spec: TopicSpec) -> dict[str, str]:
        configs = {"min.insync.replicas": str(self.min_insync)}
        if spec.compacted:
            configs["cleanup.policy"] = "compact"
        return configs


def _whole_number(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name) or "1"
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


def ensure_topics(bootstrap: str | list[str], replication: Replication | None = None) -> list[str]:
    """Create any missing topic; return the names created. Safe to call on every start.

    ``replication`` defaults to :meth:`Replication.from_env`. A cluster with fewer brokers than
    the replication factor is refused at once (:class:`TopicSetupError`), before Kafka is asked.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

    replication = replication or Replication.from_env()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        _check_cluster_holds(admin, replication, bootstrap)
        described = {topic["name"]: topic for topic in admin.describe_topics()}
        _warn_of_other_replication(described, replication)
        missing = [
            NewTopic(
                spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication.factor,
                topic_configs=replication.topic_configs(spec),
            )
            for spec in TOPICS
            if spec.name not in described
        ]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them between our list and create
            except InvalidReplicationFactorError as exc:
                raise TopicSetupError(_too_few_brokers(replication, None, bootstrap)) from exc
        return [topic.name for topic in missing]
    finally:
        admin.close()


def _check_cluster_holds(admin, replication: Replication, bootstrap: str | list[str]) -> None:
    # A fenced broker (registered, not heartbeating) takes no new replicas.
    brokers = sum(1 for broker in admin.describe_cluster()["brokers"] if not broker.get("is_fenced"))
    if brokers < replication.factor:
        raise TopicSetupError(_too_few_brokers(replication, brokers, bootstrap))


def _too_few_brokers(replication: Replication, brokers: int | None, bootstrap: str | list[str]) -> str:
    servers = bootstrap if isinstance(bootstrap, str) else ",".join(bootstrap)
    has = f"has {brokers} broker(s)" if brokers is not None else "has too few brokers"
    return (f"{Replication.FACTOR_VARIABLE}={replication.factor} asks for {replication.factor} copies "
            f"of each topic, but the cluster at {servers} {has}: lower {Replication.FACTOR_VARIABLE} "
            "(1 for the local broker) or start more brokers")


def _warn_of_other_replication(described: dict[str, dict], replication: Replication) -> None:
    """Say so when a topic of ours was created with another replication factor.

    Kafka changes a topic's replica count only by a partition reassignment, an operator's
    decision (kafka-reassign-partitions.sh); creating topics must not pretend to have done it.
    """
    for spec in TOPICS:
        topic = described.get(spec.name)
        if topic is None or not topic.get("partitions"):
            continue
        counts = {len(partition["replica_nodes"]) for partition in topic["partitions"]}
        if counts != {replication.factor}:
            log.warning("topic %s has %s replica(s) per partition, %s=%d asks for %d; "
                        "reassign its partitions to change it", spec.name,
                        "/".join(map(str, sorted(counts))), Replication.FACTOR_VARIABLE,
                        replication.factor, replication.factor)
