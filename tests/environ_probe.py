"""A web server target for ``tests/test_request_environ.py``: the app exactly as
``wx_backend.wsgi`` builds it for granian and gunicorn, plus one probe route that answers
what its view finds in ``request.environ``.

It lives in ``tests/`` so that no production app ever has such a route. ``served`` is the
target: it answers ``/probe/server-environ`` itself, with the names of the environ the
server handed over (before any of the app's middleware), and passes everything else to
the app.
"""

from __future__ import annotations

import json

from flask import request

from wx_backend.wsgi import app


@app.get("/probe/environ")
def environ_probe():
    """Every key of the view's environ, with its value as text."""
    return {name: str(value) for name, value in request.environ.items()}


def served(environ, start_response):
    """The app, and the server's own environ at ``/probe/server-environ``."""
    if environ.get("PATH_INFO") == "/probe/server-environ":
        body = json.dumps(sorted(environ)).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app(environ, start_response)
