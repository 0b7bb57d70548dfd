"""The SMS outbox: messages the ``outbox`` backend keeps instead of sending."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.models.types import Encrypted


class OutboxSms(db.Model):
    """One SMS as the outbox backend received it; the phone is encrypted like any PII."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    phone: Mapped[str] = mapped_column(Encrypted("sms.phone"))
    phone_index: Mapped[str] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    # The delivery and the batch token it was sent under (notifications only), so that
    # ``OutboxSender.accepted`` can answer as a provider would.
    delivery_key: Mapped[str | None] = mapped_column(String(32))
    batch_key: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now(), index=True)
