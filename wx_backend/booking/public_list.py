"""The daily public list of successful bookings (Zhengzhou published one every day, so
residents could check that nothing was faked): the reservation number, by which a resident
finds their own line (it is in their SMS); the name masked (``张*丰``); of the ID number
only the region it was issued in (``core.pii.mask_id_public``), never the birth date nor
the last four characters the pickup check asks for. The pages are in ``web.public``."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from wx_backend.campaigns.manage import rules_in_force
from wx_backend.core.pii import mask_id_public, mask_name
from wx_backend.models import Booking, Campaign, Resident, Store, Window


def successful_bookings(session: Session, campaign_id: int, day: date, zone) -> list[dict]:
    """Masked lines for bookings made in windows that opened on ``day`` (not cancelled)."""
    start = datetime.combine(day, time(0), zone)
    rows = session.execute(
        select(Booking, Resident.name, Resident.id_number, Store.name.label("store"))
        .join(Window, Window.id == Booking.window_id)
        .join(Resident, Resident.id == Booking.resident_id)
        .join(Store, Store.id == Booking.store_id)
        .where(Booking.campaign_id == campaign_id, Booking.status != "cancelled",
               Window.opens_at >= start, Window.opens_at < start + timedelta(days=1))
        .order_by(Booking.created_at, Booking.id)).all()
    return [{"n": n, "reservation_no": b.reservation_no, "name": mask_name(name),
             "id_number": mask_id_public(id_number), "store": store,
             "booked_at": b.created_at.astimezone(zone).strftime("%H:%M:%S")}
            for n, (b, name, id_number, store) in enumerate(rows, start=1)]


PUBLISHED_TTL = 3 * 24 * 3600


def published_key(campaign_id: int, day: date) -> str:
    """Where the frozen list of ``day`` is kept in Redis."""
    return f"wx:public:{campaign_id}:{day.isoformat()}"


def publish_day(session: Session, client: redis.Redis, moment: datetime) -> dict:
    """Freeze each publishing campaign's list of the day ``moment`` falls on (the daily job).

    The frozen lines are served instead of a fresh query for three days, so a list that
    millions open the evening it is published costs one query, and reads the same for all.
    """
    published = {}
    for campaign_id in session.scalars(select(Campaign.id)):
        rules = rules_in_force(session, campaign_id, moment)[1]
        if not rules.public_list:
            continue
        day = moment.astimezone(rules.zone).date()
        lines = successful_bookings(session, campaign_id, day, rules.zone)
        client.set(published_key(campaign_id, day), json.dumps(lines, ensure_ascii=False),
                   ex=PUBLISHED_TTL)
        published[campaign_id] = len(lines)
    session.rollback()
    return {"published": published}


def day_list(session: Session, client: redis.Redis, campaign_id: int, day: date,
             zone) -> list[dict]:
    """The list of ``day``: as frozen by ``publish_day`` if it was, else read now."""
    frozen = client.get(published_key(campaign_id, day))
    if frozen is None:
        return successful_bookings(session, campaign_id, day, zone)
    lines = json.loads(frozen)
    # A list frozen before an upgrade carries the older, longer mask; masked again it
    # reads as if it had been frozen now (mask_id_public keeps only what both kept).
    for line in lines:
        line["id_number"] = mask_id_public(line["id_number"])
    return lines
