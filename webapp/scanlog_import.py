"""Importing scan logs: read a CSV scan log for the places the importer may use, publish its scans.

One service for ``truyvet import scans`` (every registered place) and the officers' upload page
(their own places only), so which rows count and how Kafka's answer is counted live in one place.
The file format is :mod:`ingest.scanlog`'s. Scans go to Kafka directly, in batches, and the
result says how many Kafka acknowledged: nothing is lost silently, and since event ids come from
the rows' content, importing the same file again adds only what was missing.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select

from ingest.errors import BrokerUnavailable, Message
from ingest.producer import EventPublisher
from ingest.scanlog import (DEFAULT_PLACE_RADIUS_M, NO_PLACE_NEAR, PLACE_UNKNOWN, ScanLogReport,
                            parse_scan_log, place_finder)
from streams.topics import SCANS
from webapp.extensions import db
from webapp.models import Place

log = logging.getLogger(__name__)

# Kafka's own advice for a producer is batches of tens to thousands of messages; 1000 keeps
# one batch's wait for acknowledgements within the publisher's send timeout.
PUBLISH_BATCH = 1000
NO_ANSWER = "no answer from Kafka"
# For someone importing for their own places, another place and an unregistered code are the
# same refusal: the answer says nothing about places that are not theirs.
NOT_YOUR_PLACE = Message("is not one of your places", "không phải địa điểm bạn phụ trách")
NONE_OF_YOURS_NEAR = Message("none of your places is near this position",
                             "không có địa điểm nào bạn phụ trách ở gần vị trí này")
_FOR_OWN_PLACES = {PLACE_UNKNOWN: NOT_YOUR_PLACE, NO_PLACE_NEAR: NONE_OF_YOURS_NEAR}

PlacePosition = tuple[str, float | None, float | None]  # code, latitude, longitude


@dataclass(frozen=True)
class ImportResult:
    """The file's report (scans read, row errors) and what Kafka acknowledged of its scans.

    ``published`` is False when nothing was sent (a check only, or no good row);
    ``reason`` says why ``not_accepted`` scans were not acknowledged.
    """

    report: ScanLogReport
    accepted: int = 0
    not_accepted: int = 0
    reason: str | None = None
    published: bool = False

    @property
    def ok(self) -> bool:
        """Every row was good and every scan acknowledged (a check only: every row was good)."""
        return self.report.ok and not self.not_accepted

    @property
    def day_presences(self) -> int:
        """Scans known only by their date: a presence for that whole day."""
        return sum(scan.precision == "day" for scan in self.report.scans)


def registered_places() -> list[PlacePosition]:
    """(code, latitude, longitude) of every registered place; needs an app context."""
    return [tuple(row) for row in db.session.execute(select(Place.code, Place.latitude, Place.longitude))]


def read_scan_log(data: bytes | str, *, places: Iterable[PlacePosition], allowed_places: Collection[str] | None,
                  now: datetime, retention: timedelta | None,
                  radius_m: float = DEFAULT_PLACE_RADIUS_M) -> ScanLogReport:
    """The scans and row errors of a scan log, for ``places`` (None for ``allowed_places``: all).

    With ``allowed_places``, a row at any other place, or near none of them, is a row error that
    names neither the place nor whether it exists.
    Raises :class:`ingest.scanlog.UnreadableScanLog` for a file that is not a scan log.
    """
    if allowed_places is not None:
        places = [place for place in places if place[0] in allowed_places]
    places = list(places)
    report = parse_scan_log(
        data.encode() if isinstance(data, str) else data, now=now, retention=retention,
        resolve_place=place_finder([(code, lat, lon) for code, lat, lon in places
                                    if lat is not None and lon is not None], radius_m),
        known_places={code for code, _, _ in places})
    if allowed_places is not None:
        report.errors = [replace(error, message=_FOR_OWN_PLACES.get(error.message, error.message))
                         for error in report.errors]
    return report


def publish(report: ScanLogReport, publisher: EventPublisher) -> ImportResult:
    """Send the report's scans to Kafka in batches; the result counts what Kafka acknowledged.

    Good rows are published even when others failed: each row stands alone, and the report
    says which lines to fix and send again.
    """
    scans = report.scans
    acknowledged, failures = 0, []
    for first in range(0, len(scans), PUBLISH_BATCH):
        batch = scans[first:first + PUBLISH_BATCH]
        try:
            results = publisher.publish_many([(SCANS, scan.citizen_id, scan.dumps()) for scan in batch])
        except BrokerUnavailable as exc:
            failures.append(str(exc))
            break
        acknowledged += results.count(None)
        failures += [str(error) for error in results if error is not None]
        if results.count(None) == 0:
            break  # Kafka took none of this batch: the next would wait out the same timeouts
    not_accepted = len(scans) - acknowledged
    reason = (failures[0] if failures else NO_ANSWER) if not_accepted else None
    log.info("scan log: %d scan(s) read, %d row(s) with errors, %d accepted by Kafka%s", len(scans),
             report.bad_rows, acknowledged, f", {not_accepted} not ({reason})" if not_accepted else "")
    return ImportResult(report, acknowledged, not_accepted, reason, published=True)


def import_scan_log(data: bytes | str, *, places: Iterable[PlacePosition], allowed_places: Collection[str] | None,
                    publisher: EventPublisher | None, now: datetime, retention: timedelta | None,
                    radius_m: float = DEFAULT_PLACE_RADIUS_M) -> ImportResult:
    """Read a scan log (:func:`read_scan_log`) and :func:`publish` its good rows; ``publisher``
    None only checks the file."""
    report = read_scan_log(data, places=places, allowed_places=allowed_places, now=now,
                           retention=retention, radius_m=radius_m)
    if publisher is None or not report.scans:
        return ImportResult(report)
    return publish(report, publisher)
