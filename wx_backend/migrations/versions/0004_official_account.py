"""The official account: editors, announcements, the FAQ knowledge base, follower linking
and opt-in, and deliveries to followers not linked to a resident.

The knowledge base is seeded here from ``0004_faq_seed.toml`` beside this file (a copy of
the app's ``official_account/faq_seed.toml`` as it stood then); editors change it
afterwards through the admin API.

Revision ID: 0004
Revises: 0003
Created: 2026-11-22
"""

import tomllib
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
SEED = Path(__file__).with_name("0004_faq_seed.toml")


def upgrade():
    op.create_table(
        "editors",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, server_default="editor"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("role IN ('editor')", name="ck_editors_role"),
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(),
                  sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True),
        sa.Column("title", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("rules", postgresql.JSONB(), nullable=True),
        sa.Column("rules_version", sa.Integer(), nullable=True),
        sa.Column("push", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("status", sa.String(12), nullable=False, server_default="draft"),
        sa.Column("publish_at", TZ, nullable=True),
        sa.Column("pushed_at", TZ, nullable=True),
        sa.Column("retracted_at", TZ, nullable=True),
        sa.Column("retract_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), sa.ForeignKey("editors.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("status IN ('draft', 'scheduled', 'published', 'retracted')",
                           name="ck_announcements_status"),
        sa.CheckConstraint("rules IS NULL OR campaign_id IS NOT NULL",
                           name="ck_announcements_rules_need_campaign"),
    )
    op.create_index("ix_announcements_campaign_id", "announcements", ["campaign_id"])
    op.create_index("ix_announcements_publish_at", "announcements", ["publish_at"])

    faq = op.create_table(
        "faq_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("question", sa.String(200), nullable=False),
        sa.Column("phrasings", postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default="{}"),
        sa.Column("keywords", postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default="{}"),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("updated_by", sa.BigInteger(), sa.ForeignKey("editors.id"), nullable=True),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    synonyms = op.create_table(
        "faq_synonyms",
        sa.Column("word", sa.String(32), primary_key=True),
        sa.Column("variants", postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default="{}"),
    )

    op.add_column("followers", sa.Column("linked_at", TZ, nullable=True))
    op.add_column("followers", sa.Column("linked_by", sa.String(16), nullable=True))
    op.add_column("followers", sa.Column("wants_announcements", sa.Boolean(), nullable=False,
                                         server_default="false"))
    op.alter_column("deliveries", "resident_id", nullable=True)

    # The seed as it stood when this migration was written, kept beside it: a later change
    # to the app's FAQ code or seed file cannot change what this migration does.
    seed = tomllib.loads(SEED.read_text(encoding="utf-8"))
    op.bulk_insert(faq, [{"key": str(e["key"]), "question": str(e["question"]).strip(),
                          "phrasings": [str(p) for p in e.get("phrasings", ())],
                          "keywords": [str(k) for k in e.get("keywords", ())],
                          "answer": str(e["answer"]).strip()} for e in seed.get("entry", ())])
    op.bulk_insert(synonyms, [{"word": str(w), "variants": [str(v) for v in variants]}
                              for w, variants in (seed.get("synonyms") or {}).items()])


def downgrade():
    op.execute("DELETE FROM deliveries WHERE resident_id IS NULL")
    op.alter_column("deliveries", "resident_id", nullable=False)
    op.drop_column("followers", "wants_announcements")
    op.drop_column("followers", "linked_by")
    op.drop_column("followers", "linked_at")
    op.drop_table("faq_synonyms")
    op.drop_table("faq_entries")
    op.drop_table("announcements")
    op.drop_table("editors")
