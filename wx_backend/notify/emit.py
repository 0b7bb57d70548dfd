"""Events become deliveries: one row per subject and reachable channel, written once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import redis
from sqlalchemy import BigInteger, bindparam, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import Announcement, Booking, Delivery, Entry, Resident, SubscribeConsent
from wx_backend.notify.send import dispatch
from wx_backend.notify.texts import BOOKING_EVENTS, ENTRY_EVENTS, wechat_template_id
from wx_backend.official_account.announcements import affected_residents

log = logging.getLogger(__name__)

# -- events -------------------------------------------------------------------------------

# One row per booking and reachable channel, in one statement each (10,000 bookings after a
# window closes are a few hundred milliseconds, not ten thousand round trips).
EMIT_SMS = """
INSERT INTO deliveries (event, subject_id, campaign_id, resident_id, channel, recipient,
                        next_attempt_at)
SELECT :event, b.id, b.campaign_id, b.resident_id, 'sms', r.phone_index, :now
FROM {subjects} b JOIN residents r ON r.id = b.resident_id
WHERE b.id = ANY(:ids) AND r.phone_index IS NOT NULL
ORDER BY b.id
ON CONFLICT ON CONSTRAINT uq_deliveries_once DO NOTHING
RETURNING id
"""
EMIT_TEMPLATE = """
INSERT INTO deliveries (event, subject_id, campaign_id, resident_id, channel, recipient,
                        next_attempt_at)
SELECT DISTINCT ON (b.id) :event, b.id, b.campaign_id, b.resident_id, 'wx_template',
       f.openid, :now
FROM {subjects} b JOIN followers f ON f.resident_id = b.resident_id AND f.subscribed
WHERE b.id = ANY(:ids)
ORDER BY b.id, f.subscribed_at DESC NULLS LAST
ON CONFLICT ON CONSTRAINT uq_deliveries_once DO NOTHING
RETURNING id
"""

def emit(event: str, subject_ids: Iterable[int]) -> list[int]:
    """Create the deliveries of ``event`` for these bookings; answers the new rows' ids.

    Safe to call twice: rows that exist are left alone and a subscribe allowance is used
    only by the row it created.
    """
    if event not in BOOKING_EVENTS + ENTRY_EVENTS:
        raise ValueError(f"unknown booking or entry event {event!r}")
    ids = sorted(set(int(i) for i in subject_ids))
    if not ids:
        return []
    subject = Entry if event in ENTRY_EVENTS else Booking
    table = subject.__tablename__
    session = db.session
    now = clock.now()
    values = {"event": event, "ids": ids, "now": now}
    created: list[int] = list(session.execute(text(EMIT_SMS.format(subjects=table)),
                                              values).scalars())
    if wechat_template_id("template", event):
        created += session.execute(text(EMIT_TEMPLATE.format(subjects=table)), values).scalars()
    if wechat_template_id("subscribe", event):
        rows = session.execute(
            select(subject.id, subject.campaign_id, subject.resident_id, Resident.openid)
            .join(Resident, Resident.id == subject.resident_id)
            .join(SubscribeConsent, (SubscribeConsent.resident_id == subject.resident_id)
                  & (SubscribeConsent.event == event) & (SubscribeConsent.remaining > 0))
            .where(subject.id.in_(ids))).all()
        created += _emit_subscribe(event, rows, now)
    session.commit()
    return created


def _emit_subscribe(event: str, rows: Sequence, now: datetime) -> list[int]:
    """Subscribe-message rows, each using up one of the resident's allowances."""
    session = db.session
    allowances = dict(session.execute(
        select(SubscribeConsent.resident_id, SubscribeConsent.remaining)
        .where(SubscribeConsent.event == event,
               SubscribeConsent.resident_id.in_({r.resident_id for r in rows}),
               SubscribeConsent.remaining > 0)
        .with_for_update()).all())
    wanted = []
    for row in rows:
        if allowances.get(row.resident_id, 0) > 0:
            allowances[row.resident_id] -= 1
            wanted.append({"event": event, "subject_id": row.id,
                           "campaign_id": row.campaign_id, "resident_id": row.resident_id,
                           "channel": "wx_subscribe", "recipient": row.openid,
                           "next_attempt_at": now})
    if not wanted:
        return []
    made = session.execute(
        insert(Delivery).values(wanted).on_conflict_do_nothing()
        .returning(Delivery.id, Delivery.resident_id)).all()
    used: dict[int, int] = defaultdict(int)
    for row in made:
        used[row.resident_id] += 1
    if used:
        table = SubscribeConsent.__table__
        session.execute(
            table.update()
            .where(table.c.event == event, table.c.resident_id == bindparam("r_id"))
            .values(remaining=table.c.remaining - bindparam("r_used"), updated_at=now),
            [{"r_id": rid, "r_used": count} for rid, count in used.items()])
    return [row.id for row in made]


