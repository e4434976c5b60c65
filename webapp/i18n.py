"""Which language a person reads: Vietnamese first, English when they ask for it."""
from __future__ import annotations

from flask import request

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_COOKIE = "lang"


def current_language() -> str:
    """``?lang=`` wins, then the remembered choice, then the browser's preference, then Vietnamese."""
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
