"""``/metrics``: the figures the operator's Prometheus scrapes, in its text format
(prometheus-client). Not part of the API spec: a plain Flask blueprint, like ``web.health``.

**Events**, counted in each web process as they happen:

- ``wx_booking_answers_total{campaign, code}``: every answer to a booking request, by
  answer code (``ok`` for a booking), counted by ``booking.figures.BookingFigures``, the
  measurement point the window dashboard reads too;
- ``wx_http_request_duration_seconds{route, method, status}``: seconds to answer, by
  Flask's route template (``unmatched`` when no route matched), method and status class
  (``2xx``, ``4xx``...). The booking route is timed by ``BookingFigures``, since some of
  its answers never reach Flask; every other route by the request hooks ``init_app``
  installs. Each request is timed once.

**State**, read at each scrape by ``service_state``, for a cost of two small SQL queries
(one of them the GROUP BY of messages) and one Redis pipeline (two when the stock has a
Redis of its own):

- ``wx_job_queue_depth{queue}``: jobs waiting in each RQ queue;
- ``wx_jobs_failed{queue}``: jobs in each queue's failed registry (kept a week);
- ``wx_deliveries_last_day{status}``: messages created in the last 24 hours, by status;
- ``wx_window_sold_out_seconds{campaign, window}``: for each window opened in the last 24
  hours that the stock marked sold out, seconds from its opening to its last booking (the
  dashboard's "time to sell out").

``wx_scrape_collector_up{collector}`` is 1 for each scrape-time reader that worked and 0
for one that failed (its figures are missing from that scrape; the log says why).

**More figures at scrape time.** ``SCRAPE_COLLECTORS`` lists what is read at each scrape.
An entry is either a function that takes the app and returns metric families
(``prometheus_client.core.GaugeMetricFamily`` and the like), or an object with a
``collect()`` method (a prometheus-client custom collector). Entries run in an app
context, in list order; one that raises is logged and skipped, the others are served.
Append an entry once, at import time, from a surface module or ``create_app``: a capability
does not import ``web``, so the reading function lives in the capability and the surface
that serves it adds it, for instance::

    from wx_backend.booking import waiting_room
    from wx_backend.web import metrics

    metrics.SCRAPE_COLLECTORS.append(waiting_room.metric_families)

**Several processes.** Each gunicorn worker counts its own events. With
``PROMETHEUS_MULTIPROC_DIR`` set (``wx-backend serve`` sets it), prometheus-client keeps
them in files in that folder, and whichever worker answers the scrape adds up every
worker's (``MultiProcessCollector``); gunicorn's ``child_exit`` hook
(``cli/gunicorn_config.py``) tells prometheus-client when a worker is gone. Without the
variable (one process, the tests) this process's default registry is served.

**Who may read.** With ``METRICS_TOKEN`` set, only requests carrying
``Authorization: Bearer <token>`` (401 otherwise). Without it, only requests from a
loopback address that carry no proxy's forwarding header (403 otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from wx_backend import jobs
from wx_backend.booking.figures import TIMED, figures_key, observe_request, sold_out_after
from wx_backend.booking.stock import sold_out_key
from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import DELIVERY_STATUSES, Delivery, Window
from wx_backend.web.errors import envelope

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
RECENT = timedelta(days=1)  # how far back the scrape-time figures look
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-Ip")


@bp.get("/metrics")
def metrics():
    """Every figure, in the exposition format the scraper asked for."""
    refusal = _refusal()
    if refusal is not None:
        return refusal
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(scrape_registry(current_app)), content_type=content_type,
                    headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Serve ``/metrics`` and time every request that reaches Flask."""
    app.register_blueprint(bp)
    app.before_request(_start_clock)
    app.after_request(_record_latency)


def _start_clock() -> None:
    if not request.environ.get(TIMED):  # the booking route is timed outside Flask
        g.metrics_started = time.perf_counter()


