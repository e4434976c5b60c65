"""The transactional outbox: events committed with the rows they describe, then relayed to Kafka.

A declaration and its event are written in one database transaction, so an accepted
declaration is never lost and never published without being stored. A relay thread per web
process publishes pending events in batches; rows are claimed first, so several processes (or a
request racing the relay) do not publish the same event twice. If Kafka is down, events wait in
the table and go out when it is back.
"""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

import faust
from flask import Flask
from sqlalchemy import or_, select, update

from ingest.errors import BrokerUnavailable
from ingest.producer import EventPublisher
from webapp.extensions import db
from webapp.models import OutboxEvent, utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 500
CLAIM_FOR = timedelta(seconds=30)
IDLE_WAKEUP_SECONDS = 5.0
RETRY_AFTER_SECONDS = 2.0
# After a wake-up, let the commits of concurrent requests join the round: one claim, one send
# and one commit for many events instead of one each (bench/declarations.py).
GATHER_SECONDS = 0.2


def add(topic: str, key: str, event: faust.Record) -> None:
    """Stage ``event`` in the current transaction; it is published after the commit."""
    db.session.add(OutboxEvent(event_id=event.event_id, topic=topic, key=key, payload=event.dumps()))


def pending_count() -> int:
    return db.session.scalar(
        select(db.func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
    )


def relay_pending(publisher: EventPublisher, limit: int = BATCH_SIZE) -> int:
    """Publish up to ``limit`` pending events; return how many Kafka acknowledged."""
    now = utcnow()
    claim = uuid.uuid4().hex[:16]
    candidates = select(OutboxEvent.id).where(
        OutboxEvent.published_at.is_(None),
        or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now),
    ).order_by(OutboxEvent.id).limit(limit)
    ids = list(db.session.scalars(candidates))
    if not ids:
        db.session.rollback()
        return 0
    claimed = db.session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.id.in_(ids),
            OutboxEvent.published_at.is_(None),
            or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now),
        )
        .values(claimed_until=now + CLAIM_FOR, attempts=OutboxEvent.attempts + 1, claim=claim)
    )
    db.session.commit()
    if claimed.rowcount == 0:
        return 0
    rows = db.session.execute(
        select(OutboxEvent.id, OutboxEvent.topic, OutboxEvent.key, OutboxEvent.payload)
        .where(OutboxEvent.claim == claim)
        .order_by(OutboxEvent.id)
    ).all()
    db.session.rollback()
    try:
        results = publisher.publish_many([(row.topic, row.key, row.payload) for row in rows])
    except BrokerUnavailable:
        _release([row.id for row in rows])
        raise
    acknowledged = [row.id for row, error in zip(rows, results) if error is None]
    if acknowledged:
        db.session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(acknowledged)).values(published_at=utcnow())
        )
    _release([row.id for row, error in zip(rows, results) if error is not None], commit=False)
    db.session.commit()
    return len(acknowledged)


def _release(ids: list[int], commit: bool = True) -> None:
    """Give failed rows back at once, so the next round retries them."""
    if ids:
        db.session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(claimed_until=None))
    if commit:
        db.session.commit()


class OutboxRelay:
    """A daemon thread per process that drains the outbox, woken after each commit."""

    def __init__(self, app: Flask, publisher: EventPublisher) -> None:
        self._app = app
        self._publisher = publisher
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (again after a fork, which keeps no threads); it drains at once."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
                self._thread.start()
        self._wake.set()

    def notify(self) -> None:
        """Ask for a round now (a commit staged events)."""
        if self._thread is not None:
            self.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._wake.wait(IDLE_WAKEUP_SECONDS):
                self._stop.wait(GATHER_SECONDS)
            self._wake.clear()
            with self._app.app_context():
                self._drain()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                if relay_pending(self._publisher) < BATCH_SIZE:  # a partial round took all there was
                    return
            except BrokerUnavailable:
                log.warning("outbox: Kafka unavailable; %d events wait", pending_count())
                self._stop.wait(RETRY_AFTER_SECONDS)
                return
            except Exception:  # the relay must outlive any one bad round; the rows stay pending
                log.exception("outbox relay round failed")
                db.session.rollback()
                self._stop.wait(RETRY_AFTER_SECONDS)
                return
            finally:
                db.session.remove()
