"""Topic replication: what streams/topics.py asks of Kafka, and what three brokers do with it.

One local broker can hold one copy of each partition; production (docker-compose.yml) runs three
brokers with three copies, two in sync. The same jars run both here: a single broker, and a
cluster of three (truyvet.broker.LocalCluster) configured as compose configures its brokers, in
which one broker is killed, then a second.
"""
from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from config import Settings, SettingsError
from streams import topics
from streams.app import StreamApp
from streams.topics import Replication, TopicSetupError, ensure_topics
from tests.conftest import PORT_OFFSET
from tests.test_truyvet.test_compose import SECRETS, compose_config
from truyvet.broker import LocalBroker, LocalCluster

SINGLE_KAFKA_PORT = 28692 + PORT_OFFSET
# Each node's controller listens one port above its broker.
CLUSTER_KAFKA_PORTS = (28792 + PORT_OFFSET, 28794 + PORT_OFFSET, 28796 + PORT_OFFSET)
FACTOR, MIN_INSYNC = Replication.FACTOR_VARIABLE, Replication.MIN_INSYNC_VARIABLE


# -- the settings ---------------------------------------------------------------------------------

def test_one_copy_by_default_as_one_local_broker_holds():
    assert Replication.from_env({}) == Replication(factor=1, min_insync=1)


def test_malformed_replication_settings_are_refused_by_name():
    with pytest.raises(SettingsError, match=FACTOR):
        Replication.from_env({FACTOR: "0"})
    with pytest.raises(SettingsError, match=MIN_INSYNC):
        Replication.from_env({MIN_INSYNC: "2"})  # two in sync of one copy: no write could succeed
    with pytest.raises(SettingsError, match=MIN_INSYNC):
        Replication.from_env({FACTOR: "3", MIN_INSYNC: "-1"})


def test_fausts_own_topics_get_as_many_copies(monkeypatch, tmp_path):
    """Changelogs and repartition topics Faust creates follow TRUYVET_TOPIC_REPLICATION too."""
    monkeypatch.delenv(FACTOR, raising=False)
    assert StreamApp(Settings(data_dir=tmp_path)).conf.topic_replication_factor == 1
    monkeypatch.setenv(FACTOR, "3")
    app = StreamApp(Settings(data_dir=tmp_path))
    assert app.conf.topic_replication_factor == 3
    assert app.conf.producer_acks == -1  # acks=all, as the web app's producer (ingest/producer.py)


# -- one broker -----------------------------------------------------------------------------------

def topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name, None) for name in names])
    finally:
        admin.close()
    return {name: {key: entry["value"] for key, entry in configs.items()}
            for by_name in described.values() for name, configs in by_name.items()}


def replicas_per_partition(bootstrap: str, timeout: float = 30) -> dict[str, set[int]]:
    """Each topic of ours: how many replicas its partitions have (once every partition has a leader)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        names = [spec.name for spec in topics.TOPICS]
        admin.wait_for_topics(names, timeout_ms=int(timeout * 1000))
        described = admin.describe_topics(names)
    finally:
        admin.close()
    return {topic["name"]: {len(partition["replica_nodes"]) for partition in topic["partitions"]}
            for topic in described}


@pytest.fixture(scope="module")
def single_broker(tmp_path_factory):
    broker = LocalBroker(home=tmp_path_factory.mktemp("replication") / "kafka", port=SINGLE_KAFKA_PORT, heap="512m")
    broker.start()
    yield broker
    broker.stop()


@pytest.mark.broker
def test_one_broker_holds_each_topic_as_configured(single_broker, monkeypatch):
    monkeypatch.delenv(FACTOR, raising=False)
    monkeypatch.delenv(MIN_INSYNC, raising=False)
    created = ensure_topics(single_broker.bootstrap)
    assert sorted(created) == sorted(spec.name for spec in topics.TOPICS)
    assert ensure_topics(single_broker.bootstrap) == []  # the next start creates nothing

    configs = topic_configs(single_broker.bootstrap, created)
    for spec in topics.TOPICS:
        assert configs[spec.name]["min.insync.replicas"] == "1", spec.name
        # Only settings that differ from the broker's defaults are listed ("delete" is the default).
        assert (configs[spec.name].get("cleanup.policy") == "compact") is spec.compacted, spec.name
    assert replicas_per_partition(single_broker.bootstrap) == {spec.name: {1} for spec in topics.TOPICS}


@pytest.mark.broker
def test_three_copies_on_one_broker_are_refused_by_name_at_once(single_broker, monkeypatch):
    monkeypatch.setenv(FACTOR, "3")
    monkeypatch.setenv(MIN_INSYNC, "2")
    started = time.monotonic()
    with pytest.raises(TopicSetupError, match=rf"{FACTOR}=3 .* has 1 broker\(s\): lower {FACTOR}"):
        ensure_topics(single_broker.bootstrap)
    assert time.monotonic() - started < 15


# -- three brokers --------------------------------------------------------------------------------

def compose_kafka_settings() -> tuple[dict[str, str], Replication]:
    """Broker settings of docker-compose.yml's kafka-1 as server.properties keys, and the app's replication."""
    import json

    result = compose_config(SECRETS, "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    broker = {key.removeprefix("KAFKA_").lower().replace("_", "."): value
              for key, value in services["kafka-1"]["environment"].items() if key.startswith("KAFKA_")}
    return broker, Replication.from_env(services["migrate"]["environment"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(home=tmp_path_factory.mktemp("cluster"), ports=CLUSTER_KAFKA_PORTS)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_the_local_cluster_replicates_as_compose_does(tmp_path):
    """The three brokers tested below run with compose's replication settings."""
    LocalCluster(home=tmp_path, ports=CLUSTER_KAFKA_PORTS).nodes[0]._write_config()
    written = dict(line.split("=", 1) for line in (tmp_path / "node-1" / "server.properties").read_text().splitlines() if line)
    compose, _ = compose_kafka_settings()
    replication = {key: value for key, value in compose.items()
                   if "replication" in key or "isr" in key or "insync" in key or "unclean" in key}
    assert len(replication) == 8
    assert {key: written.get(key) for key in replication} == replication
    assert written["controller.quorum.voters"] == ",".join(
        f"{node}@127.0.0.1:{port + 1}" for node, port in enumerate(CLUSTER_KAFKA_PORTS, start=1))


