"""Which language a person reads: Vietnamese first, English when they ask for it.

User-facing text comes in pairs (English, Vietnamese), like the domain's :class:`Message`;
templates pick one with the ``t`` global instead of gettext catalogs.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, Response, request

from ingest.errors import Message

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
LANGUAGE_COOKIE = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600


def current_language() -> str:
    """``?lang=`` wins, then the remembered choice, then the browser's preference, then Vietnamese."""
    chosen = request.args.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)


def t(en: str | Message, vi: str | None = None) -> str:
    """The text in the reader's language: ``t("Full name", "Họ và tên")`` or ``t(message)``."""
    if isinstance(en, Message):
        return en.in_language(current_language())
    if vi is None:
        raise TypeError("t() needs both the English and the Vietnamese text")
    return en if current_language() == "en" else vi


def language_url(language: str) -> str:
    """This page's address with ``?lang=`` set, for the language switch link."""
    args = request.args.to_dict()
    args["lang"] = language
    # One leading slash: "//host" would be read as another site's address.
    return "/" + request.path.lstrip("/") + "?" + urlencode(args)


def remember_language(response: Response) -> Response:
    """Keep an explicit ``?lang=`` choice in a cookie, so the next page speaks the same language."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=COOKIE_MAX_AGE, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    return response


def init_app(app: Flask) -> None:
    """Give templates ``t``, ``lang`` and ``language_url``, and remember language choices."""
    app.add_template_global(t)
    app.add_template_global(language_url)
    app.context_processor(lambda: {"lang": current_language(), "other_languages": [
        code for code in LANGUAGES if code != current_language()]})
    app.after_request(remember_language)
