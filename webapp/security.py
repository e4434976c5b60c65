"""What every answer carries for the browser's protection, who the client is behind a proxy, and
logs that carry no ID numbers.

The pages keep every script and style in ``static/`` (``tests/test_webapp/test_security.py``
scans the templates), so the policy allows no inline code at all. The camera is the one powerful
feature a page uses (the card scan and the station), and only for this origin.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",  # QR codes are inline SVG; a data: image is the fallback
    "media-src 'self' blob:",  # the camera preview
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
))
PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=(), payment=(), usb=()"
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: Flask-WTF checks a same-origin Referer on every HTTPS form post.
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
}

# A CMND has 9 digits, a CCCD 12, a phone number 10 or 11 (84… without the plus): any run of 9
# to 12 digits in a log line is taken for one of them.
ID_LIKE = re.compile(r"(?<!\d)\d{9,12}(?!\d)")
ID_MASK = "[id]"
# The loggers that write request lines, paths, rate-limit keys or database errors: the access
# logs of `truyvet run` (werkzeug) and gunicorn, gunicorn's and Flask's "error on <path>", the
# error handlers, Flask-Limiter's "limit (id:<number>) exceeded", and the background threads
# whose tracebacks may quote a database error.
MASKED_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "webapp", "webapp.errors",
                  "flask-limiter", "webapp.outbox", "webapp.health")


def init_app(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies:
        # Each trusted proxy appends one address to X-Forwarded-For: the client is the one the
        # outermost trusted proxy saw, and anything a client sent ahead of it is ignored.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.after_request(add_security_headers)
    mask_id_numbers_in_logs()


def add_security_headers(response: Response) -> Response:
    """Set the headers a view has not set itself (pages, API answers, errors, static files)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:  # over plain HTTP a browser ignores it, and a developer's machine has none
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response


def mask_ids(text: str) -> str:
    """Replace every run of 9 to 12 digits (ID numbers, phone numbers) with ``[id]``.

    >>> mask_ids('GET /api/v1/traces/079012345678?depth=2 HTTP/1.1" 200 512')
    'GET /api/v1/traces/[id]?depth=2 HTTP/1.1" 200 512'
    >>> mask_ids("ratelimit 10 per 1 hour (id:025123456) exceeded; 2024-05-01 12:00:00,123")
    'ratelimit 10 per 1 hour (id:[id]) exceeded; 2024-05-01 12:00:00,123'
    """
    return ID_LIKE.sub(ID_MASK, text)


class IdMaskingFilter(logging.Filter):
    """Rewrites a record's message (and traceback text) with its ID-like numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_ids(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # A database error's text may quote a row's values (PostgreSQL's "Key (...)=(...)").
            # Formatters use exc_text as it is when set.
            record.exc_text = mask_ids(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask_ids(record.exc_text)
        return True


def mask_id_numbers_in_logs() -> None:
    """Attach the filter to each logger that writes request paths; once, however many apps."""
    for name in MASKED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, IdMaskingFilter) for existing in logger.filters):
            logger.addFilter(IdMaskingFilter())
