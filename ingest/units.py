"""Current administrative units (34 provinces -> wards, after the 2025 reform) for addresses.

The data comes from the ``vietnam-provinces`` package; legacy units, which CCCD numbers still
carry, live in :mod:`ingest.regions`.
"""
from __future__ import annotations

from functools import cache

from vietnam_provinces import Province, Ward


@cache
def provinces() -> tuple[tuple[int, str], ...]:
    """(code, name) of the 34 provinces and centrally-run cities, by code.

    >>> len(provinces()), provinces()[0]
    (34, (1, 'Thành phố Hà Nội'))
    """
    return tuple(sorted((int(p.code), p.name) for p in Province.iter_all()))


@cache
def wards(province_code: int) -> tuple[tuple[int, str], ...]:
    """(code, name) of the wards and communes of a province, by name."""
    return tuple(sorted(((int(w.code), w.name) for w in Ward.iter_by_province(province_code)),
                        key=lambda ward: ward[1]))


@cache
def _province_names() -> dict[int, str]:
    return dict(provinces())


@cache
def _ward_provinces() -> dict[int, int]:
    return {int(w.code): int(w.province_code) for w in Ward.iter_all()}


def province_name(code: int) -> str | None:
    """The current province with that code, if there is one.

    >>> province_name(79), province_name(2)
    ('Thành phố Hồ Chí Minh', None)
    """
    return _province_names().get(code)


def province_of_ward(ward_code: int) -> int | None:
    """The province a current ward belongs to, if there is such a ward.

    >>> province_of_ward(70), province_of_ward(26887), province_of_ward(0)
    (1, 79, None)
    """
    return _ward_provinces().get(ward_code)


def ward_in_province(ward_code: int, province_code: int) -> bool:
    """Whether the ward belongs to the province.

    >>> ward_in_province(70, 1), ward_in_province(70, 79)
    (True, False)
    """
    return province_of_ward(ward_code) == province_code
