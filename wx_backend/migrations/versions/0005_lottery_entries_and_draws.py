"""Lottery and queue campaigns: entries (registrations) and draws; special groups; the
resident's promise (households).

Revision ID: 0005
Revises: 0004
Created: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "draws",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(12), nullable=False, server_default="committed"),
        sa.Column("entries_text", sa.LargeBinary(), nullable=False),
        sa.Column("commitment", sa.LargeBinary(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("public_value", sa.Text(), nullable=True),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("committed_at", TZ, nullable=False),
        sa.Column("drawn_at", TZ, nullable=True),
        sa.UniqueConstraint("campaign_id", "number"),
        sa.CheckConstraint("status IN ('committed', 'drawn')", name="ck_draws_status"),
        sa.CheckConstraint("quota >= 0", name="ck_draws_quota"),
    )
    op.create_index("ix_draws_campaign_id", "draws", ["campaign_id"])
    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"), nullable=False),
        sa.Column("person_key", sa.String(64), nullable=False),
        sa.Column("reservation_no", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="pooled"),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("draw_id", sa.BigInteger(), sa.ForeignKey("draws.id"), nullable=True),
        sa.Column("claim_deadline", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("won_at", TZ, nullable=True),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("fulfilment", sa.String(20), nullable=True),
        sa.Column("lapsed_at", TZ, nullable=True),
        sa.Column("returned_to_draw_id", sa.BigInteger(), sa.ForeignKey("draws.id"),
                  nullable=True),
        sa.Column("store_id", sa.BigInteger(), sa.ForeignKey("stores.id"), nullable=True),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", TZ, nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("voucher_code", sa.String(6), nullable=True),
        sa.Column("released_at", TZ, nullable=True),
        sa.Column("redeemed_at", TZ, nullable=True),
        sa.Column("special_group", sa.String(40), nullable=True),
        sa.UniqueConstraint("campaign_id", "reservation_no"),
        sa.CheckConstraint("status IN ('pooled', 'won', 'claimed', 'lapsed', 'withdrawn', "
                           "'pending', 'approved', 'rejected', 'released', 'redeemed')",
                           name="ck_entries_status"),
    )
    op.create_index("ix_entries_campaign_id", "entries", ["campaign_id"])
    op.create_index("ix_entries_resident_id", "entries", ["resident_id"])
    op.create_index("uq_entries_live_person", "entries", ["campaign_id", "person_key"],
                    unique=True, postgresql_where=sa.text(
                        "status IN ('pooled', 'won', 'pending', 'approved', 'released')"))
    op.create_index("ix_entries_queue", "entries", ["store_id", "status", "reservation_no"],
                    postgresql_where=sa.text("store_id IS NOT NULL"))
    op.add_column("residents", sa.Column("promised_at", TZ, nullable=True))
    op.create_table(
        "special_group_members",
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"),
                  primary_key=True),
        sa.Column("id_number_index", sa.String(64), primary_key=True),
        sa.Column("group_name", sa.String(40), nullable=False),
        sa.Column("imported_at", TZ, nullable=False, server_default=sa.text("now()")),
    )


def downgrade():
    op.drop_table("special_group_members")
    op.drop_column("residents", "promised_at")
    op.drop_table("entries")
    op.drop_table("draws")
