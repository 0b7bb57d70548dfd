"""What a window's waiting room publishes after it closes: the ranking secret, the count
of those who joined before the opening, and every joiner's tag in join order.

Revision ID: 0012
Revises: 0011
Created: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "waiting_room_proofs",
        sa.Column("window_id", sa.BigInteger(),
                  sa.ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("early_count", sa.Integer(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.CheckConstraint("early_count >= 0", name="ck_waiting_room_proofs_early_count"),
    )


def downgrade():
    op.drop_table("waiting_room_proofs")
