"""Checkpoint scans: validation, publishing and reads, with no HTTP in sight."""
from __future__ import annotations

from typing import Any

from ingest.scans import CCCD_REQUIRED, CITIZEN_ID, parse_scan
from ingest.errors import InvalidInput
from streams import topics
from streams.records import ScanEvent
from warehouse import queries
from webapp.extensions import get_publisher, get_warehouse


def submit_scan(payload: Any) -> ScanEvent:
    """Validate and publish a scan; return it once Kafka has acknowledged it."""
    scan = parse_scan(payload)
    get_publisher().publish(topics.SCANS, key=scan.citizen_id, event=scan)
    return scan


def scans_of_citizen(citizen_id: str) -> list[dict]:
    if not CITIZEN_ID.match(citizen_id):
        raise InvalidInput({"citizen_id": CCCD_REQUIRED})
    return queries.scans_of_citizen(get_warehouse(), citizen_id)
