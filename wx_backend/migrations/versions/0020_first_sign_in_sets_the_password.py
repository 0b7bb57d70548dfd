"""Accounts whose password an operator made (created in the console, or reset) must choose
their own at the first sign-in.

Revision ID: 0020
Revises: 0019
Created: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLES = ("staff", "editors", "community_staff", "operators")


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                       server_default="false"))


def downgrade():
    for table in TABLES:
        op.drop_column(table, "must_change_password")
