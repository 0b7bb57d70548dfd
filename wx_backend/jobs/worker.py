"""``wx-backend worker``: an RQ worker with RQ's scheduler, inside the app.

The app is made once in the worker process; RQ forks a work horse per job, and each horse
runs its job in that app's context with fresh database connections (``wx_backend.jobs``).
Beside RQ's scheduler (``with_scheduler=True``: scheduled jobs and retries) the process runs
the schedule's ``Ticker`` thread (periodic entries, see ``wx_backend.jobs.schedule``).

The worker's TTL is short (60 s, so its blocking wait returns every 45 s and RQ's
maintenance — including taking over the scheduler of a worker that died — runs often).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence

from flask import Flask
from rq import Worker
from rq.serializers import JSONSerializer

from wx_backend.core import clock
from wx_backend.jobs import QUEUES, queue, rq_connection, set_worker_app
from wx_backend.jobs.schedule import Ticker

log = logging.getLogger(__name__)

WORKER_TTL = 60
MAINTENANCE_INTERVAL = 30


def run(app: Flask, queues: Sequence[str] = QUEUES, *, burst: bool = False,
        name: str | None = None, with_ticker: bool = True) -> bool:
    """Work the queues until stopped (or, with ``burst``, until they are empty)."""
    unknown = [q for q in queues if q not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; queues: {', '.join(QUEUES)}")
    clock.configure(app.config["CLOCK_OFFSET"])
    set_worker_app(app)
    connection = rq_connection(app)
    worker = Worker([queue(q, app) for q in queues], connection=connection, name=name,
                    serializer=JSONSerializer, worker_ttl=WORKER_TTL,
                    maintenance_interval=MAINTENANCE_INTERVAL)
    ticker = None
    if with_ticker:
        ticker = Ticker(app)
        ticker.tick_once()
        ticker.start()
    if app.config["CLOCK_OFFSET"]:
        log.warning("worker clock shifted by %s s: it is %s", app.config["CLOCK_OFFSET"],
                    clock.now().isoformat())
    try:
        # RQ logs every job at INFO: with a sweep every few seconds that drowns the rest.
        level = "DEBUG" if app.config["LOG_LEVEL"] == "DEBUG" else "WARNING"
        return worker.work(with_scheduler=True, burst=burst, logging_level=level)
    finally:
        if ticker is not None:
            ticker.stop()


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process descended from it (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def kill_hard(pid: int) -> None:
    """SIGKILL a worker with its work horse and scheduler, as a dying machine would.

    RQ puts each work horse in a process group of its own, so killing the worker's group
    alone would let the horse finish its job; tests and the benchmark use this instead.
    """
    for member in process_tree(pid):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
