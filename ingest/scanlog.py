"""Scan logs: paper check-in books typed up, exported device logs, published case routes.

A scan log is a CSV file in UTF-8 (a byte order mark, as spreadsheets write it, is fine),
separated by commas (or by semicolons, as spreadsheets set to Vietnamese write it). The first
line names the columns, in any order:

- ``citizen_id`` (required): the 12-digit CCCD number; spaces, dots and hyphens between digit
  groups are ignored.
- ``place_code``, or ``latitude`` and ``longitude`` (decimal degrees, e.g. 21.0285 and
  105.8542): where. A code must name a registered checkpoint or venue; a position names the
  registered place nearest to it (``truyvet import scans``: within 100 m). The position is used
  only when place_code is empty.
- ``time``, or ``date``: when. A time is ISO 8601, e.g. 2026-11-28T08:30:00+07:00; a time
  without an offset (2026-11-28 08:30, or 28/11/2026 08:30 as Vietnamese logs write it) is
  Vietnam time (UTC+7). A date (YYYY-MM-DD or DD/MM/YYYY) is for when only the day is known:
  the row is a presence at the place for that whole day (Vietnam time), matching anyone there
  on that date. The date is used only when time is empty; with a time, it must be that time's
  date in Vietnam.
- ``direction`` (optional): in, out, pass or turn_back (or vào, ra, qua, quay đầu); empty, or
  no such column: in (the person was there).

Any other column is refused, so that a misspelt one is not silently ignored. Each row is checked
as a scan sent by a device is: the CCCD's shape, a time not before 2000-01-01, at most 5 minutes
in the future and not older than the retention period (for a date: its midnight). Good rows are
kept and bad ones reported with their line (the header is line 1) and column. A file that cannot
be read (not UTF-8, no header, missing columns) raises :class:`UnreadableScanLog`, giving nothing.

Event ids are derived from the row's content (person, place, time, precision, direction), so
importing the same file twice adds nothing, and equal rows in one file count once.
"""
from __future__ import annotations

import bisect
import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from ingest.csvfile import Rows, UnreadableCsv, csv_rows, csv_text
from ingest.errors import IngestError, Message
from ingest.fields import REQUIRED, FieldErrors
from ingest.identity import normalize_id
from ingest.scans import CCCD_REQUIRED, PLACE_ID, time_problem
from streams.records import ScanEvent, VIETNAM_TIME, is_citizen_id

COLUMNS = ("citizen_id", "place_code", "latitude", "longitude", "time", "date", "direction")
DEFAULT_DIRECTION = "in"
DIRECTIONS = {"in": "in", "out": "out", "pass": "pass", "turn_back": "turn_back", "turn back": "turn_back",
              "vào": "in", "ra": "out", "qua": "pass", "quay đầu": "turn_back"}
DEFAULT_PLACE_RADIUS_M = 100.0
# Never change it: event ids of files already imported would change, and a re-import duplicate them.
EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:truyvet:scan-log")
EARTH_RADIUS_M = 6_371_008.8

ResolvePlace = Callable[[float, float], str | None]

# ASCII digits throughout: \d also takes other scripts' digits, which nothing downstream expects.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_VN_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_VN_TIME = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_DEGREES = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,12})?")

TIME_FORMAT = Message(
    "must be a time, e.g. 2026-11-28T08:30:00+07:00, 2026-11-28 08:30 or 28/11/2026 08:30 (Vietnam time unless an offset is given)",
    "phải là thời điểm, ví dụ 2026-11-28T08:30:00+07:00, 2026-11-28 08:30 hoặc 28/11/2026 08:30 (giờ Việt Nam nếu không ghi múi giờ)")
TIME_WITHOUT_HOUR = Message("has no time of day: a day alone goes in the date column",
                            "không có giờ: nếu chỉ biết ngày, hãy ghi vào cột date")
DATE_FORMAT = Message("must be a real date, YYYY-MM-DD or DD/MM/YYYY", "phải là ngày có thật, dạng YYYY-MM-DD hoặc DD/MM/YYYY")
WHEN_REQUIRED = Message("give a time, or a date when only the day is known",
                        "cần ghi thời điểm (time), hoặc ngày (date) nếu chỉ biết ngày")
PLACE_REQUIRED = Message("give place_code, or latitude and longitude", "cần ghi mã địa điểm (place_code), hoặc vĩ độ và kinh độ")
PLACE_FORMAT = Message("must be 1-64 letters, digits or _ . : - (starting with a letter or digit)",
                       "phải gồm 1-64 chữ cái, chữ số hoặc _ . : - (bắt đầu bằng chữ cái hoặc chữ số)")
