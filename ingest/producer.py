"""Publishing events to Kafka: one producer per process, keyed sends, acks from all replicas."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import faust
from kafka import KafkaProducer
from kafka.errors import KafkaError

from ingest.errors import BrokerUnavailable

log = logging.getLogger(__name__)

# A person at a checkpoint should hear "try again" within seconds, not after Kafka's 2-minute default.
SEND_TIMEOUT_SECONDS = 5.0


class EventPublisher:
    """Sends events and waits for the broker's acknowledgement before reporting success."""

    def __init__(self, bootstrap: list[str], send_timeout: float = SEND_TIMEOUT_SECONDS,
                 on_outcome: Callable[[bool], None] | None = None) -> None:
        """``on_outcome(reached)`` hears after each send whether Kafka answered (health state)."""
        self._bootstrap = bootstrap
        self._send_timeout = send_timeout
        self._on_outcome = on_outcome or (lambda reached: None)
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    @property
    def bootstrap(self) -> list[str]:
        return self._bootstrap

    def publish(self, topic: str, key: str, event: faust.Record) -> None:
        """Publish ``event`` keyed by ``key``; raise :class:`BrokerUnavailable` unless acknowledged."""
        [error] = self.publish_many([(topic, key, event.dumps())])
        if error is not None:
            raise BrokerUnavailable(f"Kafka did not acknowledge the event: {error}") from error

    def publish_many(self, messages: list[tuple[str, str, bytes]]) -> list[Exception | None]:
        """Send (topic, key, payload) messages together; per message, None once acknowledged or the error.

        Raises :class:`BrokerUnavailable` only when no producer can be made at all.
        """
        try:
            producer = self._get_producer()
        except KafkaError as exc:
            log.warning("no Kafka producer: %r", exc)
            self._on_outcome(False)
            raise BrokerUnavailable(f"Kafka is unreachable: {exc}") from exc
        futures = []
        for topic, key, payload in messages:
            try:
                futures.append(producer.send(topic, key=key.encode(), value=payload))
            except KafkaError as exc:
                futures.append(exc)
        results: list[Exception | None] = []
        for future in futures:
            if isinstance(future, Exception):
                results.append(future)
                continue
            try:
                future.get(timeout=self._send_timeout)
                results.append(None)
            except KafkaError as exc:
                results.append(exc)
        failed = [error for error in results if error is not None]
        if results:
            self._on_outcome(len(failed) < len(results))
        if failed:
            log.warning("%d of %d messages not acknowledged: %r", len(failed), len(results), failed[0])
        return results

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=self._send_timeout)
                self._producer = None

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self._send_timeout * 1000)
                # Created lazily and again after a failure, so the app starts (and recovers)
                # while the broker is down.
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=1,
                    max_block_ms=timeout_ms,
                    bootstrap_timeout_ms=timeout_ms,
                    request_timeout_ms=timeout_ms - 1000,
                    delivery_timeout_ms=timeout_ms,
                )
            return self._producer


def check_broker(bootstrap: list[str], timeout: float = 2.0) -> None:
    """Ask the cluster for its metadata; raise :class:`BrokerUnavailable` if it does not answer."""
    from kafka import KafkaAdminClient

    timeout_ms = int(timeout * 1000)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms
        )
    except KafkaError as exc:
        raise BrokerUnavailable(f"no Kafka broker answers at {','.join(bootstrap)}") from exc
    try:
        admin.describe_cluster()
    except KafkaError as exc:
        raise BrokerUnavailable(f"Kafka at {','.join(bootstrap)} did not answer: {exc}") from exc
    finally:
        admin.close()
