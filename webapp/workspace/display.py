"""How the workspace's pages show times, residences and links, and read times typed in forms."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flask import url_for

from ingest.units import province_name, wards
from streams.records import VIETNAM_TIME
from webapp.models import as_utc
from webapp.workspace.reasons import reason_query

LOCAL_SHOWN = "%d/%m/%Y %H:%M"
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what a datetime-local input holds


def local_time(moment: datetime | None, shape: str = LOCAL_SHOWN) -> str:
    """A moment as people in Viet Nam read it (a stored naive time is UTC); empty for none."""
    return as_utc(moment).astimezone(VIETNAM_TIME).strftime(shape) if moment else ""


def residence(province_code: int | None, ward_code: int | None) -> str:
    """Ward, province: a residence by the current units' names (empty without a province).

    >>> residence(1, 70), residence(None, None)
    ('Phường Hoàn Kiếm, Thành phố Hà Nội', '')
    """
    if not province_code:
        return ""
    ward = dict(wards(province_code)).get(ward_code, str(ward_code or ""))
    return ", ".join(name for name in (ward, province_name(province_code)) if name)


def person_href(citizen_id: str, **args: str) -> str:
    """A person's page, carrying this request's reason."""
    return url_for("workspace.person", citizen_id=citizen_id, **args, **reason_query())


def place_href(place_code: str) -> str:
    """A place's page, carrying this request's reason."""
    return url_for("workspace.place", place_code=place_code, **reason_query())


def zoned_window(args: Mapping[str, str]) -> dict[str, str]:
    """``since`` and ``until`` as the API reads them: blanks dropped, zone-less times taken as Viet Nam time.

    >>> zoned_window({"since": "2026-11-28T08:00", "until": "", "x": "1"})
    {'since': '2026-11-28T08:00:00+07:00'}
    """
    given = {name: args[name].strip() for name in ("since", "until") if args.get(name, "").strip()}
    for name, value in given.items():
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:  # window_arg names the field
            continue
        if moment.tzinfo is None:
            given[name] = moment.replace(tzinfo=VIETNAM_TIME).isoformat()
    return given
