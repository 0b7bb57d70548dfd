"""Waiting rooms take the order of their early joiners from a public randomness beacon:
their proofs keep the beacon, the round, its randomness and when admissions started. The
ranking secret of proofs kept before stays, and new proofs have none.

Revision ID: 0015
Revises: 0014
Created: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("waiting_room_proofs", "secret", existing_type=sa.String(64),
                    nullable=True)
    op.add_column("waiting_room_proofs", sa.Column("beacon_url", sa.Text(), nullable=True))
    op.add_column("waiting_room_proofs",
                  sa.Column("beacon_round", sa.BigInteger(), nullable=True))
    op.add_column("waiting_room_proofs",
                  sa.Column("randomness", sa.String(128), nullable=True))
    op.add_column("waiting_room_proofs",
                  sa.Column("admissions_from", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # A proof ordered by the beacon has no secret: the older schema cannot hold it.
    op.execute("DELETE FROM waiting_room_proofs WHERE secret IS NULL")
    op.drop_column("waiting_room_proofs", "admissions_from")
    op.drop_column("waiting_room_proofs", "randomness")
    op.drop_column("waiting_room_proofs", "beacon_round")
    op.drop_column("waiting_room_proofs", "beacon_url")
    op.alter_column("waiting_room_proofs", "secret", existing_type=sa.String(64),
                    nullable=False)
