"""The schedule: what runs when, declared as data, run at most once per moment.

Two kinds of entries:

- *periodic* ones (``periodic()``): every N seconds or daily at a Beijing time — the tick
  that plans the rest, the notification sweep, reconciliation, the daily public lists,
  pruning;
- *planned* ones read from the database (``planned()``): for each window, loading its stock
  into Redis ahead of time, opening and closing it; for each pickup end, the reminder some
  hours before (per campaign) and the expiry of what was not collected; for each
  scheduled announcement, its publication (pushes; it is visible from its moment anyway);
  for each rules version that drops pickup, moving the live bookings to delivery when it
  takes effect;
  for each claim deadline of a lottery win or voucher, the lapse of those not used; for
  lottery campaigns that draw on a schedule, the commitment and, later, the draw.

How they run. Every worker process runs a ``Ticker`` thread that enqueues each periodic
entry when its slot begins, under the job id ``sched-<name>-<epoch>``; RQ refuses a second
job of that id, so many workers give one job. The tick (every minute) enqueues the planned
entries of the next two minutes for their exact moment through RQ's scheduler
(``enqueue_at``), and anything of the last day that is due but has not run. Each run goes
through ``run_once``, which first inserts ``(task, moment)`` into ``schedule_runs``: a
second run of the same moment finds the row and does nothing. A run that raised removes its
row so the next tick tries again; one cut off by a dead worker is retried once its row is
ten minutes old.

Why a ticker besides RQ's scheduler: the scheduler runs in one worker at a time under a
lock that lives 61 s after its holder dies, so after a SIGKILL nothing scheduled would run
for a minute; periodic entries keep their pace through the ticker, and the sweep re-sends
whatever a late retry would have. The schedule is all in PostgreSQL and the entries above,
so it survives a worker restart and a Redis flush alike.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from wx_backend import jobs
from wx_backend.campaigns.manage import rules_in_force
from wx_backend.core import clock, redis_urls
from wx_backend.core.clock import BEIJING
from wx_backend.extensions import db
from wx_backend.models import (
    Announcement,
    Booking,
    Campaign,
    Entry,
    RulesVersion,
    ScheduleRun,
    Window,
)
from wx_backend.notify.texts import reminder_hours

log = logging.getLogger(__name__)

PRELOAD = timedelta(minutes=5)
LOOKAHEAD = timedelta(minutes=2)
CATCH_UP = timedelta(hours=24)
ABANDONED = timedelta(minutes=10)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Periodic:
    """Run ``task`` every ``every`` seconds, or daily at ``at`` (Beijing time)."""

    name: str
    task: str
    every: int | None = None
    at: time | None = None

    def slot(self, now: datetime) -> datetime:
        """The start of the slot ``now`` falls in."""
        if self.every:
            seconds = int((now - EPOCH).total_seconds())
            return EPOCH + timedelta(seconds=seconds - seconds % self.every)
        local = now.astimezone(BEIJING)
        start = datetime.combine(local.date(), self.at, BEIJING)
        if start > local:
            start -= timedelta(days=1)
        return start.astimezone(timezone.utc)


def periodic(config) -> list[Periodic]:
    """The periodic entries."""
    return [
        Periodic("tick", "tick", every=60),
        Periodic("notify_sweep", "sweep_notifications", every=max(1, config["SWEEP_SECONDS"])),
        Periodic("reconcile", "reconcile_stock", every=600),
        Periodic("public_lists", "publish_public_lists", at=time(21, 0)),
        Periodic("prune", "prune", at=time(3, 30)),
    ]


@dataclass(frozen=True)
class Planned:
    """One planned run: ``key`` names it in ``schedule_runs``, ``task`` is the job."""

    key: str
    at: datetime
    task: str
    args: tuple


def planned(lo: datetime, hi: datetime) -> list[Planned]:
    """Planned runs with moments in [lo, hi), from windows and bookings."""
    session = db.session
    found: list[Planned] = []
    windows = session.execute(
        select(Window.id, Window.opens_at, Window.closes_at)
        .where(((Window.opens_at - PRELOAD >= lo) & (Window.opens_at - PRELOAD < hi))
               | ((Window.opens_at >= lo) & (Window.opens_at < hi))
               | ((Window.closes_at >= lo) & (Window.closes_at < hi)))).all()
    for window_id, opens_at, closes_at in windows:
        for key, at, task in ((f"window_preload:{window_id}", opens_at - PRELOAD,
                               "preload_window"),
                              (f"window_open:{window_id}", opens_at, "open_window"),
                              (f"window_close:{window_id}", closes_at, "close_window")):
            if lo <= at < hi:
                found.append(Planned(key, at, task, (window_id,)))
    leads = {cid: timedelta(hours=reminder_hours(settings)) for cid, settings in
             session.execute(select(Campaign.id, Campaign.notify_settings)).all()}
    longest = max(leads.values(), default=timedelta(0))
    ends = session.execute(
        select(Booking.campaign_id, Booking.window_id, Booking.pickup_ends_at)
        .where(Booking.status == "confirmed", Booking.pickup_ends_at >= lo,
               Booking.pickup_ends_at < hi + longest)
        .group_by(Booking.campaign_id, Booking.window_id, Booking.pickup_ends_at)).all()
    for campaign_id, window_id, ends_at in ends:
        epoch = int(ends_at.timestamp())
        if lo <= ends_at < hi:
            found.append(Planned(f"expire:{epoch}", ends_at, "expire_bookings", ()))
        remind_at = ends_at - leads.get(campaign_id, timedelta(0))
        if leads.get(campaign_id) and lo <= remind_at < hi:
            found.append(Planned(f"reminder:{window_id}:{epoch}", remind_at,
                                 "remind_pickup", (window_id, ends_at.isoformat())))
    for announcement_id, publish_at in session.execute(
            select(Announcement.id, Announcement.publish_at)
            .where(Announcement.status == "scheduled", Announcement.publish_at >= lo,
                   Announcement.publish_at < hi)).all():
        found.append(Planned(f"announcement:{announcement_id}", publish_at,
                             "publish_announcement", (announcement_id,)))
    for deadline in session.scalars(
            select(Entry.claim_deadline).where(Entry.status.in_(("won", "released")),
                                               Entry.claim_deadline >= lo,
                                               Entry.claim_deadline < hi).distinct()):
        found.append(Planned(f"lapse:{int(deadline.timestamp())}", deadline, "lapse_wins", ()))
    for version_id, campaign_id, effective_at in session.execute(
            select(RulesVersion.id, RulesVersion.campaign_id, RulesVersion.effective_at)
            .where(RulesVersion.version > 1, RulesVersion.effective_at >= lo,
                   RulesVersion.effective_at < hi,
                   ~RulesVersion.rules["fulfilment"].contains(["pickup"]))).all():
        found.append(Planned(f"fulfilment:{version_id}", effective_at, "follow_fulfilment",
                             (campaign_id,)))
    found += _planned_draws(lo, hi)
    session.rollback()
    return found


def _planned_draws(lo: datetime, hi: datetime) -> list[Planned]:
    """Commitments and draws of lottery campaigns that draw on a schedule."""
    session = db.session
    found = []
    for campaign_id, created in session.execute(select(Campaign.id, Campaign.created_at)):
        rules = rules_in_force(session, campaign_id, lo)[1]
        settings = rules.lottery
        if settings is None or not settings.quota_per_draw:
            continue
        zone = rules.zone
        first = created.astimezone(zone).date()
        day = lo.astimezone(zone).date() - timedelta(days=1)
        while datetime.combine(day, settings.commit_at, zone) < hi:
            if (day - first).days % settings.draw_every_days == 0:
                commit_at = datetime.combine(day, settings.commit_at, zone)
                draw_at = commit_at + timedelta(minutes=settings.draw_after_minutes)
                epoch = int(commit_at.timestamp())
                if lo <= commit_at < hi:
                    found.append(Planned(f"draw_commit:{campaign_id}:{epoch}", commit_at,
                                         "commit_scheduled_draw", (campaign_id,)))
                if lo <= draw_at < hi:
                    found.append(Planned(f"draw_run:{campaign_id}:{epoch}", draw_at,
                                         "run_scheduled_draw", (campaign_id,)))
            day += timedelta(days=1)
    return found


def _job_id(key: str, moment: datetime) -> str:
    """RQ job ids allow letters, digits, ``_`` and ``-`` only."""
    return f"sched-{key.replace(':', '-')}-{int(moment.timestamp())}"


def plan(now: datetime) -> dict[str, int]:
    """The tick's work: enqueue the planned runs of the next minutes and the missed ones."""
    session = db.session
    session.execute(delete(ScheduleRun).where(ScheduleRun.finished_at.is_(None),
                                              ScheduleRun.started_at < now - ABANDONED))
    session.commit()
    runs = planned(now - CATCH_UP, now + LOOKAHEAD)
    done = set(session.execute(
        select(ScheduleRun.task, ScheduleRun.moment)
        .where(ScheduleRun.moment >= now - CATCH_UP)).all())
    session.rollback()
    counts = {"ahead": 0, "missed": 0}
    for run in runs:
        if (run.key, run.at) in done:
            continue
        late = run.at <= now
        jobs.enqueue("run_once", run.key, run.at.isoformat(), run.task, list(run.args),
                     at=None if late else clock.to_real(run.at),
                     job_id=_job_id(run.key, run.at))
        counts["missed" if late else "ahead"] += 1
    return counts


