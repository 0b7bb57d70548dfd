"""Every job the workers run: the functions that ``wx_backend.jobs.JOBS`` names.

Jobs take ids and ISO moments and are safe to run twice (see ``wx_backend.jobs``).
Scheduled work goes through ``run_periodic`` / ``run_once``, which record the run in
``schedule_runs`` before doing it; its handlers are the ``HANDLERS`` below.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from wx_backend import notify
from wx_backend.booking import first_come, postal, public_list, waiting_room
from wx_backend.campaigns.manage import rules_in_force
from wx_backend.core import clock
from wx_backend.core.errors import Conflict
from wx_backend.extensions import db
from wx_backend.jobs import schedule, task
from wx_backend.lottery import pool
from wx_backend.lottery.beacon import Beacon
from wx_backend.models import Announcement, Booking, Draw, Window
from wx_backend.official_account import announcements, binding, followers

log = logging.getLogger(__name__)


# -- notifications ------------------------------------------------------------------------

@task
def send_deliveries(ids: Sequence[int]) -> dict:
    """Claim, send and settle these deliveries."""
    return notify.deliver([int(i) for i in ids])


@task
def send_confirmations() -> dict:
    """Confirmations for bookings of the last minutes that have none yet (the nudge)."""
    created = notify.confirm_recent(timedelta(minutes=30))
    return {"emitted": len(created), "jobs": notify.dispatch(created)}


@task
def announce(event: str, ids: Sequence[int]) -> dict:
    """Emit ``event`` for these subjects and send it."""
    return {"emitted": len(notify.announce(event, [int(i) for i in ids]))}


@task
def push_announcement(announcement_id: int) -> dict:
    """Emit an announcement's pushes and send them, and move the campaign's bookings to
    what its rules change says (safe to run twice)."""
    created = notify.emit_announcement(int(announcement_id))
    return {"emitted": len(created), "jobs": notify.dispatch(created),
            **bookings_follow(int(announcement_id))}


def bookings_follow(announcement_id: int) -> dict:
    """When an announcement's rules drop pickup, the live bookings are delivered instead
    and their holders told (``follow_fulfilment``)."""
    found = db.session.get(Announcement, announcement_id)
    if found is None or found.rules is None or "fulfilment" not in found.rules:
        return {}
    return follow_fulfilment(found.campaign_id)


def follow_fulfilment(campaign_id: int) -> dict:
    """The campaign's confirmed bookings not yet collected travel by post or courier when
    the rules in force no longer offer pickup (``postal.switch_bookings``), and their
    holders are told once. Run when a rules version that drops pickup takes effect,
    whether an announcement or the operator's rules form brought it, and safe to run
    again: a booking already on its way is left alone."""
    now = clock.now()
    rules = rules_in_force(db.session, campaign_id, now)[1]
    switched = postal.switch_bookings(db.session, campaign_id, rules, now)
    db.session.commit()
    told = notify.announce("delivery_switched", switched)
    return {"switched": len(switched), "told": len(told)}


# -- the official account -----------------------------------------------------------------

@task
def link_follower(openid: str, answer_status: bool = False) -> dict:
    """Learn a follower's unionid from WeChat, link them to the resident sharing it, and
    (``answer_status``) tell them their bookings by customer-service message."""
    return followers.link_by_unionid(openid, answer_status)


@task
def send_binding_code(openid: str, resident_id: int) -> dict:
    """Text a binding code; tell the follower by customer-service message if it failed."""
    problem = binding.send_code(openid, int(resident_id))
    if problem is not None:
        followers.tell(openid, problem)
    return {"sent": problem is None}


# -- the schedule -------------------------------------------------------------------------

@task
def run_periodic(name: str, slot: str) -> dict:
    """Run the periodic entry ``name`` for the slot starting at ``slot``."""
    entry = {p.name: p for p in schedule.periodic(current_app.config)}.get(name)
    if entry is None:
        return {"skipped": f"no periodic entry {name!r}"}
    moment = datetime.fromisoformat(slot)
    if entry.name == "tick":
        # The tick plans; recording it would only repeat what its job id already ensures.
        return HANDLERS["tick"](moment)
    return schedule.run_once(name, moment, HANDLERS[entry.task], moment)


@task
def run_once(key: str, moment: str, task_name: str, args: Sequence) -> dict:
    """Run the planned entry ``key`` for ``moment`` unless it ran already."""
    return schedule.run_once(key, datetime.fromisoformat(moment), HANDLERS[task_name], *args)


def tick(moment: datetime) -> dict:
    """Plan the next minutes."""
    return schedule.plan(clock.now())


def sweep_notifications(moment: datetime) -> dict:
    """The notification safety net (``notify.sweep``)."""
    return notify.sweep(clock.now())


def reconcile_stock(moment: datetime) -> dict:
    """Rebuild Redis from PostgreSQL when Redis lost its state; otherwise leave it be."""
    stock = current_app.extensions["stock"]
    if not stock.needs_reconcile():
        return {"skipped": "Redis holds its state"}
    return first_come.reconcile(db.session, stock, clock.now())


def publish_public_lists(moment: datetime) -> dict:
    """Freeze the day's public lists (``public_list.publish_day``) for campaigns that
    publish."""
    return public_list.publish_day(db.session, current_app.extensions["redis"], moment)


def prune_runs(moment: datetime) -> dict:
    """Forget old schedule records."""
    return {"pruned": schedule.prune(clock.now())}


def preload_window(window_id: int) -> dict:
    """Load a window's stock into Redis ahead of its opening."""
    if db.session.get(Window, window_id) is None:
        return {"skipped": "window gone"}
    loaded = first_come.ensure_loaded(db.session, current_app.extensions["stock"], window_id,
                                   clock.now())
    return {"window": window_id, "loaded": loaded}