PLACE_UNKNOWN = Message("is not a registered place", "không phải địa điểm đã đăng ký")
NO_PLACE_NEAR = Message("no registered place is near this position", "không có địa điểm đã đăng ký nào gần vị trí này")
NO_PLACE_REGISTRY = Message("positions cannot be matched to places here: give place_code",
                            "không thể đối chiếu vị trí với địa điểm ở đây: hãy ghi mã địa điểm (place_code)")
DEGREES_FORMAT = Message("must be decimal degrees, e.g. 21.0285", "phải là độ thập phân, ví dụ 21.0285")
COORDINATES_TOGETHER = Message("latitude and longitude go together: give both or neither",
                               "vĩ độ và kinh độ đi cùng nhau: nhập cả hai hoặc bỏ trống cả hai")
DIRECTION_UNKNOWN = Message("must be in, out, pass or turn_back (vào, ra, qua, quay đầu)",
                            "phải là in, out, pass hoặc turn_back (vào, ra, qua, quay đầu)")


class UnreadableScanLog(IngestError):
    """The file itself cannot be read as a scan log; ``message`` says why, in both languages."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.en)
        self.message = message


@dataclass(frozen=True)
class RowError:
    """Why one row was not imported: the line where it starts (header: 1) and the failing column."""

    line: int
    field: str
    message: Message

    @property
    def message_en(self) -> str:
        return self.message.en

    @property
    def message_vi(self) -> str:
        return self.message.vi


@dataclass
class ScanLogReport:
    """The scans of the good rows, in file order, and an error for each failing column of the others.

    ``duplicates`` counts rows equal to an earlier row of the file (kept once).
    """

    scans: list[ScanEvent] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({error.line for error in self.errors})


def parse_scan_log(data: bytes, *, now: datetime, retention: timedelta | None,
                   resolve_place: ResolvePlace | None = None,
                   known_places: Container[str] | None = None) -> ScanLogReport:
    """Read a scan log (the format in this module's docstring) into scans and row errors.

    ``retention`` is how long scans are kept (None or zero: forever); ``resolve_place(lat, lon)``
    gives the code of the registered place at a position, or None; ``known_places``, when given,
    holds the codes a place_code may name.

    >>> now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    >>> log = '''citizen_id,place_code,time,date,direction
    ... 001090000001,CHO-BT,2026-11-28 08:30,,vào
    ... 001 090 000002,CHO-BT,,27/11/2026,
    ... 1090000003,CHO-BT,2026-11-29T08:00:00+07:00,,in
    ... '''.encode()
    >>> report = parse_scan_log(log, now=now, retention=timedelta(days=30))
    >>> [(s.citizen_id, s.ts.isoformat(), s.precision, s.direction) for s in report.scans]
    [('001090000001', '2026-11-28T01:30:00+00:00', 'instant', 'in'), ('001090000002', '2026-11-26T17:00:00+00:00', 'day', 'in')]
    >>> [(e.line, e.field, e.message_en) for e in report.errors]  # doctest: +NORMALIZE_WHITESPACE
    [(4, 'citizen_id', 'has 10 digits, not 12: a spreadsheet may have dropped the leading zeros (format the column as text)'),
     (4, 'time', 'is in the future; check the device clock')]

    A file that is not a scan log gives nothing:

    >>> parse_scan_log(b"name,place\\nAn,CHO-BT\\n", now=now, retention=None)
    Traceback (most recent call last):
    ...
    ingest.scanlog.UnreadableScanLog: the first line must name the columns (citizen_id, place_code or latitude and longitude, time or date, direction): missing citizen_id, place_code or latitude and longitude, time or date; unknown name, place
    """
    header, rows = _read_rows(data)
    report = ScanLogReport()
    seen: set[str] = set()
    places: dict[tuple[float, float], str | None] = {}  # positions repeat: resolve each once

    def resolve(latitude: float, longitude: float) -> str | None:
        if (latitude, longitude) not in places:
            places[latitude, longitude] = resolve_place(latitude, longitude) if resolve_place else None
        return places[latitude, longitude]

    for line, cells in rows:
        if len(cells) != len(header):
            report.errors.append(RowError(line, "row", Message(
                f"has {len(cells)} values, the header names {len(header)} columns",
                f"có {len(cells)} giá trị, dòng tiêu đề có {len(header)} cột")))
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells)}
        errors = FieldErrors()
        scan = _parse_row(values, now, retention, resolve if resolve_place else None, known_places, errors)
        if errors:
            report.errors.extend(RowError(line, name, message) for name, message in errors.items())
        elif scan.event_id in seen:
            report.duplicates += 1
        else:
            seen.add(scan.event_id)
            report.scans.append(scan)
    return report


def place_finder(places: Iterable[tuple[str, float, float]],
                 radius_m: float = DEFAULT_PLACE_RADIUS_M) -> ResolvePlace:
    """A ``resolve_place`` for :func:`parse_scan_log`: the code of the place nearest to a
    position, if within ``radius_m`` metres; ``places`` are (code, latitude, longitude).

    >>> find = place_finder([("CHO-BT", 10.7725, 106.6980), ("NHA-THO", 10.7798, 106.6990)])
    >>> find(10.7726, 106.6981), find(10.7797, 106.6990), find(10.7760, 106.6985)
    ('CHO-BT', 'NHA-THO', None)
    """
    ordered = sorted(places, key=lambda place: (place[1], place[0]))
    latitudes = [latitude for _, latitude, _ in ordered]
    # Only places in a band of latitudes can be near: a degree of latitude is ~111 km everywhere.
    band = math.degrees(radius_m / EARTH_RADIUS_M) * 1.001

    def find(latitude: float, longitude: float) -> str | None:
        start = bisect.bisect_left(latitudes, latitude - band)
        end = bisect.bisect_right(latitudes, latitude + band)
        near = [(distance_m(latitude, longitude, lat, lon), code) for code, lat, lon in ordered[start:end]]
        best = min(near, default=None)
        return best[1] if best is not None and best[0] <= radius_m else None

    return find


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine), ample for places a street apart.

    >>> round(distance_m(21.0285, 105.8542, 21.0285, 105.8552))
    104
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _parse_row(values: dict[str, str], now: datetime, retention: timedelta | None,
               resolve: ResolvePlace | None, known_places: Container[str] | None,
               errors: FieldErrors) -> ScanEvent | None:
    citizen_id = parse_citizen_cell(values["citizen_id"], errors)
    place_id = _parse_place(values, resolve, known_places, errors)
    ts, precision = _parse_when(values, now, retention, errors)
    spelled = " ".join(unicodedata.normalize("NFC", values.get("direction", "")).lower().split())
    direction = DIRECTIONS.get(spelled or DEFAULT_DIRECTION)
    if direction is None:
        errors.add("direction", DIRECTION_UNKNOWN)
    if errors:
        return None
    content = "|".join((citizen_id, place_id, ts.isoformat(timespec="milliseconds"), precision, direction))
    return ScanEvent(event_id=uuid.uuid5(EVENT_ID_NAMESPACE, content).hex, citizen_id=citizen_id,
                     place_id=place_id, ts=ts, direction=direction, precision=precision)


def parse_citizen_cell(value: str, errors: FieldErrors, column: str = "citizen_id") -> str:
    """A cell holding a CCCD number, normalised; what is wrong with it is filed under ``column``."""
    number = normalize_id(value)
    if not number:
        errors.add(column, REQUIRED)
    elif number.isascii() and number.isdigit() and len(number) == 9:
        errors.add(column, Message("is a 9-digit CMND number: a scan needs the 12-digit CCCD",
                                         "là số CMND 9 chữ số: cần số CCCD 12 chữ số"))
    elif number.isascii() and number.isdigit() and 9 < len(number) < 12:
        errors.add(column, Message(
            f"has {len(number)} digits, not 12: a spreadsheet may have dropped the leading zeros (format the column as text)",
            f"có {len(number)} chữ số thay vì 12: bảng tính có thể đã bỏ các số 0 ở đầu (hãy định dạng cột là văn bản)"))
    elif not is_citizen_id(number):
        errors.add(column, CCCD_REQUIRED)
    return number


def _parse_place(values: dict[str, str], resolve: ResolvePlace | None,
                 known_places: Container[str] | None, errors: FieldErrors) -> str:
    code = values.get("place_code", "")
    if code:
        if not PLACE_ID.fullmatch(code):
            errors.add("place_code", PLACE_FORMAT)
        elif known_places is not None and code not in known_places:
            errors.add("place_code", PLACE_UNKNOWN)
        return code
    latitude = _parse_degrees(values.get("latitude", ""), "latitude", 90, errors)
    longitude = _parse_degrees(values.get("longitude", ""), "longitude", 180, errors)
    given = [name for name in ("latitude", "longitude") if values.get(name)]
    if not given:
        errors.add("place_code", PLACE_REQUIRED)
    elif len(given) == 1:
        errors.add("longitude" if given == ["latitude"] else "latitude", COORDINATES_TOGETHER)
    elif latitude is not None and longitude is not None:
        if resolve is None:
            errors.add("latitude", NO_PLACE_REGISTRY)
        else:
            found = resolve(latitude, longitude)
            if found is None:
                errors.add("latitude", NO_PLACE_NEAR)
            return found or ""
    return ""


def _parse_degrees(value: str, name: str, limit: int, errors: FieldErrors) -> float | None:
    if not value:
        return None
    # Plain decimals only: float() would also take "nan", "1e1" and other scripts' digits.
    if not _DEGREES.fullmatch(value) or abs(float(value)) > limit:
        errors.add(name, DEGREES_FORMAT)
        return None
    return float(value)


def _parse_when(values: dict[str, str], now: datetime, retention: timedelta | None,
                errors: FieldErrors) -> tuple[datetime | None, str]:
    """The scan's time in UTC (to the millisecond the warehouse keeps) and its precision."""
    text, day_text = values.get("time", ""), values.get("date", "")
    day = _parse_date(day_text, errors) if day_text else None
    if text:
        moment, name, precision = parse_time_cell(text, errors), "time", "instant"
    elif day is not None:
        moment, name, precision = datetime.combine(day, time(0), VIETNAM_TIME), "date", "day"
    else:
        if not day_text:
            errors.add("time", WHEN_REQUIRED)
        return None, "instant"
    if moment is None:
        return None, precision
    problem = time_problem(moment, now, retention)  # the API's rule, stated once
    if problem is not None:
        errors.add(name, problem)
    elif precision == "instant" and day is not None and moment.astimezone(VIETNAM_TIME).date() != day:
        errors.add("date", Message(f"is not the date of the time given ({moment.astimezone(VIETNAM_TIME):%d/%m/%Y})",
                                   f"không khớp với ngày của thời điểm đã ghi ({moment.astimezone(VIETNAM_TIME):%d/%m/%Y})"))
    else:
        moment = moment.astimezone(timezone.utc)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000), precision
    return None, precision