def run_once(key: str, moment: datetime, handler: Callable[..., object], *args) -> dict:
    """Run ``handler`` for (key, moment) unless it ran already; answers what happened."""
    session = db.session
    claimed = session.execute(
        insert(ScheduleRun).values(task=key, moment=moment, started_at=clock.now())
        .on_conflict_do_nothing().returning(ScheduleRun.task)).first()
    session.commit()
    if claimed is None:
        return {"skipped": "already ran"}
    try:
        result = handler(*args)
    except BaseException:
        session.rollback()
        session.execute(delete(ScheduleRun).where(ScheduleRun.task == key,
                                                  ScheduleRun.moment == moment))
        session.commit()
        raise
    session.execute(update(ScheduleRun)
                    .where(ScheduleRun.task == key, ScheduleRun.moment == moment)
                    .values(finished_at=clock.now(),
                            result=json.dumps(result, ensure_ascii=False, default=str)))
    session.commit()
    return {"ran": result}


def prune(now: datetime) -> int:
    """Forget runs older than a week."""
    done = db.session.execute(delete(ScheduleRun).where(
        ScheduleRun.moment < now - timedelta(days=7))).rowcount
    db.session.commit()
    return done


class Ticker(threading.Thread):
    """Enqueues each periodic entry once per slot (see the module docstring)."""

    def __init__(self, app: Flask, interval: float = 1.0):
        super().__init__(name="wx-ticker", daemon=True)
        self.app = app
        # A client of its own: RQ forks work horses while this thread may hold a lock of
        # the pool it uses, and a horse must never inherit that pool.
        self.connection = redis_urls.connect(app.config["REDIS_URL"], decode=False,
                                             socket_timeout=5, socket_connect_timeout=5)
        self.interval = interval
        self.stopped = threading.Event()
        self.seen: dict[str, datetime] = {}

    def tick_once(self) -> int:
        """Enqueue what began since the last look; answers how many were enqueued here."""
        now = clock.now()
        count = 0
        for entry in periodic(self.app.config):
            slot = entry.slot(now)
            if self.seen.get(entry.name) == slot:
                continue
            job = jobs.enqueue("run_periodic", entry.name, slot.isoformat(),
                               job_id=_job_id(entry.name, slot),
                               connection=self.connection)
            self.seen[entry.name] = slot
            count += job is not None
        return count

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.tick_once()
            except Exception:  # noqa: BLE001 - keep ticking through Redis hiccups
                log.exception("the ticker could not enqueue")

    def stop(self) -> None:
        self.stopped.set()