EMIT_FOLLOWERS = """
INSERT INTO deliveries (event, subject_id, campaign_id, resident_id, channel, recipient,
                        next_attempt_at)
SELECT 'announcement', :subject, :campaign, f.resident_id, 'wx_template', f.openid, :now
FROM followers f WHERE f.subscribed AND f.wants_announcements
ON CONFLICT ON CONSTRAINT uq_deliveries_once DO NOTHING
RETURNING id
"""


def emit_announcement(announcement_id: int) -> list[int]:
    """Deliveries of an announcement: a template message to every follower who opted in,
    a subscribe message to every affected resident who allowed one. Safe to call twice."""
    session = db.session
    announcement = session.get(Announcement, announcement_id)
    if announcement is None or not announcement.push:
        return []
    now = clock.now()
    created: list[int] = []
    if wechat_template_id("template", "announcement"):
        created += session.execute(text(EMIT_FOLLOWERS), {
            "subject": announcement.id, "campaign": announcement.campaign_id,
            "now": now}).scalars()
    if wechat_template_id("subscribe", "announcement"):
        rows = session.execute(
            select(literal(announcement.id).label("id"),
                   literal(announcement.campaign_id, BigInteger).label("campaign_id"),
                   Resident.id.label("resident_id"), Resident.openid)
            .join(SubscribeConsent, (SubscribeConsent.resident_id == Resident.id)
                  & (SubscribeConsent.event == "announcement")
                  & (SubscribeConsent.remaining > 0))
            .where(Resident.id.in_(affected_residents(announcement)))).all()
        created += _emit_subscribe("announcement", rows, now)
    announcement.pushed_at = now
    session.commit()
    return created


def confirm_recent(within: timedelta, older_than: timedelta = timedelta(0)) -> list[int]:
    """Emit ``booking_confirmed`` for bookings made in the last ``within`` (and at least
    ``older_than`` ago) that have none yet.

    Measured by the database's clock, which stamped ``created_at``.
    """
    session = db.session
    query = (select(Booking.id)
             .where(Booking.created_at >= func.now() - within,
                    Booking.created_at <= func.now() - older_than,
                    Booking.status == "confirmed",
                    ~select(Delivery.id).where(Delivery.event == "booking_confirmed",
                                               Delivery.subject_id == Booking.id)
                    .exists())
             .order_by(Booking.id))
    ids = session.scalars(query).all()
    session.rollback()
    return emit("booking_confirmed", ids)


def announce(event: str, subject_ids: Iterable[int]) -> list[int]:
    """Emit ``event`` and enqueue its sending; answers the new deliveries' ids.

    The rows are written first; if the queue cannot be reached they wait for the sweep.
    """
    created = emit(event, subject_ids)
    try:
        dispatch(created)
    except redis.RedisError:
        log.warning("queue unreachable: %d %s deliveries wait for the sweep",
                    len(created), event)
    return created