def open_window(window_id: int) -> dict:
    """The window opens: its stock must be in Redis now (if preloading was missed)."""
    window = db.session.get(Window, window_id)
    if window is None:
        return {"skipped": "window gone"}
    stock = current_app.extensions["stock"]
    loaded = first_come.ensure_loaded(db.session, stock, window_id, clock.now())
    log.info("window %s open (quota %s)", window_id, window.quota)
    return {"window": window_id, "quota": window.quota, "loaded_now": loaded}


def close_window(window_id: int) -> dict:
    """The window closed: every booking of it gets its confirmation, in batches, and its
    waiting room's proof (if it had one) is kept in PostgreSQL."""
    ids = db.session.scalars(
        select(Booking.id).where(Booking.window_id == window_id,
                                 Booking.status == "confirmed")).all()
    created = notify.emit("booking_confirmed", ids)
    window = db.session.get(Window, window_id)
    rules = rules_in_force(db.session, window.campaign_id, window.opens_at)[1] if window else None
    proof = None
    if rules is not None and rules.waiting_room is not None:
        # Never waits on the beacon for long: a proof whose randomness is not in hand yet
        # is kept as it is and completed by the next reading of it.
        kept = waiting_room.archive(db.session, current_app.extensions["rooms"],
                                    rules.waiting_room, window)
        proof = "kept" if waiting_room.is_complete(kept) else "pending"
    return {"window": window_id, "bookings": len(ids), "emitted": len(created),
            "jobs": notify.dispatch(created), "room_proof": proof}


def remind_pickup(window_id: int, ends_at: str) -> dict:
    """Remind those of a window who have not collected yet, before their pickup ends."""
    end = datetime.fromisoformat(ends_at)
    if clock.now() >= end:
        return {"skipped": "pickup already ended"}
    ids = db.session.scalars(
        select(Booking.id).where(Booking.window_id == window_id,
                                 Booking.pickup_ends_at == end,
                                 Booking.status == "confirmed")).all()
    return {"window": window_id, "reminded": len(notify.announce("pickup_reminder", ids))}


def expire_bookings() -> dict:
    """Expire what was not collected by the end of its pickup, and tell the holders."""
    expired = first_come.expire(db.session, current_app.extensions["stock"], clock.now())
    return {"expired": len(expired),
            "notified": len(notify.announce("booking_expired", expired))}


def publish_announcement(announcement_id: int) -> dict:
    """A scheduled announcement's moment: mark it published and push it."""
    if not announcements.mark_published(db.session, announcement_id, clock.now()):
        db.session.rollback()
        return {"skipped": "not scheduled for now"}
    db.session.commit()
    created = notify.emit_announcement(announcement_id)
    return {"announcement": announcement_id, "emitted": len(created),
            "jobs": notify.dispatch(created), **bookings_follow(announcement_id)}


def lapse_wins() -> dict:
    """Wins not claimed by their deadline lapse; their units go to the next draw."""
    lapsed = pool.lapse(db.session, clock.now())
    db.session.commit()
    return {"lapsed": len(lapsed)}


def commit_scheduled_draw(campaign_id: int) -> dict:
    """The scheduled commitment: the pool as it is, the rules' quota per draw."""
    now = clock.now()
    quota = rules_in_force(db.session, campaign_id, now)[1].lottery.quota_per_draw
    try:
        made = pool.commit_draw(db.session, campaign_id, quota, now)
    except Conflict as refused:
        db.session.rollback()
        return {"skipped": refused.code}
    db.session.commit()
    return {"draw": made.id, "quota": made.quota}


def run_scheduled_draw(campaign_id: int) -> dict:
    """The scheduled draw: the beacon's first round after the commitment is the public
    value; the winners are told. Raises while that round is not out (the tick retries)."""
    pending = db.session.scalars(select(Draw).where(Draw.campaign_id == campaign_id,
                                                    Draw.status == "committed")).first()
    if pending is None:
        return {"skipped": "no committed draw"}
    beacon = Beacon(current_app.config["DRAW_BEACON_URL"])
    value = beacon.value(beacon.first_round_after(pending.committed_at))
    winners = pool.run_draw(db.session, pending.id, value.public_value, clock.now())
    db.session.commit()
    told = notify.announce("draw_won", pool.winning_entries(db.session, pending.id))
    return {"draw": pending.id, "round": value.round, "winners": len(winners),
            "told": len(told)}


HANDLERS = {
    "commit_scheduled_draw": commit_scheduled_draw,
    "run_scheduled_draw": run_scheduled_draw,
    "publish_announcement": publish_announcement,
    "lapse_wins": lapse_wins,
    "tick": tick,
    "sweep_notifications": sweep_notifications,
    "reconcile_stock": reconcile_stock,
    "publish_public_lists": publish_public_lists,
    "prune": prune_runs,
    "preload_window": preload_window,
    "open_window": open_window,
    "close_window": close_window,
    "remind_pickup": remind_pickup,
    "expire_bookings": expire_bookings,
    "follow_fulfilment": follow_fulfilment,
}

