"""Reading a person's scans from the warehouse, page by page, with no HTTP in sight."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ingest.errors import InvalidInput, Message
from ingest.scans import CCCD_REQUIRED
from streams.records import SCAN_FIELDS, is_citizen_id
from warehouse import queries
from warehouse.errors import InvalidCursor
from warehouse.queries import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from webapp.resources import get_warehouse

PAGE_SIZE = Message(f"must be a whole number from 1 to {MAX_PAGE_SIZE}",
                    f"phải là số nguyên từ 1 đến {MAX_PAGE_SIZE}")
CURSOR = Message("is not a cursor this service gave out", "không phải con trỏ trang do hệ thống cấp")


def scans_of_citizen(citizen_id: str, limit: str | None, before: str | None) -> dict[str, Any]:
    """One page of a person's scans, newest first, with the cursor of the next (older) page."""
    errors: dict[str, Message] = {}
    if not is_citizen_id(citizen_id):
        errors["citizen_id"] = CCCD_REQUIRED
    size = DEFAULT_PAGE_SIZE
    if limit is not None:
        if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= MAX_PAGE_SIZE:
            errors["limit"] = PAGE_SIZE
        else:
            size = int(limit)
    cursor = None
    if before is not None:
        try:
            cursor = queries.ScanCursor.decode(before)
        except InvalidCursor:
            errors["before"] = CURSOR
    if errors:
        raise InvalidInput(errors)
    page = queries.scans_of_citizen(get_warehouse(), citizen_id, limit=size, before=cursor)
    return {
        "citizen_id": citizen_id,
        "scans": [_scan_json(scan) for scan in page.scans],
        "next": page.next.encode() if page.next else None,
    }


def _scan_json(scan: dict[str, Any]) -> dict[str, Any]:
    return {field: _json_value(scan[field]) for field in SCAN_FIELDS if field != "citizen_id"}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value
