"""Places: the checkpoints and venues where people are scanned or check in.

Admins add them one at a time or import a CSV file (columns in :data:`CSV_COLUMNS`). Every
value goes through :func:`parse_place`, so the CLI, an import and a future admin page refuse
the same things with the same bilingual messages.

Importing is idempotent: a row equal to the stored place changes nothing, so the same file can
be imported again. A row whose code exists with *other* content is reported and the place left
as it is, unless the caller asks for ``update=True``: places are printed on posters and bound to
officers, so a file must not quietly rename or move one.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ingest.csvfile import Rows, UnreadableCsv, csv_rows, csv_text
from ingest.errors import InvalidInput, Message
from ingest.fields import (REQUIRED, FieldErrors, is_plain_text, normalize_name, parse_province,
                           whole_number)
from ingest.scans import PLACE_ID
from ingest.units import province_name, ward_in_province, wards
from webapp.extensions import db
from webapp.models import Place

PLACE_KINDS = ("checkpoint", "venue")  # chốt kiểm soát; địa điểm (market, hospital, shop...)
KIND_NAMES = {"checkpoint": Message("Checkpoint", "Chốt kiểm soát"), "venue": Message("Venue", "Địa điểm")}
NAME_MAX = 120
CSV_COLUMNS = ("code", "kind", "name", "province_code", "ward_code", "latitude", "longitude")
CSV_REQUIRED = ("code", "kind", "name", "province_code")
# Rough boxes, (south, north, west, east): the mainland with its near islands, and the two
# island wards of the 2025 units (Đặc khu Hoàng Sa, Đà Nẵng; Đặc khu Trường Sa, Khánh Hòa).
# They catch swapped or mistyped coordinates, not a place put in the wrong ward.
VIETNAM_BOXES = ((8.0, 24.0, 102.0, 110.0), (15.5, 17.5, 111.0, 113.0), (6.0, 12.0, 111.0, 118.0))
# Plain decimal degrees: float() would also take "nan", "1e1" and other scripts' digits.
_DEGREES = re.compile(r"-?[0-9]{1,3}(?:\.[0-9]{1,12})?")
_QUERY_CHUNK = 500  # codes per IN (...) when an import looks up what exists

CODE_FORMAT = Message("must be 1-64 letters, digits or _ . : - (starting with a letter or digit)",
                      "phải gồm 1-64 chữ cái, chữ số hoặc _ . : - (bắt đầu bằng chữ cái hoặc chữ số)")
CODE_EXISTS = Message("a place with this code already exists", "đã có địa điểm với mã này")
KIND_UNKNOWN = Message(f"must be one of: {', '.join(PLACE_KINDS)}",
                       f"phải là một trong: {', '.join(PLACE_KINDS)}")
NAME_FORMAT = Message(f"must be 1-{NAME_MAX} characters of plain text",
                      f"phải gồm 1-{NAME_MAX} ký tự, không chứa ký tự điều khiển")
WARD_UNKNOWN = Message("is not a ward of that province", "không phải phường, xã của tỉnh, thành phố đã chọn")
DEGREES_FORMAT = Message("must be decimal degrees, e.g. 21.0285", "phải là độ thập phân, ví dụ 21.0285")
OUTSIDE_VIETNAM = Message("is outside Vietnam", "nằm ngoài lãnh thổ Việt Nam")
COORDINATES_TOGETHER = Message("latitude and longitude go together: give both or neither",
                               "vĩ độ và kinh độ đi cùng nhau: nhập cả hai hoặc bỏ trống cả hai")


@dataclass(frozen=True)
class RowError:
    """Why one CSV row was not imported; ``line`` is where the row starts in the file (header: 1)."""

    line: int
    code: str
    errors: dict[str, Message]


@dataclass
class ImportReport:
    """What an import did, by place code; ``errors`` holds the rows that were not imported."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_place(row: dict[str, Any]) -> dict[str, Any]:
    """The fields of a :class:`Place` from submitted values; :class:`InvalidInput` lists every problem.

    Numbers may come as text (CSV, command line) or as numbers; empty text means absent.

    >>> parse_place({"code": "CP-HN-01", "kind": "checkpoint", "name": " Chốt  Pháp Vân ",
    ...              "province_code": "1", "ward_code": "", "latitude": "20.95", "longitude": "105.84"})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'code': 'CP-HN-01', 'kind': 'checkpoint', 'name': 'Chốt Pháp Vân', 'province_code': 1,
     'ward_code': None, 'latitude': 20.95, 'longitude': 105.84}
    >>> parse_place({"code": "x y", "kind": "shop", "province_code": "2"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ingest.errors.InvalidInput: code: must be 1-64 ...; kind: must be one of: ...; name: is required; province_code: ...
    """
    errors = FieldErrors()
    values = {key: value.strip() if isinstance(value, str) else value for key, value in row.items()}
    code = values.get("code")
    if code in (None, ""):
        errors.add("code", REQUIRED)
    elif not isinstance(code, str) or not PLACE_ID.fullmatch(code):
        errors.add("code", CODE_FORMAT)
    kind = values.get("kind")
    if kind in (None, ""):
        errors.add("kind", REQUIRED)
    elif kind not in PLACE_KINDS:
        errors.add("kind", KIND_UNKNOWN)
    name = _parse_name(values.get("name"), errors)
    province = None
    if values.get("province_code") in (None, ""):
        errors.add("province_code", REQUIRED)
    else:
        province = parse_province(values["province_code"], "province_code", errors)
    ward = None
    if values.get("ward_code") not in (None, ""):
        ward = whole_number(values["ward_code"])
        if ward is None or (province is not None and not ward_in_province(ward, province)):
            errors.add("ward_code", WARD_UNKNOWN)
    latitude = _parse_degrees(values.get("latitude"), "latitude", errors)
    longitude = _parse_degrees(values.get("longitude"), "longitude", errors)
    _check_coordinates(values, latitude, longitude, errors)
    if errors:
        raise InvalidInput(dict(errors))
    return {"code": code, "kind": kind, "name": name, "province_code": province, "ward_code": ward,
            "latitude": latitude, "longitude": longitude}


