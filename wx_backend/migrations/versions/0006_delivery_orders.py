"""Delivery orders (post, express, collection points).

Revision ID: 0006
Revises: 0005
Created: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "delivery_orders",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("campaign_id", sa.BigInteger(), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), sa.ForeignKey("entries.id"), nullable=True,
                  unique=True),
        sa.Column("booking_id", sa.BigInteger(), sa.ForeignKey("bookings.id"), nullable=True,
                  unique=True),
        sa.Column("reservation_no", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("courier", sa.String(40), nullable=False),
        sa.Column("store_id", sa.BigInteger(), sa.ForeignKey("stores.id"), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cash_on_delivery", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("tracking_no", sa.String(40), nullable=True),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("channel IN ('postal', 'express', 'collection_point')",
                           name="ck_delivery_orders_channel"),
        sa.CheckConstraint("status IN ('pending', 'shipped', 'delivered', 'failed')",
                           name="ck_delivery_orders_status"),
    )
    op.create_index("ix_delivery_orders_campaign_id", "delivery_orders", ["campaign_id"])
    op.create_index("ix_delivery_orders_resident_id", "delivery_orders", ["resident_id"])
    op.create_index("ix_delivery_orders_created_at", "delivery_orders", ["created_at"])


def downgrade():
    op.drop_table("delivery_orders")
