"""A local stand-in for a drand-compatible randomness beacon, spoken to over HTTP.

``GET /info`` gives the genesis time and period; ``GET /public/<round>`` gives a round's
randomness (SHA-256 of a fixed label and the round number) once its time has come, and 404
before — as the real beacon does.
"""

from __future__ import annotations

import hashlib
import threading
import time

from flask import Flask, jsonify
from werkzeug.serving import WSGIRequestHandler, make_server

GENESIS = 1_600_000_000
PERIOD = 3


def randomness(round_number: int) -> str:
    """The fake beacon's randomness for a round."""
    return hashlib.sha256(f"wxb-fake-beacon|{round_number}".encode()).hexdigest()


def create_fake_beacon() -> Flask:
    """The fake beacon's WSGI app."""
    app = Flask("fake_beacon")

    @app.get("/info")
    def info():
        return jsonify(genesis_time=GENESIS, period=PERIOD)

    @app.get("/public/<int:round_number>")
    def public(round_number: int):
        if GENESIS + (round_number - 1) * PERIOD > time.time():
            return jsonify(error="round in the future"), 404
        return jsonify(round=round_number, randomness=randomness(round_number))

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass  # a poll of a waiting room may ask every few seconds: not worth a line each


class FakeBeaconServer:
    """Runs the fake beacon on 127.0.0.1 in a daemon thread (on ``port``, or any free one)."""

    def __init__(self, port: int = 0):
        self._server = make_server("127.0.0.1", port, create_fake_beacon(), threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="fake-beacon")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def start(self) -> "FakeBeaconServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_running: FakeBeaconServer | None = None
_running_lock = threading.Lock()


def ensure_running() -> str:
    """Start the process's one fake beacon if it is not up yet; return its base URL. Every
    process's fake gives the same rounds at the same times, so web workers and the job
    worker agree on every value."""
    global _running
    with _running_lock:
        if _running is None:
            _running = FakeBeaconServer().start()
        return _running.base_url
