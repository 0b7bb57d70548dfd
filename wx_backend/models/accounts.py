"""Password accounts of the people who serve residents: pharmacy staff (bound to a store),
editors (announcements and the FAQ), community staff (bound to a district) and operators
(campaigns, stores, draws, delivery, jobs); and the audit trail of what they change.

Every account counts wrong passwords: the fifth in a row locks it for a while
(``identity.accounts``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db

EDITOR_ROLES = ("editor",)


class PasswordAccount:
    """What every account has: a username, a password hash, whether it is active, when it
    was made, and the count of wrong passwords with the lock they lead to."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when an operator made the password (a new account, a reset): the first sign-in
    # must choose one of the account holder's own before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False,
                                                       server_default="false")


class Staff(PasswordAccount, db.Model):
    """A pharmacy staff account, bound to one store."""

    __tablename__ = "staff"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)


class Editor(PasswordAccount, db.Model):
    """An account that writes announcements and keeps the FAQ; logs in with a password."""

    __tablename__ = "editors"
    __table_args__ = (CheckConstraint("role IN ('editor')", name="ck_editors_role"),)

    role: Mapped[str] = mapped_column(String(16), default="editor")


class CommunityStaff(PasswordAccount, db.Model):
    """A residents' committee or street office account, scoped to one region by its GB/T
    2260 code (a district, or a whole city); ``district`` is its name, for people."""

    __tablename__ = "community_staff"

    district: Mapped[str] = mapped_column(String(50))
    # None only for accounts made before scopes were codes, until an operator sets one:
    # such an account acts for nobody.
    district_code: Mapped[str | None] = mapped_column(String(6))


class Operator(PasswordAccount, db.Model):
    """An operator: runs campaigns, stores, draws, delivery and jobs from the console."""

    __tablename__ = "operators"


class AuditEntry(db.Model):
    """One change made by a member of staff: who (role, id, name), what, to what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor", "actor_role", "actor_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now,
                                         server_default=func.now())
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80), default="")
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)
