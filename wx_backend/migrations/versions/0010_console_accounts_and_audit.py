"""The console: operator accounts, lockout after wrong passwords on every account, and the
audit trail of what staff change through it.

Revision ID: 0010
Revises: 0009
Created: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
ACCOUNTS = ("staff", "editors", "community_staff")


def upgrade():
    op.create_table(
        "operators",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", TZ, nullable=True),
    )
    for table in ACCOUNTS:
        op.add_column(table, sa.Column("failed_logins", sa.Integer(), nullable=False,
                                       server_default="0"))
        op.add_column(table, sa.Column("locked_until", TZ, nullable=True))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("actor_name", sa.String(64), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False, server_default=""),
        sa.Column("detail", postgresql.JSONB(), nullable=False,
                  server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("ix_audit_log_actor", "audit_log", ["actor_role", "actor_id", "at"])


def downgrade():
    op.drop_index("ix_audit_log_actor", table_name="audit_log")
    op.drop_table("audit_log")
    for table in ACCOUNTS:
        op.drop_column(table, "locked_until")
        op.drop_column(table, "failed_logins")
    op.drop_table("operators")
