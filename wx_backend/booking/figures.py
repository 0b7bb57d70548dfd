"""What booking answered, second by second: the figures behind the operator's window
dashboard.

Every answer to ``POST /api/v1/campaigns/<id>/bookings`` (the full path and the sold-out
shortcut alike) is counted by ``BookingFigures``, a WSGI middleware outside everything
else, with its answer code and how long it took. The counts stay in process memory and a
background thread adds them to Redis once a second, in one pipeline: the booking path
itself makes no extra Redis call, and the figures are at most about a second late.

In Redis, one hash per campaign and Beijing day, ``wx:figures:<campaign>:<yyyymmdd>``:

- ``<second>|<code>``: answers with that code in that Unix second (``ok`` for a booking)
- ``<second>|t<bucket>``: answers whose time fell in that latency bucket; bucket ``b``
  holds times up to ``BASE ** b`` milliseconds, so a percentile read from it is at most
  ``BASE - 1`` (15%) above the true one
- ``last_ok_ms``: when the last booking was made (for the time to sell out), kept as the
  largest value any process reported

The hashes expire after three days; the database keeps the bookings themselves.

The same middleware feeds two Prometheus metrics (served at ``/metrics`` by
``web.metrics``), so the dashboard and the operator's Prometheus count from one place:

- ``wx_booking_answers_total{campaign, code}``: every answer, by code. ``campaign`` is
  ``other`` for an id this process holds no snapshot of (no such campaign): posting to
  made-up ids cannot grow the set of labels.
- ``wx_http_request_duration_seconds{route, method, status}``: the time to answer, for
  the booking route here (some of its answers never reach Flask) and for every other route
  in ``web.metrics``'s request hooks. ``TIMED`` in the WSGI environ marks a request timed
  here, so the hooks leave it alone and nothing is counted twice.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import redis
from prometheus_client import Counter as PrometheusCounter
from prometheus_client import Histogram

from wx_backend.core.clock import BEIJING

log = logging.getLogger(__name__)

BASE = 1.15
KEEP_SECONDS = 3 * 24 * 3600
_KEEP_LARGEST = """
local now = tonumber(redis.call('HGET', KEYS[1], 'last_ok_ms') or '0')
if tonumber(ARGV[1]) > now then redis.call('HSET', KEYS[1], 'last_ok_ms', ARGV[1]) end
"""

# Flask's template of the booking route (miniprogram_api.campaign_routes), as the latency
# histogram labels it; tests/test_metrics.py checks the two agree.
BOOKING_ROUTE = "/api/v1/campaigns/<int:campaign_id>/bookings"
TIMED = "wx.timed"  # in the WSGI environ: this request's latency is recorded here
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From the sold-out shortcut's fraction of a millisecond to a booking stuck behind a
# failing-over Redis.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)

ANSWERS = PrometheusCounter(
    "wx_booking_answers", "Answers to booking requests, by campaign and answer code "
    "(ok: a booking made)", ["campaign", "code"])
REQUEST_SECONDS = Histogram(
    "wx_http_request_duration_seconds", "Seconds to answer an HTTP request, by route "
    "template, method and status class", ["route", "method", "status"],
    buckets=LATENCY_BUCKETS)


def observe_request(route: str, method: str, status: int | str, seconds: float) -> None:
    """Add one answer to the latency histogram (an unusual method counts as ``other``)."""
    REQUEST_SECONDS.labels(route, method if method in METHODS else "other",
                           f"{str(status)[:1]}xx").observe(seconds)


def figures_key(campaign_id: int, moment: datetime) -> str:
    return f"wx:figures:{campaign_id}:{moment.astimezone(BEIJING):%Y%m%d}"


def bucket_of(seconds: float) -> int:
    """The latency bucket of a time: the smallest ``b`` with ``BASE ** b`` ms >= it."""
    milliseconds = max(seconds * 1000.0, 1.0)
    return max(0, math.ceil(math.log(milliseconds, BASE) - 1e-9))


def bucket_ms(bucket: int) -> float:
    return BASE ** bucket


class Recorder:
    """Counts answers in memory; a daemon thread (one per process, started on first use,
    again after a fork) adds them to Redis every ``interval`` seconds."""

    def __init__(self, client: redis.Redis, interval: float = 1.0):
        self.client = client
        self.interval = interval
        self._lock = threading.Lock()
        self._counts: Counter = Counter()  # (campaign, second, field) -> n
        self._last_ok: dict[int, int] = {}  # campaign -> ms
        self._pid = None
        self._keep_largest = client.register_script(_KEEP_LARGEST)

    def record(self, campaign_id: int, code: str, seconds: float, at: float) -> None:
        second = int(at)
        with self._lock:
            self._counts[campaign_id, second, code] += 1
            self._counts[campaign_id, second, f"t{bucket_of(seconds)}"] += 1
            if code == "ok":
                self._last_ok[campaign_id] = max(self._last_ok.get(campaign_id, 0),
                                                 int(at * 1000))
        if self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._run, name="booking-figures", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                self.flush()
            except redis.RedisError as error:
                # Kept in memory and tried again; figures are late, nothing is lost.
                log.warning("booking figures not written (%s)", error.__class__.__name__)

    def flush(self) -> None:
        """Add what was counted since the last flush to Redis."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            last_ok, self._last_ok = self._last_ok, {}
        if not counts and not last_ok:
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                keys = set()
                for (campaign_id, second, name), n in counts.items():
                    key = figures_key(campaign_id, datetime.fromtimestamp(second, BEIJING))
                    pipe.hincrby(key, f"{second}|{name}", n)
                    keys.add(key)
                for campaign_id, ms in last_ok.items():
                    key = figures_key(campaign_id, datetime.fromtimestamp(ms / 1000, BEIJING))
                    self._keep_largest(keys=[key], args=[ms], client=pipe)
                    keys.add(key)
                for key in keys:
                    pipe.expire(key, KEEP_SECONDS)
                pipe.execute()
        except redis.RedisError:
            with self._lock:
                self._counts.update(counts)
                for campaign_id, ms in last_ok.items():
                    self._last_ok[campaign_id] = max(self._last_ok.get(campaign_id, 0), ms)
            raise