@pytest.mark.broker
def test_three_brokers_hold_three_copies_two_in_sync(cluster):
    _, replication = compose_kafka_settings()
    assert replication == Replication(factor=3, min_insync=2)
    ensure_topics(cluster.bootstrap, replication)
    configs = topic_configs(cluster.bootstrap, [spec.name for spec in topics.TOPICS])
    assert {name: config["min.insync.replicas"] for name, config in configs.items()} == {
        spec.name: "2" for spec in topics.TOPICS}
    assert replicas_per_partition(cluster.bootstrap) == {spec.name: {3} for spec in topics.TOPICS}


def send_all(producer: KafkaProducer, values: list[str], timeout: float) -> list[str]:
    """Send keyed values; return those Kafka acknowledged (acks=all) within ``timeout``."""
    futures = [(value, producer.send(topics.SCANS, key=value.encode(), value=value.encode())) for value in values]
    acknowledged = []
    deadline = time.monotonic() + timeout
    for value, future in futures:
        try:
            future.get(timeout=max(deadline - time.monotonic(), 0.1))
            acknowledged.append(value)
        except KafkaError:
            pass
    return acknowledged


def everything_on(bootstrap: str, timeout: float = 60) -> set[str]:
    """Every value of the scans topic, read from the start of each partition to its end."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.wait_for_topics([topics.SCANS], timeout_ms=int(timeout * 1000))  # a leader for each partition
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    try:
        partitions = [TopicPartition(topics.SCANS, p) for p in range(topics.PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                seen.update(record.value.decode() for record in records)
        return seen
    finally:
        consumer.close()


def producer(bootstrap: str, delivery_timeout_ms: int) -> KafkaProducer:
    # As the web app's (ingest/producer.py): acks from all in-sync replicas, idempotent.
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1,
                         request_timeout_ms=5000, delivery_timeout_ms=delivery_timeout_ms, max_block_ms=10000)


@pytest.mark.broker
def test_one_lost_broker_of_three_stops_nothing_and_a_second_stops_writes(cluster):
    """Writes go on with two of three brokers; with one left, acks=all writes fail instead of
    being kept once; every acknowledged write is there when the brokers are back."""
    ensure_topics(cluster.bootstrap, Replication(factor=3, min_insync=2))
    first, second, third = cluster.nodes
    writer = producer(cluster.bootstrap, delivery_timeout_ms=60000)
    acknowledged = send_all(writer, [f"all-three-{n}" for n in range(200)], timeout=30)
    assert len(acknowledged) == 200

    third.kill()
    before = len(acknowledged)
    # Partitions led by the lost broker move to another; their writes wait for that, then go on.
    acknowledged += send_all(writer, [f"two-of-three-{n}" for n in range(200)], timeout=60)
    assert len(acknowledged) - before == 200
    writer.close(timeout=5)

    second.kill()
    # One copy left, and no majority of controllers: nothing is acknowledged. (The web app's
    # publisher gives up after 5 s, answers 503 and keeps the event in its outbox.)
    lonely = producer(cluster.bootstrap, delivery_timeout_ms=10000)
    assert send_all(lonely, [f"one-of-three-{n}" for n in range(20)], timeout=30) == []

    second.start()
    third.start()
    lonely.close(timeout=30)  # its unacknowledged sends are delivered now, or expire
    assert set(acknowledged) <= everything_on(cluster.bootstrap)
    again = producer(cluster.bootstrap, delivery_timeout_ms=60000)
    assert send_all(again, ["all-three-again"], timeout=60) == ["all-three-again"]
    again.close(timeout=5)
    assert first.status().running
