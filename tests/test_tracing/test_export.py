"""Exports of a trace read back by the tools that take them: json, networkx's GraphML reader, csv."""
from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from datetime import date, datetime, timedelta

import networkx as nx
import pytest

from streams.records import VIETNAM_TIME
from tests.test_tracing import FAR, at, fetcher, met, talked
from tracing.backward import possible_sources
from tracing.errors import InvalidTrace
from tracing.export import CSV_COLUMNS, graph_csv, graph_graphml, graph_json
from tracing.godata import godata_zip, graph_godata
from tracing.forward import trace
from tracing.rules import DEFAULT_TRACE_RULES

ROWS = [
    met("F0", "A", 2, minutes=20),              # F1: overlapping stays at the market
    talked("F0", "C", 5, 30),                   # F1: named in the case interview (household)
    met("A", "B", 6, place="SCHOOL"),           # F2 through A first...
    met("C", "B", 7),                           # ...and through C an hour later
    met("B", "D", 8),                           # F3
]
PEOPLE = {
    "F0": {"ward_code": 26734, "godata_id": "CASE-0001"},
    "A": {"full_name": "Nguyễn Văn An", "sex": "male", "date_of_birth": "1950-07-07", "phone": "0901234567",
          "ward_code": 26734},
    "C": {"full_name": "Trần Thị Bích Chi", "sex": "female", "date_of_birth": "1990-01-01", "phone": "0907654321",
          "ward_code": 26740},
    "B": {"full_name": "Lê Bình", "sex": "male", "date_of_birth": "2001-03-04", "phone": "0912345678",
          "ward_code": 26740},
}
EDGES = {("F0", "A"), ("F0", "C"), ("A", "B"), ("C", "B"), ("B", "D")}

# Go.Data's import columns, as its own field paths (see docs/godata-export.md for each one's source):
# - person fields: GoDataSource-API server/models/person.json (visualId, firstName, middleName,
#   lastName, gender, age, dateOfReporting, addresses) and the address model (typeId, locationId,
#   phoneNumber), https://github.com/WorldHealthOrganization/GoDataSource-API;
# - relationship fields: common/models/relationship.json (persons, contactDate, certaintyLevelId,
#   exposureTypeId, comment) and common/models/relationship.js (dateOfFirstContact);
# - required by the contact import (GoDataSource-FrontEnd, import-contact-data.component.ts):
#   firstName, dateOfReporting, relationship.persons[].id, relationship.contactDate,
#   relationship.certaintyLevelId; by the contact-of-contact import: firstName,
#   relationship.persons[].id.
GODATA_DOCUMENTED_COLUMNS = [
    "visualId", "firstName", "middleName", "lastName", "gender", "age.years", "dateOfReporting",
    "addresses[0].typeId", "addresses[0].locationId", "addresses[0].phoneNumber",
    "relationship.persons[0].id", "relationship.dateOfFirstContact", "relationship.contactDate",
    "relationship.certaintyLevelId", "relationship.exposureTypeId", "relationship.comment",
]
GODATA_REQUIRED = ["firstName", "dateOfReporting", "relationship.persons[0].id", "relationship.contactDate",
                   "relationship.certaintyLevelId"]


def traced(rows=ROWS, depth=3):
    return trace("F0", at(0), depth, DEFAULT_TRACE_RULES, fetcher(rows), until=FAR)


def read_csv(text):
    reader = csv.DictReader(io.StringIO(text))
    return reader.fieldnames, list(reader)


