"""Lottery and queue campaigns: entries (registrations) and the draws made from a pool."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
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

# Lottery: pooled -> won -> claimed | lapsed. Queue: pending -> approved | rejected;
# approved -> released (a voucher) -> redeemed | lapsed.
ENTRY_STATUSES = ("pooled", "won", "claimed", "lapsed", "withdrawn", "pending", "approved",
                  "rejected", "released", "redeemed")
LIVE_STATUSES = ("pooled", "won", "pending", "approved", "released")


class Entry(db.Model):
    """One person's entry in a lottery campaign, with its 8-digit reservation number.

    ``pooled`` entries take part in every draw until one picks them (``won``); a person
    (or household) has at most one live entry per campaign, which the partial unique
    index guarantees. In a queue campaign the entry is a registration for one pharmacy.
    """

    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "reservation_no"),
        CheckConstraint("status IN ('pooled', 'won', 'claimed', 'lapsed', 'withdrawn', "
                        "'pending', 'approved', 'rejected', 'released', 'redeemed')",
                        name="ck_entries_status"),
        Index("uq_entries_live_person", "campaign_id", "person_key", unique=True,
              postgresql_where=text(
                  "status IN ('pooled', 'won', 'pending', 'approved', 'released')")),
        Index("ix_entries_queue", "store_id", "status", "reservation_no",
              postgresql_where=text("store_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    person_key: Mapped[str] = mapped_column(String(64))
    reservation_no: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="pooled")
    rules_version: Mapped[int] = mapped_column(Integer)
    draw_id: Mapped[int | None] = mapped_column(ForeignKey("draws.id"))
    claim_deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    won_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilment: Mapped[str | None] = mapped_column(String(20))
    lapsed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A lapsed win's unit is added to the quota of this (later) draw.
    returned_to_draw_id: Mapped[int | None] = mapped_column(ForeignKey("draws.id"))
    # Queue campaigns: the designated pharmacy, the committee's review, the voucher.
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    voucher_code: Mapped[str | None] = mapped_column(String(6))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when the entry won outside the draw as a member of a special group (free).
    special_group: Mapped[str | None] = mapped_column(String(40))


class SpecialGroupMember(db.Model):
    """A person on a special group's list for a campaign (for example low-income
    residents), known only by the blind index of their ID number."""

    __tablename__ = "special_group_members"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    id_number_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(40))
    imported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class Draw(db.Model):
    """One draw of a lottery campaign (``wx_backend.lottery.draw``): committed, then drawn."""

    __tablename__ = "draws"
    __table_args__ = (
        UniqueConstraint("campaign_id", "number"),
        CheckConstraint("status IN ('committed', 'drawn')", name="ck_draws_status"),
        CheckConstraint("quota >= 0", name="ck_draws_quota"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    quota: Mapped[int] = mapped_column(Integer)
    # Of the quota, units returned by earlier winners who did not claim in time.
    returned: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="committed")
    entries_text: Mapped[bytes] = mapped_column(LargeBinary)
    commitment: Mapped[bytes] = mapped_column(LargeBinary)
    # Kept encrypted until the draw reveals it (then it is in ``result``).
    secret: Mapped[str] = mapped_column(Encrypted("draw.secret"))
    public_value: Mapped[str | None] = mapped_column(Text)
    result: Mapped[bytes | None] = mapped_column(LargeBinary)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    drawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DrawRank(db.Model):
    """One entry's line in a drawn draw's ranking (``ranking.csv``), kept when the draw is
    run so that a resident's rank is one row away rather than a recomputation of the pool."""

    __tablename__ = "draw_ranks"

    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id", ondelete="CASCADE"),
                                         primary_key=True)
    reservation_no: Mapped[str] = mapped_column(String(8), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
