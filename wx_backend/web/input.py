"""Reading the JSON bodies of the staff-facing APIs (editors, community staff), with the one
error envelope for what cannot be read."""

from __future__ import annotations

from flask import request

from wx_backend.core.errors import InvalidInput


def json_object() -> dict:
    """The request's JSON object, or InvalidInput ``invalid_json``."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise InvalidInput("invalid_json", "请求体应为 JSON 对象")
    return data

