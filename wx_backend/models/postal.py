"""Delivery orders: a portion sent by post or express, or left at a collection point."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models.types import Encrypted

ORDER_STATUSES = ("pending", "shipped", "delivered", "failed")


class PostalOrder(db.Model):
    """One portion on its way: to the holder's address (``postal``, ``express``) or to a
    collection point (a store of the campaign). Name, phone and address are copied,
    encrypted, from the verified profile when the order is made."""

    __tablename__ = "delivery_orders"
    __table_args__ = (
        CheckConstraint("channel IN ('postal', 'express', 'collection_point')",
                        name="ck_delivery_orders_channel"),
        CheckConstraint("status IN ('pending', 'shipped', 'delivered', 'failed')",
                        name="ck_delivery_orders_status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), unique=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), unique=True)
    reservation_no: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(20))
    courier: Mapped[str] = mapped_column(String(40))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    name: Mapped[str] = mapped_column(Encrypted("delivery.name"))
    phone: Mapped[str] = mapped_column(Encrypted("delivery.phone"))
    address: Mapped[str] = mapped_column(Encrypted("delivery.address"))
    fee_fen: Mapped[int] = mapped_column(Integer, default=0)
    cash_on_delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now(), index=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
