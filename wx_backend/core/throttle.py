"""Limits on attempts that a real resident never reaches and a bot reaches at once.

Counted in process memory, so they cost the booking path no Redis call: each process
counts what it sees. Behind a load balancer that spreads requests evenly over ``P``
processes, a client is held to about ``P`` times the limit overall, which is still far
below what a script sends. The counting is by fixed windows of ``seconds``; a client may
squeeze up to twice the limit across a window's edge, which is fine for this purpose.

``Limiter.hit`` raises ``TooManyRequests`` (429 with ``retry_after``); ``PerAddress`` is
the WSGI middleware that applies a limiter to the client's address on chosen paths,
before anything else runs.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time

from wx_backend.core.errors import TooManyRequests

MESSAGE = "操作太频繁，请稍后再试"


class Limiter:
    """At most ``limit`` attempts per key in each window of ``seconds`` (0: no limit)."""

    def __init__(self, limit: int, seconds: float = 60.0):
        self.limit = limit
        self.seconds = seconds
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """0 if the attempt may go ahead (and counts it), else the seconds to wait."""
        if self.limit <= 0:
            return 0
        now = time.monotonic()
        window = int(now // self.seconds)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        if count <= self.limit:
            return 0
        return max(1, math.ceil((window + 1) * self.seconds - now))

    def hit(self, key: str) -> None:
        """Count an attempt, or refuse it with 429."""
        wait = self.retry_after(key)
        if wait:
            raise TooManyRequests("too_many_attempts", MESSAGE, retry_after=wait)


class PerAddress:
    """WSGI middleware: POSTs to ``paths`` beyond the address's limit get 429 at once."""

    def __init__(self, wsgi_app, limiter: Limiter, paths: list[re.Pattern]):
        self.wsgi_app = wsgi_app
        self.limiter = limiter
        self.paths = paths

    def __call__(self, environ, start_response):
        if (self.limiter.limit > 0 and environ.get("REQUEST_METHOD") == "POST"
                and any(p.match(environ.get("PATH_INFO", "")) for p in self.paths)):
            wait = self.limiter.retry_after(environ.get("REMOTE_ADDR") or "?")
            if wait:
                environ["wx.answer"] = "too_many_attempts"
                body = json.dumps({"error": {
                    "code": "too_many_attempts", "message": MESSAGE, "fields": {},
                    "retry_after": wait, "request_id": environ.get("wx.request_id", "")}},
                    ensure_ascii=False).encode()
                start_response("429 Too Many Requests", [
                    ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Retry-After", str(wait))])
                return [body]
        return self.wsgi_app(environ, start_response)