class BookingFigures:
    """WSGI middleware: times every booking answer and counts it by code, for the window
    dashboard (``recorder``) and for Prometheus (see the module's docstring).

    The code is what the error envelope wrote into ``environ['wx.answer']`` (the sold-out
    shortcut writes it too), ``ok`` for a 201, or the bare status otherwise. With a
    ``directory``, a campaign it holds no snapshot of is labelled ``other`` in Prometheus.
    """

    def __init__(self, wsgi_app, recorder: Recorder, path, directory=None):
        self.wsgi_app = wsgi_app
        self.recorder = recorder
        self.path = path
        self.directory = directory

    def __call__(self, environ, start_response):
        match = (self.path.match(environ.get("PATH_INFO", ""))
                 if environ.get("REQUEST_METHOD") == "POST" else None)
        if match is None:
            return self.wsgi_app(environ, start_response)
        started = time.monotonic()
        statuses = []

        def noting(status, headers, exc_info=None):
            statuses.append(status)
            return start_response(status, headers, exc_info)

        environ[TIMED] = True
        answer = self.wsgi_app(environ, noting)
        seconds = time.monotonic() - started
        status = statuses[0].split(" ", 1)[0] if statuses else "500"
        code = environ.get("wx.answer") or ("ok" if status == "201" else status)
        campaign_id = int(match.group(1))
        try:
            self.recorder.record(campaign_id, code, seconds, time.time())
            ANSWERS.labels(self._campaign_label(campaign_id), code).inc()
            observe_request(BOOKING_ROUTE, "POST", status, seconds)
        except Exception:  # counting must never cost a resident their answer
            log.exception("booking answer not counted")
        return answer

    def _campaign_label(self, campaign_id: int) -> str:
        if self.directory is None or self.directory.cached(campaign_id) is not None:
            return str(campaign_id)
        return "other"


@dataclass
class WindowFigures:
    """A window's answers as the dashboard draws them, second by second from ``start``."""

    start: int
    seconds: int
    by_code: Counter = field(default_factory=Counter)
    per_second: dict[str, list[int]] = field(default_factory=dict)
    latency: Counter = field(default_factory=Counter)  # bucket -> n over the window
    latency_per_second: list[Counter] = field(default_factory=list)
    last_ok_ms: int | None = None

    @property
    def answered(self) -> int:
        return sum(self.by_code.values())

    def percentile(self, fraction: float, buckets: Counter | None = None) -> float | None:
        """The latency (ms, a bucket's upper bound) under which ``fraction`` of answers fell."""
        buckets = self.latency if buckets is None else buckets
        total = sum(buckets.values())
        if not total:
            return None
        needed, seen = math.ceil(total * fraction), 0
        for bucket in sorted(buckets):
            seen += buckets[bucket]
            if seen >= needed:
                return bucket_ms(bucket)
        return bucket_ms(max(buckets))


def read_window(client: redis.Redis, campaign_id: int, opens_at: datetime,
                until: datetime) -> WindowFigures:
    """The answers counted for a campaign from ``opens_at`` to ``until`` (at most one day's
    hash each side of midnight is read)."""
    start, end = int(opens_at.timestamp()), int(until.timestamp())
    seconds = max(1, end - start + 1)
    figures = WindowFigures(start=start, seconds=seconds,
                            latency_per_second=[Counter() for _ in range(seconds)])
    keys = {figures_key(campaign_id, opens_at), figures_key(campaign_id, until)}
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        hashes = pipe.execute()
    for stored in hashes:
        for name, value in stored.items():
            if name == "last_ok_ms":
                figures.last_ok_ms = max(figures.last_ok_ms or 0, int(value))
                continue
            second, _, what = name.partition("|")
            offset = int(second) - start
            if not 0 <= offset < seconds:
                continue
            n = int(value)
            if what.startswith("t") and what[1:].isdigit():
                figures.latency[int(what[1:])] += n
                figures.latency_per_second[offset][int(what[1:])] += n
            else:
                figures.by_code[what] += n
                figures.per_second.setdefault(what, [0] * seconds)[offset] += n
    if not booked_within(opens_at, until, figures.last_ok_ms):
        figures.last_ok_ms = None
    return figures


def booked_within(opens_at: datetime, until: datetime, last_ok_ms: int | None) -> bool:
    """Whether a campaign's last booking of the day (``last_ok_ms``) fell in the window from
    ``opens_at`` to ``until``: the hash is per day, so a later window of that day moves it."""
    if last_ok_ms is None:
        return False
    return int(opens_at.timestamp()) * 1000 <= last_ok_ms <= (int(until.timestamp()) + 1) * 1000


def sold_out_after(opens_at: datetime, until: datetime, last_ok_ms: int | None) -> float | None:
    """Seconds from the opening to the last booking of a sold-out window (the time to sell
    out, as the dashboard shows it); None when that booking is not in the window."""
    if not booked_within(opens_at, until, last_ok_ms):
        return None
    return last_ok_ms / 1000 - opens_at.timestamp()
