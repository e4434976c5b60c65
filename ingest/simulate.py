"""A synthetic province and one day of its declarations and scans, for load and end-to-end runs.

Pure: no I/O and no clock. Everything random comes from one seeded ``random.Random`` (and Faker
seeded the same way, as :mod:`webapp.registry` does), so the same arguments give the same events,
byte for byte, event ids included.

The model of a day (local time, Viet Nam, UTC+7):

- workers commute home → workplace (``in`` 06:50-09:00, ``out`` 16:00-18:30); students go to
  school (``in`` 06:50-07:20, ``out`` 11:00-17:00);
- some commuters cross a gateway checkpoint of the province on the way there and back
  (``pass``); a few are turned back (``turn_back``) and spend the day at home;
- market visits in the morning (05:00-05:30), daytime (people without a workplace) or evening
  (19:30-21:00): an in/out pair,
  or a lone ``in`` when nobody scanned the way out; a few hospital visits (in/out);
- crowded events: a market day (arrivals 04:30-05:30, hundreds of people at one market), and an
  evening market day (19:15-20:15) when the province has a second market;
- a share of citizens declare their health in the morning (06:00-09:00);
- the registry (one :class:`CitizenRecord` per person) comes first, before the day's events.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from faker import Faker

from ingest.identity import Sex, make_cccd
from ingest.regions import LEGACY_PROVINCES, LEGACY_TO_CURRENT
from ingest.units import provinces, wards
from streams import topics
from streams.records import CitizenRecord, DeclarationEvent, Event, ScanEvent, VIETNAM_TIME

Message = tuple[str, str, Event]  # (topic, key, event)

# Place kinds, their share of the places, and the prefix of their ids ("MARKET-01-0003").
KINDS = {"checkpoint": (0.05, "CP"), "hospital": (0.05, "HOSP"), "school": (0.15, "SCHOOL"),
         "market": (0.15, "MARKET"), "workplace": (0.60, "WORK")}
MIN_PLACES = len(KINDS)
WORKING_AGE = (19, 60)
SCHOOL_AGE = (6, 18)
EMPLOYED = 0.8
DECLARING = 0.3
GATEWAY_COMMUTERS = 0.1
TURNED_BACK = 0.04
MARKET_VISITS = 0.35
LONE_IN = 0.3  # market visits where nobody scanned the way out
HOSPITAL_VISITS = 0.03
CROWD_WINDOWS = (timedelta(hours=4, minutes=30), timedelta(hours=19, minutes=15))  # morning and evening market days
_HOUR = 3600


@dataclass(frozen=True)
class Place:
    place_id: str
    kind: str
    name: str
    ward_code: int


@dataclass(frozen=True)
class Resident:
    citizen_id: str
    cmnd: str | None
    full_name: str
    date_of_birth: date
    sex: Sex
    province_code: int
    ward_code: int
    registry_event_id: str


@dataclass(frozen=True)
class Simulation:
    """A province and its day: iterate for the (topic, key, event) messages, registry first."""

    province_code: int
    province_name: str
    start: datetime
    residents: tuple[Resident, ...]
    places: tuple[Place, ...]
    # (seconds after start, order of creation, topic, key, event), sorted.
    _plan: tuple[tuple[int, int, str, str, Event], ...]

    def __len__(self) -> int:
        return len(self.residents) + len(self._plan)

    def __iter__(self) -> Iterator[Message]:
        for person in self.residents:
            yield topics.CITIZENS, person.citizen_id, _registry_record(person)
        for _, _, topic, key, event in self._plan:
            yield topic, key, event

    @property
    def end(self) -> datetime:
        """The end of the simulated local day (every event is before it)."""
        return self.start + timedelta(days=1)

    def place_kinds(self) -> dict[str, str]:
        """Place id -> kind (market, workplace, school, hospital, checkpoint)."""
        return {place.place_id: place.kind for place in self.places}


def simulate(citizens: int, places: int, *, seed: int, start: datetime) -> Simulation:
    """Build a province of ``citizens`` people and ``places`` places, and its day from ``start``.

    ``start`` must be aware; it is read as the local midnight that begins the day.

    >>> day = simulate(20, 5, seed=1, start=datetime(2026, 11, 27, tzinfo=VIETNAM_TIME))
    >>> len(day.residents), sorted({place.kind for place in day.places})
    (20, ['checkpoint', 'hospital', 'market', 'school', 'workplace'])
    """
    if citizens < 1 or places < MIN_PLACES:
        raise ValueError(f"need at least 1 citizen and {MIN_PLACES} places (one of each kind)")
    if start.tzinfo is None:
        raise ValueError("start must carry a UTC offset")
    rng = random.Random(seed)
    fake = Faker("vi_VN")
    fake.seed_instance(seed)
    province_code, province_name = rng.choice(provinces())
    ward_codes = [code for code, _ in rng.sample(wards(province_code), min(20, len(wards(province_code))))]
    ward_names = dict(wards(province_code))
    sites = _places(rng, places, province_code, ward_codes, ward_names)
    residents = _residents(rng, fake, citizens, province_code, ward_codes, start.astimezone(VIETNAM_TIME).date())
    plan = _Day(rng, start, sites).plan(residents)
    return Simulation(province_code, province_name, start, tuple(residents), sites, tuple(sorted(plan)))


def _places(rng: random.Random, count: int, province: int, ward_codes: list[int],
            ward_names: dict[int, str]) -> tuple[Place, ...]:
    counts = {kind: max(1, round(count * share)) for kind, (share, _) in KINDS.items() if kind != "workplace"}
    counts["workplace"] = max(1, count - sum(counts.values()))
    labels = {"checkpoint": "Chốt kiểm soát", "hospital": "Bệnh viện", "school": "Trường",
              "market": "Chợ", "workplace": "Công ty"}
    sites = []
    for kind, n in counts.items():
        for number in range(1, n + 1):
            ward = rng.choice(ward_codes)
            sites.append(Place(f"{KINDS[kind][1]}-{province:02d}-{number:04d}", kind,
                               f"{labels[kind]} {ward_names[ward]} số {number}", ward))
    return tuple(sites)


def _residents(rng: random.Random, fake: Faker, count: int, province: int, ward_codes: list[int],
               today: date) -> list[Resident]:
    # Most people were born here: their CCCD carries one of the legacy codes merged into the province.
    home_codes = [code for code, current in LEGACY_TO_CURRENT.items() if current == province]
    elsewhere = list(LEGACY_PROVINCES)
    taken: set[str] = set()
    people = []
    while len(people) < count:
        sex: Sex = rng.choice(("male", "female"))
        given = fake.first_name_male() if sex == "male" else fake.first_name_female()
        born = today - timedelta(days=rng.randrange(2 * 365, 90 * 365))
        code = rng.choice(home_codes if rng.random() < 0.85 else elsewhere)
        citizen_id = make_cccd(code, born, sex, rng.randrange(1_000_000))
        if citizen_id in taken:
            continue
        taken.add(citizen_id)
        cmnd = f"{rng.randrange(10**9):09d}" if born.year < 2000 and rng.random() < 0.5 else None
        people.append(Resident(citizen_id, cmnd, f"{fake.last_name()} {fake.middle_name()} {given}",
                               born, sex, province, rng.choice(ward_codes), _event_id(rng)))
    return people


class _Day:
    """Plans one day: each person's stays, in order, never overlapping."""

    def __init__(self, rng: random.Random, start: datetime, sites: tuple[Place, ...]) -> None:
        self.rng = rng
        self.start = start
        self.today = start.astimezone(VIETNAM_TIME).date()
        self.by_kind = {kind: [p.place_id for p in sites if p.kind == kind] for kind in KINDS}
        self.plan_: list[tuple[int, int, str, str, Event]] = []

    def plan(self, residents: list[Resident]) -> list[tuple[int, int, str, str, Event]]:
        markets = self.by_kind["market"]
        size = min(len(residents) // 3, max(200, len(residents) // 10))
        crowds: dict[str, tuple[str, int]] = {}  # citizen -> (market, window start)
        for market, window in zip(markets, CROWD_WINDOWS):
            for person in self.rng.sample(residents, size):
                crowds.setdefault(person.citizen_id, (market, int(window.total_seconds())))
        for person in residents:
            self._person(person, crowds.get(person.citizen_id))
        return self.plan_

    def _person(self, person: Resident, crowd: tuple[str, int] | None) -> None:
        rng = self.rng
        age = (self.today - person.date_of_birth).days // 365
        if rng.random() < DECLARING:
            self._declare(person, rng.randrange(6 * _HOUR, 9 * _HOUR))
        anchor = None
        if SCHOOL_AGE[0] <= age <= SCHOOL_AGE[1]:
            anchor = "school", (6 * _HOUR + 50 * 60, 7 * _HOUR + 20 * 60), (11 * _HOUR, 17 * _HOUR)
        elif WORKING_AGE[0] <= age <= WORKING_AGE[1] and rng.random() < EMPLOYED:
            anchor = "workplace", (6 * _HOUR + 50 * 60, 9 * _HOUR), (16 * _HOUR, 18 * _HOUR + 30 * 60)
        morning_crowd = crowd is not None and crowd[1] < 12 * _HOUR
        if crowd is not None and morning_crowd:
            self._stay(person, crowd[0], crowd[1] + rng.randrange(_HOUR), (10, 45), lone_in=LONE_IN)
        elif rng.random() < MARKET_VISITS / 2 and anchor is not None:
            self._stay(person, rng.choice(self.by_kind["market"]), rng.randrange(5 * _HOUR, 5 * _HOUR + 30 * 60),
                       (10, 40), lone_in=LONE_IN)
        if anchor is not None:
            self._commute(person, *anchor)
        elif rng.random() < HOSPITAL_VISITS:
            self._stay(person, rng.choice(self.by_kind["hospital"]), rng.randrange(8 * _HOUR, 11 * _HOUR),
                       (30, 180))
        elif rng.random() < MARKET_VISITS:
            self._stay(person, rng.choice(self.by_kind["market"]), rng.randrange(8 * _HOUR, 16 * _HOUR),
                       (15, 60), lone_in=LONE_IN)
        if crowd is not None and not morning_crowd:
            self._stay(person, crowd[0], crowd[1] + rng.randrange(_HOUR), (10, 45), lone_in=LONE_IN)
        elif rng.random() < MARKET_VISITS / 2:
            self._stay(person, rng.choice(self.by_kind["market"]), rng.randrange(19 * _HOUR + 30 * 60, 21 * _HOUR),
                       (10, 40), lone_in=LONE_IN)

    def _commute(self, person: Resident, kind: str, arrive: tuple[int, int], leave: tuple[int, int]) -> None:
        rng = self.rng
        if not self.by_kind[kind]:
            return
        place = self._anchor_place(person, kind)
        t_in, t_out = rng.randrange(*arrive), rng.randrange(*leave)
        if rng.random() < GATEWAY_COMMUTERS:
            gate = rng.choice(self.by_kind["checkpoint"])
            crossed = t_in - rng.randrange(10 * 60, 30 * 60)
            if rng.random() < TURNED_BACK:
                self._scan(person, gate, crossed, "turn_back")
                return  # sent home: no day at work
            self._scan(person, gate, crossed, "pass")
            self._scan(person, gate, t_out + rng.randrange(10 * 60, 30 * 60), "pass")
        self._scan(person, place, t_in, "in")
        self._scan(person, place, t_out, "out")

    def _anchor_place(self, person: Resident, kind: str) -> str:
        # The same person always goes to the same school or workplace, whatever else was drawn.
        places = self.by_kind[kind]
        return places[int(person.citizen_id[-6:]) % len(places)]

    def _stay(self, person: Resident, place: str, t_in: int, minutes: tuple[int, int],
              lone_in: float = 0.0) -> None:
        self._scan(person, place, t_in, "in")
        stay = self.rng.randrange(minutes[0] * 60, minutes[1] * 60)
        if self.rng.random() >= lone_in:
            self._scan(person, place, t_in + stay, "out")

    def _event_id(self) -> str:
        return _event_id(self.rng)

    def _at(self, seconds: int) -> datetime:
        return (self.start + timedelta(seconds=seconds)).astimezone(timezone.utc)

    def _scan(self, person: Resident, place: str, seconds: int, direction: str) -> None:
        event = ScanEvent(event_id=self._event_id(), citizen_id=person.citizen_id, place_id=place,
                          ts=self._at(seconds), direction=direction, precision="instant")
        self.plan_.append((seconds, len(self.plan_), topics.SCANS, person.citizen_id, event))

    def _declare(self, person: Resident, seconds: int) -> None:
        rng = self.rng
        symptoms = sorted(rng.sample(("fever", "cough", "sore_throat", "fatigue", "headache"),
                                     rng.randint(1, 2))) if rng.random() < 0.03 else []
        event = DeclarationEvent(
            event_id=self._event_id(), declaration_id=self._event_id(), citizen_id=person.citizen_id,
            declared_at=self._at(seconds), verification="verified", mismatched_fields=[], symptoms=symptoms,
            contact_with_case=rng.random() < 0.01, visited_outbreak_area=rng.random() < 0.02)
        self.plan_.append((seconds, len(self.plan_), topics.DECLARATIONS, person.citizen_id, event))


def _event_id(rng: random.Random) -> str:
    # From the seeded generator, not uuid4: a replay with the same seed repeats the ids, and
    # consumers, idempotent on them, store nothing twice.
    return f"{rng.getrandbits(128):032x}"


def _registry_record(person: Resident) -> CitizenRecord:
    return CitizenRecord(event_id=person.registry_event_id, citizen_id=person.citizen_id, cmnd=person.cmnd,
                         full_name=person.full_name, date_of_birth=person.date_of_birth.isoformat(),
                         sex=person.sex, province_code=person.province_code, ward_code=person.ward_code)


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in Viet Nam, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM_TIME)