def parse_time_cell(text: str, errors: FieldErrors) -> datetime | None:
    """A cell holding a time of day (ISO 8601, or Vietnam time without an offset); errors under "time"."""
    if _ISO_DATE.fullmatch(text) or _VN_DATE.fullmatch(text):
        errors.add("time", TIME_WITHOUT_HOUR)
        return None
    try:
        vn = _VN_TIME.fullmatch(text)
        if vn:
            day, month, year, hour, minute, second = (int(part or 0) for part in vn.groups())
            moment = datetime(year, month, day, hour, minute, second)
        elif text.isascii():
            moment = datetime.fromisoformat(text)
        else:
            raise ValueError(text)
    except ValueError:
        errors.add("time", TIME_FORMAT)
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM_TIME)


def _parse_date(text: str, errors: FieldErrors) -> date | None:
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        vn = _VN_DATE.fullmatch(text)
        if vn:
            day, month, year = (int(part) for part in vn.groups())
            return date(year, month, day)
    except ValueError:
        pass
    errors.add("date", DATE_FORMAT)
    return None


def _read_rows(data: bytes) -> tuple[list[str], Rows]:
    try:
        header, rows = csv_rows(csv_text(data))
    except UnreadableCsv as exc:
        raise UnreadableScanLog(exc.message) from exc
    _check_header(header)
    return header, rows


