"""Reading a small JSON body in WSGI middleware, before Flask, without taking it away."""

from __future__ import annotations

import io
import json


def small_json(environ, limit: int = 1024):
    """The request's JSON body when it has a Content-Length of 1 to ``limit`` bytes and
    parses, else None. The body is put back, so whatever runs next reads it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= limit:
        return None
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # malformed, or nested too deep to follow
        return None
