"""Background jobs on RQ: the queues, the one place jobs are declared, and enqueueing.

Queues, most urgent first (a worker takes from them in this order):

- ``notify``  messages to residents (confirmations, reminders, retries);
- ``default`` scheduled campaign work (windows opening and closing, expiry, the tick);
- ``low``     housekeeping (reconciliation, the daily public list, pruning).

Every job is named in ``JOBS`` below, with its queue and time limit, and is the function of
that name in ``wx_backend.jobs.tasks`` (decorated with ``@task``). Code that wants a job
done calls ``enqueue("send_deliveries", ids)``: it needs only this module, never the job
functions, so the domain does not depend on the catalogue that depends on it. RQ stores
only the dotted name and JSON arguments (ids and ISO moments, never objects), so a job can
be read in Redis and run again. Each job is written to be safe to run twice: the
database decides what is still to do (claimed deliveries, ``schedule_runs`` rows).

A task runs inside an app context: the worker's app when run by ``wx-backend worker``
(made once, before RQ forks a work horse per job), or the caller's when called directly.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from wx_backend.core import redis_urls
from wx_backend.extensions import db

log = logging.getLogger(__name__)

QUEUES = ("notify", "default", "low")

# Failed jobs are kept for seven days so `jobs failed` can show them; finished ones for
# ten minutes.
FAILURE_TTL = 7 * 24 * 3600
RESULT_TTL = 600


@dataclass(frozen=True)
class JobKind:
    """Where a job waits and how long it may run (seconds; ``None``: RQ's default)."""

    queue: str
    timeout: int | None = None


TASKS_MODULE = "wx_backend.jobs.tasks"
JOBS = {
    # messages to residents
    "send_deliveries": JobKind("notify", 120),
    "send_confirmations": JobKind("notify", 120),
    "announce": JobKind("notify", 120),
    "push_announcement": JobKind("notify", 300),
    # the official account
    "link_follower": JobKind("notify", 60),
    "send_binding_code": JobKind("notify", 60),
    # the schedule (its entries name their handlers in ``tasks.HANDLERS``)
    "run_periodic": JobKind("default", 600),
    "run_once": JobKind("default", 600),
}

_worker_app: Flask | None = None
_worker_app_pid: int | None = None


def set_worker_app(app: Flask) -> None:
    """The app jobs run in when no app context is active (set by ``wx-backend worker``)."""
    global _worker_app, _worker_app_pid
    _worker_app, _worker_app_pid = app, os.getpid()


def _job_app() -> Flask:
    global _worker_app_pid
    if _worker_app is None:
        # The app imports every module, this one included: the worker's app is built on
        # first use, so this import cannot be at the top.
        from wx_backend import create_app

        set_worker_app(create_app())
    if _worker_app_pid != os.getpid():
        # A work horse forked from the worker: never reuse the parent's database
        # connections (redis-py notices the fork by itself).
        with _worker_app.app_context():
            db.engine.dispose(close=False)
        _worker_app_pid = os.getpid()
    return _worker_app


def task(function: Callable) -> Callable:
    """The job ``JOBS`` names after ``function``: it runs inside an app context."""
    if function.__name__ not in JOBS or function.__module__ != TASKS_MODULE:
        raise ValueError(f"{function.__module__}.{function.__name__} is not a job in JOBS")

    @functools.wraps(function)
    def run(*args, **kwargs):
        if has_app_context():
            return function(*args, **kwargs)
        app = _job_app()
        with app.app_context():
            try:
                return function(*args, **kwargs)
            finally:
                db.session.remove()

    return run


def rq_connection(app: Flask | None = None) -> redis.Redis:
    """RQ's own Redis client (bytes, not decoded strings, as RQ expects)."""
    app = app or current_app
    client = app.extensions.get("rq_redis")
    if client is None:
        client = redis_urls.connect(app.config["REDIS_URL"], decode=False, socket_timeout=10,
                                    socket_connect_timeout=5, health_check_interval=30)
        app.extensions["rq_redis"] = client
    return client


def queue(name: str, app: Flask | None = None, connection: redis.Redis | None = None) -> Queue:
    """The named queue, speaking JSON."""
    return Queue(name, connection=connection or rq_connection(app), serializer=JSONSerializer)


def enqueue(name: str, *args: Any, at: datetime | None = None,
            job_id: str | None = None, app: Flask | None = None,
            connection: redis.Redis | None = None) -> Job | None:
    """Put the job ``name`` (a key of ``JOBS``) on its queue, now or at ``at`` (real time,
    UTC).

    With ``job_id`` the job is unique: while a job of that id exists, this does nothing and
    answers ``None``.
    """
    kind = JOBS.get(name)
    if kind is None:
        raise ValueError(f"no job named {name!r}")
    function = f"{TASKS_MODULE}.{name}"
    target = queue(kind.queue, app, connection)
    unique = job_id is not None
    try:
        if at is not None:
            # Queue.enqueue_at does not pass `unique` on; schedule_job does.
            job = target.create_job(function, args=args, timeout=kind.timeout,
                                    result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                                    job_id=job_id, status=JobStatus.SCHEDULED)
            return target.schedule_job(job, at, unique=unique)
        return target.enqueue(function, *args, job_id=job_id, job_timeout=kind.timeout,
                              result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, unique=unique)
    except DuplicateJobError:
        return None


@dataclass(frozen=True)
class FailedJob:
    """A job that raised: where it waited, what it was, and the last line of its error."""

    queue: str
    id: str
    call: str
    reason: str


def failed_jobs(limit: int = 50) -> tuple[int, list[FailedJob]]:
    """How many jobs failed in all queues, and up to ``limit`` of each queue's."""
    total, found = 0, []
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(name))
        total += registry.count
        ids = registry.get_job_ids(0, limit - 1)
        for job in registry.get_queue().job_class.fetch_many(
                ids, connection=registry.connection, serializer=registry.serializer):
            if job is None:
                continue
            result = job.latest_result()
            text = ((result.exc_string if result else "") or "").strip()
            found.append(FailedJob(name, job.id, f"{job.func_name}{tuple(job.args)!s:.80}",
                                   text.splitlines()[-1] if text else "unknown"))
    return total, found


def depths() -> dict[str, int]:
    """Jobs waiting in each queue, and ``failed``: how many failed in all of them."""
    found = {name: queue(name).count for name in QUEUES}
    found["failed"] = sum(FailedJobRegistry(queue=queue(name)).count for name in QUEUES)
    return found


def requeue_failed(job_ids: list[str] | None = None) -> int:
    """Run failed jobs again (``job_ids``; None: every failed job); answers how many."""
    requeued = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(name))
        for job_id in (registry.get_job_ids() if job_ids is None else job_ids):
            try:
                registry.requeue(job_id)
                requeued += 1
            except (InvalidJobOperation, NoSuchJobError):
                continue
    return requeued
