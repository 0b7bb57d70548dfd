"""Bookings: first-come-first-served claims on a portion."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
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
from wx_backend.models.types import Encrypted

BOOKING_STATUSES = ("confirmed", "collected", "cancelled", "expired")


class Booking(db.Model):
    """One portion at one store in one window, held by one person.

    The last guards against oversell and double booking live in the schema: the unit
    numbers ``window_slot`` (1..window quota) and ``store_slot`` (1..store daily cap) are
    unique among bookings that hold a unit, and a trigger (migration 0002) checks both
    bounds and refuses a second booking whose cooldown overlaps another of the same person.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        UniqueConstraint("campaign_id", "reservation_no", name="uq_bookings_reservation_no"),
        UniqueConstraint("campaign_id", "seq", name="uq_bookings_seq"),
        CheckConstraint("status IN ('confirmed', 'collected', 'cancelled', 'expired')",
                        name="ck_bookings_status"),
        CheckConstraint("window_slot >= 1 AND store_slot >= 1", name="ck_bookings_slots"),
        CheckConstraint("NOT holds_unit OR status <> 'cancelled'", name="ck_bookings_cancel"),
        CheckConstraint("cooldown_until >= cooldown_from", name="ck_bookings_cooldown"),
        Index("uq_bookings_window_slot", "window_id", "window_slot", unique=True,
              postgresql_where=text("holds_unit")),
        Index("uq_bookings_store_slot", "store_id", "pickup_date", "store_slot", unique=True,
              postgresql_where=text("holds_unit")),
        Index("ix_bookings_person", "campaign_id", "person_key"),
        Index("ix_bookings_store_day", "store_id", "pickup_date", "status"),
        Index("ix_bookings_created_at", "created_at"),
        Index("ix_bookings_pickup_end", "pickup_ends_at", postgresql_where=text(
            "status = 'confirmed'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    person_key: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    reservation_no: Mapped[str] = mapped_column(String(8))
    pickup_code: Mapped[str] = mapped_column(String(6))
    window_slot: Mapped[int] = mapped_column(Integer)
    store_slot: Mapped[int] = mapped_column(Integer)
    pickup_date: Mapped[date] = mapped_column(Date)
    pickup_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pickup_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default="confirmed")
    holds_unit: Mapped[bool] = mapped_column(Boolean, default=True)
    holds_cooldown: Mapped[bool] = mapped_column(Boolean, default=True)
    cooldown_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cooldown_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    collected_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    delegate_name: Mapped[str | None] = mapped_column(Encrypted("booking.delegate_name"))
    delegate_id_number: Mapped[str | None] = mapped_column(
        Encrypted("booking.delegate_id_number"))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WaitingRoomProof(db.Model):
    """What a window's waiting room publishes once it has closed (booking.waiting_room):
    the beacon, the round and its randomness that ordered it, how many joined before the
    cutoff, when admissions started, and every joiner's tag in join order (one a line).
    Kept here so the proof outlives the room's Redis keys. Proofs kept before the rooms
    took their order from the beacon hold the ranking ``secret`` instead."""

    __tablename__ = "waiting_room_proofs"
    __table_args__ = (CheckConstraint("early_count >= 0",
                                      name="ck_waiting_room_proofs_early_count"),)

    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"),
                                           primary_key=True)
    secret: Mapped[str | None] = mapped_column(String(64))
    beacon_url: Mapped[str | None] = mapped_column(Text)
    beacon_round: Mapped[int | None] = mapped_column(BigInteger)
    # None while the round's randomness could not be had (filled in by a later reading).
    randomness: Mapped[str | None] = mapped_column(String(128))
    # None if the room was not put in order while the window was open.
    admissions_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    early_count: Mapped[int] = mapped_column(Integer)
    tags: Mapped[str] = mapped_column(Text)
    archived_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
