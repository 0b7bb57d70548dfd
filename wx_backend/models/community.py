"""Community staff, who register and book for residents without a smartphone, and the
audit trail of everything they do on someone's behalf."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Identity, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db


class CommunityStaff(db.Model):
    """A residents' committee or street office account, scoped to one district or street."""

    __tablename__ = "community_staff"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    district: Mapped[str] = mapped_column(String(50))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class AssistedAction(db.Model):
    """One thing community staff did for a resident: who, for whom, what, when."""

    __tablename__ = "assisted_actions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("community_staff.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now,
                                         server_default=func.now())