def _record_latency(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None:
        return response
    rule = request.url_rule
    try:
        observe_request(rule.rule if rule is not None else "unmatched", request.method,
                        response.status_code, time.perf_counter() - started)
    except Exception:  # timing must never cost anyone their answer
        log.exception("request not timed")
    return response


def _refusal() -> Response | None:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode()):
            return None
        return envelope(401, "metrics_token_required", "请提供正确的监控令牌",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if _from_this_machine():
        return None
    return envelope(403, "metrics_local_only", "未设置监控令牌时，只允许本机读取监控数据")


def _from_this_machine() -> bool:
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False  # a proxy on this machine passes on someone else's request
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def scrape_registry(app: Flask) -> CollectorRegistry:
    """The registry of one scrape: the events of every worker (``PROMETHEUS_MULTIPROC_DIR``)
    or of this process, and what ``SCRAPE_COLLECTORS`` read now."""
    registry = CollectorRegistry(auto_describe=False)
    path = os.environ.get(MULTIPROC_DIR)
    if path:
        multiprocess.MultiProcessCollector(registry, path)
    else:
        registry.register(REGISTRY)
    registry.register(_AtScrape(app, list(dict.fromkeys(SCRAPE_COLLECTORS))))
    return registry


class _AtScrape:
    """Runs the scrape-time readers, each on its own: one that fails costs only its own
    figures."""

    def __init__(self, app: Flask, entries: list):
        self.app = app
        self.entries = entries

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("wx_scrape_collector_up", "1 if the scrape-time reader "
                               "worked, 0 if it failed", labels=["collector"])
        for entry in self.entries:
            name = getattr(entry, "__name__", type(entry).__name__)
            try:
                families = list(entry.collect() if hasattr(entry, "collect")
                                else entry(self.app))
            except Exception:  # a broken reader must not empty the whole scrape
                log.exception("metrics reader %s failed", name)
                db.session.rollback()
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def service_state(app: Flask) -> list[Metric]:
    """Job queues, failed jobs, messages by status and time to sell out, as they are now."""
    now = clock.now()
    windows = db.session.execute(
        select(Window.id, Window.campaign_id, Window.opens_at, Window.closes_at)
        .where(Window.opens_at > now - RECENT, Window.opens_at <= now)
        .order_by(Window.id)).all()
    messages = dict(db.session.execute(
        select(Delivery.status, func.count()).where(Delivery.created_at > now - RECENT)
        .group_by(Delivery.status)).all())
    db.session.rollback()  # only read; no transaction stays open while Redis answers

    client, stock_client = app.extensions["redis"], app.extensions["stock_redis"]
    queues = [jobs.queue(name, app) for name in jobs.QUEUES]
    # A failed job's score is when RQ forgets it; those past it are as good as gone.
    alive = f"({int(time.time())}"
    # The last booking is kept per campaign and Beijing day: the hashes of the opening's
    # day and of the closing's (or today's).
    days = [list(dict.fromkeys([figures_key(w.campaign_id, w.opens_at),
                                figures_key(w.campaign_id, min(now, w.closes_at))]))
            for w in windows]
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.llen(queue.key)
            pipe.zcount(FailedJobRegistry(queue=queue).key, alive, "+inf")
        for keys in days:
            for key in keys:
                pipe.hget(key, "last_ok_ms")
        for window in windows if stock_client is client else ():
            pipe.exists(sold_out_key(window.id))
        answers = pipe.execute()
    if stock_client is not client and windows:
        with stock_client.pipeline(transaction=False) as pipe:
            for window in windows:
                pipe.exists(sold_out_key(window.id))
            answers += pipe.execute()

    depth = GaugeMetricFamily("wx_job_queue_depth", "Jobs waiting in each job queue",
                              labels=["queue"])
    failed = GaugeMetricFamily("wx_jobs_failed", "Jobs in each queue's failed registry",
                               labels=["queue"])
    for n, queue in enumerate(queues):
        depth.add_metric([queue.name], answers[2 * n])
        failed.add_metric([queue.name], answers[2 * n + 1])
    read = iter(answers[2 * len(queues):])
    last_ok = [max((int(value) for value in [next(read) for _ in keys] if value), default=None)
               for keys in days]
    marks = list(read)

    sold_out = GaugeMetricFamily(
        "wx_window_sold_out_seconds", "Seconds from a window's opening to its last booking, "
        "for windows opened in the last day that sold out", labels=["campaign", "window"])
    for window, ms, marked in zip(windows, last_ok, marks):
        after = sold_out_after(window.opens_at, min(now, window.closes_at), ms)
        if marked and after is not None:
            sold_out.add_metric([str(window.campaign_id), str(window.id)], after)

    by_status = GaugeMetricFamily("wx_deliveries_last_day", "Messages created in the last "
                                  "day, by status", labels=["status"])
    for status in dict.fromkeys([*DELIVERY_STATUSES, *sorted(messages)]):
        by_status.add_metric([status], messages.get(status, 0))
    return [depth, failed, by_status, sold_out]


# What is read at each scrape (see the module's docstring).
SCRAPE_COLLECTORS: list = [service_state]
