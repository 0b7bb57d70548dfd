"""Residents with encrypted real-name profiles, and the SMS outbox.

Revision ID: 0001
Revises:
Created: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Encrypted columns are plain text holding "<key id>$<base64>" (wx_backend.pii).
    op.create_table(
        "residents",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("openid", sa.String(64), nullable=False, unique=True),
        sa.Column("unionid", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("id_number_index", sa.String(64), nullable=True, unique=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_index", sa.String(64), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("profile_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True),
                  server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "profile_completed_at IS NULL OR (name IS NOT NULL AND id_number IS NOT NULL"
            " AND id_number_index IS NOT NULL AND phone IS NOT NULL"
            " AND phone_index IS NOT NULL)",
            name="ck_residents_complete_profile",
        ),
    )
    op.create_index("ix_residents_unionid", "residents", ["unionid"])
    op.create_index("ix_residents_phone_index", "residents", ["phone_index"])

    op.create_table(
        "sms_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("phone_index", sa.String(64), nullable=False),
        sa.Column("phone_masked", sa.String(20), nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
    )
    op.create_index("ix_sms_outbox_created_at", "sms_outbox", ["created_at"])
    op.create_index("ix_sms_outbox_phone_index", "sms_outbox", ["phone_index"])


def downgrade():
    op.drop_table("sms_outbox")
    op.drop_table("residents")
