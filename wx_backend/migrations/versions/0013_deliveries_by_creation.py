"""An index on when each message was created: /metrics counts the last day's messages by
status at every scrape, which without it reads the whole table.

Revision ID: 0013
Revises: 0012
Created: 2026-11-30
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"])


def downgrade():
    op.drop_index("ix_deliveries_created_at", table_name="deliveries")
