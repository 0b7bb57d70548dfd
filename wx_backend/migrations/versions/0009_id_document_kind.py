"""The kind of identity document a resident registered with (ID card, HK/Macau/Taiwan
residence permit, foreigner's permanent residence card). Every number stored so far was a
resident ID card, so existing rows take that kind.

Revision ID: 0009
Revises: 0008
Created: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("residents", sa.Column("id_kind", sa.String(20), nullable=False,
                                         server_default="resident_id"))
    op.create_check_constraint(
        "ck_residents_id_kind", "residents",
        "id_kind IN ('resident_id', 'hmt_permit', 'foreign_permanent')")


def downgrade():
    op.drop_constraint("ck_residents_id_kind", "residents", type_="check")
    op.drop_column("residents", "id_kind")
