"""The Flask extensions, created unbound and bound to each app by ``create_app``."""
from __future__ import annotations

import math
import time
from collections.abc import Iterable

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from limits import RateLimitItem, parse_many
from sqlalchemy.orm import DeclarativeBase

class Base(DeclarativeBase):
    pass


# Rows just committed are answered from memory: re-reading each one after the commit cost a
# SELECT per declaration (bench/declarations.py).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
csrf = CSRFProtect()
# Counters live where RATELIMIT_STORAGE_URI says (TRUYVET_RATELIMIT_STORAGE_URI): memory for one
# process, Redis when several serve, so that a budget spent on one is spent on all.
limiter = Limiter(get_remote_address)
client_address = get_remote_address  # whom the per-address limits count


def spend(rate: str, scope: str, keys: Iterable[str], cost: int = 1) -> int | None:
    """Spend ``cost`` from each key's budget under ``rate``; the seconds to wait if one ran out.

    For what the decorators cannot say: one request counted against several keys (each person
    of a family declaration), or counted only once its outcome is known. Every key is spent even
    when another is refused, as the decorators count refused requests too.
    """
    if not limiter.enabled:
        return None
    items = parse_many(rate)
    refused = [(item, key) for key in dict.fromkeys(keys) for item in items
               if not limiter.limiter.hit(item, key, scope, cost=cost)]
    return _wait(scope, refused)


def exhausted(rate: str, scope: str, keys: Iterable[str]) -> int | None:
    """The seconds to wait if any key's budget under ``rate`` is used up; None if all have some."""
    if not limiter.enabled:
        return None
    items = parse_many(rate)
    return _wait(scope, [(item, key) for key in dict.fromkeys(keys) for item in items
                         if not limiter.limiter.test(item, key, scope)])


def _wait(scope: str, refused: list[tuple[RateLimitItem, str]]) -> int | None:
    if not refused:
        return None
    reset = max(limiter.limiter.get_window_stats(item, key, scope).reset_time for item, key in refused)
    return max(1, math.ceil(reset - time.time()))
