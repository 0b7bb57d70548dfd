"""Announcements without a rules change hold SQL NULL in ``rules``, not the JSON value null
(written by earlier releases), so the approvals page and the constraint that a rules change
names its campaign read them right.

Revision ID: 0016
Revises: 0015
Created: 2026-12-06
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE announcements SET rules = NULL WHERE rules = 'null'::jsonb")


def downgrade():
    pass  # SQL NULL is what "no rules change" always meant
