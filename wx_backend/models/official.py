"""The official account: announcements and the FAQ knowledge base."""

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
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from wx_backend.core import clock
from wx_backend.extensions import db

ANNOUNCEMENT_STATUSES = ("draft", "scheduled", "published", "retracted")


class Announcement(db.Model):
    """A notice to residents, optionally carrying a campaign's new rules.

    It is visible from ``publish_at`` (status ``scheduled`` or ``published``) until
    retracted. When it carries rules, ``rules_version`` names the version it created, whose
    ``effective_at`` equals ``publish_at``: the rule and its announcement start together.
    """

    __tablename__ = "announcements"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'scheduled', 'published', 'retracted')",
                        name="ck_announcements_status"),
        CheckConstraint("rules IS NULL OR campaign_id IS NOT NULL",
                        name="ck_announcements_rules_need_campaign"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    # No rules change is SQL NULL (what the check above means), never JSON null.
    rules: Mapped[dict | None] = mapped_column(JSONB(none_as_null=True))
    rules_version: Mapped[int | None] = mapped_column(Integer)
    # An editor proposes a rules change; it takes effect only once an operator approved
    # exactly this change (any edit of it clears the approval).
    rules_approved_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    rules_approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    push: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    status: Mapped[str] = mapped_column(String(12), default="draft")
    publish_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retracted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retract_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("editors.id"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class KnowledgeEntry(db.Model):
    """One FAQ entry the chat-bot answers from: a question, other phrasings, an answer."""

    __tablename__ = "faq_entries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    question: Mapped[str] = mapped_column(String(200))
    phrasings: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    answer: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("editors.id"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, server_default=func.now())


class FaqSynonym(db.Model):
    """A canonical word and the variants residents type for it."""

    __tablename__ = "faq_synonyms"

    word: Mapped[str] = mapped_column(String(32), primary_key=True)
    variants: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
