"""Notifications: deliveries, subscribe-message consents, official-account followers, and
the record of scheduled runs.

A delivery is one message of one event to one recipient over one channel, unique per
(event, subject, channel, recipient): the row is claimed before anything is sent, so a
retried job or a second worker cannot send it twice (``wx_backend.notify``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db

CHANNELS = ("sms", "wx_subscribe", "wx_template")
DELIVERY_STATUSES = ("queued", "sending", "retry", "sent", "failed")


class Delivery(db.Model):
    """One message to one recipient; ``status`` moves queued -> sending -> sent | retry | failed.

    ``recipient`` is the phone's blind index for SMS and the openid for WeChat channels;
    no phone number or message text is kept here (both are rendered at sending time from
    the subject, so the pickup code is not copied into another table).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event", "subject_id", "channel", "recipient",
                         name="uq_deliveries_once"),
        # What the sweep looks at: everything not yet settled, by when it is due.
        Index("ix_deliveries_open", "status", "next_attempt_at",
              postgresql_where=text("status IN ('queued', 'sending', 'retry')")),
        # What `wx-backend jobs failed` reads: the failed ones, by when they failed.
        Index("ix_deliveries_failed", "failed_at", postgresql_where=text("status = 'failed'")),
        # What /metrics counts at every scrape: the last day's messages, by status.
        Index("ix_deliveries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    # Empty for an announcement to a follower not (yet) linked to a resident.
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    batch: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SubscribeConsent(db.Model):
    """How many one-time subscribe messages of a kind the resident has allowed.

    The mini-program's ``wx.requestSubscribeMessage`` grants one message per acceptance;
    each delivery over ``wx_subscribe`` uses one up.
    """

    __tablename__ = "subscribe_consents"

    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), primary_key=True)
    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class Follower(db.Model):
    """A follower of the official account, linked to a resident once known.

    Linked by unionid when the mini-program and the official account share one, otherwise
    by the binding conversation (``wx_backend.official_account.binding``).
    ``wants_announcements`` is the follower's own opt-in to announcement pushes.
    """

    __tablename__ = "followers"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    linked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    linked_by: Mapped[str | None] = mapped_column(String(16))
    wants_announcements: Mapped[bool] = mapped_column(Boolean, default=False,
                                                      server_default="false")


class ScheduleRun(db.Model):
    """One run of a scheduled task for one moment; the primary key makes it at most once."""

    __tablename__ = "schedule_runs"

    task: Mapped[str] = mapped_column(String(80), primary_key=True)
    moment: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[str | None] = mapped_column(Text)
