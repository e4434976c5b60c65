"""Contact logs: contacts named in case interviews or recorded by proximity devices.

A contact log is a CSV file read as scan logs are (:mod:`ingest.csvfile`: UTF-8 with or
without a byte order mark, comma- or semicolon-separated). The first line names the columns, in
any order:

- ``citizen_a``, ``citizen_b`` (required): the two people's 12-digit CCCD numbers, spaces, dots
  and hyphens between digit groups ignored, checked as a scan log's ``citizen_id`` is and also
  against the number's structure (:func:`ingest.identity.validate_cccd`: province code, a birth
  year not in the future), since imported contacts do not pass the stream's verification. The
  same person twice is a row error. Their order does not matter: a contact is stored with the
  smaller number as ``citizen_a``.
- ``start`` (required): when the contact began, ISO 8601 (2026-11-28T08:30:00+07:00); without an
  offset (2026-11-28 08:30, 28/11/2026 08:30) it is Vietnam time (UTC+7), as in scan logs.
- ``end`` or ``duration_minutes``: exactly one per row (the header may have both columns). An
  end is written as ``start`` is and must be after it; a duration is a positive number of
  minutes (decimals with . or ,). Either way a row is at most :data:`MAX_DURATION` (24 hours):
  a longer contact (a household) is one row per day.
- ``setting`` (required): one of :data:`SETTINGS` (or its Vietnamese name in
  :data:`SETTING_NAMES`); any other value is a row error listing them.
- ``source`` (required): one of :data:`SOURCES` (or phỏng vấn, thiết bị, khác).
- ``place_code`` (optional): a registered place, when the contact happened at one.
- ``note`` (optional): accepted so interview exports need not drop it, but never read, stored or
  printed: free text from interviews holds names, addresses and symptoms.

Any other column is refused, so a misspelt one is not silently ignored. Times follow the scan
rules (:func:`ingest.scans.time_problem`): a start not before 2000-01-01 nor in the future, an
end at most 5 minutes in the future and not older than the retention period (contacts are kept
from their end). Good rows are kept and bad ones reported with their line (the header is line 1)
and column. A file that cannot be read (not UTF-8, no header, missing columns) raises
:class:`UnreadableContactLog`, giving nothing.

A contact is identified by its pair, start, end, setting and source (:attr:`LoggedContact.contact_id`
hashes them): rows equal in these count once, the first one's place kept.
"""
from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from ingest.csvfile import Rows, UnreadableCsv, csv_rows, csv_text
from ingest.errors import IngestError, Message
from ingest.fields import REQUIRED, FieldErrors
from ingest.identity import validate_cccd
# The scan log's own rules for a CCCD cell and a time cell, stated once there; RowError is the
# one shape of a row's error.
from ingest.scanlog import PLACE_FORMAT, PLACE_UNKNOWN, TIME_WITHOUT_HOUR, RowError, parse_citizen_cell, parse_time_cell
from ingest.scans import PLACE_ID, time_problem
from streams.records import VIETNAM_TIME

SETTINGS = ("household", "workplace", "school", "healthcare", "transport", "social", "other")
SOURCES = ("interview", "device", "other")
# The Vietnamese names a file may use instead; shown in the error for an unknown value.
SETTING_NAMES = {"gia đình": "household", "nơi làm việc": "workplace", "trường học": "school",
                 "y tế": "healthcare", "phương tiện": "transport", "xã hội": "social", "khác": "other"}
SOURCE_NAMES = {"phỏng vấn": "interview", "thiết bị": "device", "khác": "other"}
REQUIRED_COLUMNS = ("citizen_a", "citizen_b", "start", "setting", "source")
COLUMNS = (*REQUIRED_COLUMNS, "end", "duration_minutes", "place_code", "note")
# warehouse.imported.MAX_DURATION and the table's CHECK constraint state the same bound.
MAX_DURATION = timedelta(hours=24)
# Never change it: contact ids of files already imported would change.
CONTACT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:truyvet:imported-contact")

_MINUTES = re.compile(r"[0-9]{1,5}(?:[.,][0-9]{1,3})?")  # plain decimals: float() takes "nan", "1e3"

SAME_PERSON = Message("is the same person as citizen_a", "trùng với người ở cột citizen_a")
END_REQUIRED = Message("give end, or duration_minutes", "cần ghi thời điểm kết thúc (end) hoặc số phút (duration_minutes)")
END_OR_DURATION = Message("give end or duration_minutes, not both", "chỉ ghi end hoặc duration_minutes, không ghi cả hai")
END_NOT_AFTER_START = Message("must be after start", "phải sau thời điểm bắt đầu (start)")
TOO_LONG = Message(f"makes a contact longer than {MAX_DURATION // timedelta(hours=1)} hours: write one row per day",
                   f"làm tiếp xúc dài quá {MAX_DURATION // timedelta(hours=1)} giờ: hãy ghi mỗi ngày một dòng")
MINUTES_FORMAT = Message(f"must be a number of minutes above 0 and at most {MAX_DURATION // timedelta(minutes=1)}",
                         f"phải là số phút lớn hơn 0 và không quá {MAX_DURATION // timedelta(minutes=1)}")
