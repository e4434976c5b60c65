"""Accepted declarations survive a Kafka outage and are published once it is back."""
from __future__ import annotations

import pytest
from kafka import KafkaConsumer

from ingest.errors import BrokerUnavailable
from streams import topics
from streams.records import DeclarationEvent
from streams.topics import ensure_topics
from tests.conftest import OUTAGE_KAFKA_PORT
from tests.factories import child, declaration
from tests.staff import add_staff, sign_in
from truyvet.broker import LocalBroker
from webapp.outbox import pending_count, relay_pending
from webapp.resources import get_publisher

pytestmark = pytest.mark.broker


def read_declarations(bootstrap: str) -> list[DeclarationEvent]:
    consumer = KafkaConsumer(topics.DECLARATIONS, bootstrap_servers=bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    try:
        return [DeclarationEvent.loads(message.value) for message in consumer]
    finally:
        consumer.close()


def test_declarations_taken_while_kafka_is_down_are_delivered_once_later(make_app, tmp_path):
    broker = LocalBroker.for_bootstrap(tmp_path / "kafka", f"127.0.0.1:{OUTAGE_KAFKA_PORT}")
    app = make_app(kafka_bootstrap=broker.bootstrap)
    client = app.test_client()

    response = client.post("/api/v1/declarations", json=declaration(dependants=[child()]))
    assert response.status_code == 201
    assert response.json["qr_token"]
    ops = app.test_client()
    sign_in(ops, add_staff(app, "ops"))
    health = ops.get("/healthz")
    assert (health.status_code, health.json["outbox_pending"]) == (503, 2)
    with app.app_context():
        assert pending_count() == 2
        with pytest.raises(BrokerUnavailable):
            relay_pending(get_publisher())
        assert pending_count() == 2

    broker.start()
    try:
        ensure_topics([broker.bootstrap])
        with app.app_context():
            assert relay_pending(get_publisher()) == 2
            assert relay_pending(get_publisher()) == 0
            assert pending_count() == 0
        events = read_declarations(broker.bootstrap)
    finally:
        broker.stop()
    declared = {response.json["declaration_id"], response.json["dependants"][0]["declaration_id"]}
    assert sorted(e.declaration_id for e in events) == sorted(declared)
