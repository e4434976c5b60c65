"""Where errors become HTTP answers: one place, one rule.

The rule: JSON under ``/api/`` (and the machine endpoints beside it), a page in the reader's
language everywhere else. Blueprints that want to keep a form on screen handle their own
errors first and fall back to :func:`error_response`.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ingest.errors import BrokerUnavailable, InvalidInput, Message
from warehouse.errors import WarehouseError
from webapp.declarations import IdempotencyConflict
from webapp.i18n import current_language, t

log = logging.getLogger(__name__)

JSON_PATHS = ("/api/", "/healthz", "/metrics", "/.well-known/")
STREAM_UNAVAILABLE = Message(
    "The event stream is unavailable; nothing was recorded. Please retry shortly.",
    "Hệ thống tiếp nhận đang gián đoạn; chưa có gì được ghi nhận. Vui lòng thử lại sau ít phút.",
)
WAREHOUSE_UNAVAILABLE = Message(
    "The movement warehouse is unavailable. Please retry shortly.",
    "Kho dữ liệu di chuyển đang gián đoạn. Vui lòng thử lại sau ít phút.",
)
SOMETHING_WENT_WRONG = Message("Something went wrong", "Đã có lỗi xảy ra")
# What a person reads on a page for the errors they can meet; others get the generic title.
PAGE_TEXTS: dict[int, tuple[Message, Message]] = {
    400: (SOMETHING_WENT_WRONG, Message("The request could not be read. Please try again.",
                                        "Không đọc được yêu cầu. Vui lòng thử lại.")),
    404: (Message("Page not found", "Không tìm thấy trang"),
          Message("Check the address, or start again from the home page.",
                  "Vui lòng kiểm tra lại đường dẫn, hoặc bắt đầu lại từ trang chủ.")),
    405: (SOMETHING_WENT_WRONG, Message("This address does not take that kind of request.",
                                        "Địa chỉ này không nhận loại yêu cầu đó.")),
    413: (Message("Too large", "Dữ liệu quá lớn"),
          Message("What was sent is too large.", "Dữ liệu gửi lên quá lớn.")),
    429: (Message("Too many attempts", "Quá nhiều lượt gửi"),
          Message("Please wait a few minutes, then try again.", "Vui lòng chờ vài phút rồi thử lại.")),
    500: (SOMETHING_WENT_WRONG, Message("Please try again in a few minutes.",
                                        "Vui lòng thử lại sau ít phút.")),
    503: (Message("Temporarily unavailable", "Tạm thời gián đoạn"),
          Message("Please try again in a few minutes.", "Vui lòng thử lại sau ít phút.")),
}


def wants_json() -> bool:
    return request.path.startswith(JSON_PATHS)


def error_response(status: int, message: Message | str | None = None, headers: dict | None = None,
                   **fields: object):
    """The answer for an error: JSON ``{"error", **fields}`` or a page, by :func:`wants_json`."""
    title, text = PAGE_TEXTS.get(status, PAGE_TEXTS[500 if status >= 500 else 400])
    if message is None:
        message = text
    if wants_json():
        error = message.in_language(current_language()) if isinstance(message, Message) else message
        return jsonify(error=error, **fields), status, headers or {}
    page_text = t(message) if isinstance(message, Message) else t(text)
    return render_template("message.html", title=t(title), text=page_text), status, headers or {}


def init_app(app: Flask) -> None:
    app.register_error_handler(InvalidInput, _invalid_input)
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    app.register_error_handler(WarehouseError, _warehouse_unavailable)
    app.register_error_handler(IdempotencyConflict, _idempotency_conflict)
    app.register_error_handler(HTTPException, http_error)


def http_error(error: HTTPException):
    if error.code and error.code >= 500:
        log.error("%s %s answered %s", request.method, request.path, error.code,
                  exc_info=getattr(error, "original_exception", None))
    # JSON clients get the description (what went wrong with their request); people get a page
    # in their language, never a stack trace.
    allowed = getattr(error, "valid_methods", None)
    return error_response(error.code or 500, error.description if wants_json() else None,
                          headers={"Allow": ", ".join(allowed)} if allowed else None)


def _invalid_input(error: InvalidInput):
    return error_response(400, Message("invalid input", "dữ liệu không hợp lệ"),
                          errors=error.messages(current_language()))


def _broker_unavailable(error: BrokerUnavailable):
    log.warning("answered 503: %s", error)
    return error_response(503, STREAM_UNAVAILABLE, headers={"Retry-After": "5"})


def _warehouse_unavailable(error: WarehouseError):
    log.error("warehouse error: %s", error)
    return error_response(503, WAREHOUSE_UNAVAILABLE, headers={"Retry-After": "5"})


def _idempotency_conflict(error: IdempotencyConflict):
    return error_response(409, str(error))