def add_place(**values: Any) -> Place:
    """Add one place; :class:`InvalidInput` when a value is wrong or the code is taken."""
    fields = parse_place(values)
    if db.session.get(Place, fields["code"]) is not None:
        raise InvalidInput({"code": CODE_EXISTS})
    place = Place(**fields)
    db.session.add(place)
    try:
        db.session.commit()
    except IntegrityError as exc:  # added by someone else since the check above
        db.session.rollback()
        raise InvalidInput({"code": CODE_EXISTS}) from exc
    return place


def get_place(code: str) -> Place | None:
    return db.session.get(Place, code)


def list_places() -> list[Place]:
    """Every place, by code."""
    return list(db.session.scalars(select(Place).order_by(Place.code)))


def location(place: Place) -> tuple[str | None, str | None]:
    """The names of the place's ward (if any) and province."""
    ward = dict(wards(place.province_code)).get(place.ward_code) if place.ward_code else None
    return ward, province_name(place.province_code)


def import_places(source: str | bytes | IO[str] | IO[bytes], *, update: bool = False) -> ImportReport:
    """Import places from CSV text or a file: good rows are kept, bad rows reported with their line.

    The file is UTF-8 (a byte order mark, as spreadsheets write it, is fine) with a header row
    naming the columns in any order: ``code,kind,name,province_code`` are required, ``ward_code``,
    ``latitude`` and ``longitude`` optional. A row equal to the stored place counts as unchanged;
    one that differs is reported (or, with ``update``, updated). Problems with the file itself
    (not UTF-8, a bad header) raise :class:`InvalidInput` under ``file`` and import nothing.
    """
    report = ImportReport()
    parsed = _parse_rows(*_read_rows(source), report)
    stored = _stored(list(parsed))
    for code, (line, fields) in parsed.items():
        place = stored.get(code)
        if place is None:
            db.session.add(Place(**fields))
            report.added.append(code)
            continue
        differing = [name for name, value in fields.items() if getattr(place, name) != value]
        if not differing:
            report.unchanged.append(code)
        elif update:
            for name in differing:
                setattr(place, name, fields[name])
            report.updated.append(code)
        else:
            report.errors.append(RowError(line, code, {name: Message(
                "differs from the stored place (not changed; import with update to change it)",
                "khác với địa điểm đã lưu (chưa thay đổi; nhập với tùy chọn cập nhật để thay đổi)",
            ) for name in differing}))
    try:
        db.session.commit()
    except IntegrityError as exc:  # another import or add_place took a code meanwhile
        db.session.rollback()
        raise InvalidInput({"file": Message(
            "places changed during the import; nothing was saved, import the file again",
            "danh sách địa điểm thay đổi trong lúc nhập; chưa lưu gì, hãy nhập lại tệp")}) from exc
    report.errors.sort(key=lambda error: error.line)
    return report


