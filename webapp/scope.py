"""Need-to-know: which people, places and wards a health official or ward staff may see.

An official's account names areas (``User.areas``): whole provinces (``"79"``) or single wards
(``"79:26734"``). A person is in scope when the registry's residence (province, ward) is; a
place when its own province and ward are; a ward when it is named, or its province is. Ward
staff are bound to wards only, and see only their wards' alerts.

Outside the scope, a route answers exactly as for something that does not exist (404, same
message): the answer must not tell anyone that a person or place is there.

A trace may reach people living elsewhere. :func:`redact_trace` keeps what their ward's alert
needs (tier, first exposure, province and ward of residence) under a pseudonym, drops their
identity, and drops the place and the times together of an exposure between two outside people
(their movements); the alert itself goes to their own ward through the stream
(streams/agents/alerts.py).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
from flask import current_app
from sqlalchemy import ColumnElement, or_
from werkzeug.exceptions import NotFound

from ingest.units import province_of_ward
from webapp.extensions import db
from webapp.models import Citizen, Place
from webapp.roles import Principal, Role, current_principal

UNKNOWN_PERSON = "no one with this citizen id is in the registry"
UNKNOWN_WARD = "no ward with this code"
OUTSIDE_PREFIX = "ngoai-"


@dataclass(frozen=True)
class Scope:
    """The provinces and wards a principal answers for."""

    provinces: frozenset[int]
    wards: frozenset[int]

    @classmethod
    def of(cls, principal: Principal | None) -> Scope:
        """Parse ``principal.areas`` (``"79"``, ``"79:26734"``); nobody else has a scope.

        >>> Scope.of(Principal(role="official", name="x", places=frozenset(), areas=("79", "1:70")))
        Scope(provinces=frozenset({79}), wards=frozenset({70}))
        """
        provinces, wards = set(), set()
        for area in principal.areas if principal is not None else ():
            province, _, ward = area.partition(":")
            if ward:
                wards.add(int(ward))
            else:
                provinces.add(int(province))
        return cls(frozenset(provinces), frozenset(wards))

    def covers(self, province_code: int | None, ward_code: int | None) -> bool:
        """Whether an address (current units) is in scope.

        >>> Scope(frozenset({79}), frozenset({70})).covers(79, 26734), Scope(frozenset(), frozenset({70})).covers(1, 71)
        (True, False)
        """
        return province_code in self.provinces or (ward_code is not None and ward_code in self.wards)

    def covers_ward(self, ward_code: int) -> bool:
        return ward_code in self.wards or province_of_ward(ward_code) in self.provinces

    def covers_person(self, person: Citizen) -> bool:
        return self.covers(person.province_code, person.ward_code)

    def registry_condition(self) -> ColumnElement[bool]:
        """:meth:`covers_person` as a condition on the registry, for a query that must read no one outside."""
        return or_(Citizen.province_code.in_(self.provinces), Citizen.ward_code.in_(self.wards))

    def covers_place(self, place: Place) -> bool:
        return self.covers(place.province_code, place.ward_code)


def current_scope() -> Scope:
    return Scope.of(current_principal())


def person_in_scope(citizen_id: str, unknown: str = UNKNOWN_PERSON) -> Citizen:
    """The registry's person, or NotFound (``unknown``) alike for unknown and outside people."""
    person = db.session.get(Citizen, citizen_id)
    if person is None or not current_scope().covers_person(person):
        raise NotFound(unknown)
    return person


def place_in_scope(place_code: str) -> Place:
    """The registered place, or NotFound alike for unknown and outside places."""
    place = db.session.get(Place, place_code)
    if place is None or not current_scope().covers_place(place):
        raise NotFound(f"no place with code {place_code!r}")
    return place


def ward_in_scope(ward_code: int) -> int:
    """``ward_code`` if the principal answers for it; NotFound otherwise.

    Ward 0 holds the alerts of contacts the registry does not know: no ward staff answer for
    it, and an official sees there only the alerts of cases in their scope (:func:`cases_in_scope`).
    """
    principal = current_principal()
    if ward_code == 0 and principal is not None and principal.role == Role.OFFICIAL:
        return ward_code
    if ward_code == 0 or not current_scope().covers_ward(ward_code):
        raise NotFound(UNKNOWN_WARD)
    return ward_code


def cases_in_scope(citizen_ids: Iterable[str]) -> set[str]:
    """Of the cases' ``citizen_ids``, those living in scope (a case is always in the registry)."""
    ids = set(citizen_ids)
    if not ids:
        return set()
    return set(db.session.scalars(db.select(Citizen.citizen_id).where(
        Citizen.citizen_id.in_(ids), current_scope().registry_condition())))


def pseudonym(citizen_id: str) -> str:
    """A stable name for an outside person, not reversible without the app's secret.

    The same person has the same pseudonym in every trace, so two traces can be compared.
    """
    key = current_app.config["SECRET_KEY"].encode()
    return OUTSIDE_PREFIX + hmac.new(key, b"outside-person:" + citizen_id.encode(), hashlib.sha256).hexdigest()[:12]


def redact_trace(graph: nx.DiGraph, people: Mapping[str, dict[str, Any]]) -> tuple[nx.DiGraph, dict[str, dict]]:
    """The trace as the principal may see it, and ``people`` keyed the same way.

    ``people`` describes every registered person of the trace with their residence
    (``province_code``, ``ward_code``: webapp.traces.people_of); people the registry does not know
    have no ward to send them to, so whoever's trace reaches them follows them up: they stay.
    People outside the scope are renamed with :func:`pseudonym`, keep their node attributes
    (tier, first exposure) and their residence, lose anything else ``people`` said of them
    (name, phone) and get ``outside: True``. An exposure between two outside people loses its
    place and exposure rows, and its time together shrinks to the moment it counts from (what
    the alert says). The case itself is always in scope (the route checked it).
    """
    scope = current_scope()
    outside = {node: pseudonym(node) for node in graph.nodes
               if node in people and not scope.covers(people[node].get("province_code"), people[node].get("ward_code"))}
    if not outside:
        return graph, dict(people)
    redacted = nx.relabel_nodes(graph, outside, copy=True)
    hidden = set(outside.values())
    for a, b, attributes in list(redacted.edges(data=True)):
        if a in hidden and b in hidden:
            attributes.update(place_id=None, first_together=attributes["exposed_at"],
                              last_together=attributes["exposed_at"], exposures=())
    shown: dict[str, dict[str, Any]] = {}
    for citizen, described in people.items():
        if citizen in outside:
            shown[outside[citizen]] = {"province_code": described.get("province_code"),
                                       "ward_code": described.get("ward_code"), "outside": True}
        else:
            shown[citizen] = dict(described)
    return redacted, shown