def _check_header(header: list[str]) -> None:
    missing = [] if "citizen_id" in header else [("citizen_id", "citizen_id")]
    if "place_code" not in header and not {"latitude", "longitude"} <= set(header):
        missing.append(("place_code or latitude and longitude", "place_code hoặc latitude và longitude"))
    if "time" not in header and "date" not in header:
        missing.append(("time or date", "time hoặc date"))
    unknown = [name or "(unnamed)" for name in header if name not in COLUMNS]
    repeated = sorted({name for name in header if header.count(name) > 1 and name in COLUMNS})
    if missing or unknown or repeated:
        problems = "; ".join(f"{what} {', '.join(names)}" for what, names in (
            ("missing", [en for en, _ in missing]), ("unknown", unknown), ("repeated", repeated)) if names)
        problems_vi = "; ".join(f"{what} {', '.join(names)}" for what, names in (
            ("thiếu", [vi for _, vi in missing]), ("không hợp lệ", unknown), ("lặp lại", repeated)) if names)
        raise UnreadableScanLog(Message(
            f"the first line must name the columns (citizen_id, place_code or latitude and longitude, "
            f"time or date, direction): {problems}",
            f"dòng đầu phải là tên các cột (citizen_id, place_code hoặc latitude và longitude, "
            f"time hoặc date, direction): {problems_vi}"))