def places_csv(places: Iterable[Place]) -> str:
    """Places in the import format, so a listing can be edited and imported again."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for place in places:
        writer.writerow(["" if getattr(place, name) is None else getattr(place, name) for name in CSV_COLUMNS])
    return out.getvalue()


def _parse_rows(header: list[str], rows: list[tuple[int, list[str]]],
                report: ImportReport) -> dict[str, tuple[int, dict[str, Any]]]:
    """The good rows' fields by code, with the line each came from; bad rows go to ``report``."""
    parsed: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, cells in rows:
        values = dict(zip(header, cells))
        problems: dict[str, Message] = {}
        if len(cells) != len(header):
            problems = {"row": Message(f"has {len(cells)} values, the header names {len(header)} columns",
                                       f"có {len(cells)} giá trị, dòng tiêu đề có {len(header)} cột")}
        else:
            try:
                fields = parse_place(values)
            except InvalidInput as exc:
                problems = exc.errors
            else:
                earlier = parsed.setdefault(fields["code"], (line, fields))
                if earlier[1] != fields:
                    problems = {"code": Message(f"repeats line {earlier[0]} with other values",
                                                f"trùng mã ở dòng {earlier[0]} với giá trị khác")}
        if problems:
            report.errors.append(RowError(line, str(values.get("code") or ""), problems))
    return parsed


def _stored(codes: list[str]) -> dict[str, Place]:
    found: dict[str, Place] = {}
    for start in range(0, len(codes), _QUERY_CHUNK):
        chunk = codes[start:start + _QUERY_CHUNK]
        found.update((place.code, place) for place in db.session.scalars(select(Place).where(Place.code.in_(chunk))))
    return found


def _parse_name(value: Any, errors: FieldErrors) -> str:
    if value in (None, ""):
        errors.add("name", REQUIRED)
        return ""
    name = normalize_name(value) if isinstance(value, str) else ""
    if not 1 <= len(name) <= NAME_MAX or not is_plain_text(name):
        errors.add("name", NAME_FORMAT)
    return name


def _parse_degrees(value: Any, field_name: str, errors: FieldErrors) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        degrees = float(value)
    elif isinstance(value, str) and _DEGREES.fullmatch(value):
        degrees = float(value)
    else:
        errors.add(field_name, DEGREES_FORMAT)
        return None
    if degrees != degrees:  # NaN passed as a number
        errors.add(field_name, DEGREES_FORMAT)
        return None
    return degrees


def _check_coordinates(values: dict[str, Any], latitude: float | None, longitude: float | None,
                       errors: FieldErrors) -> None:
    given = {name: values.get(name) not in (None, "") for name in ("latitude", "longitude")}
    if given["latitude"] != given["longitude"]:
        errors.add("longitude" if given["latitude"] else "latitude", COORDINATES_TOGETHER)
    elif latitude is not None and longitude is not None and not any(
            south <= latitude <= north and west <= longitude <= east
            for south, north, west, east in VIETNAM_BOXES):
        errors.add("latitude" if not 6.0 <= latitude <= 24.0 else "longitude", OUTSIDE_VIETNAM)


def _read_rows(source: str | bytes | IO[str] | IO[bytes]) -> tuple[list[str], Rows]:
    """The header, and (line where the row starts, cells) for each non-blank row after it."""
    content = source.read() if hasattr(source, "read") else source
    try:
        header, rows = csv_rows(csv_text(content))
    except UnreadableCsv as exc:
        raise InvalidInput({"file": exc.message}) from exc
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = [name for name in CSV_REQUIRED if name not in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if unknown or missing or repeated:
        problems = [f"unknown {', '.join(unknown)}" if unknown else "",
                    f"missing {', '.join(missing)}" if missing else "",
                    f"repeated {', '.join(repeated)}" if repeated else ""]
        problem = "; ".join(p for p in problems if p)
        raise InvalidInput({"file": Message(
            f"the first line must name the columns ({', '.join(CSV_COLUMNS)}): {problem}",
            f"dòng đầu phải là tên các cột ({', '.join(CSV_COLUMNS)}): {problem}")})
    return header, rows
