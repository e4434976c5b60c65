"""Reading JSON strictly: shallow documents of real text and finite numbers, or not JSON at all.

Flask's ``request.get_json(silent=True)`` turns a ``ValueError`` from the app's JSON provider
into ``None``, and every endpoint answers ``None`` with 400 "expected a JSON object". Anything
else raised while parsing becomes a 500, so this provider makes every odd document a
``ValueError``:

- nesting deeper than :data:`MAX_DEPTH` (``"[" * 100000`` used to raise ``RecursionError``;
  a document a few hundred levels deep parsed, then broke whatever walked it recursively);
- ``NaN`` and ``Infinity``, which Python's ``json`` accepts but JSON (RFC 8259) does not, and
  which ``int()`` cannot take;
- strings with lone surrogates (``"\\ud800"``), which RFC 7493 (I-JSON) forbids and which fail
  the moment they are encoded as UTF-8 for hashing or storage.

Installed in ``create_app`` with ``app.json = StrictJSONProvider(app)``.
"""
from __future__ import annotations

import re
from typing import Any

from flask.json.provider import DefaultJSONProvider

# The deepest real body is three levels (declaration, its dependants, one person); 32 leaves
# room for clients that wrap things and keeps any recursive walk far below Python's limit.
MAX_DEPTH = 32
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider whose ``loads`` raises ``ValueError`` for every document it refuses."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        check_document(value)
        return value


def check_document(value: Any) -> None:
    """Raise ``ValueError`` if a parsed document nests deeper than MAX_DEPTH or holds lone surrogates.

    Walks with an explicit stack, so a deep document cannot exhaust the interpreter's.

    >>> check_document({"dependants": [{"full_name": "Nguyễn Thị Bông"}]})
    >>> check_document([[[1]]] * 2)
    >>> deep = []
    >>> for _ in range(MAX_DEPTH):
    ...     deep = [deep]
    >>> check_document(deep)
    Traceback (most recent call last):
    ...
    ValueError: JSON nested deeper than 32 levels
    >>> check_document({"address": "\\ud800"})
    Traceback (most recent call last):
    ...
    ValueError: JSON text with a lone surrogate
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise ValueError("JSON text with a lone surrogate")
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