NO_TIME_OF_DAY = Message("has no time of day, e.g. 28/11/2026 08:30", "không có giờ, ví dụ 28/11/2026 08:30")
SETTING_UNKNOWN = Message(f"must be one of {', '.join(SETTINGS)} ({', '.join(SETTING_NAMES)})",
                          f"phải là một trong {', '.join(SETTINGS)} ({', '.join(SETTING_NAMES)})")
SOURCE_UNKNOWN = Message(f"must be one of {', '.join(SOURCES)} ({', '.join(SOURCE_NAMES)})",
                         f"phải là một trong {', '.join(SOURCES)} ({', '.join(SOURCE_NAMES)})")


class UnreadableContactLog(IngestError):
    """The file itself cannot be read as a contact log; ``message`` says why, in both languages."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.en)
        self.message = message


@dataclass(frozen=True)
class LoggedContact:
    """One contact of a log: the pair in order (``citizen_a`` < ``citizen_b``), times in UTC to the ms."""

    citizen_a: str
    citizen_b: str
    started_at: datetime
    ended_at: datetime
    setting: str
    source: str
    place_id: str = ""  # empty: not at a known place

    @property
    def contact_id(self) -> str:
        """A hash of the contact's identity (pair, start, end, setting, source): the same on every import."""
        content = "|".join((self.citizen_a, self.citizen_b, self.started_at.isoformat(timespec="milliseconds"),
                            self.ended_at.isoformat(timespec="milliseconds"), self.setting, self.source))
        return uuid.uuid5(CONTACT_ID_NAMESPACE, content).hex

    @property
    def minutes(self) -> float:
        return (self.ended_at - self.started_at) / timedelta(minutes=1)


@dataclass
class ContactLogReport:
    """The contacts of the good rows, in file order, and an error for each failing column of the others.

    ``duplicates`` counts rows naming a contact an earlier row named (kept once).
    """

    contacts: list[LoggedContact] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({error.line for error in self.errors})


def parse_contact_log(data: bytes, *, now: datetime, retention: timedelta | None,
                      known_places: Container[str] | None = None) -> ContactLogReport:
    """Read a contact log (the format in this module's docstring) into contacts and row errors.

    ``retention`` is how long contacts are kept (None or zero: forever); ``known_places``, when
    given, holds the codes a place_code may name.

    >>> now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    >>> log = '''citizen_b,citizen_a,start,end,duration_minutes,setting,source,note
    ... 001090000002,001090000001,2026-11-27 19:00,,90,gia đình,phỏng vấn,"ăn tối, anh Nam"
    ... 001090000003,001090000003,2026-11-27T08:00:00+07:00,2026-11-27T07:00:00+07:00,,school,device,
    ... '''.encode()
    >>> report = parse_contact_log(log, now=now, retention=timedelta(days=30))
    >>> [(c.citizen_a, c.citizen_b, c.started_at.isoformat(), c.minutes, c.setting, c.source) for c in report.contacts]
    [('001090000001', '001090000002', '2026-11-27T12:00:00+00:00', 90.0, 'household', 'interview')]
    >>> [(e.line, e.field, e.message_en) for e in report.errors]
    [(3, 'citizen_b', 'is the same person as citizen_a'), (3, 'end', 'must be after start')]
    """
    header, rows = _read_rows(data)
    report = ContactLogReport()
    seen: set[str] = set()
    for line, cells in rows:
        if len(cells) != len(header):
            report.errors.append(RowError(line, "row", Message(
                f"has {len(cells)} values, the header names {len(header)} columns",
                f"có {len(cells)} giá trị, dòng tiêu đề có {len(header)} cột")))
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells)}
        errors = FieldErrors()
        contact = _parse_row(values, now, retention, known_places, errors)
        if errors:
            report.errors.extend(RowError(line, name, message) for name, message in errors.items())
        elif contact.contact_id in seen:
            report.duplicates += 1
        else:
            seen.add(contact.contact_id)
            report.contacts.append(contact)
    return report


def _parse_row(values: dict[str, str], now: datetime, retention: timedelta | None,
               known_places: Container[str] | None, errors: FieldErrors) -> LoggedContact | None:
    today = now.astimezone(VIETNAM_TIME).date()
    first = _parse_person(values["citizen_a"], "citizen_a", today, errors)
    second = _parse_person(values["citizen_b"], "citizen_b", today, errors)
    if first and first == second:
        errors.add("citizen_b", SAME_PERSON)
    started_at, ended_at = _parse_times(values, now, retention, errors)
    setting = _choice(values["setting"], SETTINGS, SETTING_NAMES, "setting", SETTING_UNKNOWN, errors)
    source = _choice(values["source"], SOURCES, SOURCE_NAMES, "source", SOURCE_UNKNOWN, errors)
    place_id = values.get("place_code", "")
    if place_id and not PLACE_ID.fullmatch(place_id):
        errors.add("place_code", PLACE_FORMAT)
    elif place_id and known_places is not None and place_id not in known_places:
        errors.add("place_code", PLACE_UNKNOWN)
    if errors:
        return None
    citizen_a, citizen_b = sorted((first, second))
    return LoggedContact(citizen_a, citizen_b, started_at, ended_at, setting, source, place_id)