def test_the_json_answer_round_trips_with_its_tiers_times_and_order():
    graph = traced()
    answer = json.loads(json.dumps(graph_json(graph, PEOPLE)))

    assert answer["case"] == "F0" and answer["direction"] == "forward" and answer["rules"] == DEFAULT_TRACE_RULES.name
    assert datetime.fromisoformat(answer["until"]) == FAR
    assert answer["tiers"] == {"1": 2, "2": 1, "3": 1}
    assert [(n["citizen_id"], n["tier"]) for n in answer["nodes"]] == \
        [("F0", 0), ("A", 1), ("C", 1), ("B", 2), ("D", 3)]
    nodes = {n["citizen_id"]: n for n in answer["nodes"]}
    assert nodes["F0"]["first_exposure"] is None
    assert nodes["A"]["first_exposure"] == "2021-07-05T03:00:00.000Z"  # ISO 8601, UTC, as the API writes times
    assert datetime.fromisoformat(nodes["B"]["first_exposure"]) == at(6)
    assert nodes["A"]["ward_code"] == 26734 and "ward_code" not in nodes["D"]
    node_keys = {"citizen_id", "tier", "first_exposure", "last_exposure", "isolated_at"}
    assert all(set(n) >= node_keys for n in nodes.values())

    edges = {(e["source"], e["target"]): e for e in answer["edges"]}
    assert set(edges) == EDGES
    assert [(e["source"], e["target"]) for e in answer["edges"]][:2] == [("F0", "A"), ("F0", "C")]
    market, interview = edges["F0", "A"], edges["F0", "C"]
    assert (market["place_id"], market["minutes"], market["source_kind"], market["criterion"]) == \
        ("MARKET", 20.0, "stream", "interval_overlap")
    assert datetime.fromisoformat(market["last_together"]) == at(2) + timedelta(minutes=20)
    assert (interview["place_id"], interview["source_kind"], interview["criterion"], interview["exposure_count"]) == \
        (None, "imported", "household", 1)
    assert set(market) == {"source", "target", "exposed_at", "place_id", "first_together", "last_together", "minutes",
                           "exposure_count", "rule_version", "source_kind", "criterion"}


def test_the_json_answer_is_the_same_whatever_order_the_rows_came_in():
    shuffled = ROWS[:]
    random.Random(9).shuffle(shuffled)
    assert json.dumps(graph_json(traced(shuffled), PEOPLE)) == json.dumps(graph_json(traced(), PEOPLE))


def test_people_fields_may_not_overwrite_the_trace():
    with pytest.raises(ValueError, match="tier"):
        graph_json(traced(), {"A": {"tier": 9}})
    with pytest.raises(ValueError, match="source_kind"):
        graph_csv(traced(), {"A": {"kind": "x"}})


def test_a_backward_trace_exports_its_possible_sources():
    onset = at(24 * 10)
    rows = [met("F0", "S", 24 * 8), met("F0", "T", 24 * 9, minutes=30)]
    graph = possible_sources("F0", onset, rows, DEFAULT_TRACE_RULES)
    answer = json.loads(json.dumps(graph_json(graph)))

    assert answer["direction"] == "backward" and answer["tiers"] == {"-1": 2}
    assert [n["citizen_id"] for n in answer["nodes"]] == ["S", "T", "F0"]
    assert datetime.fromisoformat(answer["nodes"][1]["last_exposure"]) == at(24 * 9) + timedelta(minutes=30)
    assert {(e["source"], e["target"]) for e in answer["edges"]} == {("S", "F0"), ("T", "F0")}


def test_graphml_read_back_by_networkx_has_the_same_people_tiers_and_exposures():
    graph = traced()
    back = nx.read_graphml(io.StringIO(graph_graphml(graph, PEOPLE)))

    assert isinstance(back, nx.DiGraph)
    assert set(back.nodes) == set(graph.nodes) and set(back.edges) == set(graph.edges) == EDGES
    assert dict(back.nodes(data="tier")) == dict(graph.nodes(data="tier"))
    assert back.graph["case"] == "F0" and datetime.fromisoformat(back.graph["until"]) == FAR
    assert datetime.fromisoformat(back.nodes["B"]["first_exposure"]) == at(6)
    assert "first_exposure" not in back.nodes["F0"]  # GraphML has no null: absent values are left out
    assert back.nodes["A"]["ward_code"] == 26734
    market, interview = back.edges["F0", "A"], back.edges["F0", "C"]
    assert (market["place_id"], market["minutes"], market["exposure_count"], market["source_kind"]) == \
        ("MARKET", 20.0, 1, "stream")
    assert "place_id" not in interview and interview["source_kind"] == "imported"
    assert not any("exposures" in data for _, _, data in back.edges(data=True))


