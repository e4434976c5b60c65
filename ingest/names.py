"""Comparing Vietnamese personal names as typed, scanned and registered.

The same name arrives with and without diacritics (keyboards without Telex, old systems that
stripped them), in composed or decomposed Unicode, in any case and with stray spaces.
"""
from __future__ import annotations

import unicodedata

# đ is a letter of its own, not d plus a mark, so decomposition leaves it alone. Ð (U+00D0,
# Icelandic eth) looks identical and turns up in data typed on non-Vietnamese keyboards.
_LETTERS_WITHOUT_MARKS = str.maketrans({"đ": "d", "Đ": "d", "Ð": "d", "ð": "d"})


def name_key(name: str) -> str:
    """Fold a name to lower case ASCII-like letters, single-spaced, without diacritics.

    >>> name_key("  Nguyễn   Thị  ĐOAN Trang ")
    'nguyen thi doan trang'
    """
    decomposed = unicodedata.normalize("NFD", name.translate(_LETTERS_WITHOUT_MARKS))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def same_name(a: str, b: str) -> bool:
    """Whether two names are equal ignoring case, extra whitespace and Vietnamese diacritics.

    Deliberately loose: it is for matching a scanned card against the registry, where a
    false "different" turns a citizen away; the CCCD number is what identifies them.

    >>> same_name("Trần Văn Đức", "TRAN VAN  DUC")
    True
    >>> same_name("Lê Thị Hà", "Lê Thị Hạnh")
    False
    """
    return name_key(a) == name_key(b)
