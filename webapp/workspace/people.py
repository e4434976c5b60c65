"""Officials' search of the registry, a person's page and a place's page.

Every page reads only after a reason (webapp/audit.py) and only what the official's scope holds
(webapp/scope.py): a person or place outside it is a 404, as for none; people outside it on a
place's page are shown without their identity. Times are shown in Viet Nam time.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import render_template, request, url_for
from sqlalchemy import select

from ingest.errors import InvalidInput, Message
from ingest.fields import is_plain_text, normalize_name, normalize_phone
from ingest.names import name_key
from warehouse import queries
from warehouse.contacts import contacts_at_place, crowd_exposures_at_place
from warehouse.errors import InvalidCursor, TooMuchToRead
from warehouse.presence import presences_at_place
from webapp import scans
from webapp.audit import audited, reason_from, record_read
from webapp.checkpoint.station import ACTION_LABELS
from webapp.extensions import db
from webapp.followup import STATUSES, current_statuses, history
from webapp.forms import SEX_LABELS, SYMPTOM_LABELS
from webapp.models import Case, Citizen, Declaration, Place
from webapp.official import TOO_MUCH, window_arg
from webapp.resources import get_warehouse
from webapp.roles import Role, allow
from webapp.scope import Scope, current_scope, person_in_scope, place_in_scope
from webapp.workspace.blueprint import bp
from webapp.workspace.display import LOCAL_INPUT, local_time, person_href, place_href, residence, zoned_window
from webapp.workspace.reasons import reason_choices, reason_query

MAX_QUERY = 64
MAX_RESULTS = 50
# A name search reads at most this many candidates from the registry; past it, the official refines.
MAX_CANDIDATES = 2000
SCANS_PER_PAGE = 50
DECLARATIONS_SHOWN = 10
ROWS_SHOWN = 500  # per table of a place's page: a longer list is read better over a shorter window
# Letters Vietnamese writes with marks (and đ for d): in a stored (NFC) name, one character each.
_MARKED = frozenset("aeiouyd")

QUERY_TOO_LONG = Message(f"may be at most {MAX_QUERY} characters", f"tối đa {MAX_QUERY} ký tự")
NOT_A_KEY = Message("type a CCCD number (12 digits), an old CMND number (9 digits), a phone number or a name",
                    "nhập số CCCD (12 chữ số), số CMND cũ (9 chữ số), số điện thoại hoặc họ tên")
NAME_TOO_SHORT = Message("type at least 2 letters of the name", "nhập ít nhất 2 chữ cái của họ tên")
KINDS = {"cccd": Message("CCCD number", "Số CCCD"), "cmnd": Message("Old CMND number", "Số CMND cũ"),
         "phone": Message("Phone number", "Số điện thoại"), "name": Message("Name", "Họ tên")}


@dataclass(frozen=True)
class SearchKey:
    """What to look for in the registry: ``kind`` (one of KINDS) and the normalised ``value``."""

    kind: str
    value: str


def search_key(query: str) -> SearchKey:
    """Read what an official typed as a CCCD, an old CMND, a phone number or (with letters) a name.

    >>> search_key(" 001 090-012.345 "), search_key("+84 912 345 678"), search_key("123456789")
    (SearchKey(kind='cccd', value='001090012345'), SearchKey(kind='phone', value='0912345678'), SearchKey(kind='cmnd', value='123456789'))
    >>> search_key("  NGUYỄN  văn ")
    SearchKey(kind='name', value='nguyen van')
    >>> search_key("12345")
    Traceback (most recent call last):
    ingest.errors.InvalidInput: q: type a CCCD number (12 digits), an old CMND number (9 digits), a phone number or a name
    """
    query = normalize_name(query)
    if len(query) > MAX_QUERY:
        raise InvalidInput({"q": QUERY_TOO_LONG})
    if not is_plain_text(query):
        raise InvalidInput({"q": NOT_A_KEY})
    if any(character.isalpha() for character in query):
        key = name_key(query)
        if len(key) < 2:
            raise InvalidInput({"q": NAME_TOO_SHORT})
        return SearchKey("name", key)
    digits = normalize_phone(query)
    if digits.isascii() and digits.isdigit():
        if len(digits) == 12:
            return SearchKey("cccd", digits)
        if len(digits) == 9:
            return SearchKey("cmnd", digits)
        if len(digits) in (10, 11) and digits.startswith("0"):
            return SearchKey("phone", digits)
    raise InvalidInput({"q": NOT_A_KEY})


def name_pattern(key: str) -> str:
    """A LIKE pattern (escape ``\\``) that every stored name whose :func:`name_key` holds ``key`` matches.

    Marked letters may be any one character there (ă, Ầ, đ...); the rest are unmarked in Vietnamese,
    so a case-insensitive LIKE keeps them. Only a prefilter: the match is decided in Python.

    >>> name_pattern("nguyen v_n")
    '%ng___n v\\\\_n%'
    """
    escaped = ("_" if c in _MARKED else "\\" + c if c in "%_\\" else c for c in key)
    return "%" + "".join(escaped) + "%"


def find_people(key: SearchKey, scope: Scope) -> tuple[list[Citizen], bool]:
    """The people of the registry living in ``scope`` that ``key`` finds, sorted by name, at most
    MAX_RESULTS; and whether there are (or may be) more."""
    living_in_scope = scope.registry_condition()  # the search must not read anyone outside the scope
    if key.kind == "name":
        candidates = db.session.scalars(select(Citizen).where(
            living_in_scope, Citizen.full_name.ilike(name_pattern(key.value), escape="\\")).limit(MAX_CANDIDATES)).all()
        found = [person for person in candidates if key.value in name_key(person.full_name)]
        more = len(candidates) == MAX_CANDIDATES
    else:
        column = {"cccd": Citizen.citizen_id, "cmnd": Citizen.cmnd, "phone": Citizen.phone}[key.kind]
        found = list(db.session.scalars(select(Citizen).where(living_in_scope, column == key.value)
                                        .limit(MAX_RESULTS + 1)))
        more = False
    found.sort(key=lambda person: (name_key(person.full_name), person.citizen_id))
    return found[:MAX_RESULTS], more or len(found) > MAX_RESULTS


@bp.get("/truy-vet")
@allow(Role.OFFICIAL)
def search():
    """Who: officials. The search form; with ``q`` and a reason, the people in scope it finds (audited)."""
    query = request.args.get("q", "").strip()
    if not query:
        return _search_page(query)
    errors: dict[str, Message] = {}
    try:
        reason = reason_from(request)
    except InvalidInput as missing:
        errors |= missing.errors
    try:
        key = search_key(query)
    except InvalidInput as malformed:
        errors |= malformed.errors
    if errors:  # nothing is read, so nothing is audited
        return _search_page(query, errors=errors), 400
    people, more = find_people(key, current_scope())
    # The query as searched (normalised), so the admin sees whom was looked for; the audit keeps 64 characters.
    record_read("person_lookup", "search", {"kind": key.kind, "query": key.value, "found": len(people)}, reason)
    return _search_page(query, key=key, people=people, more=more, statuses=current_statuses(
        person.citizen_id for person in people))


def _search_page(query: str, errors: Mapping[str, Message] | None = None, **found: Any) -> str:
    return render_template("workspace/search.html", query=query, errors=errors or {}, kinds=KINDS,
                           max_results=MAX_RESULTS, residence=residence, status_names=STATUSES,
                           person_href=person_href, **found, **reason_choices())


def _ask_person(errors: Mapping[str, Message], citizen_id: str) -> str:
    """The reason form alone: nothing about anyone is read, not even whether they exist."""
    return render_template("workspace/person.html", citizen_id=citizen_id, person=None, errors=errors,
                           **reason_choices())


@bp.get("/truy-vet/nguoi/<citizen_id>")
@allow(Role.OFFICIAL)
@audited("movements", "citizen_id", ("before",), ask=_ask_person)
def person(citizen_id: str):
    """Who: officials. A person of their scope: registry facts, declarations, cases, follow-up
    and scans, newest first, SCANS_PER_PAGE a page (``?before=`` the next page's cursor)."""
    citizen = person_in_scope(citizen_id)
    try:
        cursor = queries.ScanCursor.decode(request.args["before"]) if request.args.get("before") else None
    except InvalidCursor:
        raise InvalidInput({"before": scans.CURSOR}) from None
    page = queries.scans_of_citizen(get_warehouse(), citizen_id, limit=SCANS_PER_PAGE, before=cursor)
    declarations = db.session.scalars(select(Declaration).where(Declaration.citizen_id == citizen_id)
                                      .order_by(Declaration.created_at.desc()).limit(DECLARATIONS_SHOWN)).all()
    cases = db.session.scalars(select(Case).where(Case.citizen_id == citizen_id)
                               .order_by(Case.case_date.desc())).all()
    places = _place_links(scan["place_id"] for scan in page.scans)
    return render_template(
        "workspace/person.html", citizen_id=citizen_id, person=citizen,
        residence=residence(citizen.province_code, citizen.ward_code),
        declarations=declarations, cases=cases, follow_ups=history(citizen_id), statuses=STATUSES,
        scans=page.scans, places=places, actions=ACTION_LABELS, sexes=SEX_LABELS,
        symptoms=SYMPTOM_LABELS, when=local_time, here=request.full_path.rstrip("?"),
        older=person_href(citizen_id, before=page.next.encode()) if page.next else None,
        newest=person_href(citizen_id) if cursor else None,
        trace_href=url_for("workspace.case_trace", citizen_id=citizen_id, **reason_query()))


def _ask_place(errors: Mapping[str, Message], place_code: str) -> str:
    return render_template("workspace/place.html", place_code=place_code, place=None, errors=errors,
                           window=_window_form(request.args), **reason_choices())


@bp.get("/truy-vet/dia-diem/<place_code>")
@allow(Role.OFFICIAL)
@audited("place_view", "place_code", ("since", "until"), ask=_ask_place, view="page")
def place(place_code: str):
    """Who: officials. A place of their scope in ``?since=&until=`` (Viet Nam time, the last 24 h by
    default): who was there, who met whom, and the hours too crowded to pair people up."""
    found = place_in_scope(place_code)
    context: dict[str, Any] = dict(place_code=place_code, place=found, errors={}, window=_window_form(request.args),
                                   when=local_time, rows_shown=ROWS_SHOWN, **reason_choices())
    try:
        since, until = window_arg(zoned_window(request.args))
        presences = presences_at_place(get_warehouse(), found.code, since, until)
        edges = contacts_at_place(get_warehouse(), found.code, since, until)
        crowds = crowd_exposures_at_place(get_warehouse(), found.code, since, until)
    except TooMuchToRead:
        context["errors"] = {"until": TOO_MUCH}
        return render_template("workspace/place.html", **context), 400
    except InvalidInput as invalid:
        context["errors"] = invalid.errors
        return render_template("workspace/place.html", **context), 400
    shown = [item.presence.citizen_id for item in presences[:ROWS_SHOWN]]
    shown += [citizen for edge in edges[:ROWS_SHOWN] for citizen in (edge.citizen_a, edge.citizen_b)]
    context.update(window=_window_form({"since": local_time(since, LOCAL_INPUT), "until": local_time(until, LOCAL_INPUT)}),
                   presences=presences, edges=edges, crowds=crowds, people=_people(shown))
    return render_template("workspace/place.html", **context)



def _window_form(args: Mapping[str, str]) -> dict[str, str]:
    return {name: args.get(name, "") for name in ("since", "until")}


def _place_links(codes: Iterable[str]) -> dict[str, dict[str, str | None]]:
    """Each place's name, and a link to its page when it is registered and in scope."""
    wanted = set(codes)
    registered = {found.code: found for found in
                  db.session.scalars(select(Place).where(Place.code.in_(wanted)))} if wanted else {}
    scope = current_scope()
    links: dict[str, dict[str, str | None]] = {}
    for code in wanted:
        found = registered.get(code)
        links[code] = {"name": found.name if found else code,
                       "href": place_href(code) if found and scope.covers_place(found) else None}
    return links


def _people(citizen_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """How each person shows on a place's page: name and link when in scope; for people the registry
    holds outside the scope, only that they are (their identity is not the official's to see)."""
    wanted = set(citizen_ids)
    registered = {citizen.citizen_id: citizen for citizen in
                  db.session.scalars(select(Citizen).where(Citizen.citizen_id.in_(wanted)))} if wanted else {}
    scope = current_scope()
    shown: dict[str, dict[str, Any]] = {}
    for citizen_id in wanted:
        citizen = registered.get(citizen_id)
        if citizen is None:  # not in the registry: no page, but whoever reaches them follows them up
            shown[citizen_id] = {"label": citizen_id, "href": None, "outside": False, "registered": False}
        elif scope.covers_person(citizen):
            shown[citizen_id] = {"label": citizen.full_name, "href": person_href(citizen_id), "outside": False,
                                 "registered": True}
        else:
            shown[citizen_id] = {"label": None, "href": None, "outside": True, "registered": True}
    return shown