def test_csv_has_one_row_per_edge_with_the_documented_header_and_both_tiers():
    graph = traced()
    header, rows = read_csv(graph_csv(graph, {"A": {"ward_code": 26734}, "B": {"phone": "+84912345678"}}))

    assert tuple(header[:len(CSV_COLUMNS)]) == CSV_COLUMNS == (
        "source", "source_tier", "target", "target_tier", "exposed_at", "place_id", "first_together",
        "last_together", "minutes", "exposure_count", "rule_version", "source_kind", "criterion")
    assert header[len(CSV_COLUMNS):] == ["source_phone", "source_ward_code", "target_phone", "target_ward_code"]
    assert len(rows) == graph.number_of_edges()
    assert {(r["source"], r["target"]) for r in rows} == EDGES
    by_pair = {(r["source"], r["target"]): r for r in rows}
    assert (by_pair["A", "B"]["source_tier"], by_pair["A", "B"]["target_tier"]) == ("1", "2")
    assert (by_pair["B", "D"]["source_tier"], by_pair["B", "D"]["target_tier"]) == ("2", "3")
    market = by_pair["F0", "A"]
    assert market["exposed_at"] == "2021-07-05T10:00:00+07:00"  # Viet Nam time, for people reading it
    assert datetime.fromisoformat(market["last_together"]) == at(2) + timedelta(minutes=20)
    assert (market["place_id"], market["minutes"], market["target_ward_code"]) == ("MARKET", "20.0", "26734")
    assert by_pair["F0", "C"]["place_id"] == ""
    assert by_pair["A", "B"]["target_phone"] == "'+84912345678"  # text, never a spreadsheet formula


def test_a_trace_of_the_case_alone_exports_headers_and_no_rows():
    graph = traced(rows=[])
    assert graph_json(graph)["tiers"] == {} and graph_json(graph)["edges"] == []
    assert read_csv(graph_csv(graph)) == (list(CSV_COLUMNS), [])
    assert all(read_csv(text) == (GODATA_DOCUMENTED_COLUMNS, []) for text in graph_godata(graph).values())


def test_godata_contacts_are_the_case_s_contacts_with_their_relationship_to_it():
    files = graph_godata(traced(), PEOPLE, reported_on=date(2021, 7, 6))
    assert sorted(files) == ["contacts.csv", "contacts_of_contacts.csv"]
    header, contacts = read_csv(files["contacts.csv"])

    assert header == GODATA_DOCUMENTED_COLUMNS
    assert [c["visualId"] for c in contacts] == ["A", "C"]
    assert all(c[column] for c in contacts for column in GODATA_REQUIRED)
    assert {c["relationship.persons[0].id"] for c in contacts} == {"CASE-0001"}  # the case, as Go.Data knows it
    a, c = contacts
    assert (a["lastName"], a["middleName"], a["firstName"]) == ("Nguyễn", "Văn", "An")
    assert (c["lastName"], c["middleName"], c["firstName"]) == ("Trần", "Thị Bích", "Chi")
    assert a["gender"] == "LNG_REFERENCE_DATA_CATEGORY_GENDER_MALE"
    assert c["gender"] == "LNG_REFERENCE_DATA_CATEGORY_GENDER_FEMALE"
    assert (a["age.years"], c["age.years"]) == ("70", "31")  # an age (71 tomorrow), not the date of birth
    assert a["dateOfReporting"] == "2021-07-06"
    assert (a["addresses[0].typeId"], a["addresses[0].locationId"], a["addresses[0].phoneNumber"]) == \
        ("LNG_REFERENCE_DATA_CATEGORY_ADDRESS_TYPE_USUAL_PLACE_OF_RESIDENCE", "26734", "0901234567")
    assert a["relationship.contactDate"] == a["relationship.dateOfFirstContact"] == "2021-07-05"
    assert a["relationship.certaintyLevelId"] == "LNG_REFERENCE_DATA_CATEGORY_CERTAINTY_LEVEL_3_HIGH"
    assert a["relationship.exposureTypeId"] == ""
    assert c["relationship.exposureTypeId"] == \
        "LNG_REFERENCE_DATA_CATEGORY_EXPOSURE_TYPE_SLEPT_ATE_OR_SPEND_TIME_IN_SAME_HOUSEHOLD"
    assert "MARKET" in a["relationship.comment"] and "20 min" in a["relationship.comment"]
    assert not any("1950" in value for value in a.values())  # the date of birth stays home


