"""What the ops dashboard shows, read where it is kept, the same whichever process answers.

- **Throughput, rejections, dead letters per minute**: events appended to their Kafka topics,
  from the broker's own offsets by time (the first offset at or after each minute's start).
  Every path in counts (web, imports, other processes) and every gunicorn worker sees the
  same history, which no process's counters could give.
- **Consumer lag**: the workers' consumer group's committed offsets against the end offsets.
- **Rejections by reason** and **places gone silent**: the warehouse (:mod:`warehouse.activity`).
- **Outbox backlog**: the database.

Nothing personal is read: counts, offsets, reason codes and place codes and names. A snapshot
is kept for :data:`REFRESH_SECONDS` (silent places for :data:`SILENT_REFRESH_SECONDS`), so
dashboards polling at once cost one reading. The thresholds of the page's alerts are below;
Prometheus's alert rules use the same numbers.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import CoordinatorNotAvailableError, NotCoordinatorError
from sqlalchemy import select

from ingest.errors import Message
from streams import topics
from warehouse.activity import SilentPlace, rejections_by_minute, silent_places
from webapp.extensions import db
from webapp.models import Place
from webapp.outbox import pending_count

log = logging.getLogger(__name__)

WINDOW_MINUTES = 60
REFRESH_SECONDS = 10.0
SILENT_REFRESH_SECONDS = 60.0
KAFKA_TIMEOUT_MS = 3000
# Per-minute series, by name, and the topic each counts.
SERIES_TOPICS = {"declarations": topics.DECLARATIONS, "scans": topics.SCANS, "rejections": topics.REJECTIONS,
                 "dead_letters": topics.DEADLETTER}

# Alert thresholds (README, "The ops dashboard"; the Prometheus rules use the same numbers).
LAG_WARNING = 10_000  # messages the workers have not committed, all their topics together
LAG_CRITICAL = 100_000
REJECTION_WINDOW_MINUTES = 5
REJECTION_SHARE_WARNING = 0.05  # of the scans and declarations that came in over the window ...
REJECTION_MIN_COUNT = 20  # ... and at least this many, so three bad scans of sixty stay quiet
DEAD_LETTER_WINDOW_MINUTES = 15
DEAD_LETTERS_CRITICAL = 100  # in the window; any dead letter at all is a warning
OUTBOX_WARNING = 1_000  # events accepted, not yet in Kafka
WARNING, CRITICAL = "warning", "critical"


@dataclass(frozen=True)
class Alert:
    level: str  # WARNING or CRITICAL
    code: str  # what it is about: kafka, lag, rejections, dead_letters, outbox, warehouse
    message: Message


@dataclass
class Snapshot:
    """One reading of everything the dashboard shows; None where its source did not answer."""

    taken_at: datetime
    minutes: list[datetime]  # the window's minute starts, oldest first, the current minute last
    per_minute: dict[str, list[int]] | None = None  # SERIES_TOPICS' names -> a count per minute
    lag: dict[str, int] | None = None  # topic -> messages behind
    rejections_by_reason: dict[str, list[int]] | None = None
    silent: list[SilentPlace] | None = None
    place_names: dict[str, Place] = field(default_factory=dict)
    outbox_pending: int | None = None

    @property
    def lag_total(self) -> int | None:
        return None if self.lag is None else sum(self.lag.values())

    def alerts(self) -> list[Alert]:
        return alerts_of(self.per_minute, self.lag_total, self.outbox_pending,
                         warehouse_answered=self.rejections_by_reason is not None)


def alerts_of(per_minute: dict[str, list[int]] | None, lag: int | None, outbox_pending: int | None,
              warehouse_answered: bool = True) -> list[Alert]:
    """The alerts a reading calls for, most serious first.

    >>> quiet = {"scans": [100] * 10, "declarations": [0] * 10, "rejections": [1] * 10, "dead_letters": [0] * 10}
    >>> alerts_of(quiet, lag=12, outbox_pending=0)
    []
    >>> [(a.level, a.code) for a in alerts_of({**quiet, "rejections": [10] * 10}, lag=20_000, outbox_pending=0)]
    [('warning', 'lag'), ('warning', 'rejections')]
    >>> [(a.level, a.code) for a in alerts_of(None, lag=None, outbox_pending=None)]
    [('critical', 'kafka')]
    """
    found: list[Alert] = []
    if per_minute is None or lag is None:
        found.append(Alert(CRITICAL, "kafka", Message(
            "Kafka does not answer: throughput and lag are unknown.",
            "Kafka không phản hồi: không biết lưu lượng và độ trễ xử lý.")))
    else:
        if lag >= LAG_WARNING:
            found.append(Alert(CRITICAL if lag >= LAG_CRITICAL else WARNING, "lag", Message(
                f"The stream workers are {lag:,} events behind (alert from {LAG_WARNING:,}).",
                f"Bộ xử lý luồng đang chậm {_vi(lag)} sự kiện (cảnh báo từ {_vi(LAG_WARNING)}).")))
        window = REJECTION_WINDOW_MINUTES
        rejected = sum(per_minute["rejections"][-window:])
        came_in = sum(per_minute["scans"][-window:]) + sum(per_minute["declarations"][-window:])
        if rejected >= REJECTION_MIN_COUNT and rejected >= REJECTION_SHARE_WARNING * came_in:
            share = rejected / came_in if came_in else 1.0
            found.append(Alert(WARNING, "rejections", Message(
                f"{rejected:,} rejections in {window} minutes, {share:.0%} of what came in "
                f"(alert from {REJECTION_SHARE_WARNING:.0%}).",
                f"{_vi(rejected)} lượt bị từ chối trong {window} phút, {share:.0%} số lượt vào "
                f"(cảnh báo từ {REJECTION_SHARE_WARNING:.0%}).")))
        dead = sum(per_minute["dead_letters"][-DEAD_LETTER_WINDOW_MINUTES:])
        if dead:
            found.append(Alert(CRITICAL if dead >= DEAD_LETTERS_CRITICAL else WARNING, "dead_letters", Message(
                f"{dead:,} events went to the dead-letter topic in {DEAD_LETTER_WINDOW_MINUTES} minutes.",
                f"{_vi(dead)} sự kiện bị chuyển vào hàng lỗi (dead letter) trong {DEAD_LETTER_WINDOW_MINUTES} phút.")))
    if outbox_pending is not None and outbox_pending >= OUTBOX_WARNING:
        found.append(Alert(WARNING, "outbox", Message(
            f"{outbox_pending:,} accepted events wait to be sent to Kafka.",
            f"{_vi(outbox_pending)} sự kiện đã tiếp nhận đang chờ gửi vào Kafka.")))
    if not warehouse_answered:
        found.append(Alert(WARNING, "warehouse", Message(
            "The warehouse does not answer: rejection reasons and silent places are unknown.",
            "Kho dữ liệu không phản hồi: không biết lý do từ chối và địa điểm im lặng.")))
    return sorted(found, key=lambda alert: alert.level != CRITICAL)


def counts_per_minute(starts: list[int | None], end: int) -> list[int]:
    """Messages per minute from each minute's first offset (None: nothing at or after it) and the end offset.

    >>> counts_per_minute([0, 5, None], end=7)
    [5, 2, 0]
    """
    offsets = [end if offset is None else offset for offset in starts] + [end]
    return [max(later - earlier, 0) for earlier, later in zip(offsets, offsets[1:])]


class KafkaActivity:
    """Reads per-minute counts and the workers' lag from the broker's offsets.

    The first offset at or after a minute's start never changes once a message is past it, so
    it is asked once and remembered: after the first reading, a reading asks about the new
    minute and the end offsets only.
    """

    def __init__(self, bootstrap: list[str]) -> None:
        self._bootstrap = bootstrap
        self._first_offsets: dict[tuple[TopicPartition, int], int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def read(self, minute_starts_ms: list[int]) -> tuple[dict[str, list[int]], dict[str, int]]:
        """(per-minute counts of SERIES_TOPICS, lag by consumed topic); raises KafkaError."""
        admin = KafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=KAFKA_TIMEOUT_MS,
                                 bootstrap_timeout_ms=KAFKA_TIMEOUT_MS)
        try:
            wanted = sorted(set(SERIES_TOPICS.values()) | set(topics.CONSUMED))
            partitions = {topic["name"]: [TopicPartition(topic["name"], p["partition_index"])
                                          for p in topic["partitions"]]
                          for topic in admin.describe_topics(wanted) if topic["partitions"]}
            every = [tp for tps in partitions.values() for tp in tps]
            ends = _offsets(admin, {tp: OffsetSpec.LATEST for tp in every})
            per_minute = {name: self._per_minute(admin, partitions.get(topic, []), ends, minute_starts_ms)
                          for name, topic in SERIES_TOPICS.items()}
            lag = _lag(admin, {topic: partitions.get(topic, []) for topic in topics.CONSUMED}, ends,
                       self._committed_offsets(admin))
        finally:
            admin.close()
        oldest = minute_starts_ms[0]
        self._first_offsets = {key: offset for key, offset in self._first_offsets.items() if key[1] >= oldest}
        return per_minute, lag

    def _committed_offsets(self, admin: KafkaAdminClient) -> dict[TopicPartition, int]:
        """The workers' group's committed offsets; the last ones read while its coordinator moves
        (or none, on a cluster where no worker has committed yet)."""
        try:
            offsets = admin.list_group_offsets({topics.CONSUMER_GROUP: None}).get(topics.CONSUMER_GROUP, {})
        except (CoordinatorNotAvailableError, NotCoordinatorError) as exc:
            log.info("ops dashboard: the consumer group's offsets are not available (%r)", exc)
            return self._committed
        self._committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return self._committed

    def _per_minute(self, admin: KafkaAdminClient, tps: list[TopicPartition], ends: dict[TopicPartition, int],
                    starts_ms: list[int]) -> list[int]:
        totals = [0] * len(starts_ms)
        firsts: dict[TopicPartition, list[int | None]] = {tp: [] for tp in tps}
        exhausted: set[TopicPartition] = set()  # nothing at or after an earlier minute: nor after this one
        for start in starts_ms:
            ask = [tp for tp in tps if tp not in exhausted and (tp, start) not in self._first_offsets]
            found = _offsets(admin, {tp: start for tp in ask}) if ask else {}
            for tp in tps:
                offset = self._first_offsets.get((tp, start), found.get(tp))
                if offset is None:
                    exhausted.add(tp)
                else:
                    self._first_offsets[tp, start] = offset
                firsts[tp].append(offset)
        for tp in tps:
            for minute, count in enumerate(counts_per_minute(firsts[tp], ends.get(tp, 0))):
                totals[minute] += count
        return totals


def _offsets(admin: KafkaAdminClient, specs: dict) -> dict[TopicPartition, int]:
    """The offset each spec finds; a partition with no offset for its spec is left out."""
    if not specs:
        return {}
    answered = admin.list_partition_offsets(specs, timeout_ms=KAFKA_TIMEOUT_MS)
    return {tp: found.offset for tp, found in answered.items() if found is not None and found.offset >= 0}


def _lag(admin: KafkaAdminClient, partitions: dict[str, list[TopicPartition]], ends: dict[TopicPartition, int],
         committed: dict[TopicPartition, int]) -> dict[str, int]:
    """Messages behind, by topic: end minus committed; from the first retained offset where nothing is."""
    done = dict(committed)
    uncommitted = [tp for tps in partitions.values() for tp in tps if tp not in done]
    done.update(_offsets(admin, {tp: OffsetSpec.EARLIEST for tp in uncommitted}))
    return {topic: sum(max(ends.get(tp, 0) - done.get(tp, ends.get(tp, 0)), 0) for tp in tps)
            for topic, tps in partitions.items()}


class OpsData:
    """The dashboard's readings for one app, kept for a few seconds and shared by its requests."""

    def __init__(self, kafka: KafkaActivity, warehouse: Callable, clock: Callable[[], datetime] | None = None) -> None:
        self._kafka = kafka
        self._warehouse = warehouse
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._taken = 0.0
        self._silent: tuple[float, list[SilentPlace] | None] = (0.0, None)

    def snapshot(self) -> Snapshot:
        """The latest reading, taken now if it is older than REFRESH_SECONDS.

        A request that finds another one reading gets the previous snapshot rather than wait.
        """
        if self._snapshot is not None and time.monotonic() - self._taken < REFRESH_SECONDS:
            return self._snapshot
        if not self._lock.acquire(blocking=self._snapshot is None):
            return self._snapshot  # type: ignore[return-value]  (only None while the first is taken)
        try:
            if self._snapshot is None or time.monotonic() - self._taken >= REFRESH_SECONDS:
                self._snapshot, self._taken = self._read(), time.monotonic()
            return self._snapshot
        finally:
            self._lock.release()

    def _read(self) -> Snapshot:
        now = self._clock()
        current = now.replace(second=0, microsecond=0)
        minutes = [current - timedelta(minutes=back) for back in range(WINDOW_MINUTES - 1, -1, -1)]
        snapshot = Snapshot(taken_at=now, minutes=minutes)
        try:
            snapshot.per_minute, snapshot.lag = self._kafka.read([_ms(minute) for minute in minutes])
        except Exception as exc:  # the dashboard shows Kafka as down; the log says why
            log.warning("ops dashboard: Kafka not read: %r", exc)
        try:
            warehouse = self._warehouse()
            by_reason = rejections_by_minute(warehouse, minutes[0], now + timedelta(minutes=1))
            snapshot.rejections_by_reason = {reason: [counts.get(minute, 0) for minute in minutes]
                                             for reason, counts in sorted(by_reason.items())}
            snapshot.silent = self._silent_places(warehouse, now)
        except Exception as exc:
            log.warning("ops dashboard: warehouse not read: %r", exc)
        try:
            snapshot.outbox_pending = pending_count()
            codes = [place.place_id for place in snapshot.silent or ()]
            if codes:
                snapshot.place_names = {place.code: place for place in
                                        db.session.scalars(select(Place).where(Place.code.in_(codes)))}
        except Exception as exc:
            log.warning("ops dashboard: database not read: %r", exc)
        return snapshot

    def _silent_places(self, warehouse, now: datetime) -> list[SilentPlace]:
        read_at, places = self._silent
        if places is None or time.monotonic() - read_at >= SILENT_REFRESH_SECONDS:
            places = silent_places(warehouse, now)
            self._silent = (time.monotonic(), places)
        return places


def _vi(count: int) -> str:
    """A count as Vietnamese writes it, dots between thousands.

    >>> _vi(12345)
    '12.345'
    """
    return f"{count:,}".replace(",", ".")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
