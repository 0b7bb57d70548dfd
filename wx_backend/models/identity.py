"""Residents: WeChat identity and the verified real-name profile, and the audit trail of
what community staff did on a resident's behalf."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Identity, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models.types import Encrypted


class Resident(db.Model):
    """One WeChat user of the mini-program, with their real-name profile once verified.

    Personal fields are encrypted; ``id_number_index`` and ``phone_index`` are blind
    indexes. The unique index on ``id_number_index`` is what binds one ID number to one
    WeChat account.
    """

    __tablename__ = "residents"
    __table_args__ = (
        CheckConstraint(
            "profile_completed_at IS NULL OR (name IS NOT NULL AND id_number IS NOT NULL"
            " AND id_number_index IS NOT NULL AND phone IS NOT NULL"
            " AND phone_index IS NOT NULL)",
            name="ck_residents_complete_profile",
        ),
        CheckConstraint("id_kind IN ('resident_id', 'hmt_permit', 'foreign_permanent')",
                        name="ck_residents_id_kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(Encrypted("resident.name"))
    id_number: Mapped[str | None] = mapped_column(Encrypted("resident.id_number"))
    id_number_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Which document the number is from (wx_backend.identity.residents.DOCUMENT_KINDS).
    id_kind: Mapped[str] = mapped_column(String(20), default="resident_id",
                                         server_default="resident_id")
    phone: Mapped[str | None] = mapped_column(Encrypted("resident.phone"))
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    address: Mapped[str | None] = mapped_column(Encrypted("resident.address"))
    # The district of the address, chosen from a list (a GB/T 2260 code, core.regions):
    # what community staff's scope is compared with, never the free text.
    district_code: Mapped[str | None] = mapped_column(String(6), index=True)
    profile_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the resident last promised the information is true and one address books once.
    promised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    last_login_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())

    @property
    def profile_complete(self) -> bool:
        """True once name, ID number and a confirmed phone are on file."""
        return self.profile_completed_at is not None


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
