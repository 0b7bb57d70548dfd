"""Password accounts of the people who serve residents: pharmacy staff (bound to a store),
editors (announcements and the FAQ) and community staff (bound to a district)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db

EDITOR_ROLES = ("editor",)


class Staff(db.Model):
    """A pharmacy staff account, bound to one store."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class Editor(db.Model):
    """An account that writes announcements and keeps the FAQ; logs in with a password."""

    __tablename__ = "editors"
    __table_args__ = (CheckConstraint("role IN ('editor')", name="ck_editors_role"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="editor")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


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
