"""Campaigns, their versioned rules, stores and booking windows."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db


class Campaign(db.Model):
    """One rationing programme; what it allows lives in its RulesVersion rows."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    preset: Mapped[str | None] = mapped_column(String(32))
    # Key of the permutation that turns booking sequence numbers into reservation numbers.
    reservation_key: Mapped[str] = mapped_column(String(64))
    # The campaign's own notification texts and reminder lead (wx_backend.notify.texts).
    notify_settings: Mapped[dict] = mapped_column(JSONB, default=dict, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class RulesVersion(db.Model):
    """The campaign's rules from ``effective_at`` on; a change is a new version."""

    __tablename__ = "rules_versions"
    __table_args__ = (UniqueConstraint("campaign_id", "version"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rules: Mapped[dict] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class Store(db.Model):
    """A pharmacy or collection point taking part in one campaign."""

    __tablename__ = "stores"
    __table_args__ = (
        UniqueConstraint("campaign_id", "name"),
        CheckConstraint("daily_cap >= 0", name="ck_stores_daily_cap"),
        CheckConstraint("lat BETWEEN -90 AND 90 AND lng BETWEEN -180 AND 180",
                        name="ck_stores_coordinates"),
        CheckConstraint("channel IN ('pickup', 'postal')", name="ck_stores_channel"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    district: Mapped[str] = mapped_column(String(50))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    daily_cap: Mapped[int] = mapped_column(Integer)
    opening_hours: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # "postal": not a pharmacy but the post office: a booking here is sent to the holder's
    # address (the campaign's remote areas), and counts against the same limits.
    channel: Mapped[str] = mapped_column(String(20), default="pickup", server_default="pickup")


class Window(db.Model):
    """A span in which bookings are accepted, with its quota and its pickup day."""

    __tablename__ = "windows"
    __table_args__ = (
        UniqueConstraint("campaign_id", "opens_at"),
        CheckConstraint("closes_at > opens_at", name="ck_windows_span"),
        CheckConstraint("quota > 0", name="ck_windows_quota"),
        CheckConstraint("seq_base >= 0", name="ck_windows_seq_base"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"),
                                             index=True)
    opens_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    quota: Mapped[int] = mapped_column(Integer)
    pickup_date: Mapped[date] = mapped_column(Date)
    rules_version: Mapped[int] = mapped_column(Integer)
    # Bookings of this window take sequence numbers seq_base + 1 .. seq_base + 2 * quota
    # (reservation numbers derive from them; booking.stock); ranges never overlap within
    # a campaign.
    seq_base: Mapped[int] = mapped_column(BigInteger)