def test_godata_contacts_of_contacts_are_the_f2s_tied_to_the_f1_who_exposed_them_first():
    files = graph_godata(traced(), PEOPLE, reported_on=date(2021, 7, 6))
    header, f2s = read_csv(files["contacts_of_contacts.csv"])

    assert header == GODATA_DOCUMENTED_COLUMNS
    assert [(r["visualId"], r["relationship.persons[0].id"]) for r in f2s] == [("B", "A")]
    assert f2s[0]["relationship.certaintyLevelId"] == "LNG_REFERENCE_DATA_CATEGORY_CERTAINTY_LEVEL_2_MEDIUM"  # scans
    assert "also exposed by C" in f2s[0]["relationship.comment"]
    everyone = {row["visualId"] for text in files.values() for row in read_csv(text)[1]}
    assert "D" not in everyone and "F0" not in everyone  # Go.Data has no F3; the case is already there


def test_godata_ties_an_f1_to_the_case_even_when_a_longer_chain_reached_them_earlier():
    # B met the case at 1 and A at 2; A met the case only at 10: A is an F1 (first exposed at 2).
    rows = [met("F0", "B", 1), met("B", "A", 2), met("F0", "A", 10)]
    graph = trace("F0", at(0), 2, DEFAULT_TRACE_RULES, fetcher(rows), until=FAR)

    _, contacts = read_csv(graph_godata(graph)["contacts.csv"])

    assert {c["visualId"]: c["relationship.persons[0].id"] for c in contacts} == {"A": "F0", "B": "F0"}
    assert "also exposed by B" in next(c for c in contacts if c["visualId"] == "A")["relationship.comment"]


def test_godata_defaults_to_the_trace_s_end_and_the_case_s_own_id():
    graph = traced(depth=1)
    _, contacts = read_csv(graph_godata(graph)["contacts.csv"])

    assert {c["relationship.persons[0].id"] for c in contacts} == {"F0"}
    assert {c["dateOfReporting"] for c in contacts} == {FAR.astimezone(VIETNAM_TIME).date().isoformat()}
    assert {c["firstName"] for c in contacts} == {""}  # no name given: Go.Data will ask for one


def test_godata_takes_only_forward_traces():
    graph = possible_sources("F0", at(240), [met("F0", "S", 200)], DEFAULT_TRACE_RULES)
    with pytest.raises(InvalidTrace, match="forward"):
        graph_godata(graph)


def test_the_godata_zip_holds_the_same_files_and_the_same_bytes_every_time():
    graph = traced()
    archive = godata_zip(graph, PEOPLE, reported_on=date(2021, 7, 6))
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        unpacked = {name: opened.read(name).decode("utf-8") for name in opened.namelist()}

    assert unpacked == graph_godata(graph, PEOPLE, reported_on=date(2021, 7, 6))
    assert godata_zip(graph, PEOPLE, reported_on=date(2021, 7, 6)) == archive
