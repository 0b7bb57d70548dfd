"""Stores that are a channel: a post office taking postal bookings (Qingdao).

Revision ID: 0008
Revises: 0007
Created: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("stores", sa.Column("channel", sa.String(20), nullable=False,
                                      server_default="pickup"))
    op.create_check_constraint("ck_stores_channel", "stores", "channel IN ('pickup', 'postal')")


def downgrade():
    op.drop_constraint("ck_stores_channel", "stores", type_="check")
    op.drop_column("stores", "channel")
