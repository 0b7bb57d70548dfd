"""Each window owns a range of the campaign's booking sequence, twice its quota: a booking's
sequence number (from which its reservation number derives) is the window's ``seq_base``
plus the ticket of the unit it took (booking.stock). No counter shared by the whole campaign is touched per booking, so the
stock can live on a Redis Cluster.

Existing windows get ranges above every sequence number already used in their campaign,
in order of opening.

Revision ID: 0011
Revises: 0010
Created: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("windows", sa.Column("seq_base", sa.BigInteger(), nullable=True))
    op.execute("""
        WITH used AS (
            SELECT c.id AS campaign_id, COALESCE(MAX(b.seq), 0) AS top
            FROM campaigns c LEFT JOIN bookings b ON b.campaign_id = c.id
            GROUP BY c.id
        ), ranged AS (
            SELECT w.id, used.top + COALESCE(SUM(2 * w.quota) OVER (
                       PARTITION BY w.campaign_id ORDER BY w.opens_at, w.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS base
            FROM windows w JOIN used ON used.campaign_id = w.campaign_id
        )
        UPDATE windows SET seq_base = ranged.base FROM ranged WHERE windows.id = ranged.id
    """)
    op.alter_column("windows", "seq_base", nullable=False)
    op.create_check_constraint("ck_windows_seq_base", "windows", "seq_base >= 0")


def downgrade():
    op.drop_constraint("ck_windows_seq_base", "windows")
    op.drop_column("windows", "seq_base")
