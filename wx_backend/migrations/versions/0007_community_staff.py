"""Community staff and their audit trail (assisted registration).

Revision ID: 0007
Revises: 0006
Created: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "community_staff",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("district", sa.String(50), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "assisted_actions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("staff_id", sa.BigInteger(), sa.ForeignKey("community_staff.id"),
                  nullable=False),
        sa.Column("resident_id", sa.BigInteger(), sa.ForeignKey("residents.id"),
                  nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
        sa.Column("at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("ix_assisted_actions_staff_id", "assisted_actions", ["staff_id"])
    op.create_index("ix_assisted_actions_resident_id", "assisted_actions", ["resident_id"])


def downgrade():
    op.drop_table("assisted_actions")
    op.drop_table("community_staff")
