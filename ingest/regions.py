"""Where a citizen's birth was registered: legacy province codes, country codes, current provinces.

A CCCD number starts with the code of the place that registered the birth. Circular
07/2016/TT-BCA (Appendix I) fixed those codes for the 63 provinces of the time; they are the
General Statistics Office province codes zero-padded to three digits. Citizens whose birth was
registered abroad get a country code (ISO 3166-1 numeric) instead.

The 2025 reform merged the 63 provinces into 34, each keeping one of the old codes. Numbers
already issued do not change, so CCCD prefixes must be read with the legacy table; the
``vietnam-provinces`` package describes only the current 34 provinces and their wards, and
seven of its codes now name a different province than on a CCCD (015 was Yên Bái, is Lào Cai).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Literal

import pycountry
from vietnam_provinces import Province

# Circular 07/2016/TT-BCA, Appendix I, names as printed there (046 was Thừa Thiên Huế until
# it became Thành phố Huế in 2025). Not in any maintained package for Python 3.11:
# vietnam-provinces dropped the legacy units when it moved to the 2025 map.
LEGACY_PROVINCES: MappingProxyType[str, str] = MappingProxyType({
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang",
    "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp",
    "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
})

# Resolution 202/2025/QH15: legacy province code -> code of the province it now belongs to.
# Unlisted legacy codes kept their province unchanged.
_MERGED_INTO: dict[str, int] = {
    "002": 8, "010": 15, "006": 19, "017": 25, "026": 25, "027": 24, "030": 31,
    "034": 33, "035": 37, "036": 37, "045": 44, "049": 48, "062": 51, "064": 52,
    "054": 66, "058": 56, "060": 68, "067": 68, "070": 75, "072": 80, "074": 79,
    "077": 79, "083": 86, "084": 86, "087": 82, "089": 91, "093": 92, "094": 92, "095": 96,
}
LEGACY_TO_CURRENT: MappingProxyType[str, int] = MappingProxyType(
    {code: _MERGED_INTO.get(code, int(code)) for code in LEGACY_PROVINCES}
)

# Viet Nam's own country code never prefixes a CCCD: births registered at home carry a province code.
_VIET_NAM_NUMERIC = "704"


@dataclass(frozen=True)
class BirthPlace:
    """The place a CCCD prefix names: a legacy province, or a country for births abroad."""

    code: str
    kind: Literal["province", "country"]
    name: str


@cache
def _countries_by_numeric() -> dict[str, str]:
    # Built once: pycountry searches its database linearly on every get().
    return {
        country.numeric: getattr(country, "common_name", country.name)
        for country in pycountry.countries
        if country.numeric != _VIET_NAM_NUMERIC
    }


def legacy_province_name(code: str) -> str | None:
    """Name of a legacy (pre-2025) province by its 3-digit CCCD code, or None.

    >>> legacy_province_name("079")
    'Hồ Chí Minh'
    >>> legacy_province_name("003") is None
    True
    """
    return LEGACY_PROVINCES.get(code)


def country_name(code: str) -> str | None:
    """English short name of the country with this ISO 3166-1 numeric code, or None (also for 704).

    >>> country_name("392")
    'Japan'
    """
    return _countries_by_numeric().get(code)


def birth_place(code: str) -> BirthPlace | None:
    """Read a 3-digit CCCD prefix as a legacy province, else as a country, else None.

    Twenty-four province codes are also country codes (004 is Cao Bằng and Afghanistan); the
    number alone cannot tell them apart, and a domestic birth is by far the likelier reading.

    >>> birth_place("048")
    BirthPlace(code='048', kind='province', name='Đà Nẵng')
    >>> birth_place("250")
    BirthPlace(code='250', kind='country', name='France')
    """
    province = LEGACY_PROVINCES.get(code)
    if province is not None:
        return BirthPlace(code, "province", province)
    country = country_name(code)
    if country is not None:
        return BirthPlace(code, "country", country)
    return None


def current_province(legacy_code: str) -> Province:
    """The post-2025 province (from ``vietnam-provinces``) that a legacy province code now lies in.

    >>> current_province("074").name
    'Thành phố Hồ Chí Minh'
    """
    try:
        return Province.from_code(LEGACY_TO_CURRENT[legacy_code])
    except KeyError:
        raise ValueError(f"{legacy_code!r} is not a legacy province code") from None
