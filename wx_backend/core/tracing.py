"""Request ids and JSON logs, so that a resident's complaint can be traced.

``RequestIds`` (WSGI middleware, outside everything else) gives every request an id: the
caller's ``X-Request-Id`` when it is a sane token (a load balancer's or a CDN's), else a
fresh one. The id goes back in the ``X-Request-Id`` header, into every error envelope
(``error.request_id``), and into every log line written while the request is handled.

With ``LOG_FORMAT=json`` each log line is one JSON object: ``time``, ``level``,
``logger``, ``message``, ``request_id`` (when there is one) and ``exception`` (the
traceback, when there is one).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from datetime import datetime, timezone

current_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id",
                                                                        default=None)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
HEADER = "X-Request-Id"


def request_id(environ=None) -> str | None:
    """The id of the request being handled (from ``environ`` if given)."""
    if environ is not None and "wx.request_id" in environ:
        return environ["wx.request_id"]
    return current_id.get()


class RequestIds:
    """WSGI middleware: every request gets an id (see the module docstring)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        given = environ.get("HTTP_X_REQUEST_ID", "")
        rid = given if _SANE.match(given) else secrets.token_hex(8)
        environ["wx.request_id"] = rid
        token = current_id.set(rid)

        def with_id(status, headers, exc_info=None):
            return start_response(status, [*headers, (HEADER, rid)], exc_info)

        try:
            return self.wsgi_app(environ, with_id)
        finally:
            current_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = current_id.get()
        if rid:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def use_json_logs(root: logging.Logger | None = None) -> None:
    """Every handler of the root logger writes JSON lines (one is added if none)."""
    root = root or logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
