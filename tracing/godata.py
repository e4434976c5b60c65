"""The files WHO's Go.Data imports, from a forward trace: its contacts (F1) and contacts of contacts (F2).

Column names are Go.Data's own field paths, as its contact and contact-of-contact imports name
their destination fields; the mapping and its sources are in docs/godata-export.md. Pure, as
:mod:`tracing.export` is, and shaped by the same ``people`` fields.
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import networkx as nx

from streams.records import VIETNAM_TIME
from tracing.errors import InvalidTrace
from tracing.export import People, _csv_text, _iso, _local_date, _node_order

# The two imports take the same fields: the person, then the relationship that makes them one.
GODATA_CONTACT_COLUMNS = (
    "visualId", "firstName", "middleName", "lastName", "gender", "age.years", "dateOfReporting",
    "addresses[0].typeId", "addresses[0].locationId", "addresses[0].phoneNumber",
    "relationship.persons[0].id", "relationship.dateOfFirstContact", "relationship.contactDate",
    "relationship.certaintyLevelId", "relationship.exposureTypeId", "relationship.comment",
)
GODATA_FILES = {"contacts.csv": 1, "contacts_of_contacts.csv": 2}  # file -> the tier it holds
_MALE, _FEMALE = "LNG_REFERENCE_DATA_CATEGORY_GENDER_MALE", "LNG_REFERENCE_DATA_CATEGORY_GENDER_FEMALE"
GODATA_GENDER = {"male": _MALE, "nam": _MALE, "female": _FEMALE, "nữ": _FEMALE}  # registry and card QR words
GODATA_RESIDENCE = "LNG_REFERENCE_DATA_CATEGORY_ADDRESS_TYPE_USUAL_PLACE_OF_RESIDENCE"
_CERTAINTY = tuple(f"LNG_REFERENCE_DATA_CATEGORY_CERTAINTY_LEVEL_{level}" for level in ("1_LOW", "2_MEDIUM", "3_HIGH"))
# How sure an exposure is that two people met: a whole day at one place (low), two scans near in
# time (medium), overlapping stays or a contact named by an interview or a device (high).
_CERTAINTY_OF = {"same_day": 0, "point_window": 1, "interval_overlap": 2}
_HOUSEHOLD = "LNG_REFERENCE_DATA_CATEGORY_EXPOSURE_TYPE_SLEPT_ATE_OR_SPEND_TIME_IN_SAME_HOUSEHOLD"


def graph_godata(graph: nx.DiGraph, people: People | None = None, *,
                 reported_on: date | None = None) -> dict[str, str]:
    """The CSV files Go.Data imports for a forward trace: file name -> text (UTF-8 when saved).

    ``contacts.csv`` holds the F1s, each with their relationship to the case (Go.Data's contact
    import); ``contacts_of_contacts.csv`` the F2s, each with their relationship to the F1 who
    exposed them first (its contact-of-contact import; other F1s they met are named in the
    comment). Go.Data has no tier past contacts of contacts: F3 and beyond are left out. Import
    ``contacts.csv`` first. People are matched by visual ID, the citizen ID; the case by
    ``people[case]["godata_id"]`` when given, else by its citizen ID. ``reported_on`` is the
    ``dateOfReporting`` (default: the trace's ``until``, in Viet Nam).

    >>> import csv
    >>> from tracing.export import _example
    >>> graph = _example()
    >>> files = graph_godata(graph, {"A": {"full_name": "Nguyễn Văn An"}}, reported_on=date(2021, 7, 6))
    >>> rows = list(csv.DictReader(io.StringIO(files["contacts.csv"])))
    >>> [(r["visualId"], r["lastName"], r["firstName"], r["relationship.persons[0].id"]) for r in rows]
    [('A', 'Nguyễn', 'An', 'F0')]
    >>> [r["relationship.persons[0].id"] for r in csv.DictReader(io.StringIO(files["contacts_of_contacts.csv"]))]
    ['A']
    """
    if graph.graph.get("direction") != "forward":
        raise InvalidTrace("Go.Data imports the contacts of a case: export a forward trace")
    people = people or {}
    case = graph.graph["case"]
    reported_on = reported_on or graph.graph["until"].astimezone(VIETNAM_TIME).date()
    order = _node_order(graph)
    place = {citizen: index for index, citizen in enumerate(order)}
    files = {}
    for name, tier in GODATA_FILES.items():
        rows = []
        for citizen in (c for c in order if graph.nodes[c]["tier"] == tier):
            # The relationship that makes them an F(tier): to someone one tier nearer the case,
            # the earliest of those (an earlier exposure through a longer chain is in the comment).
            parents = sorted(graph.predecessors(citizen), key=lambda p: (
                graph.nodes[p]["tier"] != tier - 1, graph.edges[p, citizen]["exposed_at"], place[p]))
            parent = parents[0]
            reference = parent
            if parent == case:
                reference = people.get(case, {}).get("godata_id") or case
            rows.append(_godata_person(citizen, people.get(citizen, {}), reported_on)
                        | _godata_relationship(graph.edges[parent, citizen], reference, parents[1:]))
        files[name] = _csv_text(GODATA_CONTACT_COLUMNS, rows)
    return files


def godata_zip(graph: nx.DiGraph, people: People | None = None, *, reported_on: date | None = None) -> bytes:
    """:func:`graph_godata`'s files in one zip, one download; each file is imported on its own.

    >>> from tracing.export import _example
    >>> graph = _example()
    >>> sorted(zipfile.ZipFile(io.BytesIO(godata_zip(graph))).namelist())
    ['contacts.csv', 'contacts_of_contacts.csv']
    """
    return zip_texts(graph_godata(graph, people, reported_on=reported_on))


def zip_texts(files: Mapping[str, str]) -> bytes:
    """A zip of text files (UTF-8), the same bytes for the same files: no clock inside."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), files[name].encode("utf-8"),
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _godata_person(citizen: str, known: Mapping[str, Any], reported_on: date) -> dict[str, Any]:
    """A contact's own Go.Data fields: who they are and how to reach them, nothing more."""
    last, middle, first = _name_parts(known.get("full_name") or "")
    sex = str(known.get("sex") or "")
    return {
        "visualId": citizen, "firstName": first, "middleName": middle, "lastName": last,
        "gender": GODATA_GENDER.get(sex.lower(), sex),
        "age.years": _age(known.get("date_of_birth"), reported_on),
        "dateOfReporting": reported_on.isoformat(),
        "addresses[0].typeId": GODATA_RESIDENCE,
        "addresses[0].locationId": known.get("ward_code"),
        "addresses[0].phoneNumber": known.get("phone"),
    }


def _godata_relationship(edge: Mapping[str, Any], reference: str, others: Iterable[str]) -> dict[str, Any]:
    """The Go.Data relationship of one exposure edge, dates local to Viet Nam."""
    exposures = edge.get("exposures") or ()
    kinds = [(e.source, e.criterion) for e in exposures] or [(edge["source"], edge["criterion"])]
    certainty = max(2 if source == "imported" else _CERTAINTY_OF.get(criterion, 1) for source, criterion in kinds)
    household = any(source == "imported" and criterion == "household" for source, criterion in kinds)
    first = (f"at {edge['place_id']}" if edge["place_id"]
             else f"as a {edge['criterion']} contact ({edge['rule_version']})")
    comment = (f"truyvet: {edge['exposure_count']} exposure(s), {edge['minutes']:g} min, first {first}, "
               f"counted from {_iso(edge['exposed_at'], VIETNAM_TIME)}")
    others = list(others)
    if others:
        comment += f"; also exposed by {', '.join(others)}"
    return {
        "relationship.persons[0].id": reference,
        "relationship.dateOfFirstContact": _local_date(edge["first_together"]),
        "relationship.contactDate": _local_date(edge["last_together"]),
        "relationship.certaintyLevelId": _CERTAINTY[certainty],
        "relationship.exposureTypeId": _HOUSEHOLD if household else None,
        "relationship.comment": comment,
    }


def _name_parts(full_name: str) -> tuple[str, str, str]:
    """A Vietnamese full name as (family, middle, given): the family name comes first.

    >>> _name_parts("Nguyễn Thị Minh Khai"), _name_parts("Lan")
    (('Nguyễn', 'Thị Minh', 'Khai'), ('', '', 'Lan'))
    """
    words = full_name.split()
    if len(words) < 2:
        return "", "", full_name.strip()
    return words[0], " ".join(words[1:-1]), words[-1]


def _age(born: date | str | None, on: date) -> int | None:
    """Whole years from ``born`` (a date or ISO date) to ``on``; age, not the birth date, goes out."""
    if not born:
        return None
    born = born if isinstance(born, date) else date.fromisoformat(born)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
