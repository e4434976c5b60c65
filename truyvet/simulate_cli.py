"""``truyvet simulate``: a synthetic province's day of declarations and scans, into Kafka at a set rate.

Attached to the main command with ``main.add_command(simulate)``. The day itself is
:mod:`ingest.simulate`'s (pure, seeded); this module paces it into Kafka and counts what the
broker acknowledged. Heavy modules are imported when the command runs, so ``--help`` stays fast.
"""
from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from truyvet.cliapp import settings

if TYPE_CHECKING:
    from ingest.producer import EventPublisher
    from ingest.simulate import Message
    from streams.records import Event

# The progress line is redrawn at most this often: a terminal is not a log.
PROGRESS_INTERVAL = 0.25
MAX_BATCH = 1000
BATCHES_PER_SECOND = 10


@click.command("simulate")
@click.option("--citizens", type=click.IntRange(min=1), default=1000, show_default=True,
              help="People in the synthetic province.")
@click.option("--places", type=click.IntRange(min=5), default=50, show_default=True,
              help="Markets, workplaces, schools, hospitals and gateway checkpoints (at least one of each).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=500.0, show_default=True,
              help="Events per second, all topics together.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Publish for at most this many seconds (rate × duration events, registry first); "
                   "default: the whole day.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same events (ids included).")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="The simulated day (local date, Viet Nam); default: yesterday, the latest "
                                 "whole day in the past.")
@click.option("--dry-run", is_flag=True, help="Print what would be published, per topic and kind; no Kafka.")
def simulate(citizens: int, places: int, rate: float, duration: float | None, seed: int,
             start: datetime | None, dry_run: bool) -> None:
    """Publish a realistic day of a synthetic province: registry, declarations, scans.

    Events go out in time order, paced to --rate, each batch waiting for Kafka's
    acknowledgement. Exits 1 if any event was not acknowledged.
    """
    from datetime import timezone

    from streams.records import VIETNAM_TIME
    from ingest.simulate import local_midnight, simulate as simulate_day

    current = settings()
    now = datetime.now(timezone.utc)
    if start is None:
        day = now.astimezone(VIETNAM_TIME).date() - timedelta(days=1)
    else:
        day = (start.astimezone(VIETNAM_TIME) if start.tzinfo else start).date()
    sim = simulate_day(citizens, places, seed=seed, start=local_midnight(day))
    limit = len(sim) if duration is None else min(len(sim), math.ceil(rate * duration))
    messages = list(_first(sim, limit))

    click.echo(f"{sim.province_name}: {len(sim.residents)} citizens, {len(sim.places)} places, "
               f"{day.isoformat()} (seed {seed}); {limit} of {len(sim)} events")
    _warn_outside_window(messages, now, current.retention)
    if dry_run:
        kinds = sim.place_kinds()
        for (topic, kind), count in sorted(Counter(_kind(topic, event, kinds) for topic, _, event in messages).items()):
            click.echo(f"{topic}\t{kind}\t{count}")
        click.echo("nothing published (dry run)")
        return

    from ingest.producer import EventPublisher

    publisher = EventPublisher(current.kafka_servers)
    try:
        acked, failed, unsent, elapsed = _publish(publisher, messages, rate)
    finally:
        publisher.close()
    for topic in sorted(set(acked) | set(failed)):
        click.echo(f"kafka: {topic}: {acked[topic]} acknowledged"
                   + (f", {failed[topic]} NOT acknowledged" if failed[topic] else ""))
    total = sum(acked.values())
    click.echo(f"kafka: {total} of {len(messages)} events acknowledged in {elapsed:.1f} s "
               f"({total / elapsed if elapsed else 0:.0f}/s, asked for {rate:g}/s)")
    lost = sum(failed.values())
    if unsent:
        click.echo(f"kafka: stopped when a whole batch went unacknowledged; {unsent} event(s) never sent",
                   err=True)
    if lost:
        click.echo(f"kafka: {lost} event(s) NOT acknowledged; run again with the same seed once Kafka is "
                   "reachable: events already stored carry the same ids and are not stored twice", err=True)
    sys.exit(1 if lost else 0)


def _first(sim: Iterable[Message], limit: int) -> Iterator[Message]:
    for number, message in enumerate(sim):
        if number >= limit:
            return
        yield message


def _kind(topic: str, event: Event, kinds: dict[str, str]) -> tuple[str, str]:
    direction = getattr(event, "direction", None)
    return topic, f"{kinds[event.place_id]} {direction}" if direction else "-"


def _warn_outside_window(messages: list[Message], now: datetime, retention: timedelta | None) -> None:
    from streams.records import MAX_CLOCK_SKEW, ScanEvent

    times = [event.ts for _, _, event in messages if isinstance(event, ScanEvent)]
    future = sum(ts > now + MAX_CLOCK_SKEW for ts in times)
    old = sum(ts < now - retention for ts in times) if retention else 0
    if future:
        click.echo(f"warning: {future} scan(s) are in the future and will be refused (in_future)", err=True)
    if old:
        click.echo(f"warning: {old} scan(s) are past the retention period and will be refused", err=True)


def _publish(publisher: EventPublisher, messages: list[Message],
             rate: float) -> tuple[Counter[str], Counter[str], int, float]:
    """Send in batches paced to ``rate``; (acknowledged, not, never sent, seconds) per topic.

    Stops when a whole batch goes unacknowledged: Kafka is gone, and waiting out every batch's
    timeout would only delay the report. The rest counts as not acknowledged.
    """
    from ingest.errors import BrokerUnavailable

    batch_size = max(1, min(MAX_BATCH, int(rate / BATCHES_PER_SECOND)))
    acked: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    unsent = 0
    began = last_drawn = time.monotonic()
    sent = 0
    while sent < len(messages):
        # Paced against the start, not batch by batch, so a slow acknowledgement is caught up.
        delay = began + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        batch = messages[sent:sent + batch_size]
        try:
            results = publisher.publish_many([(topic, key, event.dumps()) for topic, key, event in batch])
        except BrokerUnavailable:
            results = [RuntimeError("no producer")] * len(batch)
        for (topic, _, _), error in zip(batch, results):
            (failed if error is not None else acked)[topic] += 1
        sent += len(batch)
        if all(error is not None for error in results):
            for topic, _, _ in messages[sent:]:
                failed[topic] += 1
            unsent = len(messages) - sent
            sent = len(messages)
        if time.monotonic() - last_drawn >= PROGRESS_INTERVAL or sent == len(messages):
            last_drawn = time.monotonic()
            click.echo(f"\r{sent}/{len(messages)} events, {sent / max(last_drawn - began, 1e-9):.0f}/s", err=True,
                       nl=sent == len(messages))
    return acked, failed, unsent, time.monotonic() - began
