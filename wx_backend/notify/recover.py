"""The safety net: deliveries nobody emitted or sent, and senders that died mid-call."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, func, select, update

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models import Delivery
from wx_backend.notify.emit import confirm_recent
from wx_backend.notify.send import dispatch, sms_message
from wx_backend.notify.subjects import subjects_of
from wx_backend.sms import SmsMessage, SmsSendError, sender

log = logging.getLogger(__name__)

def resolve_in_doubt(now: datetime) -> dict[str, int]:
    """Settle deliveries whose sender died mid-call (``sending`` past their lease)."""
    rows = db.session.execute(
        select(Delivery.id, Delivery.event, Delivery.subject_id, Delivery.channel,
               Delivery.recipient, Delivery.attempts, Delivery.batch, Delivery.claimed_at)
        .where(Delivery.status == "sending", Delivery.claimed_until < now)
        .order_by(Delivery.id).limit(5000).with_for_update(skip_locked=True)).all()
    counts = {"accepted": 0, "resend": 0, "in_doubt": 0}
    if not rows:
        db.session.rollback()
        return counts
    sms = [row for row in rows if row.channel == "sms"]
    accepted: dict[str, str] = {}
    if sms:
        subjects = subjects_of(sms)
        messages = [m for m in (sms_message(row.batch, row,
                                             subjects.get((row.event, row.subject_id)))
                                for row in sms) if isinstance(m, SmsMessage)]
        try:
            accepted = sender().accepted(messages, min(row.claimed_at for row in sms)
                                         - timedelta(minutes=1))
        except SmsSendError as error:
            log.warning("cannot ask the SMS provider about %d messages yet: %s",
                        len(messages), error.reason)
            db.session.rollback()
            return counts
    table = Delivery.__table__
    updates = []
    for row in rows:
        base = {"d_id": row.id, "d_batch": row.batch, "next_at": now, "sent_at": None,
                "failed_at": None, "message_id": None, "error": None}
        if row.channel == "sms" and str(row.id) in accepted:
            updates.append({**base, "status": "sent", "sent_at": now,
                            "message_id": accepted[str(row.id)]})
            counts["accepted"] += 1
        elif row.channel == "sms":
            updates.append({**base, "status": "retry",
                            "error": "sender stopped mid-call; the provider had not accepted it"})
            counts["resend"] += 1
        else:
            updates.append({**base, "status": "failed", "failed_at": now,
                            "error": "in doubt: the sender stopped during the WeChat call and "
                                     "WeChat cannot be asked whether it arrived"})
            counts["in_doubt"] += 1
    db.session.execute(
        table.update()
        .where(table.c.id == bindparam("d_id"), table.c.batch == bindparam("d_batch"),
               table.c.status == "sending")
        .values(status=bindparam("status"), next_attempt_at=bindparam("next_at"),
                sent_at=bindparam("sent_at"), failed_at=bindparam("failed_at"),
                provider_message_id=bindparam("message_id"), last_error=bindparam("error"),
                claimed_until=None),
        updates)
    db.session.commit()
    resend = [u["d_id"] for u in updates if u["status"] == "retry"]
    if resend:
        dispatch(resend)
    return counts


def stalled(now: datetime, grace: timedelta) -> list[int]:
    """Unsent deliveries whose job was lost: reserved by a job whose lease lapsed, or due
    for longer than ``grace`` without any job reserving them."""
    ids = db.session.scalars(
        update(Delivery)
        .where(Delivery.id.in_(
            select(Delivery.id)
            .where(Delivery.status.in_(("queued", "retry")),
                   (Delivery.claimed_until < now)
                   | (Delivery.claimed_until.is_(None)
                      & (Delivery.next_attempt_at < now - grace)))
            .order_by(Delivery.id).limit(20000)
            .with_for_update(skip_locked=True)))
        # Due from now on: a backlog that is merely slow is sent again at most once per
        # grace period, not at every sweep.
        .values(next_attempt_at=now, claimed_until=None)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    return sorted(ids)


def sweep(now: datetime | None = None) -> dict[str, int]:
    """The safety net, run every few seconds: confirmations nobody emitted, deliveries
    nobody sent, and senders that died mid-call."""
    now = now or clock.now()
    grace = timedelta(seconds=current_app.config["NOTIFY_STALL_SECONDS"])
    created = confirm_recent(timedelta(days=2), timedelta(seconds=5))
    doubt = resolve_in_doubt(now)
    lost = stalled(now, grace)
    jobs = dispatch(sorted(set(created) | set(lost)))
    return {"emitted": len(created), "restarted": len(lost), "jobs": jobs, **doubt}


def failed(limit: int = 50) -> tuple[int, list[Delivery]]:
    """How many deliveries finally failed, and the newest ``limit`` of them (with why)."""
    total = db.session.scalar(select(func.count()).where(Delivery.status == "failed"))
    rows = db.session.scalars(select(Delivery).where(Delivery.status == "failed")
                              .order_by(Delivery.failed_at.desc(), Delivery.id.desc())
                              .limit(limit)).all()
    return total, list(rows)


def retry_failed(ids: list[int] | None = None) -> list[int]:
    """Send failed deliveries again with a fresh set of attempts (``ids``; None: all of
    them); answers the ids queued again (a delivery that is not failed is left alone)."""
    query = update(Delivery).where(Delivery.status == "failed")
    if ids is not None:
        query = query.where(Delivery.id.in_(ids))
    again = db.session.scalars(
        query.values(status="retry", attempts=0, next_attempt_at=clock.now(), failed_at=None,
                     batch=None).returning(Delivery.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    dispatch(list(again))
    return list(again)