def _parse_person(value: str, column: str, today: date, errors: FieldErrors) -> str:
    number = parse_citizen_cell(value, errors, column)
    if column not in errors:
        problems = validate_cccd(number, today=today)
        if problems:
            errors.add(column, Message(problems[0].message, problems[0].message_vi))
    return number


def _parse_times(values: dict[str, str], now: datetime, retention: timedelta | None,
                 errors: FieldErrors) -> tuple[datetime | None, datetime | None]:
    """The contact's start and end in UTC, to the millisecond the warehouse keeps."""
    start = _moment(values["start"], "start", errors)
    end_text, minutes_text = values.get("end", ""), values.get("duration_minutes", "")
    if end_text and minutes_text:
        errors.add("duration_minutes", END_OR_DURATION)
        return start, None
    if not end_text and not minutes_text:
        errors.add("end", END_REQUIRED)
        return start, None
    end_column = "end" if end_text else "duration_minutes"
    end = _moment(end_text, "end", errors) if end_text else None
    minutes = _parse_minutes(minutes_text, errors) if minutes_text else None
    if start is None or (end is None and minutes is None):
        return start, None
    problem = time_problem(start, now, None)  # the scan rule; retention counts from the end
    if problem is not None:
        errors.add("start", problem)
        return start, None
    if end is None:
        end = _to_ms(start + timedelta(minutes=minutes))
    if end <= start:
        errors.add(end_column, END_NOT_AFTER_START if end_column == "end" else MINUTES_FORMAT)
    elif end - start > MAX_DURATION:
        errors.add(end_column, TOO_LONG)
    else:
        problem = time_problem(end, now, retention)
        if problem is None:
            return start, end
        if end_column == "end":
            errors.add("end", problem)
        else:
            local = f"{end.astimezone(VIETNAM_TIME):%d/%m/%Y %H:%M}"
            errors.add(end_column, Message(f"makes the contact end at {local} (Vietnam time), which {problem.en}",
                                           f"làm tiếp xúc kết thúc lúc {local} (giờ Việt Nam), thời điểm này {problem.vi}"))
    return start, None


def _moment(text: str, column: str, errors: FieldErrors) -> datetime | None:
    if not text:
        errors.add(column, REQUIRED)
        return None
    scratch = FieldErrors()
    moment = parse_time_cell(text, scratch)
    for message in scratch.values():  # the scan log's message would point at its date column
        errors.add(column, NO_TIME_OF_DAY if message == TIME_WITHOUT_HOUR else message)
    return None if moment is None else _to_ms(moment)


def _parse_minutes(text: str, errors: FieldErrors) -> float | None:
    minutes = float(text.replace(",", ".")) if _MINUTES.fullmatch(text) else None
    if minutes is None or not 0 < minutes <= MAX_DURATION / timedelta(minutes=1):
        errors.add("duration_minutes", MINUTES_FORMAT)
        return None
    return minutes


def _choice(value: str, codes: tuple[str, ...], names: dict[str, str], column: str,
            unknown: Message, errors: FieldErrors) -> str:
    spelled = " ".join(unicodedata.normalize("NFC", value).lower().split())
    if not spelled:
        errors.add(column, REQUIRED)
        return ""
    code = spelled if spelled in codes else names.get(spelled)
    if code is None:
        errors.add(column, unknown)
        return ""
    return code


def _to_ms(moment: datetime) -> datetime:
    moment = moment.astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _read_rows(data: bytes) -> tuple[list[str], Rows]:
    try:
        header, rows = csv_rows(csv_text(data))
    except UnreadableCsv as exc:
        raise UnreadableContactLog(exc.message) from exc
    missing = [(name, name) for name in REQUIRED_COLUMNS if name not in header]
    if "end" not in header and "duration_minutes" not in header:
        missing.append(("end or duration_minutes", "end hoặc duration_minutes"))
    unknown = [name or "(unnamed)" for name in header if name not in COLUMNS]
    repeated = sorted({name for name in header if header.count(name) > 1 and name in COLUMNS})
    if missing or unknown or repeated:
        columns = "citizen_a, citizen_b, start, end or duration_minutes, setting, source, place_code, note"
        raise UnreadableContactLog(Message(
            f"the first line must name the columns ({columns}): "
            + _problems(("missing", "unknown", "repeated"), [en for en, _ in missing], unknown, repeated),
            f"dòng đầu phải là tên các cột ({columns.replace(' or ', ' hoặc ')}): "
            + _problems(("thiếu", "không hợp lệ", "lặp lại"), [vi for _, vi in missing], unknown, repeated)))
    return header, rows


def _problems(words: tuple[str, str, str], *names: list[str]) -> str:
    return "; ".join(f"{word} {', '.join(found)}" for word, found in zip(words, names) if found)
